"""Provides `llm-tutor doctor`: checks this machine (and, with --lab, an SSH lab's keys) and says how to fix each problem.

torch is examined in a subprocess, so the command line itself never imports it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llm_tutor.engine.cli.common import add_data_dir, add_device

MIN_PYTHON = (3, 10)
MIN_SIZE = (40, 12)
"""The smallest terminal the app is laid out for (columns, rows)."""
TORCH_PROBE = """
import json, time
t = time.perf_counter()
import torch
info = {"version": torch.__version__, "import_s": time.perf_counter() - t, "cuda": torch.cuda.is_available(),
        "cuda_version": torch.version.cuda, "devices": [], "mps": False, "threads": torch.get_num_threads()}
if info["cuda"]:
    info["devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
mps = getattr(torch.backends, "mps", None)
info["mps"] = bool(mps is not None and mps.is_available())
print(json.dumps(info))
"""
CPU_WHEEL = "pip install torch --index-url https://download.pytorch.org/whl/cpu"


@dataclass(frozen=True)
class Check:
    """One line of the report."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    state: str = ""
    """For a lab protection: "on", "off" or "unavailable" (shown instead of OK / FAIL)."""

    def line(self) -> str:
        mark = self.state.upper().ljust(5) if self.state else ("OK   " if self.ok else "FAIL ")
        text = f"{mark} {self.name}: {self.detail}"
        if not self.ok and self.fix:
            text += f"\n      fix: {self.fix}"
        return text


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "doctor",
        help="check Python, torch, the device, the terminal and the data folder",
        description="Check that llm-tutor can run here: Python, torch and its version, CUDA/MPS and the device "
        "chosen, the terminal's size and colours, the data folder. With --lab, also an SSH lab's host key and "
        "authorized keys. Each line says OK or FAIL, with a fix; exit status 1 when anything fails.",
    )
    add_device(p)
    add_data_dir(p)
    p.add_argument("--lab", action="store_true", help="also check an SSH lab (serve ssh): host key and authorized keys")
    p.add_argument("--authorized-keys", type=Path, default=None, metavar="F", help="the lab's authorized keys file or folder")
    p.add_argument("--host-key", type=Path, default=None, metavar="F", help="the lab's host key")
    p.add_argument("--data-root", type=Path, default=None, metavar="DIR",
                   help="the lab's data root (serve ssh --data-root; default: the data folder's 'lab' subfolder)")
    p.add_argument("--json", action="store_true", help="print the checks as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    checks = [check_python(), *check_torch(args.device), check_terminal(), check_data_dir(args.data_dir)]
    if args.lab:
        checks += check_lab(args.authorized_keys, args.host_key)
        from llm_tutor.engine.cli.doctor_lab import check_confinement

        checks += check_confinement(args.authorized_keys, args.host_key, args.data_root, args.data_dir)
    if args.json:
        print(json.dumps([c.__dict__ for c in checks], indent=2))
    else:
        for check in checks:
            print(check.line())
    return 0 if all(c.ok for c in checks) else 1


# -- the checks ----------------------------------------------------------------------------------


def check_python() -> Check:
    version = ".".join(map(str, sys.version_info[:3]))
    if sys.version_info[:2] < MIN_PYTHON:
        return Check("python", False, f"{version} is older than {MIN_PYTHON[0]}.{MIN_PYTHON[1]}",
                     f"install Python {MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer and reinstall llm-tutor with it")
    return Check("python", True, f"{version} ({sys.executable})")


def torch_info(timeout: float = 180.0) -> tuple[dict[str, Any] | None, str]:
    """torch's version and devices, from a subprocess; (None, why) when it cannot be imported."""
    try:
        proc = subprocess.run([sys.executable, "-c", TORCH_PROBE], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"importing torch took more than {timeout:.0f} s"
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["exit status " + str(proc.returncode)])[-1]
        return None, last
    try:
        return json.loads(proc.stdout.strip().splitlines()[-1]), ""
    except (ValueError, IndexError):
        return None, "unexpected output from the torch probe"


def check_torch(device_arg: str | None) -> list[Check]:
    from llm_tutor.engine.settings import default_device

    info, why = torch_info()
    if info is None:
        return [Check("torch", False, f"cannot be imported: {why}",
                      f"install it in this environment: {sys.executable} -m {CPU_WHEEL} (CPU), or see pytorch.org for CUDA")]
    checks = [Check("torch", True, f"{info['version']} (import {info['import_s']:.1f} s, {info['threads']} threads)")]
    cuda = f"CUDA {info['cuda_version']}: {', '.join(info['devices'])}" if info["cuda"] else "CUDA not available"
    mps = "MPS available" if info["mps"] else "MPS not available"
    try:
        wanted = default_device(device_arg)
    except ValueError as exc:
        checks.append(Check("device", False, str(exc), "use --device auto, cpu, cuda or mps (or unset LLM_TUTOR_DEVICE)"))
        return checks
    if wanted == "auto":
        chosen = "cuda" if info["cuda"] else "mps" if info["mps"] else "cpu"
        checks.append(Check("device", True, f"{chosen} (auto; {cuda}; {mps})"))
    elif wanted.startswith("cuda") and not info["cuda"]:
        checks.append(Check("device", False, f"{wanted} was asked for but {cuda} in this torch build",
                            "use --device cpu (or auto), or install a CUDA build of torch and the NVIDIA driver"))
    elif wanted == "mps" and not info["mps"]:
        checks.append(Check("device", False, "mps was asked for but MPS is not available",
                            "use --device cpu (or auto); MPS needs Apple silicon and macOS 12.3+"))
    else:
        checks.append(Check("device", True, f"{wanted} ({cuda}; {mps})"))
    return checks


def colour_depth(environ: dict[str, str] | os._Environ[str] | None = None) -> str:
    """What the terminal says it can show: "none" (NO_COLOR), "truecolor", "256", "16" or "dumb"."""
    env = os.environ if environ is None else environ
    term = env.get("TERM", "")
    if "NO_COLOR" in env:
        return "none"
    if term in ("", "dumb"):
        return "dumb"
    if env.get("COLORTERM", "").lower() in ("truecolor", "24bit"):
        return "truecolor"
    if "256" in term:
        return "256"
    return "16"


def check_terminal() -> Check:
    depth = colour_depth()
    term = os.environ.get("TERM", "")
    if depth == "dumb":
        return Check("terminal", False, f"TERM={term or '(unset)'} cannot show the app",
                     "run in a terminal such as xterm, or set TERM=xterm-256color; headless: llm-tutor run LESSON --plain")
    colours = {"none": "no colour (NO_COLOR)", "truecolor": "24-bit colour", "256": "256 colours", "16": "16 colours"}[depth]
    if not sys.stdout.isatty():
        return Check("terminal", True, f"not a terminal here (fine for headless commands); TERM={term}, {colours}")
    cols, rows = shutil.get_terminal_size()
    if cols < MIN_SIZE[0] or rows < MIN_SIZE[1]:
        return Check("terminal", False, f"{cols}×{rows} is smaller than {MIN_SIZE[0]}×{MIN_SIZE[1]}",
                     "make the window larger (or the font smaller)")
    return Check("terminal", True, f"{cols}×{rows}, TERM={term}, {colours}")


def check_data_dir(override: Path | None) -> Check:
    from llm_tutor.engine.settings import data_dir

    path = data_dir(override)
    fix = "set LLM_TUTOR_DATA_DIR (or --data-dir) to a folder you can write, e.g. ~/.local/share/llm-tutor"
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".doctor-", delete=True) as fh:
            fh.write(b"ok")
            fh.flush()
    except OSError as exc:
        return Check("data directory", False, f"{path} is not writable ({exc.strerror or exc})", fix)
    return Check("data directory", True, f"{path} (writable)")


def check_lab(authorized_keys: Path | None, host_key: Path | None) -> list[Check]:
    checks: list[Check] = []
    from llm_tutor.engine.remote.ssh.keys import quiet_asyncssh_warnings

    quiet_asyncssh_warnings()
    try:
        import asyncssh
    except ImportError:
        return [Check("lab", False, "asyncssh is not installed", "pip install 'llm-tutor[remote]'")]
    if host_key is None:
        checks.append(Check("host key", False, "no --host-key given", "pass the file serve ssh uses (--host-key F)"))
    elif not host_key.exists():
        checks.append(Check("host key", True, f"{host_key} does not exist yet; serve ssh makes it (mode 0600) on first run"))
    else:
        mode = host_key.stat().st_mode & 0o777
        if mode & 0o077:
            checks.append(Check("host key", False, f"{host_key} has mode {mode:03o}: other users can read it",
                                f"chmod 600 {host_key}"))
        else:
            try:
                key = asyncssh.read_private_key(str(host_key))
                checks.append(Check("host key", True, f"{host_key} (mode {mode:03o}, {key.get_algorithm()}, {key.get_fingerprint()})"))
            except (OSError, asyncssh.KeyImportError) as exc:
                checks.append(Check("host key", False, f"{host_key} cannot be read: {exc}",
                                    "move it away; serve ssh makes a new one (clients will see a new host key)"))
    checks.append(_check_authorized_keys(authorized_keys))
    return checks


def _check_authorized_keys(path: Path | None) -> Check:
    import asyncssh

    from llm_tutor.engine.remote.users import valid_user_name

    name = "authorized keys"
    if path is None:
        return Check(name, False, "no --authorized-keys given", "pass the file or folder serve ssh uses (--authorized-keys F)")
    if not path.exists():
        return Check(name, False, f"{path} does not exist",
                     "make an authorized_keys file (one public key a line) or a folder with one NAME.pub per student")
    if path.is_dir():
        files = sorted(path.glob("*.pub"))
        bad = [f.name for f in files if not valid_user_name(f.stem)]
        unreadable = []
        for f in files:
            try:
                asyncssh.read_authorized_keys(str(f))
            except (OSError, ValueError, asyncssh.KeyImportError):
                unreadable.append(f.name)
        if bad or unreadable or not files:
            problems = []
            if not files:
                problems.append("no NAME.pub files")
            if bad:
                problems.append("names that cannot log in: " + ", ".join(bad))
            if unreadable:
                problems.append("not public keys: " + ", ".join(unreadable))
            return Check(name, False, f"{path}: " + "; ".join(problems),
                         "one OpenSSH public key file per student, named NAME.pub (letters, digits, _ . -)")
        return Check(name, True, f"{path}: {len(files)} student{'s' if len(files) != 1 else ''} ({', '.join(f.stem for f in files[:5])}{' …' if len(files) > 5 else ''})")
    try:
        asyncssh.read_authorized_keys(str(path))
        lines = path.read_text().splitlines()
    except (OSError, ValueError, asyncssh.KeyImportError) as exc:
        return Check(name, False, f"{path} cannot be read: {exc}", "use OpenSSH authorized_keys format: one public key a line")
    count = sum(1 for line in lines if line.strip() and not line.lstrip().startswith("#"))
    if count == 0:
        return Check(name, False, f"{path} lists no keys", "add the students' public keys, one a line")
    return Check(name, True, f"{path}: {count} key{'s' if count != 1 else ''} (any listed key may use any name; a folder of NAME.pub binds keys to names)")

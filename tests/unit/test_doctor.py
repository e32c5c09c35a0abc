"""`llm-tutor doctor`: one OK/FAIL line per check, a fix under each failure, exit status 1 on any failure."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from llm_tutor.engine.cli.doctor import check_lab, colour_depth
from tests.conftest import llm_tutor_cmd


def doctor(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*llm_tutor_cmd(), "doctor", *args], capture_output=True, text=True, timeout=240,
                          env=env or dict(os.environ))


def lines(out: str) -> dict[str, str]:
    """Check name -> its line (and fix)."""
    found: dict[str, str] = {}
    last = ""
    for line in out.splitlines():
        if line.startswith(("OK", "FAIL")):
            last = line.split(None, 1)[1].split(":", 1)[0]
            found[last] = line
        elif line.strip().startswith("fix:"):
            found[last] += "\n" + line
    return found


def test_a_healthy_machine_passes_every_check(tmp_path: Path) -> None:
    env = dict(os.environ, LLM_TUTOR_DATA_DIR=str(tmp_path / "data"), TERM="xterm-256color")
    proc = doctor("--device", "cpu", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    found = lines(proc.stdout)
    assert set(found) == {"python", "torch", "device", "terminal", "data directory"}
    assert all(line.startswith("OK") for line in found.values())
    import torch  # the test process may import torch: it is not the UI

    assert torch.__version__ in found["torch"]
    assert "cpu" in found["device"] and "256 colours" in found["terminal"]
    assert (tmp_path / "data").is_dir() and not list((tmp_path / "data").iterdir())  # its probe file is gone


def test_failures_say_how_to_fix_them(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    env = dict(os.environ, LLM_TUTOR_DATA_DIR=str(blocker / "data"), TERM="dumb")
    proc = doctor("--device", "cuda" if not _has_cuda() else "mps", "--lab", "--authorized-keys", str(tmp_path / "none"),
                  env=env)
    assert proc.returncode == 1
    found = lines(proc.stdout)
    for name in ("device", "terminal", "data directory", "host key", "authorized keys"):
        assert found[name].startswith("FAIL") and "\n      fix: " in found[name], proc.stdout
    assert "--host-key" in found["host key"]
    assert found["python"].startswith("OK") and found["torch"].startswith("OK")
    assert "Deprecation" not in proc.stderr, "asyncssh's import warnings are not shown"


def test_lab_keys_are_checked(tmp_path: Path) -> None:
    import asyncssh

    key = asyncssh.generate_private_key("ssh-ed25519")
    host_key = tmp_path / "host_key"
    host_key.write_bytes(key.export_private_key())
    host_key.chmod(0o644)
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "alice.pub").write_bytes(asyncssh.generate_private_key("ssh-ed25519").export_public_key())
    (keys / ".hidden.pub").write_text("ssh-ed25519 AAAA")
    host, authorized = check_lab(keys, host_key)
    assert not host.ok and host.fix == f"chmod 600 {host_key}"
    assert not authorized.ok and ".hidden.pub" in authorized.detail and authorized.fix

    host_key.chmod(0o600)
    (keys / ".hidden.pub").unlink()
    host, authorized = check_lab(keys, host_key)
    assert host.ok and key.get_fingerprint() in host.detail
    assert authorized.ok and "1 student (alice)" in authorized.detail

    single = tmp_path / "authorized_keys"
    single.write_text("# the class\n" + (keys / "alice.pub").read_text())
    _, authorized = check_lab(single, tmp_path / "not-made-yet")
    assert authorized.ok and "1 key (" in authorized.detail
    missing_host, missing_keys = check_lab(tmp_path / "nope", tmp_path / "not-made-yet")
    assert missing_host.ok and "first run" in missing_host.detail
    assert not missing_keys.ok and "does not exist" in missing_keys.detail


def test_doctor_keeps_the_command_line_torch_free() -> None:
    code = ("import sys\nfrom llm_tutor.engine.cli import doctor\nimport argparse\n"
            "doctor.check_python(); doctor.check_data_dir(None); doctor.check_terminal()\n"
            "doctor.check_torch('cpu')\nprint('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240)
    assert out.stdout.strip().splitlines()[-1] == "False", out.stderr


@pytest.mark.parametrize(
    ("env", "depth"),
    [
        ({"TERM": "xterm-256color"}, "256"),
        ({"TERM": "xterm-256color", "COLORTERM": "truecolor"}, "truecolor"),
        ({"TERM": "xterm"}, "16"),
        ({"TERM": "linux"}, "16"),
        ({"TERM": "xterm-256color", "NO_COLOR": "1"}, "none"),
        ({"TERM": "dumb"}, "dumb"),
        ({}, "dumb"),
    ],
)
def test_colour_depth(env: dict[str, str], depth: str) -> None:
    assert colour_depth(env) == depth


def _has_cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def test_lab_confinement_lists_each_protection_root_and_keys_a_session_could_write(tmp_path: Path) -> None:
    from llm_tutor.engine.cli.doctor_lab import check_confinement
    from llm_tutor.engine.sandbox.probe import probe

    root = tmp_path / "lab"
    (root / "users" / "alice").mkdir(parents=True)
    inside = root / "users" / "alice" / "keys"
    inside.mkdir()
    outside = tmp_path / "keys"
    outside.mkdir(mode=0o755)
    checks = {c.name: c for c in check_confinement(outside, tmp_path / "host_key", root, None)}
    for protection in probe().protections:
        line = checks[f"protection: {protection.name}"].line()
        assert line.startswith(protection.state.upper()) and protection.detail in line
    assert checks["user"].ok == (os.geteuid() != 0)
    assert checks["keys writable"].ok == checks["host key writable"].ok
    world = tmp_path / "world"
    world.mkdir()
    world.chmod(0o777)
    world_check = {c.name: c for c in check_confinement(world, None, root, None)}["keys writable"]
    assert not world_check.ok and "other Unix users" in world_check.detail
    landlock_on = probe().state("filesystem (Landlock)") == "on"
    flagged = {c.name: c for c in check_confinement(inside, None, root, None)}["keys writable"]
    assert not flagged.ok and "a session could change it" in flagged.detail and flagged.fix
    assert landlock_on or "without Landlock" in flagged.detail

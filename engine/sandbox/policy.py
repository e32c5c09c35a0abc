"""Provides a session's sandbox policy: what it may read and write, its group, and applying it in a child.

The lab server (trusted, unconfined) builds a `Policy` per session and sends it, as plain JSON, to the
fork servers with each request; the forked child calls `apply` after fork and before any learner code:
join the session's control group, cap file sizes, then Landlock. Children inherit all of it.

Read-write: the student's folder and the session's scratch folder (TMPDIR). Read-only: the Python
installation, the installed package, the lessons and the system paths a kernel needs. Nothing else:
not other students' folders, the keys, the host key, the data root or the server user's home.
"""

from __future__ import annotations

import glob
import json
import os
import resource
import signal
import site
import sys
import sysconfig
from dataclasses import asdict, dataclass, field
from pathlib import Path

from llm_tutor.engine.sandbox import landlock

SYSTEM_READ = ("/usr", "/lib", "/lib32", "/lib64", "/bin", "/sbin", "/opt/conda", "/proc", "/sys",
               "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/timezone",
               "/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/hosts", "/etc/host.conf", "/etc/resolv.conf",
               "/etc/gai.conf", "/etc/ssl", "/etc/ca-certificates", "/etc/pki", "/etc/mime.types", "/etc/os-release",
               "/etc/terminfo", "/etc/fonts", "/etc/matplotlibrc", "/etc/alternatives")
"""System paths a Python kernel reads (shared libraries, time zone, names, certificates; /sys for CPU topology,
its own group's limits and, on a GPU server, what CUDA and NVML read about the devices)."""
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty")
GPU_DEVICES = ("/dev/nvidia*", "/dev/nvidia-caps", "/dev/dri", "/dev/kfd")
BLIND = ("/dev/shm",)
"""Shared memory for torch's DataLoader workers and multiprocessing: names are random, listing is refused, and
the pages count against the session's memory group."""
BIND_PORTS = (0,)
"""TCP ports a session may bind: only 0, an ephemeral port the kernel picks (a distributed run's rendezvous and
gloo's links, as in the multi-gpu lesson). No session can take a chosen port (a well-known one, or one another
student's run waits on)."""
ENV = "LLM_TUTOR_SANDBOX"
"""Set in a confined process: a JSON summary of its protections, for error messages (see `explain`)."""


@dataclass
class Policy:
    """One session's confinement; JSON-able (it travels in fork requests)."""

    read: list[str] = field(default_factory=list)
    write: list[str] = field(default_factory=list)
    devices: list[str] = field(default_factory=list)
    blind: list[str] = field(default_factory=lambda: list(BLIND))
    """Folders whose files may be made and used by name, never listed (POSIX shared memory)."""
    bind_ports: list[int] = field(default_factory=lambda: list(BIND_PORTS))
    landlock: bool = True
    cgroup_procs: list[str] = field(default_factory=list)
    """``cgroup.procs`` files the process writes its pid into (its session's groups)."""
    file_size_mb: int | None = None
    """RLIMIT_FSIZE: the largest file the session may write (the disk cap)."""
    memory_mb: int | None = None
    pids: int | None = None
    required: bool = False
    """Refuse to run when a part cannot be applied (``--require-sandbox``), instead of running without it."""

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Policy:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)  # type: ignore[arg-type]


def python_paths() -> list[str]:
    """Where this Python and its packages live (the installation, the venv, site-packages, this package)."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             os.path.dirname(os.path.realpath(sys.executable))}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        value = sysconfig.get_paths().get(key)
        if value:
            paths.add(value)
    try:
        paths.update(site.getsitepackages())
    except AttributeError:
        pass
    paths.update(p for p in sys.path if p and os.path.isabs(p) and os.path.exists(p))
    import llm_tutor.engine

    engine = Path(llm_tutor.engine.__file__).resolve().parent
    paths.add(str(engine.parent))  # the package root: site-packages/llm_tutor, or the source tree (editable)
    return sorted(paths)


def contains(outer: str, inner: str) -> bool:
    """True when `inner` is `outer` or beneath it (both resolved)."""
    a, b = os.path.realpath(outer), os.path.realpath(inner)
    return b == a or b.startswith(a.rstrip("/") + "/")


def session_policy(home: Path, scratch: Path, extra_read: list[str], protected: list[Path], *,
                   landlock_on: bool = True) -> tuple[Policy, list[str]]:
    """A session's policy, and the read paths dropped because they hold a protected path (to log).

    `protected` are paths no session may see (data root, keys, host key, the server's run folder):
    a read path that contains one of them (say the server user's home on sys.path) is left out.
    """
    dropped: list[str] = []
    read: list[str] = []
    for path in [*python_paths(), *extra_read, *SYSTEM_READ]:
        if any(contains(path, str(p)) for p in protected):
            dropped.append(path)
        elif os.path.exists(path) and path not in read:
            read.append(path)
    devices = list(DEVICES)
    for pattern in GPU_DEVICES:
        devices.extend(glob.glob(pattern))
    policy = Policy(read=read, write=[str(home), str(scratch)], devices=devices, landlock=landlock_on)
    return policy, dropped


class SandboxError(RuntimeError):
    """A required part of the sandbox could not be applied."""


def apply(policy: Policy, abi: int | None = None) -> list[str]:
    """In a fresh child: join the groups, cap file sizes, then Landlock. Returns what could not be applied.

    Raises `SandboxError` when `policy.required` and something failed.
    """
    problems: list[str] = []
    for procs in policy.cgroup_procs:
        try:
            with open(procs, "w") as fh:
                fh.write(str(os.getpid()))
        except OSError as exc:
            problems.append(f"could not join the session's control group {os.path.dirname(procs)}: {exc.strerror}")
    if policy.file_size_mb:
        size = policy.file_size_mb * 1024 * 1024
        try:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-large write fails with EFBIG, not a kill
            resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
        except (OSError, ValueError) as exc:
            problems.append(f"could not cap file sizes: {exc}")
    used = 0
    if policy.landlock:
        try:
            used = landlock.restrict(policy.read, policy.write, devices=policy.devices, blind=policy.blind, abi=abi,
                                     bind_ports=policy.bind_ports)
        except landlock.LandlockError as exc:
            problems.append(str(exc))
    os.environ[ENV] = json.dumps({"landlock": used, "memory_mb": policy.memory_mb if policy.cgroup_procs else None,
                                  "pids": policy.pids if policy.cgroup_procs else None,
                                  "file_size_mb": policy.file_size_mb})
    if problems and policy.required:
        raise SandboxError("; ".join(problems))
    return problems

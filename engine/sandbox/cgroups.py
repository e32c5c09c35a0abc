"""Provides per-session control groups: memory, process and CPU limits a session's code cannot lift.

Two layouts are handled:

- **cgroup v2**, where this process may create child groups with the ``memory`` and ``pids``
  controllers: as root in the root group, or in a delegated subtree (a systemd user manager's, say
  ``systemd-run --user --scope -p Delegate=yes llm-tutor serve ssh ...``). Each session gets
  ``memory.max``, ``memory.swap.max`` 0, ``pids.max`` and ``cpu.weight``.
- **cgroup v1** (hybrid machines), where the ``memory`` and ``pids`` hierarchies are writable:
  ``memory.limit_in_bytes`` (and ``memory.memsw.limit_in_bytes`` where swap is accounted),
  ``pids.max``, and ``cpu.shares`` where the ``cpu`` hierarchy is writable too.

A session's processes join its group themselves, after fork and before the sandbox (see `policy`);
Landlock then keeps the group's files read-only for them. At the end the server kills whatever is
left in the group and removes it. Everything here is plain file I/O under /sys/fs/cgroup.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")


@dataclass
class Limits:
    """What one session may use; None: no limit of that kind."""

    memory_mb: int | None = None
    pids: int | None = None
    cpu_weight: int | None = 100
    """Relative CPU share (v2 ``cpu.weight``, 1-10000; v1 ``cpu.shares`` = weight × 10.24)."""


@dataclass
class Support:
    """What this machine lets this process do with control groups, and why not."""

    version: int = 0
    """2, 1, or 0 when neither can be used."""
    base: dict[str, Path] = field(default_factory=dict)
    """Per controller ("memory", "pids", "cpu"), the writable group below which sessions are made."""
    reasons: dict[str, str] = field(default_factory=dict)
    """Per controller that cannot be used, why."""

    def has(self, controller: str) -> bool:
        return controller in self.base


def _own_paths() -> dict[str, str]:
    """This process's group per v1 controller ("memory": "/a/b"), and per v2 under "" ."""
    paths: dict[str, str] = {}
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for name in controllers.split(",") if controllers else [""]:
                paths[name] = path
    except (OSError, ValueError):
        pass
    return paths


def _writable(path: Path) -> bool:
    return path.is_dir() and os.access(path, os.W_OK | os.X_OK)


def _v2_mount() -> Path | None:
    if (ROOT / "cgroup.controllers").exists():
        return ROOT
    if (ROOT / "unified" / "cgroup.controllers").exists():
        return ROOT / "unified"
    return None


def detect(tag: str = "llm-tutor") -> Support:
    """Find where this process can make session groups (v2 first, then v1). Creates nothing."""
    own = _own_paths()
    support = Support()
    mount = _v2_mount()
    why_v2 = "no cgroup v2 hierarchy is mounted"
    if mount is not None:
        group = mount / own.get("", "/").lstrip("/")
        available = set((group / "cgroup.controllers").read_text().split()) if (group / "cgroup.controllers").exists() else set()
        if not {"memory", "pids"} <= available:
            missing = sorted({"memory", "pids"} - available)
            why_v2 = (f"the cgroup v2 group {group} has no {' or '.join(missing)} controller"
                      + (" (a hybrid machine: they are on cgroup v1)" if (ROOT / "memory").is_dir() else ""))
        elif not _writable(group):
            why_v2 = (f"the cgroup v2 group {group} is not writable by uid {os.getuid()} (run as root, or under a "
                      "delegated subtree: systemd-run --user --scope -p Delegate=yes ...)")
        else:
            support.version = 2
            for name in ("memory", "pids", "cpu"):
                if name in available:
                    support.base[name] = group
                else:
                    support.reasons[name] = f"the cgroup v2 group {group} has no {name} controller"
            return support
    for name in ("memory", "pids", "cpu"):
        hierarchy = ROOT / name
        if not hierarchy.is_dir():
            support.reasons[name] = f"{why_v2}, and no cgroup v1 {name} hierarchy"
            continue
        group = hierarchy / own.get(name, "/").lstrip("/")
        if _writable(group):
            support.base[name] = group
        else:
            support.reasons[name] = (f"{why_v2}; the cgroup v1 group {group} is not writable by uid {os.getuid()} "
                                     "(run as root, or have it delegated)")
    if support.base:
        support.version = 1
    return support


class SessionGroup:
    """One session's control group (v2: one folder; v1: one folder per controller)."""

    def __init__(self, support: Support, name: str, limits: Limits) -> None:
        self.support = support
        self.name = name
        self.limits = limits
        self.dirs: dict[str, Path] = {}
        """Per controller, the session's folder (v2: the same folder for each)."""

    @property
    def procs_files(self) -> list[str]:
        """The ``cgroup.procs`` files a process writes its pid into to join the session."""
        return sorted({str(d / "cgroup.procs") for d in self.dirs.values()})

    def create(self, parent_name: str) -> SessionGroup:
        """Make the folders and set the limits; raises OSError when that fails.

        The parent (the lab's group) is made with one process's CPU weight; `set_parent_weight` keeps it at
        the number of sessions, so they compete with the rest of the machine as that many processes would.
        """
        s, lim = self.support, self.limits
        if s.version == 2:
            base = s.base["memory"]
            parent = base / parent_name
            if not parent.is_dir():
                parent.mkdir()
                wanted = " ".join(f"+{c}" for c in ("memory", "pids", "cpu") if s.has(c))
                (base / "cgroup.subtree_control").write_text(wanted)
                (parent / "cgroup.subtree_control").write_text(wanted)
                if lim.cpu_weight and s.has("cpu"):
                    _try_write(parent / "cpu.weight", str(min(10000, lim.cpu_weight)))
            folder = parent / self.name
            folder.mkdir(exist_ok=True)
            for c in s.base:
                self.dirs[c] = folder
            if lim.memory_mb:
                (folder / "memory.max").write_text(str(lim.memory_mb * 1024 * 1024))
                _try_write(folder / "memory.swap.max", "0")
            if lim.pids:
                (folder / "pids.max").write_text(str(lim.pids))
            if lim.cpu_weight and s.has("cpu"):
                _try_write(folder / "cpu.weight", str(lim.cpu_weight))
            return self
        for c, base in s.base.items():
            if c == "cpu" and lim.cpu_weight and not (base / parent_name).is_dir():
                (base / parent_name).mkdir()
                _try_write(base / parent_name / "cpu.shares", str(max(2, int(lim.cpu_weight * 10.24))))
            folder = base / parent_name / self.name
            folder.mkdir(parents=True, exist_ok=True)
            self.dirs[c] = folder
        if lim.memory_mb and "memory" in self.dirs:
            limit = str(lim.memory_mb * 1024 * 1024)
            (self.dirs["memory"] / "memory.limit_in_bytes").write_text(limit)
            _try_write(self.dirs["memory"] / "memory.memsw.limit_in_bytes", limit)
        if lim.pids and "pids" in self.dirs:
            (self.dirs["pids"] / "pids.max").write_text(str(lim.pids))
        if lim.cpu_weight and "cpu" in self.dirs:
            _try_write(self.dirs["cpu"] / "cpu.shares", str(max(2, int(lim.cpu_weight * 10.24))))
        return self

    def pids(self) -> set[int]:
        found: set[int] = set()
        for path in self.procs_files:
            try:
                found.update(int(p) for p in Path(path).read_text().split())
            except (OSError, ValueError):
                pass
        return found

    def oom_kills(self) -> int:
        """How many processes the session's memory limit has killed so far."""
        folder = self.dirs.get("memory")
        if folder is None:
            return 0
        return oom_kills(folder, self.support.version)

    def remove(self, timeout: float = 5.0) -> bool:
        """Kill what is left in the group and remove its folders; True when they are gone."""
        deadline = time.monotonic() + timeout
        while True:
            left = self.pids()
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            for folder in set(self.dirs.values()):
                try:
                    folder.rmdir()
                except FileNotFoundError:
                    pass
                except OSError:
                    continue
            if not any(d.exists() for d in self.dirs.values()):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)


def oom_kills(folder: Path, version: int) -> int:
    """The ``oom_kill`` count of a memory group (v2 ``memory.events``, v1 ``memory.oom_control``)."""
    name = "memory.events" if version == 2 else "memory.oom_control"
    try:
        for line in (folder / name).read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


def set_parent_weight(support: Support, parent_name: str, cpu_weight: int, sessions: int) -> None:
    """Weigh the lab's group as `sessions` ordinary processes against the rest of the machine."""
    base = support.base.get("cpu")
    if base is None or not (base / parent_name).is_dir():
        return
    if support.version == 2:
        _try_write(base / parent_name / "cpu.weight", str(max(1, min(10000, cpu_weight * sessions))))
    else:
        _try_write(base / parent_name / "cpu.shares", str(max(2, min(262144, int(cpu_weight * 10.24) * sessions))))


def remove_parent(support: Support, parent_name: str) -> None:
    """Remove the server's own folder(s) once every session's is gone."""
    for base in set(support.base.values()):
        try:
            (base / parent_name).rmdir()
        except OSError:
            pass


def _try_write(path: Path, value: str) -> None:
    try:
        path.write_text(value)
    except OSError:
        pass

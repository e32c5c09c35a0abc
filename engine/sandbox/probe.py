"""Provides the probe: which protections this machine gives a lab session, each on, off or unavailable, and why.

`serve ssh` logs it at start (and refuses to start with ``--require-sandbox`` when one is missing);
`doctor --lab` prints it; the tests skip with its reasons.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from llm_tutor.engine.sandbox import cgroups, landlock


@dataclass(frozen=True)
class Protection:
    name: str
    state: str
    """"on", "off" (turned off by an option) or "unavailable" (this machine or user cannot)."""
    detail: str
    """What it does when on; why not otherwise."""


@dataclass
class Probe:
    abi: int
    abi_reason: str
    cgroups: cgroups.Support
    protections: list[Protection]

    def missing(self) -> list[Protection]:
        return [p for p in self.protections if p.state != "on"]

    def state(self, name: str) -> str:
        return next((p.state for p in self.protections if p.name == name), "unavailable")


LANDLOCK_FS = "filesystem (Landlock)"
LANDLOCK_NET = "network (Landlock TCP)"
LANDLOCK_SCOPES = "signals and abstract sockets (Landlock scopes)"
MEMORY = "memory limit (cgroup)"
PIDS = "process limit (cgroup)"
CPU = "CPU weight (cgroup)"
DISK = "disk cap (RLIMIT_FSIZE + usage check)"


def probe(*, landlock_on: bool = True, cgroups_on: bool = True, disk_cap_mb: int | None = 500) -> Probe:
    """Ask the kernel what it offers (a system call and a few reads; nothing is changed)."""
    abi, why = landlock.abi_version()
    support = cgroups.detect() if cgroups_on else cgroups.Support()
    found: list[Protection] = []

    def landlock_row(name: str, need: int, what: str) -> Protection:
        if not landlock_on:
            return Protection(name, "off", "turned off (--no-sandbox)")
        if abi >= need:
            return Protection(name, "on", f"{what} (Landlock ABI {abi})")
        return Protection(name, "unavailable", why or f"needs Landlock ABI {need}; this kernel has ABI {abi} (Linux "
                          f"{os.uname().release})")

    found.append(landlock_row(LANDLOCK_FS, 1, "a session reads and writes only its own folder and scratch folder"))
    found.append(landlock_row(LANDLOCK_NET, 4, "no TCP server on a chosen port (ephemeral ports only, for distributed runs)"))
    found.append(landlock_row(LANDLOCK_SCOPES, 6, "no signal or abstract-socket connection outside the session"))
    for name, controller, what in ((MEMORY, "memory", "memory of the app and kernel together"),
                                   (PIDS, "pids", "processes and threads per session"),
                                   (CPU, "cpu", "an equal CPU share per session")):
        if not cgroups_on:
            found.append(Protection(name, "off", "turned off (--no-cgroups)"))
        elif support.has(controller):
            found.append(Protection(name, "on", f"{what} (cgroup v{support.version}, {support.base[controller]})"))
        else:
            found.append(Protection(name, "unavailable", support.reasons.get(controller, "no cgroup found")))
    if disk_cap_mb:
        found.append(Protection(DISK, "on", f"no file over {disk_cap_mb} MB; a session whose folders pass "
                                f"{disk_cap_mb} MB is ended with a message"))
    else:
        found.append(Protection(DISK, "off", "turned off (--disk-cap-mb 0)"))
    return Probe(abi, why, support, found)


def writable_by_sessions(path: Path, session_write: list[Path], landlock_fs: bool) -> str:
    """Why a session could write (or read, for the host key) `path`, or "" when it cannot."""
    if not landlock_fs:
        if os.access(path if path.exists() else path.parent, os.W_OK):
            return (f"{path} is writable by this user (uid {os.getuid()}), and without Landlock every session runs "
                    "with this user's rights")
        return ""
    from llm_tutor.engine.sandbox.policy import contains

    for folder in session_write:
        if contains(str(folder), str(path)):
            return f"{path} is inside {folder}, which sessions may write"
    return ""

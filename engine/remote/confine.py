"""Provides the lab's confinement of sessions: the start-up probe, and per session a scratch folder, a
control group, a sandbox policy, a kernel channel and a disk watch, all undone when the session ends.

Domains, so that signals still work under Landlock's signal scope: a session's app and its kernel
are forked by two different fork servers and each confines itself (same policy, two Landlock
domains), so neither may signal the other directly. The app asks for kernels on its session's
channel to the kernel fork server and interrupts or stops them through the socket each kernel comes
with; the fork server (unconfined, the kernel's parent) sends the signal. The lab server, also
unconfined, ends sessions by signalling and by killing what is left in the session's group.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llm_tutor.engine.sandbox import cgroups
from llm_tutor.engine.sandbox.policy import Policy, session_policy
from llm_tutor.engine.sandbox.probe import DISK, LANDLOCK_FS, MEMORY, PIDS, Probe, probe, writable_by_sessions

log = logging.getLogger("llm_tutor.remote.ssh")


class ConfinementError(Exception):
    """The lab cannot start as asked (a protection is missing under --require-sandbox, unsafe keys)."""


@dataclass
class SessionBox:
    """What one session was given; `Confinement.close` undoes it."""

    policy: Policy | None
    scratch: Path
    group: cgroups.SessionGroup | None = None
    channel: socket.socket | None = None


class Confinement:
    """The lab's sandbox settings and what this machine supports."""

    def __init__(self, *, enabled: bool = True, required: bool = False, memory_mb: int | None = None,
                 pids: int | None = 256, disk_cap_mb: int | None = 500, read: list[str] | None = None) -> None:
        self.enabled = enabled
        self.required = required
        self.memory_mb = memory_mb
        self.pids = pids
        self.disk_cap_mb = disk_cap_mb or None
        self.read = list(read or [])
        self.open_groups = 0
        self._lock = threading.Lock()
        """Sessions with a group now: the lab's group weighs as that many processes."""
        self.probe: Probe = probe(landlock_on=enabled, cgroups_on=enabled, disk_cap_mb=self.disk_cap_mb)
        self.scratch_root = Path(tempfile.mkdtemp(prefix="llm-tutor-scratch-"))
        self.group_parent = f"llm-tutor-{os.getpid()}"
        self.protected: list[Path] = []

    @property
    def landlock(self) -> bool:
        return self.probe.state(LANDLOCK_FS) == "on"

    def check(self, data_root: Path, keys: Path, host_key: Path, run_dir: str | None = None) -> list[str]:
        """Refuse unsafe set-ups (raises `ConfinementError`); returns warnings to log."""
        warnings: list[str] = []
        if self.required and self.enabled:
            missing = [p for p in self.probe.missing() if p.state == "unavailable"]
            if missing:
                raise ConfinementError("--require-sandbox: " + "; ".join(f"{p.name} is unavailable: {p.detail}" for p in missing))
        if not self.enabled and self.required:
            raise ConfinementError("--require-sandbox and --no-sandbox contradict each other")
        self.protected = [data_root, keys, host_key, Path(str(host_key) + ".pub")]
        session_write = [data_root / "users", self.scratch_root]
        for what, path in (("keys folder", keys), ("host key", host_key)):
            why = writable_by_sessions(path, session_write, self.landlock)
            if why and self.landlock:
                raise ConfinementError(f"the {what} can be written from a session: {why}; move it out of the lab's data")
            if why:
                message = f"the {what} can be written from a session: {why}"
                if self.required:
                    raise ConfinementError(message)
                warnings.append(message)
        if self.landlock:
            _, dropped = session_policy(data_root, self.scratch_root, self.read, self.protected)
            for path in dropped:
                warnings.append(f"sessions may not read {path}: it holds the lab's data, keys or host key")
        return warnings

    def log_protections(self) -> None:
        for p in self.probe.protections:
            log.info("protection %-48s %-11s %s", p.name, p.state, p.detail)

    # -- per session ---------------------------------------------------------------------------

    def open(self, user: str, home: Path, session_id: str, kernel_socket: str | None) -> SessionBox:
        """Scratch folder, control group, policy and kernel channel of a new session."""
        scratch = Path(tempfile.mkdtemp(prefix=f"{user}-", dir=self.scratch_root))
        if not self.enabled:
            box = SessionBox(None, scratch)
        else:
            policy, _ = session_policy(home, scratch, self.read, self.protected, landlock_on=self.landlock)
            policy.required = self.required
            policy.file_size_mb = self.disk_cap_mb
            box = SessionBox(policy, scratch)
            support = self.probe.cgroups
            if support.base:
                limits = cgroups.Limits(memory_mb=self.memory_mb if self.probe.state(MEMORY) == "on" else None,
                                        pids=self.pids if self.probe.state(PIDS) == "on" else None)
                try:
                    box.group = cgroups.SessionGroup(support, session_id, limits).create(self.group_parent)
                    with self._lock:
                        self.open_groups += 1
                        if limits.cpu_weight:
                            cgroups.set_parent_weight(support, self.group_parent, limits.cpu_weight, self.open_groups)
                    policy.cgroup_procs = box.group.procs_files
                    policy.memory_mb, policy.pids = limits.memory_mb, limits.pids
                except OSError as exc:
                    log.warning("no control group for user=%s: %s", user, exc)
                    if self.required:
                        self.close(box)
                        raise
        if kernel_socket:
            from llm_tutor.engine.procs.forkserver import open_channel

            box.channel = open_channel(kernel_socket, box.policy.to_json() if box.policy else None)
        return box

    def env(self, box: SessionBox, channel_fd: int | None) -> dict[str, str]:
        """What the session's app environment gets from its box."""
        env = {"TMPDIR": str(box.scratch)}
        if box.channel is not None and channel_fd is not None:
            env["LLM_TUTOR_KERNEL_SERVER"] = f"fd:{channel_fd}"
        if box.group is not None and box.group.limits.pids:
            env["LLM_TUTOR_KERNEL_MAX_PROCS"] = "0"  # the group's pids.max replaces the per-user rlimit
        return env

    def close(self, box: SessionBox) -> None:
        """Blocking (run it in an executor): kill what is left in the group, remove it and the scratch folder."""
        if box.channel is not None:
            box.channel.close()
            box.channel = None
        if box.group is not None:
            if not box.group.remove():
                log.warning("could not remove the control group %s (processes remain)", ", ".join(map(str, box.group.dirs.values())))
            with self._lock:  # close runs in an executor thread, open in the event loop's
                self.open_groups = max(0, self.open_groups - 1)
                if box.group.limits.cpu_weight:
                    cgroups.set_parent_weight(self.probe.cgroups, self.group_parent, box.group.limits.cpu_weight,
                                              max(1, self.open_groups))
            box.group = None
        shutil.rmtree(box.scratch, ignore_errors=True)

    def stop(self) -> None:
        cgroups.remove_parent(self.probe.cgroups, self.group_parent)
        shutil.rmtree(self.scratch_root, ignore_errors=True)

    def over_disk_cap(self, box: SessionBox, home: Path) -> int:
        """MB the session's folders use when that is over the cap, else 0."""
        if not self.disk_cap_mb or self.probe.state(DISK) != "on":
            return 0
        used = (folder_bytes(home) + folder_bytes(box.scratch)) // (1024 * 1024)
        return int(used) if used > self.disk_cap_mb else 0


def folder_bytes(root: Path) -> int:
    """Bytes used by the files beneath `root` (links not followed)."""
    total = 0
    stack = [str(root)]
    while stack:
        try:
            entries: Any = os.scandir(stack.pop())
        except OSError:
            continue
        with entries:
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    else:
                        total += entry.stat(follow_symlinks=False).st_blocks * 512
                except OSError:
                    continue
    return total

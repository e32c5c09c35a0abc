"""Provides the sentences that name the protection behind an error in a confined session.

A cell that touches another student's folder gets a bare ``PermissionError`` from the system; the
kernel adds one of these notes, so the learner (and a test) can tell a sandbox refusal from a
bug. The confined process knows its protections from ``LLM_TUTOR_SANDBOX`` (set by `policy.apply`).
"""

from __future__ import annotations

import errno
import json
import os
from typing import Any


def active() -> dict[str, Any]:
    """This process's protections (empty when not confined)."""
    try:
        value = json.loads(os.environ.get("LLM_TUTOR_SANDBOX", "") or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def explain(exc: BaseException) -> str:
    """A note naming the protection that refused `exc`, or "" when it is not a sandbox refusal."""
    sandbox = active()
    if not sandbox:
        return ""
    code = getattr(exc, "errno", None)
    if isinstance(exc, PermissionError) and sandbox.get("landlock"):
        if getattr(exc, "filename", None) is None:
            return ("refused by the lab's sandbox (Landlock scope): a session may signal and connect only to its "
                    "own processes and the network ports it is allowed.")
        return ("refused by the sandbox (Landlock): this code may write only its own folder and its scratch "
                "folder, and read only the course and Python's files.")
    if code == errno.EAGAIN and sandbox.get("pids"):
        return (f"refused by the session's process limit (cgroup pids.max = {sandbox['pids']} processes and threads). "
                "Restart the kernel (K) to end the processes this cell started.")
    if code == errno.EFBIG and sandbox.get("file_size_mb"):
        return f"refused by the session's disk cap (RLIMIT_FSIZE: no file over {sandbox['file_size_mb']} MB)."
    return ""


def memory_death(oom_kills_before: int, oom_kills_now: int) -> str:
    """The reason a session's kernel was killed, when its group's memory limit did it, else ""."""
    sandbox = active()
    if oom_kills_now > oom_kills_before and sandbox.get("memory_mb"):
        return (f"the session's memory limit (cgroup memory, {sandbox['memory_mb']} MB for the app and kernel together) "
                "was reached, so the system stopped the kernel")
    return ""


def own_oom_kills() -> int:
    """The ``oom_kill`` count of this process's memory group (the session's, in a lab)."""
    from pathlib import Path

    from llm_tutor.engine.sandbox.cgroups import ROOT, oom_kills

    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return 0
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            return oom_kills(ROOT / "memory" / path.lstrip("/"), 1)
        if controllers == "" and (ROOT / path.lstrip("/") / "memory.events").exists():
            return oom_kills(ROOT / path.lstrip("/"), 2)
    return 0

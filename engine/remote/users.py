"""Provides what a lab keeps per student: a validated name, a private data folder, the session's processes.

A student is known by the SSH user name they log in with; their progress and workspace live in
``<data-root>/users/<name>/`` (the layout `llm-tutor progress --all` reads).
"""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

from llm_tutor.engine.learner.paths import USERS_DIR

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$")


def valid_user_name(name: str) -> bool:
    """A name that is safe as a folder name: letters, digits, ``_ . -``, not starting with a dot, ≤ 32."""
    return bool(_NAME.match(name)) and not name.endswith(".")


def user_dir(root: Path, name: str) -> Path:
    """The student's data folder (made private, mode 0700); raises ValueError for a bad name."""
    if not valid_user_name(name):
        raise ValueError(f"not a valid student name: {name!r}")
    users = root / USERS_DIR
    users.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = users / name
    path.mkdir(exist_ok=True, mode=0o700)
    return path


# -- process trees (Linux /proc; elsewhere the process groups are all there is) -----------------


def _stat(pid: int) -> tuple[int, int, int] | None:
    """(ppid, pgid, start time) of a live process, or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    fields = data[data.rfind(b")") + 2 :].split()
    if fields[0] == b"Z":
        return None
    return int(fields[1]), int(fields[2]), int(fields[19])


def descendants(pid: int) -> list[tuple[int, int]]:
    """Every live descendant of `pid` as (pid, start time), so it can be killed later without pid reuse."""
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    children: dict[int, list[int]] = {}
    starts: dict[int, int] = {}
    for entry in entries:
        if not entry.isdigit():
            continue
        info = _stat(int(entry))
        if info is None:
            continue
        children.setdefault(info[0], []).append(int(entry))
        starts[int(entry)] = info[2]
    found: list[tuple[int, int]] = []
    todo = list(children.get(pid, []))
    while todo:
        child = todo.pop()
        found.append((child, starts[child]))
        todo.extend(children.get(child, []))
    return found


def kill_tree(pid: int, tree: list[tuple[int, int]], sig: int = signal.SIGKILL) -> None:
    """Signal `pid`'s process group and every recorded descendant (and its group) still the same process."""
    signal_group(pid, sig)
    for child, start in tree:
        info = _stat(child)
        if info is None or info[2] != start:
            continue
        if info[1] == child:
            signal_group(child, sig)
        else:
            try:
                os.kill(child, sig)
            except (ProcessLookupError, PermissionError):
                pass


def signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

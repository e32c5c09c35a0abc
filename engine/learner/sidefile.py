"""Provides the side file of progress not yet saved, written whole even when the disk is full.

When the progress database cannot take a write (a lock held too long, a full disk), the store
keeps the write in memory and, at close, in ``progress.pending.jsonl`` beside the database, to be
replayed at the next start. A full disk would leave that file empty too; so the store keeps a
small reserve file (``progress.reserve``, its blocks allocated at open) and frees it for
the side file when the disk is full. Lines are appended whole or not at all: a failed write is
cut back to where the file ended.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

QueuedWrite = tuple[str, dict[str, Any]]
"""A write the database could not take: the name of its function in `writes.OPS`, and its arguments."""

RESERVE_NAME = "progress.reserve"
RESERVE_BYTES = 256 * 1024
"""Disk space held back for the side file (a queued write is a few hundred bytes, a draft a few kB)."""


def reserve(folder: Path) -> None:
    """Make sure the reserve file holds `RESERVE_BYTES` of allocated disk in `folder` (quietly: best effort)."""
    path = folder / RESERVE_NAME
    try:
        if path.stat().st_blocks * 512 >= RESERVE_BYTES:
            return
    except OSError:
        pass
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    except OSError:
        return
    try:
        if hasattr(os, "posix_fallocate"):
            os.posix_fallocate(fd, 0, RESERVE_BYTES)
        else:  # pragma: no cover - macOS: written zeros hold the blocks as well
            os.pwrite(fd, bytes(RESERVE_BYTES), 0)
    except OSError:  # no room even for that: keep nothing half-made
        os.close(fd)
        path.unlink(missing_ok=True)
        return
    os.close(fd)


def append_whole(file: Path, lines: Sequence[str]) -> None:
    """Append `lines` to `file` and sync; on any failure the file is left as it was (raises the OSError)."""
    data = "".join(lines).encode("utf-8")
    try:
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        created = True
    except FileExistsError:
        fd = os.open(file, os.O_WRONLY | os.O_APPEND)
        created = False
    start = os.fstat(fd).st_size
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except OSError:
        try:
            os.ftruncate(fd, start)
        except OSError:
            pass
        os.close(fd)
        if created:  # made here: leave no empty file behind
            file.unlink(missing_ok=True)
        raise
    os.close(fd)


def keep(file: Path, lines: Sequence[str]) -> None:
    """Append `lines` to the side file; when there is no room, free the reserve beside it and try again.

    Raises:
        OSError: the lines could not be written even then.
    """
    try:
        append_whole(file, lines)
        return
    except OSError:
        spare = file.with_name(RESERVE_NAME)
        if not spare.exists():
            raise
    spare.unlink()
    append_whole(file, lines)


def as_lines(queued: Sequence[QueuedWrite]) -> list[str]:
    """The side file's lines for `queued`: one JSON object a line."""
    return [json.dumps({"op": name, "args": kwargs}) + "\n" for name, kwargs in queued]


def take(file: Path) -> tuple[Path, list[QueuedWrite]] | None:
    """Claim the side file and read its writes; None when there is none (or it cannot be read).

    The file is first renamed to a name of this process's own, so two processes opening at once
    never both replay it. Returns that name (delete it once its writes are saved or kept again)
    and the writes; a line cut short by a full disk is skipped.
    """
    if not file.is_file():
        return None
    claimed = file.with_name(f"{file.name}.{os.getpid()}")
    try:
        os.replace(file, claimed)
        lines = claimed.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    queued: list[QueuedWrite] = []
    for line in lines:
        try:
            entry = json.loads(line)
            name, kwargs = entry["op"], entry["args"]
        except (ValueError, KeyError, TypeError):
            continue
        if isinstance(name, str) and isinstance(kwargs, dict):
            queued.append((name, kwargs))
    return claimed, queued

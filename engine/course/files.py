"""Provides `read_regular`: read a file the learner or an author named, never blocking and never without a bound.

A path can name a FIFO (opening it waits for a writer for ever), a socket, a device such as
``/dev/zero`` (endless), or a file of any size. `read_regular` opens without blocking, checks
what it opened (not what the name pointed to a moment before), refuses anything that is not a
regular file, and reads at most `limit` bytes, so a 50 MB "lesson" costs nothing.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


class NotRegularFile(OSError):
    """The path is not a regular file, or is larger than allowed; `str()` says which and what to do."""


def kind_of(mode: int) -> str:
    """What a file of this `st_mode` is, in words."""
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "not a regular file"


def size_text(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n} bytes"


def _check(path: Path | str, st: os.stat_result, limit: int | None) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise NotRegularFile(f"{path} is {kind_of(st.st_mode)}, not a file")
    if limit is not None and st.st_size > limit:
        raise NotRegularFile(f"{path} is {size_text(st.st_size)}, over the {size_text(limit)} allowed")


def read_regular(path: Path | str, limit: int | None = None) -> bytes:
    """The bytes of the regular file at `path`.

    Raises:
        FileNotFoundError: there is nothing at `path`.
        NotRegularFile: `path` is a FIFO, socket, device or folder, or holds more than `limit` bytes.
        OSError: any other reason it cannot be read.
    """
    _check(path, os.stat(path), limit)  # a socket cannot even be opened: say what it is first
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    try:
        _check(path, os.fstat(fd), limit)  # what was opened, should the name have changed meanwhile
        os.set_blocking(fd, True)
        chunks: list[bytes] = []
        left = (limit + 1) if limit is not None else -1  # a file that grows while read is still caught
        while left != 0:
            chunk = os.read(fd, 1 << 20 if left < 0 else min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            if left > 0:
                left -= len(chunk)
        data = b"".join(chunks)
        if limit is not None and len(data) > limit:
            raise NotRegularFile(f"{path} is over the {size_text(limit)} allowed")
        return data
    finally:
        os.close(fd)

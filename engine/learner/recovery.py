"""Provides the store's recovery from a faulty database file: opening it whatever state it is in, and mending it.

- a corrupt file is moved aside (``progress.sqlite3.corrupt-<time>``) and a fresh one is made;
- a read-only data directory, or a database made by a newer llm-tutor, gives an in-memory copy:
  the app runs, nothing is saved, and a notice says so;
- a database file deleted while the app runs is written again from the open connection, which
  still holds everything; a file replaced by another one is adopted.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from llm_tutor.engine.learner.errors import NewerSchema, describe_write_error, is_corrupt
from llm_tutor.engine.learner.records import StoreNotice
from llm_tutor.engine.learner.schema import SCHEMA_VERSION, connect, migrate

NOT_SAVED = "progress is kept in memory and will not be saved"

FileIdentity = tuple[int, int]
"""(device, inode) of the database file the connection has open."""
UNKNOWN: FileIdentity = (-1, -1)
"""A file that exists but cannot be looked at (a folder without search permission)."""


def file_identity(path: Path) -> FileIdentity | None:
    """(device, inode) of a file; None when it does not exist, `UNKNOWN` when it cannot be told."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError:
        return UNKNOWN
    return (st.st_dev, st.st_ino)


def open_database(
    root: Path, path: Path, lock_timeout: float, notices: list[StoreNotice]
) -> tuple[sqlite3.Connection, bool]:
    """The database at `path`, or an in-memory copy when it cannot be written; adds a notice per fault.

    Returns:
        (connection, persistent): persistent is False for the in-memory copy.
    """
    problem = _unwritable(root, path)
    if problem:
        notices.append(StoreNotice("warning", f"{problem}: {NOT_SAVED}"))
        return memory_copy(path, notices), False
    for _ in range(2):
        try:
            return connect(path, lock_timeout), True
        except sqlite3.DatabaseError as exc:
            if is_corrupt(exc):
                moved = move_aside(path)
                notices.append(
                    StoreNotice(
                        "error",
                        f"the progress database {path} was damaged ({exc}); it was moved to {moved.name} "
                        "and a fresh one was started",
                    )
                )
                continue
            if isinstance(exc, NewerSchema):
                notices.append(StoreNotice("warning", f"{exc}: {NOT_SAVED}"))
            else:
                notices.append(
                    StoreNotice(
                        "warning",
                        f"cannot open the progress database {path} ({describe_write_error(exc)}): {NOT_SAVED}",
                    )
                )
            return memory_copy(path, notices), False
    # corrupt twice in a row: give up on the file
    notices.append(StoreNotice("error", NOT_SAVED))
    return memory_copy(None, notices), False


def _unwritable(root: Path, path: Path) -> str:
    """Why the database cannot be written ('' when it can)."""
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"cannot create the data directory {root} ({exc.strerror or exc})"
    if not os.access(root, os.W_OK | os.X_OK):
        return f"the data directory {root} is read-only"
    if path.exists() and not os.access(path, os.W_OK):
        return f"the progress database {path} is read-only"
    return ""


def move_aside(path: Path) -> Path:
    """Rename a damaged database (and its WAL/SHM files) out of the way; returns the new name."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
        n += 1
    for suffix in ("", "-wal", "-shm", "-journal"):
        src = Path(str(path) + suffix)
        if src.exists():
            try:
                os.replace(src, Path(str(target) + suffix))
            except OSError:
                if suffix:
                    src.unlink(missing_ok=True)
    return target


def memory_copy(path: Path | None, notices: list[StoreNotice]) -> sqlite3.Connection:
    """An in-memory database holding a read-only snapshot of `path` (when readable), migrated."""
    mem = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    if path is not None and path.is_file():
        base = path.resolve().as_uri()
        # Without a WAL file the database is fully written, and `immutable` reads it without
        # creating -wal/-shm files (which, made by an instructor's account in a student's folder,
        # the student could not open). With one, a plain read-only connection sees its changes.
        queries = ("?mode=ro&immutable=1", "?mode=ro")
        if Path(str(path) + "-wal").exists():
            queries = queries[::-1]
        for query in queries:
            try:
                src = sqlite3.connect(base + query, uri=True, timeout=1.0)
                try:
                    src.backup(mem)
                finally:
                    src.close()
                break
            except sqlite3.DatabaseError as exc:
                if is_corrupt(exc):
                    notices.append(StoreNotice("error", f"the progress database {path} is damaged ({exc})"))
                    break
                continue
        else:
            notices.append(StoreNotice("warning", f"cannot read the progress database {path}"))
    version = mem.execute("PRAGMA user_version").fetchone()[0]
    if version <= SCHEMA_VERSION:
        try:
            migrate(mem)
        except sqlite3.DatabaseError:  # a damaged copy: start from an empty one
            mem.close()
            mem = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            migrate(mem)
    return mem



@dataclass(frozen=True)
class Mended:
    """What the store continues with after its file was deleted or replaced under it."""

    conn: sqlite3.Connection
    identity: FileIdentity | None
    persistent: bool
    notice: StoreNotice


def mend(conn: sqlite3.Connection, path: Path, identity: FileIdentity, lock_timeout: float) -> Mended | None:
    """Is `conn`'s file (`identity`) still the one at `path`? If not, mend that; None when nothing changed.

    A deleted file lives on while it is open, so writes to it would succeed and then vanish when the
    app closes: it is written again from `conn` (which is closed and replaced). A file replaced by
    another is adopted. `conn` stays in use when the replacement cannot be read.
    """
    now = file_identity(path)
    if now == identity or now == UNKNOWN:
        return None
    if now is None:
        return _write_again(conn, path, lock_timeout)
    try:
        new = connect(path, lock_timeout)
    except (OSError, sqlite3.Error):
        return None  # an unreadable replacement: keep writing where we were
    _close(conn)
    return Mended(new, now, True, StoreNotice(
        "info", f"the progress database {path} was replaced by another file; progress is saved there now"))


def _write_again(conn: sqlite3.Connection, path: Path, lock_timeout: float) -> Mended | None:
    """The file at `path` was deleted: make it again from `conn`'s content, or keep that in memory."""
    copy = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    try:
        conn.backup(copy)
    except sqlite3.Error:
        copy.close()
        return None  # nothing readable to save: let the write report what is wrong
    _close(conn)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("-wal", "-shm", "-journal"):  # the deleted database's, never this new file's
            Path(str(path) + suffix).unlink(missing_ok=True)
        new = connect(path, lock_timeout)
        copy.backup(new)
    except (OSError, sqlite3.Error) as exc:
        return Mended(copy, None, False, StoreNotice(
            "error", f"the progress database {path} was deleted and cannot be written again "
                     f"({describe_write_error(exc)}): {NOT_SAVED}"))
    copy.close()
    return Mended(new, file_identity(path), True, StoreNotice(
        "warning", f"the progress database {path} was deleted while llm-tutor ran; "
                   "it was written again from this session, nothing was lost"))


def _close(conn: sqlite3.Connection) -> None:
    try:
        conn.close()
    except sqlite3.Error:
        pass

"""Provides the learner's progress store: exercise status, attempts, hints, time, drafts, position.

One SQLite file per user, ``<data_dir>/progress.sqlite3``, in WAL mode. Every write is one
``BEGIN IMMEDIATE`` transaction that reads and updates in place (``attempts = attempts + 1``), so
two processes of the same user (two SSH logins) never lose each other's updates.

Faults never take the app down and never lose progress silently:

- a corrupt file is moved aside (``progress.sqlite3.corrupt-<time>``) and a fresh one is made;
- a database locked by another process is retried with backoff; past ``lock_timeout`` the write
  is queued in memory, retried before the next write, and written to ``progress.pending.jsonl``
  on close if it still cannot be applied (replayed on the next open);
- a read-only data directory (or a database made by a newer llm-tutor) gives an in-memory copy:
  the app runs, nothing is saved, and a notice says so;
- a full disk rolls the transaction back, queues the write and says so;
- a database file deleted while the app runs (its folder removed, say) is written again from the
  open connection, which still holds everything, before the next write and on close; a file
  replaced by another one is adopted.

Each of these is reported as a `StoreNotice` (in ``store.notices`` and to ``on_notice``).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from llm_tutor.engine import settings as config
from llm_tutor.engine.learner import sidefile as side_file
DB_NAME = "progress.sqlite3"
PENDING_NAME = "progress.pending.jsonl"
USERS_DIR = "users"
"""Under a lab server's data root, each student's data directory is ``users/<name>/``."""

STATUSES = ("not_started", "attempted", "solved")
LESSON_STATUSES = ("not_started", "in_progress", "completed")

MIGRATIONS: list[list[str]] = [
    # v0 -> v1: exercises, lessons, drafts, key/value meta.
    [
        """CREATE TABLE exercise (
            lesson_id TEXT NOT NULL,
            exercise_id TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'not_started'
                CHECK (status IN ('not_started', 'attempted', 'solved')),
            attempts INTEGER NOT NULL DEFAULT 0,
            hints INTEGER NOT NULL DEFAULT 0,
            time_s REAL NOT NULL DEFAULT 0,
            last_attempt_at REAL,
            PRIMARY KEY (lesson_id, exercise_id)
        )""",
        """CREATE TABLE lesson (
            lesson_id TEXT PRIMARY KEY,
            last_cell TEXT,
            time_s REAL NOT NULL DEFAULT 0,
            opened_at REAL
        )""",
        """CREATE TABLE draft (
            lesson_id TEXT NOT NULL,
            exercise_id TEXT NOT NULL,
            code TEXT NOT NULL,
            updated_at REAL NOT NULL,
            PRIMARY KEY (lesson_id, exercise_id)
        )""",
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)",
    ],
    # v1 -> v2: predict answers; when an exercise was first solved and the code that solved it.
    [
        """CREATE TABLE predict (
            lesson_id TEXT NOT NULL,
            predict_id TEXT NOT NULL,
            answer TEXT NOT NULL,
            correct INTEGER,
            answered_at REAL NOT NULL,
            PRIMARY KEY (lesson_id, predict_id)
        )""",
        "ALTER TABLE exercise ADD COLUMN solved_at REAL",
        "ALTER TABLE exercise ADD COLUMN solved_code TEXT",
    ],
    # v2 -> v3: a log of attempts with their time (`progress` charts attempts over time). Attempts made
    # before it existed are logged at once, at their exercise's last attempt.
    [
        """CREATE TABLE attempt (
            lesson_id TEXT NOT NULL,
            exercise_id TEXT NOT NULL,
            at REAL NOT NULL,
            passed INTEGER NOT NULL,
            n INTEGER NOT NULL DEFAULT 1
        )""",
        "CREATE INDEX attempt_by_lesson ON attempt (lesson_id, exercise_id)",
        """INSERT INTO attempt (lesson_id, exercise_id, at, passed, n)
           SELECT lesson_id, exercise_id, last_attempt_at, status = 'solved', attempts FROM exercise
           WHERE attempts > 0 AND last_attempt_at IS NOT NULL""",
    ],
    # v3 -> v4: one draft per language (each language has its own starter); the drafts saved before
    # are the English ones. Progress (status, attempts, hints) stays shared by the languages.
    [
        """CREATE TABLE draft_v4 (
            lesson_id TEXT NOT NULL,
            exercise_id TEXT NOT NULL,
            lang TEXT NOT NULL DEFAULT 'en',
            code TEXT NOT NULL,
            updated_at REAL NOT NULL,
            PRIMARY KEY (lesson_id, exercise_id, lang)
        )""",
        """INSERT INTO draft_v4 (lesson_id, exercise_id, lang, code, updated_at)
           SELECT lesson_id, exercise_id, 'en', code, updated_at FROM draft""",
        "DROP TABLE draft",
        "ALTER TABLE draft_v4 RENAME TO draft",
    ],
]
"""``MIGRATIONS[i]`` takes a database from ``user_version`` i to i + 1. Append, never edit."""

SCHEMA_VERSION = len(MIGRATIONS)

# SQLite primary result codes (the low byte of an extended code).
_BUSY, _LOCKED, _READONLY, _IOERR, _CORRUPT, _FULL, _CANTOPEN, _NOTADB = 5, 6, 8, 10, 11, 13, 14, 26


# --------------------------------------------------------------------------------------------
# Values handed to callers
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoreNotice:
    """Something the learner should know about their saved progress."""

    level: str
    """"info", "warning" or "error"."""
    message: str


@dataclass(frozen=True)
class ExerciseProgress:
    """One exercise's progress."""

    lesson_id: str
    exercise_id: str
    status: str = "not_started"
    attempts: int = 0
    hints: int = 0
    """How many hints have been revealed."""
    time_s: float = 0.0
    last_attempt_at: float | None = None
    solved_at: float | None = None


@dataclass(frozen=True)
class LessonProgress:
    """One lesson's progress, derived from its exercises (solved / total)."""

    lesson_id: str
    status: str
    """"not_started", "in_progress", or "completed" (every exercise solved; a lesson without
    exercises is completed once it has been opened)."""
    solved: int
    total: int
    attempts: int = 0
    hints: int = 0
    time_s: float = 0.0
    last_cell: str | None = None
    opened_at: float | None = None
    exercises: list[ExerciseProgress] = field(default_factory=list)

    @property
    def fraction(self) -> float:
        if self.total:
            return self.solved / self.total
        return 1.0 if self.status == "completed" else 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CourseProgress:
    """Progress over a list of lessons."""

    lessons: list[LessonProgress]
    solved: int
    total: int
    completed_lessons: int
    time_s: float

    @property
    def fraction(self) -> float:
        return self.solved / self.total if self.total else 0.0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["fraction"] = self.fraction
        return out


@dataclass(frozen=True)
class Position:
    """Where the learner was: the last opened lesson and its last cell."""

    lesson_id: str
    cell_id: str | None = None


@dataclass(frozen=True)
class Draft:
    """The learner's unsubmitted code for an exercise."""

    code: str
    updated_at: float


@dataclass(frozen=True)
class PredictAnswer:
    """The learner's answer to a predict-the-output question."""

    predict_id: str
    answer: str
    correct: bool | None
    answered_at: float


class StoreError(Exception):
    """A progress write could not be applied (busy, disk full, read-only); it was queued."""


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


def _code(exc: BaseException) -> int:
    """The primary SQLite result code of an error (message-based on Python < 3.11)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF
    text = str(exc).lower()
    for needle, value in (
        ("locked", _BUSY),
        ("busy", _BUSY),
        ("disk is full", _FULL),
        ("malformed", _CORRUPT),
        ("not a database", _NOTADB),
        ("disk i/o", _IOERR),
        ("readonly", _READONLY),
        ("read-only", _READONLY),
        ("unable to open", _CANTOPEN),
    ):
        if needle in text:
            return value
    return 1


def _is_busy(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and _code(exc) in (_BUSY, _LOCKED)


def _is_corrupt(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.DatabaseError) and _code(exc) in (_CORRUPT, _NOTADB)


def _describe_write_error(exc: BaseException) -> str:
    code = _code(exc)
    if code in (_BUSY, _LOCKED):
        return "the progress database is locked by another llm-tutor process"
    if code == _FULL:
        return "the disk is full"
    if code == _IOERR:
        return f"the disk refused the write ({exc}; is it full?)"
    if code == _READONLY:
        return "the progress database is read-only"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc)


# --------------------------------------------------------------------------------------------
# Schema
# --------------------------------------------------------------------------------------------


def migrate(conn: sqlite3.Connection, target: int = SCHEMA_VERSION) -> int:
    """Bring `conn` (autocommit mode) up to schema `target` in one transaction; returns the old version.

    The version is read again inside the write transaction, so two processes opening an old file at
    once migrate it exactly once.
    """
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version >= target:
        return int(version)
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        for step in range(version, target):
            for sql in MIGRATIONS[step]:
                conn.execute(sql)
        if version < target:
            conn.execute(f"PRAGMA user_version = {int(target)}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return int(version)


def student_databases(root: str | Path | None = None) -> list[tuple[str, Path]]:
    """Every student's database under a lab server's data root (``users/<name>/progress.sqlite3``)."""
    users = config.data_dir(root) / USERS_DIR
    if not users.is_dir():
        return []
    found = []
    for entry in sorted(users.iterdir()):
        db = entry / DB_NAME
        if entry.is_dir() and db.is_file():
            found.append((entry.name, db))
    return found


# --------------------------------------------------------------------------------------------
# Write operations: plain functions of (conn, **kwargs), so a queued write can be replayed by name
# --------------------------------------------------------------------------------------------


def _ensure_exercise(conn: sqlite3.Connection, lesson_id: str, exercise_id: str) -> None:
    conn.execute(
        "INSERT INTO exercise (lesson_id, exercise_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
        (lesson_id, exercise_id),
    )


def _op_record_attempt(
    conn: sqlite3.Connection, lesson_id: str, exercise_id: str, passed: bool, code: str, now: float, lang: str = "en"
) -> None:
    _ensure_exercise(conn, lesson_id, exercise_id)
    conn.execute(
        """UPDATE exercise SET
               attempts = attempts + 1,
               last_attempt_at = :now,
               status = CASE WHEN :passed OR status = 'solved' THEN 'solved' ELSE 'attempted' END,
               solved_at = CASE WHEN :passed AND solved_at IS NULL THEN :now ELSE solved_at END,
               solved_code = CASE WHEN :passed THEN :code ELSE solved_code END
           WHERE lesson_id = :lesson AND exercise_id = :exercise""",
        {"now": now, "passed": bool(passed), "code": code, "lesson": lesson_id, "exercise": exercise_id},
    )
    conn.execute(
        "INSERT INTO attempt (lesson_id, exercise_id, at, passed) VALUES (?, ?, ?, ?)",
        (lesson_id, exercise_id, now, int(bool(passed))),
    )
    if code:
        _op_save_draft(conn, lesson_id, exercise_id, code, now, lang)


def _op_reveal_hint(conn: sqlite3.Connection, lesson_id: str, exercise_id: str, total: int | None) -> int:
    _ensure_exercise(conn, lesson_id, exercise_id)
    row = conn.execute(
        """UPDATE exercise SET hints = CASE WHEN :total IS NULL OR hints < :total THEN hints + 1 ELSE hints END
           WHERE lesson_id = :lesson AND exercise_id = :exercise RETURNING hints""",
        {"total": total, "lesson": lesson_id, "exercise": exercise_id},
    ).fetchone()
    return int(row[0])


def _op_save_draft(
    conn: sqlite3.Connection, lesson_id: str, exercise_id: str, code: str, now: float, lang: str = "en"
) -> None:
    conn.execute(
        """INSERT INTO draft (lesson_id, exercise_id, lang, code, updated_at) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (lesson_id, exercise_id, lang) DO UPDATE SET
               code = excluded.code, updated_at = excluded.updated_at
           WHERE excluded.updated_at >= draft.updated_at""",
        (lesson_id, exercise_id, lang, code, now),
    )


def _op_set_position(conn: sqlite3.Connection, lesson_id: str, cell_id: str | None, now: float) -> None:
    conn.execute(
        """INSERT INTO lesson (lesson_id, last_cell, opened_at) VALUES (?, ?, ?)
           ON CONFLICT (lesson_id) DO UPDATE SET
               last_cell = COALESCE(excluded.last_cell, lesson.last_cell), opened_at = excluded.opened_at""",
        (lesson_id, cell_id, now),
    )
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('last_lesson', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (lesson_id,),
    )


def _op_add_time(conn: sqlite3.Connection, lesson_id: str, seconds: float, exercise_id: str | None) -> None:
    conn.execute(
        """INSERT INTO lesson (lesson_id, time_s) VALUES (?, ?)
           ON CONFLICT (lesson_id) DO UPDATE SET time_s = lesson.time_s + excluded.time_s""",
        (lesson_id, seconds),
    )
    if exercise_id:
        _ensure_exercise(conn, lesson_id, exercise_id)
        conn.execute(
            "UPDATE exercise SET time_s = time_s + ? WHERE lesson_id = ? AND exercise_id = ?",
            (seconds, lesson_id, exercise_id),
        )


def _op_record_predict(
    conn: sqlite3.Connection, lesson_id: str, predict_id: str, answer: str, correct: bool | None, now: float
) -> None:
    conn.execute(
        """INSERT INTO predict (lesson_id, predict_id, answer, correct, answered_at) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (lesson_id, predict_id) DO UPDATE SET
               answer = excluded.answer, correct = excluded.correct, answered_at = excluded.answered_at""",
        (lesson_id, predict_id, answer, None if correct is None else int(bool(correct)), now),
    )


def _op_reset(conn: sqlite3.Connection, lesson_id: str, exercise_id: str | None) -> int:
    if exercise_id is None:
        count = conn.execute("DELETE FROM exercise WHERE lesson_id = ?", (lesson_id,)).rowcount
        conn.execute("DELETE FROM draft WHERE lesson_id = ?", (lesson_id,))
        conn.execute("DELETE FROM predict WHERE lesson_id = ?", (lesson_id,))
        conn.execute("DELETE FROM attempt WHERE lesson_id = ?", (lesson_id,))
        count += conn.execute("DELETE FROM lesson WHERE lesson_id = ?", (lesson_id,)).rowcount
        return int(count)
    count = conn.execute(
        "DELETE FROM exercise WHERE lesson_id = ? AND exercise_id = ?", (lesson_id, exercise_id)
    ).rowcount
    count += conn.execute("DELETE FROM draft WHERE lesson_id = ? AND exercise_id = ?", (lesson_id, exercise_id)).rowcount
    conn.execute("DELETE FROM attempt WHERE lesson_id = ? AND exercise_id = ?", (lesson_id, exercise_id))
    return int(count)


_OPS: dict[str, Callable[..., Any]] = {
    "record_attempt": _op_record_attempt,
    "reveal_hint": _op_reveal_hint,
    "save_draft": _op_save_draft,
    "set_position": _op_set_position,
    "add_time": _op_add_time,
    "record_predict": _op_record_predict,
    "reset": _op_reset,
}
"""Write operations by name: what a queued write records, and how it is replayed."""


# --------------------------------------------------------------------------------------------
# The store
# --------------------------------------------------------------------------------------------


class ProgressStore:
    """A learner's progress, safe to share between threads and between processes of the same user.

    Open it with `ProgressStore.open()`. Writes never raise for storage faults: they are retried,
    queued or kept in memory, and reported as `StoreNotice` values.
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        path: Path | None,
        *,
        persistent: bool,
        lock_timeout: float = 5.0,
        on_notice: Callable[[StoreNotice], None] | None = None,
        notices: Sequence[StoreNotice] = (),
    ) -> None:
        self._conn = conn
        self.path = path
        """The database file; None for a purely in-memory store."""
        self.persistent = persistent
        """False when progress is kept in memory only (read-only data directory, newer schema...)."""
        self.lock_timeout = lock_timeout
        self.on_notice = on_notice
        """Called (from the writing thread) with every new notice; the UI should marshal it."""
        self.notices: list[StoreNotice] = list(notices)
        self._pending: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.RLock()
        self._closed = False
        self.closing_line: str | None = None
        """One line for the person at exit when changes could not reach the database (kept aside, or lost)."""
        self._read_failed = False
        self._identity = _file_identity(path) if persistent and path is not None else None
        """(device, inode) of the file the connection has open, to notice it being deleted or replaced."""
        if on_notice is not None:
            for notice in self.notices:
                on_notice(notice)

    # -- opening ---------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        data_dir: str | Path | None = None,
        *,
        lock_timeout: float = 5.0,
        read_only: bool = False,
        on_notice: Callable[[StoreNotice], None] | None = None,
    ) -> ProgressStore:
        """Open (creating if needed) the store of a data directory (`config.data_dir` rules).

        Args:
            data_dir: the data directory; None means `--data-dir`/`LLM_TUTOR_DATA_DIR`/platform default.
            lock_timeout: how long a write waits for another process's lock before it is queued.
            read_only: read a snapshot into memory and never write the file (instructors' `--all`).
            on_notice: called with each `StoreNotice` (corrupt file moved aside, read-only...).
        """
        root = config.data_dir(data_dir)
        path = root / DB_NAME
        notices: list[StoreNotice] = []
        kwargs: dict[str, Any] = {"lock_timeout": lock_timeout, "on_notice": on_notice}
        if read_only:
            return cls(_memory_copy(path, notices), path, persistent=False, notices=notices, **kwargs)

        problem = _unwritable(root, path)
        if problem:
            notices.append(StoreNotice("warning", f"{problem}: progress is kept in memory and will not be saved"))
            return cls(_memory_copy(path, notices), path, persistent=False, notices=notices, **kwargs)

        conn: sqlite3.Connection | None = None
        for _ in range(2):
            try:
                conn = _connect(path, lock_timeout)
                break
            except sqlite3.DatabaseError as exc:
                if _is_corrupt(exc):
                    moved = _move_aside(path)
                    notices.append(
                        StoreNotice(
                            "error",
                            f"the progress database {path} was damaged ({exc}); it was moved to {moved.name} "
                            "and a fresh one was started",
                        )
                    )
                    continue
                if isinstance(exc, _NewerSchema):
                    notices.append(StoreNotice("warning", f"{exc}: progress is kept in memory and will not be saved"))
                else:
                    notices.append(
                        StoreNotice(
                            "warning",
                            f"cannot open the progress database {path} ({_describe_write_error(exc)}): "
                            "progress is kept in memory and will not be saved",
                        )
                    )
                return cls(_memory_copy(path, notices), path, persistent=False, notices=notices, **kwargs)
        if conn is None:  # corrupt twice in a row: give up on the file
            notices.append(StoreNotice("error", "progress is kept in memory and will not be saved"))
            return cls(_memory_copy(None, notices), path, persistent=False, notices=notices, **kwargs)
        store = cls(conn, path, persistent=True, notices=notices, **kwargs)
        store._replay_pending_file()
        side_file.reserve(root)
        return store

    def __enter__(self) -> ProgressStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- notices and the write path --------------------------------------------------------------

    def _notify(self, level: str, message: str) -> None:
        notice = StoreNotice(level, message)
        self.notices.append(notice)
        if self.on_notice is not None:
            try:
                self.on_notice(notice)
            except Exception:  # noqa: BLE001 - a UI callback must never break saving
                pass

    @property
    def pending(self) -> int:
        """How many writes are queued because the database could not take them yet."""
        with self._lock:
            return len(self._pending)

    def _transaction(self, fn: Callable[[sqlite3.Connection], Any], timeout: float | None = None) -> Any:
        """Run `fn` in one BEGIN IMMEDIATE transaction, retrying a busy lock with backoff."""
        deadline = time.monotonic() + (self.lock_timeout if timeout is None else timeout)
        delay = 0.005
        while True:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if _is_busy(exc) and time.monotonic() < deadline:
                    time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
                    delay = min(delay * 2, 0.2)
                    continue
                raise
            try:
                result = fn(self._conn)
                self._conn.execute("COMMIT")
                return result
            except BaseException:
                if self._conn.in_transaction:
                    try:
                        self._conn.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass
                raise

    def _apply(self, name: str, kwargs: dict[str, Any], timeout: float | None = None) -> Any:
        op = _OPS[name]
        return self._transaction(lambda conn: op(conn, **kwargs), timeout)

    def _check_file(self) -> None:
        """Before writing: is the connection's file still the one at `path`? If not, mend that first.

        A deleted file lives on while it is open, so writes to it would succeed and then vanish
        when the app closes. Call with `_lock` held.
        """
        if self._identity is None or self.path is None or not self.persistent:
            return
        now = _file_identity(self.path)
        if now == self._identity or now == _UNKNOWN:
            return
        path = self.path
        if now is None:
            copy = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            try:
                self._conn.backup(copy)
            except sqlite3.Error:
                copy.close()
                return  # nothing readable to save: let the write report what is wrong
            try:
                self._conn.close()
            except sqlite3.Error:
                pass
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                for suffix in ("-wal", "-shm", "-journal"):  # the deleted database's, never this new file's
                    Path(str(path) + suffix).unlink(missing_ok=True)
                conn = _connect(path, self.lock_timeout)
                copy.backup(conn)
            except (OSError, sqlite3.Error) as exc:
                self._conn, self.persistent, self._identity = copy, False, None
                self._notify("error", f"the progress database {path} was deleted and cannot be written again "
                                      f"({_describe_write_error(exc)}): progress is kept in memory and will not be saved")
                return
            copy.close()
            self._conn, self._identity = conn, _file_identity(path)
            self._notify("warning", f"the progress database {path} was deleted while llm-tutor ran; "
                                    "it was written again from this session, nothing was lost")
            return
        try:
            conn = _connect(path, self.lock_timeout)
        except (OSError, sqlite3.Error):
            return  # an unreadable replacement: keep writing where we were
        try:
            self._conn.close()
        except sqlite3.Error:
            pass
        self._conn, self._identity = conn, now
        self._notify("info", f"the progress database {path} was replaced by another file; progress is saved there now")

    def _write(self, name: str, **kwargs: Any) -> tuple[bool, Any]:
        """Apply a write now, or queue it; returns (applied, the operation's result)."""
        with self._lock:
            if self._closed:
                raise StoreError("the progress store is closed")
            self._check_file()
            # Queued writes go first, to keep their order; a short wait, as the last one waited long.
            if self._pending and not self._flush_pending_locked(timeout=min(self.lock_timeout, 0.25)):
                self._pending.append((name, kwargs))
                return False, None
            try:
                return True, self._apply(name, kwargs)
            except (sqlite3.IntegrityError, sqlite3.ProgrammingError):
                raise  # a bug in the write itself: retrying cannot help
            except (sqlite3.OperationalError, sqlite3.DatabaseError, OSError) as exc:
                if _is_corrupt(exc):
                    self._notify("error", f"the progress database is damaged ({exc}); restart llm-tutor to repair it")
                self._pending.append((name, kwargs))
                self._notify(
                    "warning",
                    f"progress not saved yet: {_describe_write_error(exc)}; "
                    f"{len(self._pending)} change(s) kept and retried",
                )
                return False, None

    def _flush_pending_locked(self, timeout: float | None = None) -> bool:
        while self._pending:
            name, kwargs = self._pending[0]
            try:
                self._apply(name, kwargs, timeout)
            except (sqlite3.OperationalError, sqlite3.DatabaseError, OSError):
                return False
            self._pending.pop(0)
        return True

    def flush_pending(self) -> bool:
        """Try the queued writes again; True when none is left."""
        with self._lock:
            done = self._flush_pending_locked()
            if done and self.notices and self.notices[-1].message.startswith("progress not saved yet"):
                self._notify("info", "progress saved: the queued changes were written")
            return done

    def _pending_file(self) -> Path | None:
        return self.path.with_name(PENDING_NAME) if self.path is not None else None

    def _replay_pending_file(self) -> None:
        """Apply the writes an earlier session could not save.

        The file is first renamed to a name of this process's own, so two processes opening at
        once never both replay it; what still cannot be applied goes back into the file.
        """
        file = self._pending_file()
        if file is None or not file.is_file():
            return
        claimed = file.with_name(f"{file.name}.{os.getpid()}")
        try:
            os.replace(file, claimed)
            lines = claimed.read_text(encoding="utf-8").splitlines()
        except OSError:
            return
        for line in lines:
            try:
                entry = json.loads(line)
                name, kwargs = entry["op"], entry["args"]
                if name in _OPS and isinstance(kwargs, dict):
                    self._pending.append((name, kwargs))
            except (ValueError, KeyError, TypeError):
                continue  # a line cut short by a full disk
        count = len(self._pending)
        if self._flush_pending_locked():
            if count:
                self._notify("info", f"{count} change(s) from an earlier session were saved")
        else:
            self._keep_pending_in_file()
        claimed.unlink(missing_ok=True)

    def _keep_pending_in_file(self) -> None:
        """Append the queued writes to the side file (replayed at the next open) and forget them here.

        With the disk full, the reserve kept beside it is freed to make room (`engine.learner.sidefile`).
        """
        file = self._pending_file()
        count = len(self._pending)
        try:
            if file is None or not self.persistent:
                raise OSError("there is no file to keep them in")
            side_file.keep(file, [json.dumps({"op": name, "args": kwargs}) + "\n" for name, kwargs in self._pending])
            self.closing_line = (f"llm-tutor: {count} change(s) could not be written to the progress database "
                                 f"and are kept in {file}; they are saved at the next start")
            self._notify("warning", f"{count} change(s) kept in {file} and saved next time")
        except OSError as exc:
            self.closing_line = f"llm-tutor: {count} change(s) of progress could not be saved: {exc.strerror or exc}"
            self._notify("error", f"{count} change(s) could not be saved: {exc.strerror or exc}")
        self._pending.clear()

    def close(self) -> None:
        """Write what is queued (or keep it in a side file for next time) and close the database."""
        with self._lock:
            if self._closed:
                return
            self._check_file()
            self.closing_line = None
            if self._pending and not self._flush_pending_locked():
                self._keep_pending_in_file()
            self._closed = True
            try:
                self._conn.close()
            except sqlite3.Error:
                pass

    # -- writes ----------------------------------------------------------------------------------

    def record_attempt(
        self, lesson_id: str, exercise_id: str, passed: bool, code: str = "", lang: str = "en"
    ) -> ExerciseProgress:
        """Count a check of an exercise (and keep the code as the `lang` draft); returns the new progress."""
        applied, _ = self._write(
            "record_attempt", lesson_id=lesson_id, exercise_id=exercise_id, passed=bool(passed), code=code,
            now=time.time(), lang=lang,
        )
        current = self.exercise(lesson_id, exercise_id)
        if applied:
            return current
        return ExerciseProgress(  # what it will be once the queued write lands
            lesson_id,
            exercise_id,
            status="solved" if passed or current.status == "solved" else "attempted",
            attempts=current.attempts + 1,
            hints=current.hints,
            time_s=current.time_s,
            last_attempt_at=time.time(),
            solved_at=current.solved_at,
        )

    def reveal_hint(self, lesson_id: str, exercise_id: str, total: int | None = None) -> int:
        """Reveal one more hint (never past `total`); returns how many are now revealed."""
        applied, result = self._write("reveal_hint", lesson_id=lesson_id, exercise_id=exercise_id, total=total)
        if applied:
            return int(result)
        hints = self.exercise(lesson_id, exercise_id).hints + 1
        return hints if total is None else min(hints, total)

    def save_draft(self, lesson_id: str, exercise_id: str, code: str, lang: str = "en") -> None:
        """Keep the learner's code for an exercise in one language (the newest save wins)."""
        self._write("save_draft", lesson_id=lesson_id, exercise_id=exercise_id, code=code, now=time.time(), lang=lang)

    def set_position(self, lesson_id: str, cell_id: str | None = None) -> None:
        """Remember the open lesson (so bare `llm-tutor` reopens it) and, if given, its current cell."""
        self._write("set_position", lesson_id=lesson_id, cell_id=cell_id, now=time.time())

    def add_time(self, lesson_id: str, seconds: float, exercise_id: str | None = None) -> None:
        """Add time spent on a lesson (and on one of its exercises)."""
        if seconds <= 0:
            return
        self._write("add_time", lesson_id=lesson_id, seconds=float(seconds), exercise_id=exercise_id)

    def record_predict(self, lesson_id: str, predict_id: str, answer: str, correct: bool | None = None) -> None:
        """Keep the learner's answer to a predict question (and whether it matched, once known)."""
        self._write(
            "record_predict", lesson_id=lesson_id, predict_id=predict_id, answer=answer, correct=correct, now=time.time()
        )

    def reset(self, lesson_id: str, exercise_id: str | None = None) -> int:
        """Forget a lesson's progress (or one exercise's); returns how many rows went."""
        _, result = self._write("reset", lesson_id=lesson_id, exercise_id=exercise_id)
        return int(result or 0)

    # -- reads -----------------------------------------------------------------------------------

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            if self._closed:
                raise StoreError("the progress store is closed")
            try:
                cur = self._conn.execute(sql, params)
                cur.row_factory = sqlite3.Row
                return cur.fetchall()
            except sqlite3.DatabaseError as exc:  # damaged under us: show what we can, say why
                if not self._read_failed:
                    self._read_failed = True
                    self._notify("error", f"cannot read the progress database ({exc}); restart llm-tutor to repair it")
                return []

    def exercise(self, lesson_id: str, exercise_id: str) -> ExerciseProgress:
        """One exercise's progress (not_started when never touched)."""
        rows = self._rows("SELECT * FROM exercise WHERE lesson_id = ? AND exercise_id = ?", (lesson_id, exercise_id))
        return _exercise_from_row(rows[0]) if rows else ExerciseProgress(lesson_id, exercise_id)

    def load_draft(self, lesson_id: str, exercise_id: str, lang: str = "en") -> str | None:
        """The learner's saved code for an exercise in one language, or None."""
        draft = self.draft(lesson_id, exercise_id, lang)
        return draft.code if draft else None

    def draft(self, lesson_id: str, exercise_id: str, lang: str = "en") -> Draft | None:
        """The saved draft of one language with its time (to compare with the workspace file's)."""
        rows = self._rows(
            "SELECT code, updated_at FROM draft WHERE lesson_id = ? AND exercise_id = ? AND lang = ?",
            (lesson_id, exercise_id, lang),
        )
        return Draft(rows[0]["code"], rows[0]["updated_at"]) if rows else None

    def attempt_log(self) -> list[tuple[str, float, int]]:
        """Every logged attempt as (lesson_id, time, count), oldest first (count > 1 only for attempts
        made before the log existed, logged together at their exercise's last attempt)."""
        rows = self._rows("SELECT lesson_id, at, n FROM attempt ORDER BY at")
        return [(row["lesson_id"], float(row["at"]), int(row["n"])) for row in rows]

    def last_position(self) -> Position | None:
        """The lesson opened last and its last cell, or None on a first run."""
        rows = self._rows("SELECT value FROM meta WHERE key = 'last_lesson'")
        if not rows or not rows[0]["value"]:
            return None
        lesson_id = rows[0]["value"]
        return Position(lesson_id, self.lesson_position(lesson_id))

    def lesson_position(self, lesson_id: str) -> str | None:
        """The last cell the learner was at in a lesson."""
        rows = self._rows("SELECT last_cell FROM lesson WHERE lesson_id = ?", (lesson_id,))
        return rows[0]["last_cell"] if rows else None

    def predict_answers(self, lesson_id: str) -> dict[str, PredictAnswer]:
        """The learner's answers to a lesson's predict questions, by predict id."""
        rows = self._rows("SELECT * FROM predict WHERE lesson_id = ?", (lesson_id,))
        return {
            r["predict_id"]: PredictAnswer(
                r["predict_id"], r["answer"], None if r["correct"] is None else bool(r["correct"]), r["answered_at"]
            )
            for r in rows
        }

    def lesson_status(self, lesson_id: str, exercise_ids: Sequence[str] | None = None) -> LessonProgress:
        """A lesson's progress. With `exercise_ids` (the lesson's exercises) the total is exact and
        exercises no longer in the lesson are left out; without, only touched exercises count."""
        rows = self._rows("SELECT * FROM exercise WHERE lesson_id = ? ORDER BY rowid", (lesson_id,))
        known = {r["exercise_id"]: _exercise_from_row(r) for r in rows}
        if exercise_ids is None:
            exercises = list(known.values())
        else:
            exercises = [known.get(eid) or ExerciseProgress(lesson_id, eid) for eid in exercise_ids]
        lesson_rows = self._rows("SELECT * FROM lesson WHERE lesson_id = ?", (lesson_id,))
        lrow = lesson_rows[0] if lesson_rows else None
        solved = sum(1 for e in exercises if e.status == "solved")
        total = len(exercises)
        touched = any(e.status != "not_started" or e.hints or e.time_s for e in exercises)
        opened = lrow is not None and (lrow["opened_at"] is not None or lrow["time_s"] > 0)
        if total and solved == total:
            status = "completed"
        elif not total and opened:
            status = "completed"
        elif touched or opened:
            status = "in_progress"
        else:
            status = "not_started"
        return LessonProgress(
            lesson_id=lesson_id,
            status=status,
            solved=solved,
            total=total,
            attempts=sum(e.attempts for e in exercises),
            hints=sum(e.hints for e in exercises),
            time_s=float(lrow["time_s"]) if lrow is not None else 0.0,
            last_cell=lrow["last_cell"] if lrow is not None else None,
            opened_at=lrow["opened_at"] if lrow is not None else None,
            exercises=exercises,
        )

    def summary(self, lessons: Iterable[Any]) -> CourseProgress:
        """Progress over lessons: anything with `.id` and `.exercises` (each with `.id`), e.g.
        `Lesson`, or `(lesson_id, [exercise ids])` pairs."""
        per_lesson = []
        for item in lessons:
            if isinstance(item, tuple):
                lesson_id, exercise_ids = item[0], list(item[1])
            else:
                lesson_id = item.id
                exercise_ids = [ex.id for ex in getattr(item, "exercises", [])]
            per_lesson.append(self.lesson_status(lesson_id, exercise_ids))
        return CourseProgress(
            lessons=per_lesson,
            solved=sum(p.solved for p in per_lesson),
            total=sum(p.total for p in per_lesson),
            completed_lessons=sum(1 for p in per_lesson if p.status == "completed"),
            time_s=sum(p.time_s for p in per_lesson),
        )

    def lesson_ids(self) -> list[str]:
        """Every lesson the database knows anything about."""
        rows = self._rows(
            "SELECT lesson_id FROM lesson UNION SELECT lesson_id FROM exercise UNION SELECT lesson_id FROM draft "
            "UNION SELECT lesson_id FROM predict ORDER BY 1"
        )
        return [r[0] for r in rows]

    def last_active(self) -> float | None:
        """When anything was last recorded (for the instructors' overview)."""
        rows = self._rows(
            "SELECT MAX(t) FROM (SELECT MAX(last_attempt_at) AS t FROM exercise UNION ALL "
            "SELECT MAX(opened_at) FROM lesson UNION ALL SELECT MAX(updated_at) FROM draft UNION ALL "
            "SELECT MAX(answered_at) FROM predict)"
        )
        return rows[0][0] if rows else None

    def schema_version(self) -> int:
        rows = self._rows("PRAGMA user_version")
        return int(rows[0][0]) if rows else 0

    def integrity_ok(self) -> bool:
        """Whether SQLite's integrity check passes."""
        return [r[0] for r in self._rows("PRAGMA integrity_check")] == ["ok"]

    def export(self) -> dict[str, Any]:
        """Everything the store holds, as plain JSON-ready data."""
        def table(name: str, order: str) -> list[dict[str, Any]]:
            return [dict(r) for r in self._rows(f"SELECT * FROM {name} ORDER BY {order}")]

        return {
            "format": "llm-tutor-progress",
            "schema_version": self.schema_version(),
            "exported_at": time.time(),
            "persistent": self.persistent,
            "path": str(self.path) if self.path else None,
            "last_position": asdict(pos) if (pos := self.last_position()) else None,
            "exercises": table("exercise", "lesson_id, exercise_id"),
            "lessons": table("lesson", "lesson_id"),
            "drafts": table("draft", "lesson_id, exercise_id, lang"),
            "predicts": table("predict", "lesson_id, predict_id"),
            "meta": {r["key"]: r["value"] for r in self._rows("SELECT key, value FROM meta")},
        }


def _exercise_from_row(row: sqlite3.Row) -> ExerciseProgress:
    return ExerciseProgress(
        lesson_id=row["lesson_id"],
        exercise_id=row["exercise_id"],
        status=row["status"],
        attempts=int(row["attempts"]),
        hints=int(row["hints"]),
        time_s=float(row["time_s"]),
        last_attempt_at=row["last_attempt_at"],
        solved_at=row["solved_at"],
    )


# --------------------------------------------------------------------------------------------
# Opening helpers
# --------------------------------------------------------------------------------------------


class _NewerSchema(sqlite3.DatabaseError):
    pass


_UNKNOWN = (-1, -1)


def _file_identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of a file; None when it does not exist, `_UNKNOWN` when it cannot be told."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError:
        return _UNKNOWN
    return (st.st_dev, st.st_ino)


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


def _connect(path: Path, lock_timeout: float) -> sqlite3.Connection:
    """Open, check and migrate the database file; raises sqlite3 errors for the caller to sort."""
    # A short busy timeout: the callers' own loops retry with backoff up to their deadline.
    conn = sqlite3.connect(str(path), timeout=0.05, isolation_level=None, check_same_thread=False)
    try:
        deadline = time.monotonic() + lock_timeout
        while True:
            try:
                # WAL: readers never wait for a writer, and a killed writer leaves the file intact.
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = FULL")
                rows = conn.execute("PRAGMA quick_check").fetchall()
                if [r[0] for r in rows] != ["ok"]:
                    raise sqlite3.DatabaseError(f"database disk image is malformed ({rows[0][0]})")
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                if version > SCHEMA_VERSION:
                    raise _NewerSchema(
                        f"the progress database {path} was written by a newer llm-tutor (schema {version}, "
                        f"this version reads {SCHEMA_VERSION})"
                    )
                migrate(conn)
                break
            except sqlite3.OperationalError as exc:
                if _is_busy(exc) and time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                raise
        return conn
    except BaseException:
        conn.close()
        raise


def _move_aside(path: Path) -> Path:
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


def _memory_copy(path: Path | None, notices: list[StoreNotice]) -> sqlite3.Connection:
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
                if _is_corrupt(exc):
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


"""Provides `ProgressStore`, the learner's progress: exercise status, attempts, hints, time, drafts, position.

One SQLite file per user, ``<data_dir>/progress.sqlite3``, in WAL mode. Every write is one
``BEGIN IMMEDIATE`` transaction that reads and updates in place (``attempts = attempts + 1``), so
two processes of the same user (two SSH logins) never lose each other's updates.

Faults never take the app down and never lose progress silently:

- a database locked by another process is retried with backoff; past ``lock_timeout`` the write
  is queued in memory, retried before the next write, and written to ``progress.pending.jsonl``
  on close if it still cannot be applied (replayed on the next open);
- a full disk rolls the transaction back, queues the write and says so;
- a corrupt, read-only, newer, deleted or replaced file is handled by
  `llm_tutor.engine.learner.recovery`.

Each of these is reported as a `StoreNotice` (in ``store.notices`` and to ``on_notice``). Where
things are: the schema in `schema`, the writes in `writes`, the queries in `reads`, the values
handed out in `records`, the solved/completed rules in `status`.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from llm_tutor.engine import settings as config
from llm_tutor.engine.learner import recovery
from llm_tutor.engine.learner import sidefile as side_file
from llm_tutor.engine.learner import writes
from llm_tutor.engine.learner.errors import StoreError, describe_write_error, is_corrupt
from llm_tutor.engine.learner.paths import DB_NAME, PENDING_NAME
from llm_tutor.engine.learner.reads import StoreReads
from llm_tutor.engine.learner.records import ExerciseProgress, StoreNotice
from llm_tutor.engine.learner.status import status_after_attempt


class ProgressStore(StoreReads):
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
        self._identity = recovery.file_identity(path) if persistent and path is not None else None
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
        if read_only:
            conn, persistent = recovery.memory_copy(path, notices), False
        else:
            conn, persistent = recovery.open_database(root, path, lock_timeout, notices)
        store = cls(conn, path, persistent=persistent, lock_timeout=lock_timeout, on_notice=on_notice, notices=notices)
        if persistent:
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

    def _apply(self, name: str, kwargs: dict[str, Any], timeout: float | None = None) -> Any:
        return writes.apply(self._conn, name, kwargs, self.lock_timeout if timeout is None else timeout)

    def _check_file(self) -> None:
        """Before writing: is the connection's file still the one at `path`? If not, mend that first
        (`recovery.mend`). Call with `_lock` held."""
        if self._identity is None or self.path is None or not self.persistent:
            return
        mended = recovery.mend(self._conn, self.path, self._identity, self.lock_timeout)
        if mended is not None:
            self._conn, self._identity, self.persistent = mended.conn, mended.identity, mended.persistent
            self._notify(mended.notice.level, mended.notice.message)

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
                if is_corrupt(exc):
                    self._notify("error", f"the progress database is damaged ({exc}); restart llm-tutor to repair it")
                self._pending.append((name, kwargs))
                self._notify(
                    "warning",
                    f"progress not saved yet: {describe_write_error(exc)}; "
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

        The file is claimed first (`sidefile.take`), so two processes opening at once never both
        replay it; what still cannot be applied goes back into the file.
        """
        file = self._pending_file()
        if file is None:
            return
        taken = side_file.take(file)
        if taken is None:
            return
        claimed, queued = taken
        self._pending.extend((name, kwargs) for name, kwargs in queued if name in writes.OPS)
        count = len(self._pending)
        if self._flush_pending_locked():
            if count:
                self._notify("info", f"{count} change(s) from an earlier session were saved")
        else:
            self._keep_pending_in_file()
        claimed.unlink(missing_ok=True)

    def _keep_pending_in_file(self) -> None:
        """Append the queued writes to the side file (replayed at the next open) and forget them here.

        With the disk full, the reserve kept beside it is freed to make room (`engine.learner.sidefile.keep`).
        """
        file = self._pending_file()
        count = len(self._pending)
        try:
            if file is None or not self.persistent:
                raise OSError("there is no file to keep them in")
            side_file.keep(file, side_file.as_lines(self._pending))
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
            status=status_after_attempt(current.status, passed),
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
    # -- reads (the queries are `StoreReads`') ----------------------------------------------------

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


"""Provides the database's schema: its migrations, and opening a file at the current version.

``PRAGMA user_version`` holds a database's version; `MIGRATIONS` takes it up one step at a time.
A file written by a newer llm-tutor is refused (`NewerSchema`), never downgraded.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from llm_tutor.engine.learner.errors import NewerSchema, is_busy

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


def connect(path: Path, lock_timeout: float) -> sqlite3.Connection:
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
                    raise NewerSchema(
                        f"the progress database {path} was written by a newer llm-tutor (schema {version}, "
                        f"this version reads {SCHEMA_VERSION})"
                    )
                migrate(conn)
                break
            except sqlite3.OperationalError as exc:
                if is_busy(exc) and time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                raise
        return conn
    except BaseException:
        conn.close()
        raise

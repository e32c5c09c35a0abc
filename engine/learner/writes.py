"""Provides the store's writes: plain functions of ``(conn, **kwargs)``, kept by name in `OPS`.

A write that cannot be applied now is queued as its name and arguments (and, at close, kept in the
side file as JSON), so it can be replayed later by looking its function up here. Each runs inside
the store's one ``BEGIN IMMEDIATE`` transaction and updates counters in place, so two processes of
the same user never lose each other's writes.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import Any

from llm_tutor.engine.learner.errors import is_busy
from llm_tutor.engine.learner.status import STATUS_AFTER_ATTEMPT_SQL


def _ensure_exercise(conn: sqlite3.Connection, lesson_id: str, exercise_id: str) -> None:
    conn.execute(
        "INSERT INTO exercise (lesson_id, exercise_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
        (lesson_id, exercise_id),
    )


def record_attempt(
    conn: sqlite3.Connection, lesson_id: str, exercise_id: str, passed: bool, code: str, now: float, lang: str = "en"
) -> None:
    """Count a check; a pass solves the exercise (once, keeping the code that solved it); log it; keep the draft."""
    _ensure_exercise(conn, lesson_id, exercise_id)
    conn.execute(
        f"""UPDATE exercise SET
               attempts = attempts + 1,
               last_attempt_at = :now,
               status = {STATUS_AFTER_ATTEMPT_SQL},
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
        save_draft(conn, lesson_id, exercise_id, code, now, lang)


def reveal_hint(conn: sqlite3.Connection, lesson_id: str, exercise_id: str, total: int | None) -> int:
    """Show one more hint, never past `total`; returns how many are shown."""
    _ensure_exercise(conn, lesson_id, exercise_id)
    row = conn.execute(
        """UPDATE exercise SET hints = CASE WHEN :total IS NULL OR hints < :total THEN hints + 1 ELSE hints END
           WHERE lesson_id = :lesson AND exercise_id = :exercise RETURNING hints""",
        {"total": total, "lesson": lesson_id, "exercise": exercise_id},
    ).fetchone()
    return int(row[0])


def save_draft(
    conn: sqlite3.Connection, lesson_id: str, exercise_id: str, code: str, now: float, lang: str = "en"
) -> None:
    """Keep one language's draft; an older save (a replayed one) never replaces a newer."""
    conn.execute(
        """INSERT INTO draft (lesson_id, exercise_id, lang, code, updated_at) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (lesson_id, exercise_id, lang) DO UPDATE SET
               code = excluded.code, updated_at = excluded.updated_at
           WHERE excluded.updated_at >= draft.updated_at""",
        (lesson_id, exercise_id, lang, code, now),
    )


def set_position(conn: sqlite3.Connection, lesson_id: str, cell_id: str | None, now: float) -> None:
    """Remember the lesson opened last and its cell."""
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


def add_time(conn: sqlite3.Connection, lesson_id: str, seconds: float, exercise_id: str | None) -> None:
    """Add time spent to a lesson (and one of its exercises)."""
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


def record_predict(
    conn: sqlite3.Connection, lesson_id: str, predict_id: str, answer: str, correct: bool | None, now: float
) -> None:
    """Keep the answer to a predict question (and whether it matched)."""
    conn.execute(
        """INSERT INTO predict (lesson_id, predict_id, answer, correct, answered_at) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (lesson_id, predict_id) DO UPDATE SET
               answer = excluded.answer, correct = excluded.correct, answered_at = excluded.answered_at""",
        (lesson_id, predict_id, answer, None if correct is None else int(bool(correct)), now),
    )


def reset(conn: sqlite3.Connection, lesson_id: str, exercise_id: str | None) -> int:
    """Forget a lesson's (or one exercise's) progress; returns how many rows went."""
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


OPS: dict[str, Callable[..., Any]] = {
    "record_attempt": record_attempt,
    "reveal_hint": reveal_hint,
    "save_draft": save_draft,
    "set_position": set_position,
    "add_time": add_time,
    "record_predict": record_predict,
    "reset": reset,
}
"""Write operations by name: what a queued write records, and how it is replayed."""


def apply(conn: sqlite3.Connection, name: str, kwargs: dict[str, Any], timeout: float) -> Any:
    """Run the write `name` in one BEGIN IMMEDIATE transaction, retrying a busy lock with backoff
    for up to `timeout` seconds; returns its result (raises sqlite3 errors for the caller to sort)."""
    op = OPS[name]
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if is_busy(exc) and time.monotonic() < deadline:
                time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
                delay = min(delay * 2, 0.2)
                continue
            raise
        try:
            result = op(conn, **kwargs)
            conn.execute("COMMIT")
            return result
        except BaseException:
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            raise

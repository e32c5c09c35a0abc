"""Provides `StoreReads`, the progress store's queries: an exercise, a lesson, the course, drafts, the export.

Every query goes through `_rows`, which the store defines (its lock, and a damaged database read
as no rows with a notice); what a lesson's status is comes from `llm_tutor.engine.learner.status`.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from llm_tutor.engine.learner import status as rules
from llm_tutor.engine.learner.records import (
    CourseProgress,
    Draft,
    ExerciseProgress,
    LessonProgress,
    Position,
    PredictAnswer,
)


class StoreReads:
    """The read side of `ProgressStore` (see there); a subclass provides `_rows`, `path` and `persistent`."""

    path: Path | None
    persistent: bool

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """The rows of one query (none when the database cannot be read)."""
        raise NotImplementedError

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
        solved = sum(1 for e in exercises if e.status == rules.SOLVED)
        total = len(exercises)
        touched = any(e.status != rules.NOT_STARTED or e.hints or e.time_s for e in exercises)
        opened = lrow is not None and (lrow["opened_at"] is not None or lrow["time_s"] > 0)
        return LessonProgress(
            lesson_id=lesson_id,
            status=rules.lesson_status(solved, total, touched, opened),
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
            completed_lessons=sum(1 for p in per_lesson if p.status == rules.COMPLETED),
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

"""Provides the values the progress store hands out: progress per exercise, lesson and course; drafts; notices."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from llm_tutor.engine.learner.status import NOT_STARTED


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
    status: str = NOT_STARTED
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

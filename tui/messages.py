"""Provides the app-wide Textual messages.

Two directions:

- **Screens tell the app** what the learner did, in the past tense (`DraftChanged`, `AttemptChecked`,
  `HintShown`, `ExerciseReset`, `PredictAnswered`, `PositionChanged`, `LessonMounted`, ...). They
  bubble from the screen to `TutorApp`, which keeps the progress.
- **The app tells screens** what came from outside: the kernel's events (`KernelEvent`), a fresh
  progress summary (`ProgressRefreshed`), a file saved in another editor (`WorkspaceFileChanged`).
  Threads post them to the app; the app posts each on to the screens it concerns. They do not
  bubble, so a screen's copy never comes back to the app.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual.message import Message

from llm_tutor.engine.course.lesson import Exercise, Lesson

if TYPE_CHECKING:  # the store's modules load after the first paint
    from llm_tutor.engine.learner.filesync import FileSaved

# -- from threads, through the app, to screens ------------------------------------------------------


@dataclass
class KernelEvent(Message, bubble=False):
    """An event from the kernel process (a `llm_tutor.engine.kernel.protocol` payload or `KernelDied`)."""

    event: Any


@dataclass
class StoreNoticed(Message):
    """The progress store has something to tell the learner (damaged file moved aside, read-only, locked)."""

    level: str
    """"info", "warning" or "error"."""
    message: str
    title: str = "progress"


@dataclass
class ProgressRefreshed(Message, bubble=False):
    """A fresh summary of the course's progress, computed after every queued write landed."""

    summary: Any
    """A `llm_tutor.engine.learner.records.CourseProgress` (None: the list only redraws)."""
    cursor_key: str | None = None
    """The lesson the list's cursor moves to (the last one opened, when the progress was first read)."""


@dataclass
class WorkspaceFileChanged(Message, bubble=False):
    """An exercise's file in the workspace was saved outside the app (or `f` asked to check it)."""

    saved: FileSaved
    """Which file, its code as the editor shows it, and whether the learner asked (`f`)."""


# -- from screens to the app ------------------------------------------------------------------------


@dataclass
class DraftChanged(Message):
    """The learner edited an exercise's code."""

    lesson: Lesson
    exercise_id: str
    code: str


@dataclass
class AttemptChecked(Message):
    """An exercise's checks ran on `code`; `draft` is what the editor holds now (typing went on)."""

    lesson: Lesson
    exercise_id: str
    passed: bool
    code: str
    draft: str


@dataclass
class HintShown(Message):
    """The learner revealed a hint; `shown` hints of the exercise are visible now."""

    lesson: Lesson
    exercise_id: str
    shown: int


@dataclass
class ExerciseReset(Message):
    """The learner put an exercise's starter back (its file is kept as ``.bak``)."""

    lesson: Lesson
    exercise: Exercise


@dataclass
class PredictAnswered(Message):
    """The learner answered a predict question."""

    lesson: Lesson
    predict_id: str
    answer: str


@dataclass
class PositionChanged(Message):
    """The learner is on another block of the lesson (moved to it, or ran the cell before it)."""

    lesson: Lesson
    block_id: str


@dataclass
class ExerciseFileAsked(Message):
    """The learner asked (`f`) to load and check an exercise's workspace file."""

    lesson: Lesson
    exercise_id: str


@dataclass
class LessonMounted(Message):
    """A lesson screen is built (its exercises want files; its heap can be frozen)."""

    lesson: Lesson


@dataclass
class LessonListResumed(Message):
    """The lesson list is shown again after a lesson: the progress wants counting again."""


@dataclass
class ScreenMounted(Message):
    """A long-lived screen is built: its widgets can leave the garbage collector's way."""

"""Provides `LearnerProgress`: what the screens read of the learner's progress, typed.

The app makes one and hands it to each screen's constructor; a screen reads from it (an exercise as
the learner left it, the statuses, the last lesson) and tells the app what the learner did through
the messages of `llm_tutor.tui.messages`, which the app writes through `session`.

The session (`llm_tutor.engine.learner.session`, with the store's modules) loads after the lesson list
is on screen, as the kernel does; until then the list leaves its progress cells blank. A lesson
opened sooner opens it on the spot.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual.message import Message

from llm_tutor.engine.course.catalog import BrokenLesson
from llm_tutor.engine.course.lesson import Lesson
from llm_tutor.tui.messages import ProgressRefreshed, StoreNoticed, WorkspaceFileChanged

if TYPE_CHECKING:
    from llm_tutor.engine.learner.session import LearnerSession, Report


@dataclass(frozen=True)
class SavedExercise:
    """An exercise as the learner left it: the keyword arguments of its `ExerciseView`."""

    draft: str | None = None
    hints_shown: int = 0
    attempts: int = 0
    passed: bool = False
    file_path: str = ""
    file_note: str = ""


class LearnerProgress:
    """The learner's progress for one app.

    Args:
        data_dir: `--data-dir` (None: `LLM_TUTOR_DATA_DIR` or the platform's folder).
        course: the app's lessons now (the language may change).
        post: the app's `post_message` (safe from any thread).
        watch: watch the workspace for exercise files saved in another editor.
    """

    def __init__(
        self,
        data_dir: Any,
        course: Callable[[], Sequence[Lesson | BrokenLesson]],
        post: Callable[[Message], object],
        *,
        watch: bool = True,
    ) -> None:
        self.data_dir = data_dir
        self.course = course
        self.post = post
        self.watch = watch
        self.session: LearnerSession | None = None
        """The session; None before `open()` or when the progress cannot be opened."""
        self.problem = ""
        """Why the progress could not be opened ('' when it could, or before it was tried)."""
        self.ready = False
        """Whether the progress has been read (the list leaves its progress cells blank until then)."""

    def open(self) -> LearnerSession | None:
        """The session, opened now if it is not yet (once; the app's start or the first lesson does it)."""
        if self.ready:
            return self.session
        self.ready = True
        from llm_tutor.engine.learner.session import LearnerSession

        session = LearnerSession(self.data_dir, self._report, watch=self.watch)
        try:
            session.open(self.course())
        except Exception as exc:  # noqa: BLE001 - the app runs without saving rather than not at all
            self.problem = f"progress cannot be saved: {exc}"
            self.post(StoreNoticed("error", self.problem, title=""))
            return None
        self.session = session
        return session

    def close(self) -> None:
        """Save drafts and queued writes, then close the store (at exit)."""
        if self.session is not None:
            self.session.close()

    def _report(self, report: Report) -> None:
        """From any thread: the session's plain reports, as messages to the app."""
        from llm_tutor.engine.learner.filesync import FileSaved
        from llm_tutor.engine.learner.records import StoreNotice

        if isinstance(report, StoreNotice):
            self.post(StoreNoticed(report.level, report.message))
        elif isinstance(report, FileSaved):
            self.post(WorkspaceFileChanged(report))
        else:
            self.post(ProgressRefreshed(report))

    @property
    def closing_line(self) -> str:
        """What the store has to tell once the app has closed (where unsaved changes were kept), or ''."""
        store = self.session.store if self.session is not None else None
        return (store.closing_line or "") if store is not None else ""

    # -- reads for the screens ---------------------------------------------------------------------

    @property
    def saved(self) -> bool:
        """False when progress is kept in memory only (read-only data directory...)."""
        return not self.ready or (self.session is not None and self.session.persistent)

    def statuses(self) -> dict[str, str]:
        summary = self.session.summary if self.session else None
        return {lp.lesson_id: lp.status for lp in summary.lessons} if summary else {}

    def solved(self, lesson_id: str) -> int:
        return self.session.solved(lesson_id) if self.session else 0

    def last_lesson_id(self) -> str | None:
        """The lesson the learner had open last (None before the progress is read)."""
        position = self.session.last_position() if self.session else None
        return position.lesson_id if position else None

    def exercise(self, lesson: Lesson, exercise_id: str) -> SavedExercise:
        """An exercise as the learner left it (opens the progress if a lesson opens before it)."""
        session = self.open()
        if session is None:
            return SavedExercise()
        state = session.exercise(lesson, exercise_id)
        path = session.workspace_path(lesson.id, exercise_id, lesson.lang)
        problem = session.workspace_problem
        return SavedExercise(
            draft=state.code,
            hints_shown=min(state.hints, len(lesson.exercise(exercise_id).hints)),
            attempts=state.attempts,
            passed=state.solved,
            file_path=str(path) if path is not None and not problem else "",
            file_note=problem,
        )

    def predict_answers(self, lesson: Lesson) -> dict[str, str]:
        """The learner's earlier answers to the lesson's predict questions, by id."""
        session = self.open()
        return session.predict_answers(lesson) if session else {}

    def last_cell(self, lesson: Lesson) -> str | None:
        """The block of the lesson the learner was on last."""
        session = self.open()
        return session.last_cell(lesson) if session else None

    def exercise_file(self, lesson: Lesson, exercise_id: str) -> tuple[str, str]:
        """(the exercise's workspace file, or '', why there is none, or '')."""
        session = self.session
        if session is None:
            return "", self.problem
        path = session.workspace_path(lesson.id, exercise_id, lesson.lang)
        if path is None or session.workspace_problem:
            return "", session.workspace_problem
        return str(path), ""

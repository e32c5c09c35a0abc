"""Provides `LearnerSession`: one app's link to the progress store, drafts and exercise files.

The UI thread never waits on the database. Every write (drafts, attempts, hints, position, exercise
files) goes, in order, through one writer thread; the session keeps its own copy of the open
lesson's exercise state, so reopening a lesson while writes are still queued shows the newest code,
not the database's older copy. What comes back is handed to `report` as plain data, from any
thread: a `StoreNotice` (the store's, or a problem of ours), a fresh `CourseProgress`, or a
`FileSaved` (an exercise file saved in the learner's own editor). The UI turns them into messages.

Each language has its own draft and exercise file (its own starter), keyed by the lesson's `lang`;
status, attempts and hints are shared by the languages.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

from llm_tutor.engine.course.catalog import BrokenLesson
from llm_tutor.engine.course.lesson import Exercise, Lesson
from llm_tutor.engine.learner.drafts import DraftSaver
from llm_tutor.engine.learner.filesync import FileSaved, FileSync, editor_text
from llm_tutor.engine.learner.records import CourseProgress, Position, StoreNotice
from llm_tutor.engine.learner.status import NOT_STARTED, SOLVED, status_after_attempt
from llm_tutor.engine.learner.store import ProgressStore
from llm_tutor.engine.learner.watch import Watcher
from llm_tutor.engine.learner.workspace import Workspace, latest_code
from llm_tutor.engine.learner.writer import Writer

Report = Union[StoreNotice, CourseProgress, FileSaved]
"""What the session hands back to the UI."""


@dataclass
class ExerciseState:
    """What the app knows about one exercise: enough to rebuild its view after a restart."""

    status: str = NOT_STARTED
    attempts: int = 0
    hints: int = 0
    code: str | None = None
    """The learner's newest code (draft or file), None for the starter."""

    @property
    def solved(self) -> bool:
        return self.status == SOLVED


@dataclass
class _LessonCache:
    exercises: dict[str, ExerciseState] = field(default_factory=dict)
    last_cell: str | None = None
    predicts: dict[str, str] = field(default_factory=dict)
    """The learner's answers to the lesson's predict questions, by id."""
    stale: bool = False
    """Read the database again at the next open (another process may have written meanwhile)."""


class _QueuedDrafts:
    """The `DraftSaver`'s sink: hands each debounced draft to the session's writer thread."""

    def __init__(self, session: LearnerSession) -> None:
        self.session = session

    def save_draft(self, lesson_id: str, exercise_id: str, code: str, lang: str = "en") -> None:
        self.session._submit(lambda: self.session._write_draft(lesson_id, exercise_id, code, lang))


class LearnerSession:
    """Progress, drafts and workspace files for one app.

    Args:
        data_dir: `--data-dir` (None: `LLM_TUTOR_DATA_DIR` or the platform's folder).
        report: how results reach the UI (safe to call from any thread; see `Report`).
        lock_timeout: how long a write waits for another process's lock before it is queued.
        draft_delay: quiet time after typing before the draft is saved.
        draft_max_delay: the longest typing goes unsaved (what a `kill -9` can lose).
        watch: watch the workspace for files saved in another editor.
    """

    def __init__(
        self,
        data_dir: str | Path | None,
        report: Callable[[Report], object],
        *,
        lock_timeout: float = 5.0,
        draft_delay: float = 0.5,
        draft_max_delay: float = 1.0,
        watch: bool = True,
    ) -> None:
        self.data_dir = data_dir
        self.report = report
        self.lock_timeout = lock_timeout
        self.watch = watch
        self.store: ProgressStore | None = None
        self.workspace: Workspace | None = None
        self.workspace_problem = ""
        """Why exercise files cannot be written ('' when they can)."""
        self.files: FileSync | None = None
        self.watcher: Watcher | None = None
        self.summary: CourseProgress | None = None
        """The newest course summary (the lesson list reads it)."""
        self._draft_delay = draft_delay
        self._draft_max_delay = draft_max_delay
        self.saver: DraftSaver | None = None
        self._writer = Writer(lambda exc: self._report("error", f"progress not saved: {type(exc).__name__}: {exc}"))
        self._submit = self._writer.submit
        self._lessons: dict[tuple[str, str], _LessonCache] = {}
        """UI thread only: the exercise state of lessons opened in this session, by (lang, lesson id)."""
        self._position: tuple[str, str | None] | None = None
        self._written_position: tuple[str, str | None] | None = None
        self._reported: set[str] = set()

    # -- start and stop --------------------------------------------------------------------------

    def open(self, course: Sequence[Lesson | BrokenLesson] = ()) -> None:
        """Open the store (on the UI thread, once, at start) and start the writer and watcher threads."""
        self.store = ProgressStore.open(self.data_dir, lock_timeout=self.lock_timeout, on_notice=self.report)
        try:
            self.workspace = Workspace.open(self.data_dir)
        except Exception as exc:  # noqa: BLE001 - no workspace is a notice, not a crash
            self.workspace_problem = str(exc)
        if not self.store.persistent:
            self.workspace_problem = "the data directory cannot be written"
        if self.workspace is not None:
            self.files = FileSync(self.workspace, self.store, self.report, self._warn, writable=not self.workspace_problem)
        self.summary = self.store.summary(_lessons(course))
        self._writer.start()
        self.saver = DraftSaver(_QueuedDrafts(self), delay=self._draft_delay, max_delay=self._draft_max_delay)
        if self.watch and self.workspace is not None and not self.workspace_problem:
            threading.Thread(target=self._start_watcher, name="llm-tutor-watch-start", daemon=True).start()

    def _start_watcher(self) -> None:
        assert self.workspace is not None
        try:
            self.watcher = Watcher(self.workspace.root, self._on_files_changed).start()
        except Exception as exc:  # noqa: BLE001 - the manual `f` key still works
            self._report("warning", f"cannot watch the exercise files ({exc}); press f to check a saved file")

    def close(self) -> None:
        """Save what is waiting (drafts, queued writes) and close the store; at exit."""
        if self.watcher is not None:
            self.watcher.stop()
        if self.saver is not None:
            self.saver.close()
        self._writer.stop()
        if self.store is not None:
            self.store.close()

    @property
    def persistent(self) -> bool:
        return self.store is not None and self.store.persistent

    @property
    def busy(self) -> bool:
        """Whether writes are waiting: the database may not show them yet."""
        return self._writer.busy or bool(self.saver is not None and self.saver.dirty)

    def _report(self, level: str, message: str) -> None:
        """Tell the learner once about a problem of ours (not the store's)."""
        if message not in self._reported:
            self._reported.add(message)
            self.report(StoreNotice(level, message))

    def _warn(self, message: str) -> None:
        self._report("warning", message)

    # -- reads for the UI (UI thread) ------------------------------------------------------------

    def lesson_state(self, lesson: Lesson) -> dict[str, ExerciseState]:
        """The exercises of a lesson as the learner left them (read again unless writes are queued)."""
        cache = self._lessons.get((lesson.lang, lesson.id))
        if cache is None or (cache.stale and not self.busy):
            cache = self._read_lesson(lesson)
            self._lessons[(lesson.lang, lesson.id)] = cache
        for ex in lesson.exercises:
            cache.exercises.setdefault(ex.id, ExerciseState())
            if self.files is not None:
                self.files.exercises[(lesson.id, ex.id, lesson.lang)] = ex
        return cache.exercises

    def _read_lesson(self, lesson: Lesson) -> _LessonCache:
        cache = _LessonCache()
        if self.store is None:
            return cache
        progress = self.store.lesson_status(lesson.id, [ex.id for ex in lesson.exercises])
        cache.last_cell = progress.last_cell
        cache.predicts = {pid: a.answer for pid, a in self.store.predict_answers(lesson.id).items()}
        for ex, ep in zip(lesson.exercises, progress.exercises):
            state = ExerciseState(ep.status, ep.attempts, ep.hints)
            if self.workspace is not None:
                found = latest_code(self.store, self.workspace, lesson.id, ex.id, starter=ex.starter, lang=lesson.lang)
            else:
                code = self.store.load_draft(lesson.id, ex.id, lesson.lang)
                found = (code, "draft") if code is not None else None
            if found is not None:
                state.code = editor_text(found[0]) if found[1] == "file" else found[0]
            cache.exercises[ex.id] = state
        return cache

    def exercise(self, lesson: Lesson, exercise_id: str) -> ExerciseState:
        return self.lesson_state(lesson).setdefault(exercise_id, ExerciseState())

    def mark_stale(self) -> None:
        """The learner left the lesson: read it again (if nothing is queued) when it is reopened."""
        for cache in self._lessons.values():
            cache.stale = True

    def last_cell(self, lesson: Lesson) -> str | None:
        cache = self._lessons.get((lesson.lang, lesson.id))
        return cache.last_cell if cache is not None else None

    def last_position(self) -> Position | None:
        """Where bare `llm-tutor` reopens (read at start, before any write)."""
        return self.store.last_position() if self.store is not None else None

    def lesson_status(self, lesson_id: str) -> str:
        for lp in self.summary.lessons if self.summary else []:
            if lp.lesson_id == lesson_id:
                return lp.status
        return NOT_STARTED

    def solved(self, lesson_id: str) -> int:
        for lp in self.summary.lessons if self.summary else []:
            if lp.lesson_id == lesson_id:
                return lp.solved
        return 0

    def workspace_path(self, lesson_id: str, exercise_id: str, lang: str = "en") -> Path | None:
        if self.workspace is None:
            return None
        try:
            return self.workspace.path(lesson_id, exercise_id, lang)
        except ValueError:
            return None

    def predict_answers(self, lesson: Lesson) -> dict[str, str]:
        self.lesson_state(lesson)
        return dict(self._lessons[(lesson.lang, lesson.id)].predicts)

    # -- writes from the UI (cheap: they only queue) ---------------------------------------------

    def save_draft(self, lesson: Lesson, exercise_id: str, code: str) -> None:
        self.exercise(lesson, exercise_id).code = code
        if self.saver is not None:
            self.saver.update(lesson.id, exercise_id, code, lang=lesson.lang)

    def flush_drafts(self) -> None:
        """Queue the drafts waiting for their debounce now (before a check, on leaving a lesson)."""
        if self.saver is not None:
            self.saver.flush()

    def record_attempt(
        self, lesson: Lesson, exercise_id: str, passed: bool, code: str, draft: str | None = None
    ) -> ExerciseState:
        """A check of `code` passed or failed; `draft` is the editor's text now, if the learner typed on
        while the check ran (the attempt keeps what was checked, the draft keeps what was typed)."""
        draft = code if draft is None else draft
        state = self.exercise(lesson, exercise_id)
        state.attempts += 1
        state.status = status_after_attempt(state.status, passed)  # the one solved rule (engine.learner.status)
        state.code = draft
        self.flush_drafts()
        if self.store is not None:
            self._submit(lambda: self._record_attempt(lesson.id, exercise_id, passed, code, draft, lesson.lang))
        return state

    def _record_attempt(self, lesson_id: str, exercise_id: str, passed: bool, code: str, draft: str, lang: str) -> None:
        assert self.store is not None
        self.store.record_attempt(lesson_id, exercise_id, passed, code, lang=lang)
        if draft != code:
            self.store.save_draft(lesson_id, exercise_id, draft, lang=lang)
        if self.files is not None:
            self.files.write(lesson_id, exercise_id, draft, lang)

    def record_hint(self, lesson: Lesson, exercise_id: str, shown: int) -> None:
        state = self.exercise(lesson, exercise_id)
        more = shown - state.hints
        if more <= 0 or self.store is None:
            return
        state.hints = shown
        total = len(lesson.exercise(exercise_id).hints)
        store = self.store

        def reveal() -> None:
            for _ in range(more):
                store.reveal_hint(lesson.id, exercise_id, total=total)

        self._submit(reveal)

    def record_position(self, lesson: Lesson, cell_id: str | None) -> None:
        """Remember where the learner is; only the newest position is written."""
        cache = self._lessons.get((lesson.lang, lesson.id))
        if cache is not None and cell_id is not None:
            cache.last_cell = cell_id
        position = (lesson.id, cell_id)
        if position == self._position and cell_id is not None:
            return
        self._position = position
        self._submit(self._write_position)

    def _write_position(self) -> None:
        position = self._position
        if position is None or position == self._written_position or self.store is None:
            return
        self.store.set_position(*position)
        self._written_position = position

    def add_time(self, lesson_id: str, seconds: float, exercise_id: str | None = None) -> None:
        store = self.store
        if store is not None:
            self._submit(lambda: store.add_time(lesson_id, seconds, exercise_id))

    def record_predict(self, lesson: Lesson, predict_id: str, answer: str) -> None:
        self.lesson_state(lesson)
        for (_, lesson_id), cache in self._lessons.items():  # an answer counts in every language
            if lesson_id == lesson.id:
                cache.predicts[predict_id] = answer
        store = self.store
        if store is not None:
            self._submit(lambda: store.record_predict(lesson.id, predict_id, answer))

    def reset_exercise(self, lesson: Lesson, exercise: Exercise) -> None:
        """The learner put the starter back: the file is kept as ``.bak``; progress stays."""
        self.exercise(lesson, exercise.id).code = exercise.starter
        files = self.files
        if files is not None and not self.workspace_problem:
            self._submit(lambda: files.reset(lesson.id, exercise, lesson.lang))

    def file_shown(self, lesson: Lesson, exercise_id: str, code: str) -> None:
        """A `FileSaved` is in the app's editor now: it is the exercise's newest code."""
        self.exercise(lesson, exercise_id).code = code

    def refresh(self, course: Sequence[Lesson | BrokenLesson]) -> None:
        """Compute the course summary after every queued write and report it."""
        self.flush_drafts()
        lessons = _lessons(course)
        store = self.store
        if store is not None:
            self._submit(lambda: self.report(store.summary(lessons)))

    # -- the workspace ---------------------------------------------------------------------------

    def ensure_files(self, lesson: Lesson) -> None:
        """Make sure each exercise of the lesson has its file, holding the learner's newest code."""
        files = self.files
        if files is None or self.workspace_problem:
            return
        states = self.lesson_state(lesson)
        for ex in lesson.exercises:
            code = states[ex.id].code
            self._submit(lambda ex=ex, code=code: files.ensure(lesson.id, ex, code, lesson.lang))

    def _write_draft(self, lesson_id: str, exercise_id: str, code: str, lang: str) -> None:
        if self.store is not None:
            self.store.save_draft(lesson_id, exercise_id, code, lang=lang)
        if self.files is not None:
            self.files.write(lesson_id, exercise_id, code, lang)

    def _on_files_changed(self, paths: set[Path]) -> None:
        """On the watcher's thread: hand each exercise file to the writer thread to compare."""
        files = self.files
        if files is None:
            return
        for path in paths:
            found = files.workspace.exercise_of(path)
            if found is not None:
                self._submit(lambda found=found: files.read(*found, forced=False))

    def check_file(self, lesson_id: str, exercise_id: str, lang: str = "en") -> None:
        """The learner asked (`f`) to load and check the workspace file."""
        files = self.files
        if files is not None:
            self._submit(lambda: files.read(lesson_id, exercise_id, lang, forced=True))


def _lessons(course: Sequence[Lesson | BrokenLesson]) -> list[Lesson]:
    return [item for item in course if isinstance(item, Lesson)]

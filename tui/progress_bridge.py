"""Provides `ProgressBridge`: the app's link to the progress store, drafts and exercise files.

The UI thread never waits on the database. Every write (drafts, attempts, hints, position, exercise
files) goes, in order, through one writer thread; the UI keeps its own copy of the open lesson's
exercise state, so reopening a lesson while writes are still queued shows the newest code, not the
database's older copy. Results that come back (store notices, a fresh summary, a file saved in the
learner's own editor) are posted to the app as messages from `llm_tutor.tui.messages`.

Each language has its own draft and exercise file (its own starter), keyed by the lesson's `lang`;
status, attempts and hints are shared by the languages.

Which code wins when the app's editor and the workspace file both changed: the newest. The app
writes its editor's text to the file shortly after each change (with the draft), and a file saved
by another editor replaces the app's text (as one undoable edit) and is checked at once.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llm_tutor.engine.course.catalog import BrokenLesson
from llm_tutor.engine.learner.drafts import DraftSaver
from llm_tutor.engine.course.lesson import Exercise, Lesson
from llm_tutor.engine.learner.records import CourseProgress, Position, StoreNotice
from llm_tutor.engine.learner.store import ProgressStore
from llm_tutor.engine.learner.watch import Watcher
from llm_tutor.engine.learner.workspace import Workspace, WorkspaceError, latest_code
from llm_tutor.tui.messages import ProgressRefreshed, StoreNoticed, WorkspaceFileChanged

_Task = Callable[[], None]
_FileStamp = tuple[str, int]
"""(code without the header, mtime in ns) of a workspace file, as last written or handled."""


@dataclass
class ExerciseState:
    """What the app knows about one exercise: enough to rebuild its view after a restart."""

    status: str = "not_started"
    attempts: int = 0
    hints: int = 0
    code: str | None = None
    """The learner's newest code (draft or file), None for the starter."""

    @property
    def solved(self) -> bool:
        return self.status == "solved"


@dataclass
class _LessonCache:
    exercises: dict[str, ExerciseState] = field(default_factory=dict)
    last_cell: str | None = None
    predicts: dict[str, str] = field(default_factory=dict)
    """The learner's answers to the lesson's predict questions, by id."""
    stale: bool = False
    """Read the database again at the next open (another process may have written meanwhile)."""


class _QueuedDrafts:
    """The `DraftSaver`'s sink: hands each debounced draft to the bridge's writer thread."""

    def __init__(self, bridge: ProgressBridge) -> None:
        self.bridge = bridge

    def save_draft(self, lesson_id: str, exercise_id: str, code: str, lang: str = "en") -> None:
        self.bridge._submit(lambda: self.bridge._write_draft(lesson_id, exercise_id, code, lang))


class ProgressBridge:
    """Progress, drafts and workspace files for one app.

    Args:
        data_dir: `--data-dir` (None: `LLM_TUTOR_DATA_DIR` or the platform's folder).
        post: how results reach the UI (the app's `post_message`; safe from any thread).
        lock_timeout: how long a write waits for another process's lock before it is queued.
        draft_delay: quiet time after typing before the draft is saved.
        draft_max_delay: the longest typing goes unsaved (what a `kill -9` can lose).
        watch: watch the workspace for files saved in another editor.
    """

    def __init__(
        self,
        data_dir: str | Path | None,
        post: Callable[[Any], object],
        *,
        lock_timeout: float = 5.0,
        draft_delay: float = 0.5,
        draft_max_delay: float = 1.0,
        watch: bool = True,
    ) -> None:
        self.data_dir = data_dir
        self.post = post
        self.lock_timeout = lock_timeout
        self.watch = watch
        self.store: ProgressStore | None = None
        self.workspace: Workspace | None = None
        self.workspace_problem = ""
        """Why exercise files cannot be written ('' when they can)."""
        self.watcher: Watcher | None = None
        self.summary: CourseProgress | None = None
        """The newest course summary (the lesson list reads it)."""
        self._draft_delay = draft_delay
        self._draft_max_delay = draft_max_delay
        self.saver: DraftSaver | None = None
        self._queue: queue.Queue[_Task | None] = queue.Queue()
        self._outstanding = 0
        self._count_lock = threading.Lock()
        self._writer: threading.Thread | None = None
        self._lessons: dict[tuple[str, str], _LessonCache] = {}
        """UI thread only: the exercise state of lessons opened in this session, by (lang, lesson id)."""
        self._exercises: dict[tuple[str, str, str], Exercise] = {}
        self._known: dict[tuple[str, str, str], _FileStamp] = {}
        """Writer thread only: each workspace file as we last wrote or handled it."""
        self._position: tuple[str, str | None] | None = None
        self._written_position: tuple[str, str | None] | None = None
        self._reported: set[str] = set()

    # -- start and stop --------------------------------------------------------------------------

    def open(self, course: Sequence[Lesson | BrokenLesson] = ()) -> None:
        """Open the store (on the UI thread, once, at start) and start the writer and watcher threads."""
        self.store = ProgressStore.open(self.data_dir, lock_timeout=self.lock_timeout, on_notice=self._on_notice)
        try:
            self.workspace = Workspace.open(self.data_dir)
        except Exception as exc:  # noqa: BLE001 - no workspace is a notice, not a crash
            self.workspace_problem = str(exc)
        if not self.store.persistent:
            self.workspace_problem = "the data directory cannot be written"
        self.summary = self.store.summary(_lessons(course))
        self._writer = threading.Thread(target=self._run_writer, name="llm-tutor-progress", daemon=True)
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
        if self._writer is not None:
            self._queue.put(None)
            self._writer.join(timeout=60)
        if self.store is not None:
            self.store.close()

    @property
    def persistent(self) -> bool:
        return self.store is not None and self.store.persistent

    # -- the writer thread -----------------------------------------------------------------------

    def _submit(self, task: _Task) -> None:
        """Run `task` on the writer thread, after every task submitted before it (any thread)."""
        with self._count_lock:
            self._outstanding += 1
        self._queue.put(task)

    @property
    def busy(self) -> bool:
        """Whether writes are waiting: the database may not show them yet."""
        with self._count_lock:
            if self._outstanding:
                return True
        return bool(self.saver is not None and self.saver.dirty)

    def _run_writer(self) -> None:
        while True:
            task = self._queue.get()
            if task is None:
                return
            try:
                task()
            except Exception as exc:  # noqa: BLE001 - the store reports its own faults; this is a bug
                self._report("error", f"progress not saved: {type(exc).__name__}: {exc}")
            finally:
                with self._count_lock:
                    self._outstanding -= 1

    def _on_notice(self, notice: StoreNotice) -> None:
        self.post(StoreNoticed(notice.level, notice.message))

    def _report(self, level: str, message: str) -> None:
        """Tell the learner once about a problem of ours (not the store's)."""
        if message not in self._reported:
            self._reported.add(message)
            self.post(StoreNoticed(level, message))

    # -- reads for the UI (UI thread) ------------------------------------------------------------

    def lesson_state(self, lesson: Lesson) -> dict[str, ExerciseState]:
        """The exercises of a lesson as the learner left them (read again unless writes are queued)."""
        cache = self._lessons.get((lesson.lang, lesson.id))
        if cache is None or (cache.stale and not self.busy):
            cache = self._read_lesson(lesson)
            self._lessons[(lesson.lang, lesson.id)] = cache
        for ex in lesson.exercises:
            cache.exercises.setdefault(ex.id, ExerciseState())
            self._exercises[(lesson.id, ex.id, lesson.lang)] = ex
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
                state.code = _editor_text(found[0]) if found[1] == "file" else found[0]
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
        return "not_started"

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
        state.status = "solved" if passed or state.solved else "attempted"
        state.code = draft
        self.flush_drafts()
        store = self.store
        if store is not None:
            self._submit(lambda: self._record_attempt(lesson.id, exercise_id, passed, code, draft, lesson.lang))
        return state

    def _record_attempt(self, lesson_id: str, exercise_id: str, passed: bool, code: str, draft: str, lang: str) -> None:
        assert self.store is not None
        self.store.record_attempt(lesson_id, exercise_id, passed, code, lang=lang)
        if draft != code:
            self.store.save_draft(lesson_id, exercise_id, draft, lang=lang)
        self._write_file(lesson_id, exercise_id, draft, lang)

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

    def predict_answers(self, lesson: Lesson) -> dict[str, str]:
        self.lesson_state(lesson)
        return dict(self._lessons[(lesson.lang, lesson.id)].predicts)

    def reset_exercise(self, lesson: Lesson, exercise: Exercise) -> None:
        """The learner put the starter back: the file is kept as ``.bak``; progress stays."""
        self.exercise(lesson, exercise.id).code = exercise.starter
        if self.workspace is not None and not self.workspace_problem:
            self._submit(lambda: self._reset_file(lesson.id, exercise, lesson.lang))

    def _reset_file(self, lesson_id: str, exercise: Exercise, lang: str) -> None:
        assert self.workspace is not None
        try:
            path = self.workspace.reset(lesson_id, exercise, lang)
            # the stamp as the watcher will read it back (header off), so the reset is not taken for an edit
            text = self.workspace.read(lesson_id, exercise.id, lang)
            self._known[(lesson_id, exercise.id, lang)] = (exercise.starter if text is None else text, path.stat().st_mtime_ns)
        except (WorkspaceError, OSError) as exc:
            self._report("warning", str(exc))

    def refresh(self, course: Sequence[Lesson | BrokenLesson]) -> None:
        """Compute the course summary after every queued write and post `ProgressRefreshed`."""
        self.flush_drafts()
        lessons = _lessons(course)
        store = self.store
        if store is None:
            return

        def summarise() -> None:
            self.post(ProgressRefreshed(store.summary(lessons)))

        self._submit(summarise)

    # -- the workspace ---------------------------------------------------------------------------

    def ensure_files(self, lesson: Lesson) -> None:
        """Make sure each exercise of the lesson has its file, holding the learner's newest code."""
        if self.workspace is None or self.workspace_problem:
            return
        states = self.lesson_state(lesson)
        for ex in lesson.exercises:
            code = states[ex.id].code
            self._submit(lambda ex=ex, code=code: self._ensure_file(lesson.id, ex, code, lesson.lang))

    def _ensure_file(self, lesson_id: str, exercise: Exercise, code: str | None, lang: str) -> None:
        assert self.workspace is not None
        key = (lesson_id, exercise.id, lang)
        try:
            path = self.workspace.ensure(lesson_id, exercise, code=code, lang=lang)
            text = self.workspace.read(lesson_id, exercise.id, lang)
            if text is not None:
                self._known.setdefault(key, (text, path.stat().st_mtime_ns))
        except (WorkspaceError, OSError) as exc:
            self._report("warning", f"exercise files cannot be written: {exc}")
        if code is not None:
            self._write_file(lesson_id, exercise.id, code, lang)

    def _write_draft(self, lesson_id: str, exercise_id: str, code: str, lang: str) -> None:
        if self.store is not None:
            self.store.save_draft(lesson_id, exercise_id, code, lang=lang)
        self._write_file(lesson_id, exercise_id, code, lang)

    def _write_file(self, lesson_id: str, exercise_id: str, code: str, lang: str) -> None:
        """Put the app's code in the workspace file of its language, unless the file already holds it."""
        key = (lesson_id, exercise_id, lang)
        exercise = self._exercises.get(key)
        if self.workspace is None or self.workspace_problem or exercise is None:
            return
        try:
            current = self.workspace.read(lesson_id, exercise_id, lang)
            if current is not None and current.rstrip("\n") == code.rstrip("\n"):
                return
            if current is not None and key in self._known:
                stamp = (current, self.workspace.path(lesson_id, exercise_id, lang).stat().st_mtime_ns)
                if stamp != self._known[key]:
                    # Saved in another editor since we last looked, and the watcher has not told
                    # us yet: that save is newer than this draft, so keep it; its report follows.
                    return
            path = self.workspace.write(lesson_id, exercise, code, lang)
            self._known[key] = (self.workspace.read(lesson_id, exercise_id, lang) or code, path.stat().st_mtime_ns)
        except (WorkspaceError, OSError) as exc:
            self._report("warning", f"exercise file not written: {exc}")

    def _on_files_changed(self, paths: set[Path]) -> None:
        """On the watcher's thread: hand each exercise file to the writer thread to compare."""
        if self.workspace is None:
            return
        for path in paths:
            found = self.workspace.exercise_of(path)
            if found is not None:
                self._submit(lambda found=found: self._read_file(*found, forced=False))

    def check_file(self, lesson_id: str, exercise_id: str, lang: str = "en") -> None:
        """The learner asked (`f`) to load and check the workspace file."""
        self._submit(lambda: self._read_file(lesson_id, exercise_id, lang, forced=True))

    def _read_file(self, lesson_id: str, exercise_id: str, lang: str, forced: bool) -> None:
        if self.workspace is None:
            return
        key = (lesson_id, exercise_id, lang)
        try:
            code = self.workspace.read(lesson_id, exercise_id, lang)
            stat = self.workspace.path(lesson_id, exercise_id, lang).stat()
        except (WorkspaceError, OSError, ValueError):
            return
        if code is None:
            return
        stamp = (code, stat.st_mtime_ns)
        if not forced and self._known.get(key) == stamp:
            return  # our own write, or a change already handled
        self._known[key] = stamp
        shown = _editor_text(code)
        if self.store is not None:
            self.store.save_draft(lesson_id, exercise_id, shown, lang=lang)
        path = str(self.workspace.path(lesson_id, exercise_id, lang))
        self.post(WorkspaceFileChanged(lesson_id, exercise_id, shown, path, forced, lang))


def _lessons(course: Sequence[Lesson | BrokenLesson]) -> list[Lesson]:
    return [item for item in course if isinstance(item, Lesson)]


def _editor_text(file_code: str) -> str:
    """A file's code as the app's editor shows it: without the newline editors end files with."""
    return file_code[:-1] if file_code.endswith("\n") else file_code

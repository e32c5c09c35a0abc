"""Provides `ProgressMixin`: the learner's progress in `TutorApp` (the hooks the screens call).

The screens ask the app through optional hooks (`load_draft`, `save_draft`, `record_attempt`,
`record_hint`, `record_position`, `record_predict`, `lesson_statuses`, `solved_count`,
`exercise_state`, `reset_exercise`, `lesson_mounted`, `refresh_progress`); this mixin answers them
from a `ProgressBridge`, which keeps every database write off the UI thread. It also turns the
bridge's messages into what the learner sees: notices, the refreshed lesson list, and an exercise
re-checked when its file is saved in another editor.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any

from textual import events
from textual.dom import NoScreen
from textual.widget import Widget

from llm_tutor.engine.course.lesson import Exercise, Lesson
from llm_tutor.tui.i18n import t
from llm_tutor.tui.messages import ProgressRefreshed, StoreNoticed, WorkspaceFileChanged

if TYPE_CHECKING:
    from llm_tutor.tui.progress_bridge import ProgressBridge
    from llm_tutor.tui.screens.lesson import LessonScreen

SEVERITY = {"info": "information", "warning": "warning", "error": "error"}
NOTICE_TIMEOUT = {"info": 6.0, "warning": 12.0, "error": 20.0}


class ProgressMixin:
    """Progress for the app: mix in before `App` (it uses `course`, `lang`, `data_dir`, `notify`)."""

    progress: ProgressBridge | None = None
    """The bridge to the store; None before `open_progress()`."""
    watch_files: bool = True
    """Watch the workspace for exercise files saved in another editor."""
    time_tick: float = 30.0
    """Time spent is counted in steps of this many seconds..."""
    idle_after: float = 120.0
    """...while the learner did something (a key, a move, an edit) in the last this many seconds."""
    _progress_opened: bool = False
    _last_active: float = 0.0

    # -- start and stop ----------------------------------------------------------------------------

    def start_progress(self) -> None:
        """After the first paint: open the progress, show it in the list, reopen the last lesson.

        The store (and its modules) load after the list is on screen, as the kernel does; a lesson
        opened sooner (`llm-tutor LESSON`, or a very quick Enter) opens it on the spot instead.
        """
        from llm_tutor.tui.screens.lesson_list import LessonListScreen

        app: Any = self
        self.open_progress()
        self._last_active = time.monotonic()
        app.set_interval(self.time_tick, self._count_time)
        last = self.last_lesson_id()
        for screen in app.screen_stack:
            if isinstance(screen, LessonListScreen) and screen.is_mounted:
                screen.statuses = self.lesson_statuses()
                screen.fill(cursor_key=last)
        if not app.start_lesson and len(app.screen_stack) == 1:
            self.resume_last_lesson()

    def progress_ready(self) -> bool:
        """Whether the progress has been read (the list leaves its progress cells blank until then)."""
        return self._progress_opened

    def _bridge(self) -> ProgressBridge | None:
        """The bridge, opened now if a lesson needs it before `start_progress` ran."""
        if not self._progress_opened:
            self.open_progress()
        return self.progress

    def open_progress(self) -> None:
        """Open the learner's progress (once; `start_progress` or the first lesson does it)."""
        from llm_tutor.tui.progress_bridge import ProgressBridge

        if self._progress_opened:
            return
        self._progress_opened = True
        app: Any = self
        self.progress = ProgressBridge(app.data_dir, app.post_message, watch=self.watch_files)
        try:
            self.progress.open(app.course)
        except Exception as exc:  # noqa: BLE001 - the app runs without saving rather than not at all
            self.progress = None
            app.notify(f"progress cannot be saved: {exc}", severity="error", timeout=20, markup=False)

    def close_progress(self) -> None:
        """Save drafts and queued writes, then close the store (at exit)."""
        if self.progress is not None:
            self.progress.close()

    def resume_last_lesson(self) -> bool:
        """Bare `llm-tutor`: reopen the lesson the learner had open last (its last cell is focused)."""
        app: Any = self
        position = self.progress.last_position() if self.progress else None
        if position is None:
            return False
        lesson = next((i for i in app.course if isinstance(i, Lesson) and i.id == position.lesson_id), None)
        if lesson is None:
            return False
        app.open_lesson_key(lesson.id)
        app.notify(t(app.lang, "resumed", lesson=lesson.title), timeout=5, markup=False)
        return True

    def last_lesson_id(self) -> str | None:
        position = self.progress.last_position() if self.progress else None
        return position.lesson_id if position else None

    # -- hooks the screens call ----------------------------------------------------------------------

    def lesson_statuses(self) -> dict[str, str]:
        summary = self.progress.summary if self.progress else None
        return {lp.lesson_id: lp.status for lp in summary.lessons} if summary else {}

    def solved_count(self, lesson: Lesson) -> int:
        return self.progress.solved(lesson.id) if self.progress else 0

    def progress_saved(self) -> bool:
        """False when progress is kept in memory only (read-only data directory...)."""
        return not self._progress_opened or (self.progress is not None and self.progress.persistent)

    def load_draft(self, lesson: Lesson, exercise_id: str) -> str | None:
        bridge = self._bridge()
        return bridge.exercise(lesson, exercise_id).code if bridge else None

    def exercise_state(self, lesson: Lesson, exercise_id: str) -> dict[str, Any]:
        """What an `ExerciseView` needs to look as the learner left it."""
        bridge = self._bridge()
        if bridge is None:
            return {}
        state = bridge.exercise(lesson, exercise_id)
        hints = len(lesson.exercise(exercise_id).hints)
        path = bridge.workspace_path(lesson.id, exercise_id, lesson.lang)
        problem = bridge.workspace_problem
        return {
            "hints_shown": min(state.hints, hints),
            "attempts": state.attempts,
            "passed": state.solved,
            "file_path": str(path) if path is not None and not problem else "",
            "file_note": problem,
        }

    def save_draft(self, lesson: Lesson, exercise_id: str, code: str) -> None:
        self._last_active = time.monotonic()
        bridge = self._bridge()
        if bridge is not None:
            bridge.save_draft(lesson, exercise_id, code)

    def record_attempt(self, lesson: Lesson, exercise_id: str, passed: bool, code: str, draft: str | None = None) -> None:
        bridge = self._bridge()
        if bridge is not None:
            bridge.record_attempt(lesson, exercise_id, passed, code, draft)

    def record_hint(self, lesson: Lesson, exercise_id: str, shown: int) -> None:
        bridge = self._bridge()
        if bridge is not None:
            bridge.record_hint(lesson, exercise_id, shown)

    def record_position(self, lesson: Lesson, cell_id: str | None) -> None:
        """Remember where the learner is: the block they are on, rather than the cell that just ran
        (checking an exercise runs the cells above it, and the learner stays at the exercise)."""
        from llm_tutor.tui.screens.lesson import LessonScreen

        bridge = self._bridge()
        if bridge is None:
            return
        screen: Any = getattr(self, "screen", None)
        if cell_id is not None and isinstance(screen, LessonScreen) and screen.lesson.id == lesson.id:
            cell_id = _block_id(screen.focused_block()) or cell_id
        bridge.record_position(lesson, cell_id)

    def record_predict(self, lesson: Lesson, predict_id: str, answer: str) -> None:
        bridge = self._bridge()
        if bridge is not None:
            bridge.record_predict(lesson, predict_id, answer)

    def reset_exercise(self, lesson: Lesson, exercise: Exercise) -> None:
        bridge = self._bridge()
        if bridge is not None:
            bridge.reset_exercise(lesson, exercise)

    def refresh_progress(self) -> None:
        """The lesson list is shown again: recount after the writes of the lesson just left."""
        app: Any = self
        if self.progress is not None:
            self.progress.mark_stale()
            self.progress.refresh(app.course)

    def lesson_mounted(self, screen: LessonScreen) -> None:
        """A lesson opened: files for its exercises, its last cell in view, answers, a prerequisite hint."""
        app: Any = self
        bridge = self._bridge()
        if bridge is None:
            return
        lesson = screen.lesson
        bridge.ensure_files(lesson)
        bridge.record_position(lesson, None)
        self._restore_predicts(screen, bridge.predict_answers(lesson))
        last = bridge.last_cell(lesson)
        target = _block(screen, last) if last else None
        if target is not None:
            target.focus(scroll_visible=False)
            _scroll_to(screen, target)
        missing = [p for p in lesson.prerequisites if bridge.lesson_status(p) != "completed"]
        titles = [i.title for p in missing for i in app.course if isinstance(i, Lesson) and i.id == p]
        if titles:
            app.notify(t(app.lang, "prereq_suggest", lessons=", ".join(titles)), timeout=8, markup=False)

    def _restore_predicts(self, screen: LessonScreen, answers: dict[str, str]) -> None:
        from textual.widgets import Input

        for predict_id, answer in answers.items():
            for widget in screen.query(f"#cell-{predict_id}"):
                for box in widget.query(Input):
                    if not box.value:
                        box.value = answer
            screen.reveal_explanation(predict_id)  # answered in an earlier session

    # -- where the learner is, and for how long ------------------------------------------------------

    def on_key(self, event: events.Key) -> None:
        self._last_active = time.monotonic()

    def _count_time(self) -> None:
        """Add a tick to the open lesson (and the exercise the learner is on) unless they are away."""
        from llm_tutor.tui.screens.lesson import LessonScreen
        from llm_tutor.tui.widgets.lesson.exercise import ExerciseView

        app: Any = self
        if self.progress is None or time.monotonic() - self._last_active > self.idle_after:
            return
        screen = next((s for s in reversed(app.screen_stack) if isinstance(s, LessonScreen)), None)
        if screen is None:
            return
        block = screen.focused_block()
        exercise_id = block.exercise.id if isinstance(block, ExerciseView) else None
        self.progress.add_time(screen.lesson.id, self.time_tick, exercise_id)

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        self._last_active = time.monotonic()
        # no lesson screen can exist before its module loads: importing it here (for the list's first
        # focus) put 120 ms of imports in front of the first paint
        lesson_module = sys.modules.get("llm_tutor.tui.screens.lesson")
        if lesson_module is None:
            return
        try:
            screen = event.widget.screen
        except NoScreen:  # a widget of a screen being replaced (the lab's model choice) takes focus as it goes
            return
        if isinstance(screen, lesson_module.LessonScreen):
            block_id = _block_id(event.widget)
            if block_id is not None:
                self.record_position(screen.lesson, block_id)

    # -- messages from the bridge -----------------------------------------------------------------------

    def on_store_noticed(self, message: StoreNoticed) -> None:
        app: Any = self
        app.notify(
            message.message,
            title="progress",
            severity=SEVERITY.get(message.level, "warning"),
            timeout=NOTICE_TIMEOUT.get(message.level, 12.0),
            markup=False,
        )

    def on_progress_refreshed(self, message: ProgressRefreshed) -> None:
        from llm_tutor.tui.screens.lesson_list import LessonListScreen

        app: Any = self
        if self.progress is not None:
            self.progress.summary = message.summary
        statuses = self.lesson_statuses()
        for screen in app.screen_stack:
            if isinstance(screen, LessonListScreen) and screen.is_mounted:
                screen.statuses = statuses
                screen.fill()

    def on_workspace_file_changed(self, message: WorkspaceFileChanged) -> None:
        """A file saved in the learner's own editor is the newest code: show it and check it."""
        from llm_tutor.tui.screens.lesson import LessonScreen
        from llm_tutor.tui.widgets.lesson.exercise import ExerciseView

        app: Any = self
        for screen in app.screen_stack:
            if not (
                isinstance(screen, LessonScreen)
                and screen.lesson.id == message.lesson_id
                and screen.lesson.lang == message.lang
            ):
                continue
            if self.progress is not None:
                self.progress.exercise(screen.lesson, message.exercise_id).code = message.code
            for view in screen.query(f"#exercise-{message.exercise_id}").results(ExerciseView):
                if view.code != message.code:
                    view.replace_code(message.code)
                name = message.path.rsplit("/", 1)[-1]
                app.notify(t(app.lang, "file_changed", name=name), timeout=3, markup=False)
                screen.check_exercise(view)

    # -- keys (bound on the lesson screen as app.*) --------------------------------------------------

    def action_copy_exercise_path(self) -> None:
        """Copy the exercise file's path to the clipboard (and show it)."""
        app: Any = self
        found = self._current_exercise()
        if found is None or self.progress is None:
            return
        screen, view = found
        path = self.progress.workspace_path(screen.lesson.id, view.exercise.id, screen.lesson.lang)
        if path is None or self.progress.workspace_problem:
            app.notify(t(app.lang, "workspace_unavailable", reason=self.progress.workspace_problem), markup=False)
            return
        app.copy_to_clipboard(str(path))
        app.notify(t(app.lang, "copied_path", path=str(path)), timeout=10, markup=False)

    def action_check_exercise_file(self) -> None:
        """Load the exercise's file and check it (where the file watcher cannot see saves)."""
        app: Any = self
        found = self._current_exercise()
        if found is None or self.progress is None:
            return
        screen, view = found
        path = self.progress.workspace_path(screen.lesson.id, view.exercise.id, screen.lesson.lang)
        if path is None or not path.exists():
            app.notify(t(app.lang, "no_file", path=str(path or "")), severity="warning", markup=False)
            return
        self.progress.check_file(screen.lesson.id, view.exercise.id, screen.lesson.lang)

    def _current_exercise(self) -> tuple[LessonScreen, Any] | None:
        from llm_tutor.tui.screens.lesson import LessonScreen
        from llm_tutor.tui.widgets.lesson.exercise import ExerciseView

        app: Any = self
        screen = app.screen
        if not isinstance(screen, LessonScreen):
            return None
        block = screen.focused_block()
        if isinstance(block, ExerciseView):
            return screen, block
        views = list(screen.query(ExerciseView))
        if len(views) == 1:
            return screen, views[0]
        app.notify(t(app.lang, "pick_exercise"), markup=False)
        return None


def _block_id(widget: Widget | None) -> str | None:
    """The id of the lesson block (cell, predict, exercise) holding `widget`."""
    node: Any = widget
    while node is not None:
        if hasattr(node, "cell_id") and isinstance(node.cell_id, str):
            return str(node.cell_id)
        exercise = getattr(node, "exercise", None)
        if isinstance(exercise, Exercise):
            return exercise.id
        node = node.parent
    return None


def _block(screen: LessonScreen, block_id: str) -> Widget | None:
    for selector in (f"#cell-{block_id}", f"#exercise-{block_id}"):
        found = list(screen.query(selector))
        if found:
            return found[0]
    return None


def _scroll_to(screen: LessonScreen, target: Widget) -> None:
    """Bring the learner's last block to the top once the prose above it has its final height
    (Markdown lays itself out in the background, so scroll again shortly after)."""

    def scroll() -> None:
        if screen.is_attached and screen.focused_block() is target:
            target.scroll_visible(top=True, animate=False, immediate=True)

    screen.call_after_refresh(scroll)
    screen.set_timer(0.15, scroll)
    screen.set_timer(0.5, scroll)

"""Provides `TutorApp`, the Textual app, and `make_app()`, shared by the CLI and the tests.

The app owns the kernel process (through the torch-free `KernelManager`): it starts it right after
the first screen paints, so torch loads while the learner reads, and posts each kernel event on to
the screens as a `KernelEvent`. It owns the learner's progress too (`LearnerProgress`, handed to the
screens that read it); the screens tell it what the learner did with the messages it handles in
`llm_tutor.tui.progress_handlers`.
"""

from __future__ import annotations

import gc
import time
import weakref
from pathlib import Path
from typing import Any

from textual import events
from textual.app import App
from textual.binding import Binding
from textual.reactive import reactive
from textual.notifications import SeverityLevel
from textual.screen import Screen

from llm_tutor.engine.course.catalog import BrokenLesson, find_lesson, load_course
from llm_tutor.engine.course.lesson import Lesson, LessonError
from llm_tutor.tui.i18n import exit_reason, t, translate_bindings
from llm_tutor.tui.rendering import is_remote
from llm_tutor.tui import messages as msg
from llm_tutor.tui.progress import LearnerProgress
from llm_tutor.tui.screens.lesson_list import LessonListScreen
from llm_tutor.tui.widgets.status import KernelInfo


SEVERITY: dict[str, SeverityLevel] = {"info": "information", "warning": "warning", "error": "error"}
NOTICE_TIMEOUT = {"info": 6.0, "warning": 12.0, "error": 20.0}


class TutorApp(App[int]):
    """The llm-tutor app: lesson list, lessons with live cells, a kernel process beside it."""

    CSS_PATH = "app.tcss"
    TITLE = "llm-tutor"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [
        Binding("question_mark,f1", "help", "Help", id="app.help"),
        Binding("q", "quit", "Quit", id="app.quit"),
        Binding("ctrl+q", "quit", "Quit", show=False, id="app.quit2"),
    ]

    kernel_info: reactive[KernelInfo] = reactive(KernelInfo())
    """The kernel as the status bars show it (`sync_status` sets it; each `KernelStatus` watches it)."""

    def __init__(
        self,
        *,
        lesson: str | None = None,
        lang: str = "en",
        device: str = "auto",
        lessons_dir: Path | None = None,
        data_dir: Path | None = None,
        low_bandwidth: bool = False,
        autostart_kernel: bool = True,
        kernel_env: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.start_lesson = lesson
        self.lang = lang
        self.device = device
        self.lessons_dir = lessons_dir
        self.data_dir = data_dir
        self.low_bandwidth = low_bandwidth
        """True over SSH or with --low-bandwidth: no animation, plots at most `rendering.max_redraw_hz(app)` times a second."""
        if low_bandwidth:
            self.animation_level = "none"
        self.autostart_kernel = autostart_kernel
        self.kernel_env = kernel_env
        translate_bindings(self, lang)
        self.progress = LearnerProgress(data_dir, lambda: self.course, self.post_message)
        """The learner's progress; the screens read it, the app writes it."""
        self._last_active = 0.0
        self._kernel: Any = None
        self.set_reactive(TutorApp.kernel_info, KernelInfo("starting" if autostart_kernel else "stopped"))
        self._client: Any = None
        self.course: list[Lesson | BrokenLesson] = []
        self.start_lab: dict[str, Any] | None = None
        """Options of a training lab to open at start (`llm-tutor train MODEL`)."""
        self.freeze_timer: Any = None
        """The pending `freeze_heap` pass, None when none is due."""
        self._closed_screens: list[weakref.ref[Screen]] = []
        """Screens popped and not yet collected: the heap is frozen again until they are gone."""
        self._freeze_retries = 0

    # -- start and stop ----------------------------------------------------------------------

    def get_default_screen(self) -> Screen:
        """The lesson list is the app's base screen."""
        self.course = load_course(self.lessons_dir, self.lang)
        return LessonListScreen(self.course, self.lang, self.progress)

    def on_mount(self) -> None:
        if self.start_lesson:
            self.open_lesson_key(self.start_lesson)
        self.call_after_refresh(self.start_progress)
        if self.start_lab is not None:
            self.open_lab(**self.start_lab)
        if self.autostart_kernel:
            self.call_after_refresh(self.start_kernel)
        self.freeze_heap_soon()

    time_tick: float = 30.0
    """Time spent is counted in steps of this many seconds..."""
    idle_after: float = 120.0
    """...while the learner did something (a key, a move, an edit) in the last this many seconds."""

    def start_progress(self) -> None:
        """After the first paint: open the progress, show it in the list, reopen the last lesson.

        The store (and its modules) load after the list is on screen, as the kernel does; a lesson
        opened sooner (`llm-tutor LESSON`, or a very quick Enter) opens it on the spot instead.
        """
        session = self.progress.open()
        self._last_active = time.monotonic()
        self.set_interval(self.time_tick, self._count_time)
        last = self.progress.last_lesson_id()
        for screen in self.screen_stack:
            if isinstance(screen, LessonListScreen):
                screen.post_message(msg.ProgressRefreshed(session.summary if session else None, cursor_key=last))
        if not self.start_lesson and len(self.screen_stack) == 1 and last is not None:
            self.resume_lesson(last)

    def resume_lesson(self, lesson_id: str) -> None:
        """Bare `llm-tutor`: reopen the lesson the learner had open last (its last cell is focused)."""
        lesson = next((i for i in self.course if isinstance(i, Lesson) and i.id == lesson_id), None)
        if lesson is not None:
            self.open_lesson_key(lesson.id)
            self.notify(t(self.lang, "resumed", lesson=lesson.title), timeout=5, markup=False)

    FREEZE_DELAY_S = 1.0
    FREEZE_RETRIES = 10
    """Further freeze passes while a popped screen is still alive (its removal is asynchronous)."""

    def freeze_heap_soon(self) -> None:
        """Freeze the heap once the screen just built has settled (screens call this when they mount)."""
        if self.freeze_timer is not None:
            self.freeze_timer.stop()
        self.freeze_timer = self.set_timer(self.FREEZE_DELAY_S, self.freeze_heap)

    def freeze_heap(self) -> None:
        """Collect, then hand every object alive now (modules, widgets, styles) to `gc.freeze()`.

        The app keeps tens of thousands of long-lived objects; without this, each full collection
        walks them all and stalls the UI for 60-110 ms every few seconds while it is busy (measured in
        the lab while switching tabs during training), which is what a key press then waits for.
        Frozen, a full collection takes 2-4 ms. Each call unfreezes and collects first (one full pass,
        right after a screen opened or closed), so what dies later is not kept forever.
        """
        self.freeze_timer = None
        gc.unfreeze()  # what was frozen before and has died since (a closed screen's cycles) is collected now
        gc.collect()
        gc.freeze()
        # A popped screen is removed by tasks of its own; on a busy machine they may not have let go of it by
        # now, and frozen it would stay until the next screen change. Pass again until it is gone (bounded:
        # a screen something really keeps must not cost a full collection every second).
        self._closed_screens = [ref for ref in self._closed_screens if ref() is not None]
        if self._closed_screens and self._freeze_retries < self.FREEZE_RETRIES:
            self._freeze_retries += 1
            self.freeze_heap_soon()
        else:
            self._closed_screens.clear()
            self._freeze_retries = 0

    def pop_screen(self) -> Any:
        closed = self.screen
        result = super().pop_screen()
        self._closed_screens.append(weakref.ref(closed))
        self._freeze_retries = 0
        self.freeze_heap_soon()  # the closed screen's widgets are garbage in cycles: let a collection see them
        return result

    @property
    def kernel(self) -> Any:
        """The `KernelManager` (created on first use: the kernel modules load after the first paint)."""
        if self._kernel is None:
            from llm_tutor.engine.kernel import KernelClient, KernelManager

            self._kernel = KernelManager(self._from_kernel_thread, self.device, env=self.kernel_env)
            self._client = KernelClient(self._kernel)
        return self._kernel

    @property
    def kernel_if_made(self) -> Any:
        """The `KernelManager`, or None before the first use (for ending it without making one)."""
        return self._kernel

    @property
    def client(self) -> Any:
        """The `KernelClient` that sends requests to the kernel."""
        if self._client is None:
            self.kernel  # noqa: B018 - creates both
        return self._client

    def start_kernel(self) -> None:
        self.kernel.start()
        self.sync_status()

    def on_unmount(self) -> None:
        self.progress.close()
        if self._kernel is not None:
            self._kernel.shutdown(timeout=1.0)

    # -- lessons -----------------------------------------------------------------------------

    def open_lesson_key(self, key: str) -> None:
        """Open a lesson by id (or a broken lesson's row key, or a lesson file path)."""
        # the lesson screen's widgets (editor, Markdown) load on first use, not before the first paint
        from llm_tutor.tui.screens.lesson import LessonScreen
        from llm_tutor.tui.screens.lesson_error import LessonErrorScreen

        if key.startswith("broken:"):
            path = key.removeprefix("broken:")
            item = next((i for i in self.course if isinstance(i, BrokenLesson) and str(i.path) == path), None)
            self.push_screen(LessonErrorScreen(str(item.error) if item else path, self.lang))
            return
        lesson = next((i for i in self.course if isinstance(i, Lesson) and i.id == key), None)
        if lesson is None:
            try:
                lesson = find_lesson(key, self.lessons_dir, self.lang)
            except LessonError as exc:
                self.push_screen(LessonErrorScreen(str(exc), self.lang))
                return
            except KeyError:
                self.notify(f"unknown lesson: {key}", severity="error")
                return
        self.push_screen(LessonScreen(lesson, self.lang, self.progress))

    def open_lab(self, model: str = "gpt", **options: Any) -> None:
        """Open the training lab (from the lesson list, the train-a-gpt lesson, or `llm-tutor train`)."""
        from llm_tutor.tui.screens.lab import LabScreen

        options.setdefault("device", self.device)
        self.push_screen(LabScreen(model, lang=self.lang, data_dir=self.data_dir, **options))

    def switch_language(self) -> None:
        """Switch between English and Turkish, reopening the same lesson if one is open."""
        self.lang = "tr" if self.lang == "en" else "en"
        translate_bindings(self, self.lang)
        from llm_tutor.tui.screens.lesson import LessonScreen

        current = self.screen.lesson.id if isinstance(self.screen, LessonScreen) else None
        self.course = load_course(self.lessons_dir, self.lang)
        while len(self.screen_stack) > 1:
            self.pop_screen()
        base = self.screen_stack[0]
        if isinstance(base, LessonListScreen):
            base.set_course(self.course, self.lang)
        if current:
            self.open_lesson_key(current)

    # -- kernel ------------------------------------------------------------------------------

    def _from_kernel_thread(self, event: Any) -> None:
        """Called on the kernel's reader thread: hand the event to the UI thread as a message."""
        self.post_message(msg.KernelEvent(event))

    def on_kernel_event(self, message: msg.KernelEvent) -> None:
        """Tell the learner if the kernel died, and post the event on to every screen (those that run
        cells handle it)."""
        from llm_tutor.engine.kernel import protocol
        from llm_tutor.engine.kernel import KernelDied

        event = message.event
        if isinstance(event, KernelDied):
            reason = exit_reason(self.lang, "kernel", event.exitcode)
            if event.limit:  # the lab's sandbox named the limit (English, as the server's other messages)
                reason += f": {event.limit}"
            self.notify(t(self.lang, "kernel_died", reason=reason, key="K"), severity="error", timeout=10)
        for screen in self.screen_stack:
            screen.post_message(msg.KernelEvent(event))
        if isinstance(event, (protocol.Status, protocol.Ready, KernelDied)):
            self.sync_status()

    def sync_status(self) -> None:
        """Publish the kernel's state and device in `kernel_info` (every status bar watches it)."""
        kernel = self._kernel
        if kernel is None:
            self.kernel_info = KernelInfo("starting" if self.autostart_kernel else "stopped")
            return
        ready = kernel.ready
        if ready is not None:
            self.kernel_info = KernelInfo(kernel.state, ready.device, f"torch {ready.torch_version}")
        else:
            self.kernel_info = KernelInfo(kernel.state, self.device if self.device != "auto" else "")

    INTERRUPT_NOTICE_S = 3.0
    """After an interrupt, how long a cell may take to stop before the learner is told it did not."""

    def interrupt_kernel(self) -> None:
        self.kernel.interrupt()
        running = self.kernel.current
        if self.kernel.state == "busy" and running:
            self.set_timer(self.INTERRUPT_NOTICE_S, lambda: self._interrupt_ignored(running))

    def _interrupt_ignored(self, request: str) -> None:
        """A cell that catches KeyboardInterrupt (or ignores SIGINT) runs on: say what is left to do."""
        kernel = self._kernel
        if kernel is not None and kernel.state == "busy" and kernel.current == request:
            self.notify(t(self.lang, "interrupt_ignored", key="K"), severity="warning", timeout=10)

    def restart_kernel(self) -> None:
        self.kernel.restart()
        self.sync_status()

    # -- what the learner did (messages from the screens) -------------------------------------

    def on_draft_changed(self, message: msg.DraftChanged) -> None:
        self._last_active = time.monotonic()
        session = self.progress.open()
        if session is not None:
            session.save_draft(message.lesson, message.exercise_id, message.code)

    def on_attempt_checked(self, message: msg.AttemptChecked) -> None:
        session = self.progress.open()
        if session is not None:
            session.record_attempt(message.lesson, message.exercise_id, message.passed, message.code, message.draft)

    def on_hint_shown(self, message: msg.HintShown) -> None:
        session = self.progress.open()
        if session is not None:
            session.record_hint(message.lesson, message.exercise_id, message.shown)

    def on_exercise_reset(self, message: msg.ExerciseReset) -> None:
        session = self.progress.open()
        if session is not None:
            session.reset_exercise(message.lesson, message.exercise)

    def on_predict_answered(self, message: msg.PredictAnswered) -> None:
        session = self.progress.open()
        if session is not None:
            session.record_predict(message.lesson, message.predict_id, message.answer)

    def on_position_changed(self, message: msg.PositionChanged) -> None:
        session = self.progress.open()
        if session is not None:
            session.record_position(message.lesson, message.block_id)

    def on_exercise_file_asked(self, message: msg.ExerciseFileAsked) -> None:
        session = self.progress.open()
        if session is not None:
            session.check_file(message.lesson.id, message.exercise_id, message.lesson.lang)

    def on_lesson_mounted(self, message: msg.LessonMounted) -> None:
        """A lesson opened: files for its exercises, a prerequisite hint; its widgets out of the collector's way."""
        self.freeze_heap_soon()
        session = self.progress.open()
        if session is None:
            return
        lesson = message.lesson
        session.ensure_files(lesson)
        session.record_position(lesson, None)
        missing = [p for p in lesson.prerequisites if session.lesson_status(p) != "completed"]
        titles = [i.title for p in missing for i in self.course if isinstance(i, Lesson) and i.id == p]
        if titles:
            self.notify(t(self.lang, "prereq_suggest", lessons=", ".join(titles)), timeout=8, markup=False)

    def on_screen_mounted(self, message: msg.ScreenMounted) -> None:
        self.freeze_heap_soon()  # the screen's widgets are long-lived: out of the collector's way

    def on_lesson_list_resumed(self, message: msg.LessonListResumed) -> None:
        """The lesson list is shown again: recount after the writes of the lesson just left."""
        if self.progress.session is not None:
            self.progress.session.mark_stale()
            self.progress.session.refresh(self.course)

    def on_key(self, event: events.Key) -> None:
        self._last_active = time.monotonic()

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        self._last_active = time.monotonic()

    def _count_time(self) -> None:
        """Add a tick to the open lesson (and the exercise the learner is on) unless they are away."""
        from llm_tutor.tui.screens.lesson import LessonScreen

        session = self.progress.session
        if session is None or time.monotonic() - self._last_active > self.idle_after:
            return
        screen = next((s for s in reversed(self.screen_stack) if isinstance(s, LessonScreen)), None)
        if screen is not None:
            session.add_time(screen.lesson.id, self.time_tick, screen.focused_exercise_id())

    # -- what came back from the progress ----------------------------------------------------

    def on_store_noticed(self, message: msg.StoreNoticed) -> None:
        self.notify(
            message.message,
            title=message.title,
            severity=SEVERITY.get(message.level, "warning"),
            timeout=NOTICE_TIMEOUT.get(message.level, 12.0),
            markup=False,
        )

    def on_progress_refreshed(self, message: msg.ProgressRefreshed) -> None:
        if self.progress.session is not None:
            self.progress.session.summary = message.summary
        for screen in self.screen_stack:
            if isinstance(screen, LessonListScreen):
                screen.post_message(msg.ProgressRefreshed(message.summary))

    def on_workspace_file_changed(self, message: msg.WorkspaceFileChanged) -> None:
        """A file saved in the learner's own editor is the newest code: the lesson showing it checks it."""
        from llm_tutor.tui.screens.lesson import LessonScreen

        for screen in self.screen_stack:
            if not isinstance(screen, LessonScreen):
                continue
            lesson = screen.lesson
            saved = message.saved
            if lesson.id == saved.lesson_id and lesson.lang == saved.lang:
                if self.progress.session is not None:
                    self.progress.session.file_shown(lesson, saved.exercise_id, saved.code)
                screen.post_message(msg.WorkspaceFileChanged(saved))

    # -- actions -----------------------------------------------------------------------------

    def action_help(self) -> None:
        from llm_tutor.tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen, self.lang))

    async def action_quit(self) -> None:
        self.exit(0)


def make_app(
    lesson: str | None = None,
    lang: str = "en",
    device: str = "auto",
    lessons_dir: Path | None = None,
    data_dir: Path | None = None,
    low_bandwidth: bool = False,
    **kwargs: Any,
) -> TutorApp:
    """The app as the CLI opens it; tests and the snapshot suite use the same factory."""
    if not low_bandwidth and is_remote():
        low_bandwidth = True
    return TutorApp(
        lesson=lesson,
        lang=lang,
        device=device,
        lessons_dir=lessons_dir,
        data_dir=data_dir,
        low_bandwidth=low_bandwidth,
        **kwargs,
    )

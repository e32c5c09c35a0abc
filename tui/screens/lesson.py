"""Provides `LessonScreen`: prose and runnable cells of one lesson, with the inspector panel beside them."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.actions import SkipAction
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Markdown, Static

from llm_tutor.engine.course.lesson import Cell, Exercise, Lesson, Predict, Prose, Show
from llm_tutor.tui import messages as msg
from llm_tutor.tui.i18n import t, translate_bindings
from llm_tutor.tui.host import host
from llm_tutor.tui.progress import LearnerProgress
from llm_tutor.tui.screens.lesson_blocks import block_id, explanation, find_block, meant_exercise, scroll_to
from llm_tutor.tui.screens.confirm import ConfirmScreen
from llm_tutor.tui.screens.lesson_run import LessonRun
from llm_tutor.tui.widgets.inspect.inspector import INSPECT_BINDINGS, InspectorPanel
from llm_tutor.tui.widgets.lesson.cell import CellView, code_view
from llm_tutor.tui.widgets.lesson.exercise import ExerciseView
from llm_tutor.tui.widgets.lesson.predict import PredictView
from llm_tutor.tui.widgets.status import KernelStatus
from llm_tutor.tui.widgets.footer import KeyFooter

WIDE = 110
"""At this width and above the side panel shows beside the lesson; below, `v` shows it in the lesson's place."""


class LessonScreen(LessonRun, Screen[None]):
    """One lesson: Markdown prose with cells, predict questions and exercises in place."""

    AUTO_FOCUS = ""
    """The first focus is set on mount: Textual's own would focus the scroll area first (after compose), and
    focusing it, then leaving it, restyled every widget of the lesson twice."""

    # The keys that move the focus (j, k, r and Enter, e) act as soon as they are read (priority), on a block:
    # keys typed right after them go where they moved it. As ordinary bindings they ran only once the key had
    # bubbled up to the app, and a key read with them ("j(3, 3)" typed fast, or a batch over SSH) went to the
    # block they left.
    BINDINGS = [
        Binding("r,enter", "run_cell", "Run", id="lesson.run", priority=True),
        Binding("a", "run_all", "Run all", id="lesson.run_all"),
        Binding("i", "interrupt", "Interrupt", id="lesson.interrupt"),
        Binding("K", "restart_kernel", "Restart kernel", id="lesson.restart"),
        Binding("j", "next_block", "Next cell", show=False, id="lesson.next", priority=True),
        Binding("k", "previous_block", "Previous cell", show=False, id="lesson.previous", priority=True),
        # the arrows stay ordinary: on a block the lesson's scroll area takes them first and scrolls, as before
        Binding("down", "next_block", "Next cell", show=False, id="lesson.next"),
        Binding("up", "previous_block", "Previous cell", show=False, id="lesson.previous"),
        Binding("e", "edit", "Edit exercise", show=False, id="lesson.edit", priority=True),
        Binding("c", "check", "Check exercise", show=False, id="lesson.check"),
        Binding("h", "hint", "Hint", show=False, id="lesson.hint"),
        Binding("s", "solution", "Show solution", show=False, id="lesson.solution"),
        Binding("x", "reset_exercise", "Reset exercise to starter (asks first)", show=False, id="lesson.reset"),
        Binding("p", "copy_exercise_path", "Copy the exercise file's path", show=False, id="lesson.file_path"),
        Binding("f", "check_exercise_file", "Check the exercise file", show=False, id="lesson.check_file"),
        Binding("v", "toggle_panel", "Panel", id="lesson.panel"),
        Binding("L", "switch_language", "Language", show=False, id="app.language"),
        Binding("escape", "back", "Lessons", id="lesson.back"),
        Binding("T", "open_lab", "Training lab", id="lesson.lab"),
        Binding("T", "open_lab_here", "Training lab", show=False, id="lesson.lab_any"),
        *INSPECT_BINDINGS,
    ]

    def __init__(self, lesson: Lesson, lang: str, progress: LearnerProgress) -> None:
        super().__init__()
        self.lesson = lesson
        self.lang = lang
        self.progress = progress
        """Where the lesson reads how the learner left it (it tells the app what they do by messages)."""
        translate_bindings(self, lang)
        self.namespace = f"{lesson.lang}:{lesson.id}"
        self.pending: dict[str, Widget] = {}
        self.finished: dict[str, Widget] = {}
        """Cells by the request that ran them, for output a thread prints after its cell ended."""
        self.run_queue: list[CellView] = []
        self.panel_forced: bool | None = None
        self._last_block: Widget | None = None

    # -- layout ------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(Text(f"{self.lesson.title}", style="bold"), id="title")
        with Horizontal(id="body"):
            with VerticalScroll(id="content"):
                yield from self._segments()
            yield InspectorPanel(self.lang, self.namespace, id="side")
        yield KernelStatus(self.lang, id="kernel-status")
        yield KeyFooter()

    def _segments(self) -> ComposeResult:
        answers = self.progress.predict_answers(self.lesson)
        previous: object = None
        for seg in self.lesson.segments:
            explains, rest = explanation(seg.text) if isinstance(seg, Prose) and isinstance(previous, Predict) else ("", "")
            if explains and isinstance(previous, Predict):
                # the paragraph right after a question explains its answer: it waits for the answer
                yield Static(t(self.lang, "explained_after"), classes="explains-note", id=f"explains-note-{previous.id}")
                yield Markdown(explains, classes="prose explains", id=f"explains-{previous.id}")
                if rest:
                    yield Markdown(rest, classes="prose")
            elif isinstance(seg, Prose):
                yield Markdown(seg.text, classes="prose")
            elif isinstance(seg, Show):
                yield Static(code_view(seg.code), classes="show-code")
            elif isinstance(seg, Predict):
                yield PredictView(seg.id, seg.code, self.lang, fixed_answer=seg.answer, earlier_answer=answers.get(seg.id, ""),
                                  id=f"cell-{seg.id}", classes="block")
            elif isinstance(seg, Cell):
                yield CellView(seg.id, seg.code, self.lang, raises=seg.raises, id=f"cell-{seg.id}", classes="block")
            elif isinstance(seg, Exercise):
                saved = self.progress.exercise(self.lesson, seg.id)
                yield ExerciseView(seg, self.lang, id=f"exercise-{seg.id}", classes="block", **vars(saved))
            previous = seg

    def reveal_explanation(self, predict_id: str) -> None:
        """A question was answered (now or in an earlier session): show the prose that explains it."""
        for prose in self.query(f"#explains-{predict_id}"):
            prose.display = True
        for note in self.query(f"#explains-note-{predict_id}"):
            note.display = False

    def on_mount(self) -> None:
        self._apply_width(self.size.width or self.app.size.width)
        blocks = self.blocks()
        if blocks:
            self.set_focus(blocks[0], scroll_visible=False)  # the lesson's title stays in view
        else:
            self.focus_next()  # the scroll area, or the panel
        self._restore()
        self.post_message(msg.LessonMounted(self.lesson))

    def _restore(self) -> None:
        """As the learner left it: answered questions explained, the last block focused and in view."""
        for predict_id in self.progress.predict_answers(self.lesson):
            self.reveal_explanation(predict_id)  # answered in an earlier session
        last = self.progress.last_cell(self.lesson)
        target = find_block(self, last) if last else None
        if target is not None:
            self.set_focus(target, scroll_visible=False)
            scroll_to(self, target)

    def on_resize(self, event: Any) -> None:
        self._apply_width(event.size.width)

    def _apply_width(self, width: int) -> None:
        wide = width >= WIDE
        show = wide if self.panel_forced is None else self.panel_forced
        side = self.query_one("#side", InspectorPanel)
        side.display = show
        if show:  # what ran while it was hidden: asked once laid out, not left to the Show event's timing
            side.call_after_refresh(side.ask_if_stale)
        side.set_class(not wide, "-overlay")  # narrow: the panel takes the lesson's place
        self.query_one("#content").display = wide or not show

    def blocks(self) -> list[Widget]:
        return list(self.query(".block").results(Widget))

    def focused_exercise_id(self) -> str | None:
        """The exercise the learner is on (time spent counts for it), if any."""
        block = self.focused_block()
        return block.exercise.id if isinstance(block, ExerciseView) else None

    def focused_block(self) -> Widget | None:
        node = self.focused
        while node is not None:
            if isinstance(node, (CellView, ExerciseView)):
                return node
            node = node.parent  # type: ignore[assignment]
        return None

    # -- actions -----------------------------------------------------------------------------

    def _on_a_block(self) -> None:
        """The priority keys act on a block (or where nothing is focused yet): inside an answer box, an editor or
        the panel they are that widget's keys (typed, moving its cursor), so the action is skipped."""
        focused = self.focused
        if not (focused is None or isinstance(focused, (CellView, ExerciseView)) or focused.id == "content"):
            raise SkipAction()

    def action_next_block(self) -> None:
        self._on_a_block()
        self._move(1)

    def action_previous_block(self) -> None:
        self._on_a_block()
        self._move(-1)

    def _move(self, step: int) -> None:
        blocks = self.blocks()
        if not blocks:
            return
        current = self.focused_block()
        index = blocks.index(current) + step if current in blocks else 0
        index = max(0, min(len(blocks) - 1, index))
        # at once, not after the next refresh: keys typed ahead ("r r") act on the cell moved to
        self.set_focus(blocks[index], scroll_visible=False)
        blocks[index].scroll_visible(top=False, animate=False)  # a jump, as j in an editor: no frames to draw between

    def action_run_cell(self) -> None:
        self._on_a_block()
        block = self.focused_block()
        if isinstance(block, PredictView):
            self.set_focus(block.query_one("Input"))  # now: the answer typed right after goes into the box
        elif isinstance(block, CellView):
            self.run_cells([block])
            self._move(1)
        elif isinstance(block, ExerciseView):
            block.edit()

    def action_run_all(self) -> None:
        views = [b for b in self.blocks() if isinstance(b, CellView) and not isinstance(b, PredictView)]
        self.run_cells(views)

    def action_edit(self) -> None:
        self._on_a_block()
        block = self.focused_block()
        if isinstance(block, ExerciseView):
            block.edit()

    def action_check(self) -> None:
        block = self.focused_block()
        if isinstance(block, ExerciseView):
            self.check_exercise(block)

    def action_hint(self) -> None:
        block = self.focused_block()
        if isinstance(block, ExerciseView):
            block.reveal_hint()

    @on(ExerciseView.HintRevealed)
    def _hint_revealed(self, message: ExerciseView.HintRevealed) -> None:
        self.post_message(msg.HintShown(self.lesson, message.view.exercise.id, message.shown))

    @on(PredictView.Revealed)
    def _predict_revealed(self, message: PredictView.Revealed) -> None:
        self.reveal_explanation(message.view.cell_id)

    def action_solution(self) -> None:
        block = self.focused_block()
        if isinstance(block, ExerciseView):
            block.show_solution()

    def action_reset_exercise(self) -> None:
        block = self.focused_block()
        if not isinstance(block, ExerciseView):
            return
        name = block.file_path.rsplit("/", 1)[-1]
        body = t(self.lang, "reset_body", bak=f"{name}.bak") if name else t(self.lang, "reset_body_nofile")

        def done(confirmed: bool | None) -> None:
            if not confirmed:
                self.app.notify(t(self.lang, "reset_cancelled"))
                return
            self.post_message(msg.ExerciseReset(self.lesson, block.exercise))
            block.reset_to_starter()
            self.app.notify(t(self.lang, "starter_reset"))

        dialog = ConfirmScreen(t(self.lang, "reset_title"), body, t(self.lang, "reset_keys"), yes_keys=("x", "y"))
        self.app.push_screen(dialog, done)

    def action_toggle_panel(self) -> None:
        """From the lesson: show the panel and move into it; from inside the panel: hide it."""
        panel = self.query_one(InspectorPanel)
        if panel.display and panel.has_focus_within:
            self.panel_forced = False
            self._apply_width(self.size.width)
            self._focus_lesson()
        else:
            self.reveal_panel().focus_variables()

    @on(InspectorPanel.GradientCheckMade)
    def _gradient_check_made(self) -> None:
        self.reveal_panel()  # a gradient check the lesson just ran: the panel opens on it

    def reveal_panel(self) -> InspectorPanel:
        """Show the inspector (in the lesson's place when narrow) and return it."""
        panel = self.query_one(InspectorPanel)
        if not panel.has_focus_within:
            self._last_block = self.focused_block()
        if not panel.display:
            self.panel_forced = True
            self._apply_width(self.size.width)
            if panel.has_class("-overlay"):
                panel.focus_variables()
        return panel

    def _focus_lesson(self) -> None:
        block = self._last_block
        if block is None or not block.is_mounted:
            blocks = self.blocks()
            block = blocks[0] if blocks else None
        if block is not None:
            block.focus(scroll_visible=False)

    @on(InspectorPanel.Leave)
    def _leave_panel(self, message: InspectorPanel.Leave) -> None:
        if self.query_one(InspectorPanel).has_class("-overlay"):
            self.panel_forced = False
            self._apply_width(self.size.width)
        self._focus_lesson()

    def action_inspect(self, what: str) -> None:
        self.reveal_panel().show_view(what)

    def action_slice(self, step: int, outer: bool = False) -> None:
        self.query_one(InspectorPanel).step_slice(step, outer)

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_open_lab(self) -> None:
        host(self).open_lab("gpt")

    action_open_lab_here = action_open_lab

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """T opens the lab from any lesson; its footer entry shows in the lesson that trains a GPT."""
        if action in ("open_lab", "open_lab_here"):
            return (self.lesson.id == "train-a-gpt") == (action == "open_lab")
        return True

    def action_switch_language(self) -> None:
        host(self).switch_language()

    # -- messages from widgets -----------------------------------------------------------------

    @on(PredictView.Answered)
    def _predict_answered(self, message: PredictView.Answered) -> None:
        self.run_cells([message.view])
        if message.answer:
            self.post_message(msg.PredictAnswered(self.lesson, message.view.cell_id, message.answer))

    @on(ExerciseView.CheckRequested)
    def _check_requested(self, message: ExerciseView.CheckRequested) -> None:
        self.check_exercise(message.view)

    @on(ExerciseView.Changed)
    def _exercise_changed(self, message: ExerciseView.Changed) -> None:
        self.post_message(msg.DraftChanged(self.lesson, message.view.exercise.id, message.code))

    # -- files saved in another editor, focus (the learner's position) ------------------------------

    def on_workspace_file_changed(self, message: msg.WorkspaceFileChanged) -> None:
        """A file saved in the learner's own editor is the newest code: show it and check it."""
        saved = message.saved
        for view in self.query(f"#exercise-{saved.exercise_id}").results(ExerciseView):
            if view.code != saved.code:
                view.replace_code(saved.code)
            name = saved.path.rsplit("/", 1)[-1]
            self.app.notify(t(self.lang, "file_changed", name=name), timeout=3, markup=False)
            self.check_exercise(view)

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        found = block_id(event.widget)
        if found is not None:
            self.post_message(msg.PositionChanged(self.lesson, found))

    def action_copy_exercise_path(self) -> None:
        """Copy the exercise file's path to the clipboard (and show it)."""
        view = meant_exercise(self)
        if view is None or self.progress.session is None:
            return
        path, problem = self.progress.exercise_file(self.lesson, view.exercise.id)
        if not path:
            self.app.notify(t(self.lang, "workspace_unavailable", reason=problem), markup=False)
            return
        self.app.copy_to_clipboard(path)
        self.app.notify(t(self.lang, "copied_path", path=path), timeout=10, markup=False)

    def action_check_exercise_file(self) -> None:
        """Load the exercise's file and check it (where the file watcher cannot see saves)."""
        view = meant_exercise(self)
        if view is None or self.progress.session is None:
            return
        path = self.progress.session.workspace_path(self.lesson.id, view.exercise.id, self.lesson.lang)
        if path is None or not path.exists():
            self.app.notify(t(self.lang, "no_file", path=str(path or "")), severity="warning", markup=False)
            return
        self.post_message(msg.ExerciseFileAsked(self.lesson, view.exercise.id))

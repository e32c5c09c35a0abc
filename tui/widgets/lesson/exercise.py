"""Provides `ExerciseView`: an exercise's editor, its check results (expected vs got) and graded hints."""

from __future__ import annotations

from rich.markdown import Markdown as RichMarkdown
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Static, TextArea

from llm_tutor.engine import protocol
from llm_tutor.engine.lesson import Exercise
from llm_tutor.tui.i18n import t, translate_bindings
from llm_tutor.tui.widgets.lesson.cell import code_view

SOLUTION_AFTER_ATTEMPTS = 3


class CodeEditor(TextArea):
    """The exercise editor: Python, line numbers, Tab indents; Escape leaves it."""

    BINDINGS = [
        Binding("ctrl+r", "check", "Check", id="exercise.check"),
        Binding("ctrl+t", "hint", "Hint", id="exercise.hint"),
        Binding("escape", "leave", "Leave editor", id="exercise.leave"),
    ]

    def on_mount(self) -> None:
        translate_bindings(self, getattr(self._exercise_view(), "lang", "en"))

    def action_check(self) -> None:
        self.post_message(ExerciseView.CheckRequested(self._exercise_view()))

    def action_hint(self) -> None:
        self._exercise_view().reveal_hint()

    def action_leave(self) -> None:
        self._exercise_view().focus()

    def _exercise_view(self) -> ExerciseView:
        return self.query_ancestor(ExerciseView)


class ExerciseView(Vertical, can_focus=True):
    """An exercise in the lesson: edit the starter, check it in the kernel, reveal hints one by one."""

    class CheckRequested(Message):
        """The learner asked to check their code: the screen sends it to the kernel."""

        def __init__(self, view: ExerciseView) -> None:
            super().__init__()
            self.view = view

    class Changed(Message):
        """The learner edited the code (for draft saving)."""

        def __init__(self, view: ExerciseView, code: str) -> None:
            super().__init__()
            self.view = view
            self.code = code

    state: reactive[str] = reactive("idle")
    """"idle", "running", "passed", "failed"."""

    def __init__(self, exercise: Exercise, lang: str = "en", draft: str | None = None, hints_shown: int = 0,
                 attempts: int = 0, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.exercise = exercise
        self.lang = lang
        self.draft = draft
        self.hints_shown = hints_shown
        self.attempts = attempts
        self.request_id = ""
        self.passed_once = False
        self.hints_text = ""
        """The revealed hints, as the Markdown shown."""

    @property
    def code(self) -> str:
        return self.query_one(CodeEditor).text

    def compose(self) -> ComposeResult:
        yield Static(Text(f"✎ {t(self.lang, 'exercise')}: {self.exercise.title}", style="bold"), classes="exercise-title")
        editor = CodeEditor(self.draft if self.draft is not None else self.exercise.starter, language=None,
                            show_line_numbers=True, tab_behavior="indent", classes="exercise-editor")
        yield editor
        yield Static("", classes="exercise-result")
        yield Static("", classes="exercise-hints")
        yield Static("", classes="exercise-solution")

    def on_mount(self) -> None:
        try:
            self.query_one(CodeEditor).language = "python"
        except Exception:  # noqa: BLE001 - highlighting needs tree-sitter; plain text works too
            pass
        for cls in (".exercise-result", ".exercise-hints", ".exercise-solution"):
            self.query_one(cls, Static).display = False
        if self.hints_shown:
            self._show_hints()

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        event.stop()
        self.post_message(self.Changed(self, event.text_area.text))

    def watch_state(self, old: str, new: str) -> None:
        self.remove_class(f"-{old}")
        self.add_class(f"-{new}")

    # -- hints, reset, solution ------------------------------------------------------------------

    def reveal_hint(self) -> int:
        """Show one more hint; returns how many are shown."""
        total = len(self.exercise.hints)
        if self.hints_shown < total:
            self.hints_shown += 1
        elif total:
            self.app.notify(t(self.lang, "no_more_hints"))
        self._show_hints()
        return self.hints_shown

    def _show_hints(self) -> None:
        widget = self.query_one(".exercise-hints", Static)
        parts = []
        total = len(self.exercise.hints)
        for i, hint in enumerate(self.exercise.hints[: self.hints_shown], start=1):
            parts.append(f"**{t(self.lang, 'hint_n', n=i, total=total)}.** {hint}")
        self.hints_text = "\n\n".join(parts)
        widget.update(RichMarkdown(self.hints_text))
        widget.display = bool(parts)

    def reset_to_starter(self) -> None:
        self.query_one(CodeEditor).load_text(self.exercise.starter)

    def show_solution(self) -> bool:
        """Show the solution if it is unlocked (after a pass or several attempts)."""
        if not (self.passed_once or self.attempts >= SOLUTION_AFTER_ATTEMPTS):
            self.app.notify(t(self.lang, "solution_locked", n=SOLUTION_AFTER_ATTEMPTS))
            return False
        widget = self.query_one(".exercise-solution", Static)
        widget.update(code_view(self.exercise.solution))
        widget.display = True
        return True

    # -- checks ----------------------------------------------------------------------------------

    def start(self, request_id: str) -> None:
        self.request_id = request_id
        self.state = "running"
        widget = self.query_one(".exercise-result", Static)
        widget.update(Text(t(self.lang, "running")))
        widget.display = True

    def show_check_result(self, result: protocol.CheckResult) -> None:
        self.attempts += 1
        widget = self.query_one(".exercise-result", Static)
        text = Text()
        if result.passed:
            self.passed_once = True
            text.append("✓ " + t(self.lang, "passed"), style="bold")
        elif result.error is not None:
            err = result.error
            for line in err.traceback:
                text.append(line + "\n", style="dim")
            text.append(f"✗ {err.ename}: {err.evalue}", style="bold")
            if err.hint:
                text.append(f"\n→ {err.hint}")
        else:
            failed = [e for e in result.expectations if not e.passed]
            total = len(result.expectations)
            text.append("✗ " + t(self.lang, "failed", n=len(failed), total=total) + "\n", style="bold")
            for e in failed:
                text.append(f"  • {e.label}: ", style="bold")
                text.append(f"{t(self.lang, 'expected')} {e.expected}, {t(self.lang, 'got')} {e.got}")
                if e.detail:
                    text.append(f"  ({e.detail})", style="dim")
                text.append("\n")
        widget.update(text)
        widget.display = True
        self.state = "passed" if result.passed else "failed"

    def show_died(self, reason: str) -> None:
        widget = self.query_one(".exercise-result", Static)
        widget.update(Text(reason, style="bold"))
        widget.display = True
        self.state = "failed"

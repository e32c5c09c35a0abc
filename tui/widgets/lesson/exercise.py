"""Provides `ExerciseView`: an exercise's editor, its check results (expected vs got) and graded hints.

It also shows where the learner stands (solved, attempts, hints) and the exercise's file in the
workspace, for the learner's own editor.
"""

from __future__ import annotations

import os

from rich.console import Group
from rich.markdown import Markdown as RichMarkdown
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Static, TextArea

from llm_tutor.engine.kernel import protocol
from llm_tutor.engine.grading.feedback import REVEAL_AFTER_ATTEMPTS, reveals_answer
from llm_tutor.engine.course.lesson import Exercise
from llm_tutor.tui.i18n import error_hint, t, translate_bindings
from llm_tutor.tui.widgets.lesson.cell import code_view

SOLUTION_AFTER_ATTEMPTS = 3


def _short_path(path: str) -> str:
    """`path` with the home folder as ``~`` (`p` copies the full path)."""
    home = os.path.expanduser("~")
    if home not in ("", "/") and path.startswith(home + os.sep):
        return "~" + path[len(home):]
    return path


def expectation_line(e: protocol.Expectation, lang: str, reveal: bool) -> Text:
    """One failed expectation: what is wrong and what the code gave; the expected value only when `reveal`
    (or when it is part of the task, such as a shape)."""
    label = t(lang, "check_label") if e.label in ("check", "checks") else e.label
    text = Text(f"  • {label}: ", style="bold")
    if not e.diagnosis:  # a kernel from before diagnoses: expected vs got
        text.append(f"{t(lang, 'got')} {e.got}")
        if reveal:
            text.append(f" · {t(lang, 'expected')} {e.expected}")
        return text
    text.append(diagnosis_text(lang, e.diagnosis, e.args))
    if e.diagnosis not in ("missing",):
        text.append(f"; {t(lang, 'got')} {e.got}")
    if e.diagnosis != "missing" and (reveal or not reveals_answer(e.diagnosis)):
        text.append(f" · {t(lang, 'expected')} {e.expected}")
    return text


def diagnosis_text(lang: str, diagnosis: str, args: dict[str, str]) -> str:
    """A check's diagnosis (`engine.grading.feedback`) in the learner's language."""
    from llm_tutor.engine.grading.feedback import describe

    name = f"diag_{diagnosis}"
    return t(lang, name, **args) if name != t(lang, name) else describe(diagnosis, args)


class CodeEditor(TextArea):
    """The exercise editor: Python, line numbers, Tab indents; Escape leaves it.

    Tab and shift+Tab move between the lesson's blocks and panels everywhere else, so the editor is
    entered on purpose (`e` or Enter on the exercise, or a click) and is outside the Tab order until then.
    """

    BINDINGS = [
        Binding("ctrl+r", "check", "Check", id="exercise.check"),
        Binding("ctrl+t", "hint", "Hint", id="exercise.hint"),
        Binding("escape", "leave", "Leave editor", id="exercise.leave"),
    ]

    def on_mount(self) -> None:
        translate_bindings(self, getattr(self._exercise_view(), "lang", "en"))

    async def _on_key(self, event: events.Key) -> None:
        # With tab_behavior="indent" a TextArea moves focus on to the next widget on Escape;
        # here Escape goes back to the exercise, so j/k, c, h, s and x work from there.
        if event.key == "escape":
            event.stop()
            event.prevent_default()
            self.action_leave()
            return
        await super()._on_key(event)

    def _on_focus(self, event: events.Focus) -> None:
        self._exercise_view().editing = True  # a click enters the editor as `e` does
        super()._on_focus(event)

    def _on_blur(self, event: events.Blur) -> None:
        self._exercise_view().editing = False
        super()._on_blur(event)

    def action_check(self) -> None:
        self.post_message(ExerciseView.CheckRequested(self._exercise_view()))

    def action_hint(self) -> None:
        self._exercise_view().reveal_hint()  # its `HintRevealed` tells the screen

    def action_leave(self) -> None:
        self._exercise_view().focus()

    def _exercise_view(self) -> ExerciseView:
        return self.query_ancestor(ExerciseView)


class ExerciseView(Vertical, can_focus=True):
    """An exercise in the lesson: edit the starter, check it in the kernel, reveal hints one by one."""

    class HintRevealed(Message):
        """A hint was asked for; `shown` of the exercise's hints are visible now (the screen records it)."""

        def __init__(self, view: ExerciseView, shown: int) -> None:
            super().__init__()
            self.view = view
            self.shown = shown

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
                 attempts: int = 0, passed: bool = False, file_path: str = "", file_note: str = "",
                 **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.exercise = exercise
        self.lang = lang
        self.draft = draft
        self.hints_shown = hints_shown
        self.attempts = attempts
        self.file_path = file_path
        """The exercise's file in the workspace ('' when there is none)."""
        self.file_note = file_note
        """Why there is no file, if there is none."""
        self.request_id = ""
        self.checked_code = ""
        """The code the running (or last) check was sent with."""
        self.passed_once = passed
        self.hints_text = ""
        """The revealed hints, as the Markdown shown."""
        self.editing = False
        """The learner is in the editor (entered with `e`, Enter or a click; Escape leaves it)."""

    def allow_focus_children(self) -> bool:
        """The editor joins the Tab order only while it is being edited: Tab moves between blocks."""
        return self.editing

    def edit(self) -> None:
        """Enter the editor (Tab then indents; Escape comes back here)."""
        self.editing = True
        self.screen.set_focus(self.query_one(CodeEditor))  # now: keys typed right after go into the editor

    @property
    def code(self) -> str:
        return self.query_one(CodeEditor).text

    def compose(self) -> ComposeResult:
        yield Static(Text(f"✎ {t(self.lang, 'exercise')}: {self.exercise.title}", style="bold"), classes="exercise-title")
        yield Static(self._status_text(), classes="exercise-status")
        editor = CodeEditor(self.draft if self.draft is not None else self.exercise.starter, language=None,
                            show_line_numbers=True, tab_behavior="indent", classes="exercise-editor")
        yield editor
        yield Static("", classes="exercise-result")
        yield Static("", classes="exercise-hints")
        yield Static("", classes="exercise-solution")
        yield Static(self._file_text(), classes="exercise-file")
        yield Static(Text(t(self.lang, "exercise_keys")), classes="exercise-keys")

    def _status_text(self) -> Text:
        """"✓ solved · 3 attempts · hints 1/2", or nothing before the first check."""
        parts = []
        if self.passed_once:
            parts.append("✓ " + t(self.lang, "solved_before"))
        if self.attempts:
            parts.append(t(self.lang, "attempts_n", n=self.attempts))
        if self.hints_shown:
            parts.append(t(self.lang, "hints_n", n=self.hints_shown, total=len(self.exercise.hints)))
        return Text(" · ".join(parts))

    def _file_text(self) -> Text:
        if self.file_path:
            text = Text(t(self.lang, "workspace_line", path=_short_path(self.file_path)))
            text.append(f"  ({t(self.lang, 'workspace_help')})", style="dim")
            return text
        if self.file_note:
            return Text(t(self.lang, "workspace_unavailable", reason=self.file_note))
        return Text("")

    def _refresh_status(self) -> None:
        text = self._status_text()
        self.set_class(self.passed_once, "-solved")
        for widget in self.query(".exercise-status").results(Static):
            widget.update(text)
            widget.display = bool(text.plain)

    def on_mount(self) -> None:
        try:
            self.query_one(CodeEditor).language = "python"
        except Exception:  # noqa: BLE001 - highlighting needs tree-sitter; plain text works too
            pass
        for cls in (".exercise-result", ".exercise-hints", ".exercise-solution"):
            self.query_one(cls, Static).display = False
        self.query_one(".exercise-file", Static).display = bool(self.file_path or self.file_note)
        self._refresh_status()
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
        hints = self.query_one(".exercise-hints", Static)
        # below the open editor the newest hint is off screen: bring it into view
        self.call_after_refresh(lambda: hints.is_attached and hints.scroll_visible(animate=False))
        self.post_message(ExerciseView.HintRevealed(self, self.hints_shown))
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
        self._refresh_status()

    def reset_to_starter(self) -> None:
        """The starter back in the editor; the last verdict and the solution go with the code they were about."""
        self.query_one(CodeEditor).load_text(self.exercise.starter)
        for cls in (".exercise-result", ".exercise-solution"):
            self.query_one(cls, Static).display = False
        self.state = "idle"

    def replace_code(self, code: str) -> None:
        """Put `code` in the editor as one edit, so ctrl+z brings the previous text back."""
        editor = self.query_one(CodeEditor)
        editor.replace(code, (0, 0), editor.document.end)

    @property
    def reveals_expected(self) -> bool:
        """Whether a failed check shows the exact expected values: after several attempts, or once every
        hint is out (the last step of help). Before that it says what is wrong, not what is right."""
        hints = len(self.exercise.hints)
        return self.attempts >= REVEAL_AFTER_ATTEMPTS or (hints > 0 and self.hints_shown >= hints)

    @property
    def solution_unlocked(self) -> bool:
        return self.passed_once or self.attempts >= SOLUTION_AFTER_ATTEMPTS

    def show_solution(self) -> bool:
        """Show (or hide again) the solution if it is unlocked (after a pass or several attempts)."""
        if not self.solution_unlocked:
            self.app.notify(t(self.lang, "solution_locked", n=SOLUTION_AFTER_ATTEMPTS))
            return False
        widget = self.query_one(".exercise-solution", Static)
        if widget.display:
            widget.display = False
            return False
        label = Text(t(self.lang, "solution") + ":", style="bold")
        widget.update(Group(label, code_view(self.exercise.solution)))
        widget.display = True
        return True

    # -- checks ----------------------------------------------------------------------------------

    def start(self, request_id: str, code: str | None = None) -> None:
        """A check of `code` (the editor's text when it was sent) is running as `request_id`."""
        self.request_id = request_id
        self.checked_code = self.code if code is None else code
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
            text.append("   " + t(self.lang, "solution_offer_pass"))
        elif result.error is not None:
            err = result.error
            for line in err.traceback:
                text.append(line + "\n", style="dim")
            text.append(f"✗ {err.ename}: {err.evalue}", style="bold")
            hint = error_hint(self.lang, err)
            if hint:
                text.append(f"\n→ {hint}")
        else:
            failed = [e for e in result.expectations if not e.passed]
            total = len(result.expectations)
            text.append("✗ " + t(self.lang, "failed", n=len(failed), total=total) + "\n", style="bold")
            reveal = self.reveals_expected
            hidden = False
            for e in failed:
                text.append_text(expectation_line(e, self.lang, reveal))
                text.append("\n")
                hidden = hidden or (not reveal and reveals_answer(e.diagnosis or "value"))
            if hidden:
                text.append(t(self.lang, "expected_later", n=REVEAL_AFTER_ATTEMPTS) + "\n", style="dim")
        text.rstrip()
        if not result.passed and self.attempts >= SOLUTION_AFTER_ATTEMPTS and self.exercise.solution:
            text.append("\n" + t(self.lang, "solution_offer_fail", n=self.attempts), style="bold")
        widget.update(text)
        widget.display = True
        self.state = "passed" if result.passed else "failed"
        self._refresh_status()
        self._bring_into_view()

    def _bring_into_view(self) -> None:
        """Show the verdict: the cells run before a check change the heights above, so look twice."""

        def scroll() -> None:
            if self.is_attached:
                self.scroll_visible(animate=False)

        self.call_after_refresh(scroll)
        self.set_timer(0.2, scroll)

    def show_died(self, reason: str) -> None:
        widget = self.query_one(".exercise-result", Static)
        widget.update(Text(reason, style="bold"))
        widget.display = True
        self.state = "failed"

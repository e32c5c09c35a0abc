"""Provides `PredictView`: a predict-the-output question; the code runs only after the learner answers.

A wrong answer keeps the output hidden, so the learner can try again; Enter on an empty answer shows
it. Typing on the question (a digit, a bracket) starts the answer in its box, Escape in the box goes
back to the question (not out of the lesson), and after an answer the keys act on the lesson again.
"""

from __future__ import annotations

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.message import Message
from textual.widgets import Input, Static

from llm_tutor.engine.kernel import protocol
from llm_tutor.engine.course.predict import answers_match
from llm_tutor.tui.i18n import t
from llm_tutor.tui.widgets.lesson.cell import CellView, OutputView, code_view, output_view


class PredictView(CellView):
    """A cell whose output the learner predicts first; Enter in the answer box runs it and compares."""

    class Answered(Message):
        """The learner typed a prediction (or gave up with an empty one): the screen runs the cell."""

        def __init__(self, view: PredictView, answer: str) -> None:
            super().__init__()
            self.view = view
            self.answer = answer

    class Revealed(Message):
        """The output is shown (a right answer, or the learner asked for it): the screen shows the prose
        that explains it."""

        def __init__(self, view: PredictView) -> None:
            super().__init__()
            self.view = view

    def __init__(self, cell_id: str, code: str, lang: str = "en", fixed_answer: str = "", earlier_answer: str = "",
                 **kwargs: object) -> None:
        super().__init__(cell_id, code, lang, **kwargs)  # type: ignore[arg-type]
        self.fixed_answer = fixed_answer
        self.earlier_answer = earlier_answer
        """The learner's answer in an earlier session: the answer box starts with it."""
        self.answer = ""
        self.correct: bool | None = None
        self.revealed = False
        """The output is shown: a right answer, or the learner asked for it (Enter on an empty answer)."""
        self.tries = 0

    def compose(self) -> ComposeResult:
        yield Static(self._header_text(), classes="cell-header")
        yield Static(code_view(self.code), classes="cell-code")
        yield Input(self.earlier_answer, placeholder=t(self.lang, "predict_prompt"), classes="predict-input",
                    select_on_focus=False)
        yield OutputView(self.lang, classes="cell-output")
        yield Static("", classes="cell-result")
        yield Static("", classes="cell-error")

    def _header_text(self) -> Text:
        text = super()._header_text()
        text.append("  ?", style="bold")
        return text

    # -- keys -------------------------------------------------------------------------------------

    def on_key(self, event: events.Key) -> None:
        box = self.query_one(".predict-input", Input)
        if box.has_focus:
            if event.key == "escape":  # back to the question, not out of the lesson
                event.stop()
                event.prevent_default()
                self.focus()
            return
        if not self.has_focus or not event.is_printable or event.character is None:
            return
        if event.key in self.screen.active_bindings:
            return  # the lesson's keys (r, j, k, ...) keep their meaning on the question
        event.stop()
        event.prevent_default()
        box.focus()
        box.value += event.character  # the answer starts with the key typed
        box.cursor_position = len(box.value)

    @on(Input.Submitted, ".predict-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        answer = event.value.strip()
        self.answer = answer
        if answer:
            self.tries += 1
        self.post_message(self.Answered(self, answer))

    # -- results ----------------------------------------------------------------------------------

    def show_stream(self, event: protocol.Stream) -> None:
        super().show_stream(event)
        if not self.revealed:
            self.query_one(OutputView).display = False  # printed output is the answer too

    def show_result(self, event: protocol.Result) -> None:
        expected = self.fixed_answer or event.text
        widget = self.query_one(".cell-result", Static)
        output = self.query_one(OutputView)
        if self.answer:
            self.correct = answers_match(expected, self.answer)
        if self.answer and not self.correct:
            widget.update(Text("✗ " + t(self.lang, "predict_retry")))
            self.set_class(True, "-wrong")
            self.set_class(False, "-right")
            output.display = False
            widget.display = True
            return
        self.revealed = True
        output.display = bool(output.lines or output.partial or output.hidden)
        if self.answer:
            result = Text(f"✓ {t(self.lang, 'predict_right')} ")
            self.set_class(True, "-right")
            self.set_class(False, "-wrong")
        else:
            result = Text(f"{t(self.lang, 'predict_shown')} ")
        result.append(event.text)
        widget.update(output_view(result))
        widget.display = True
        self.focus()  # answered: the lesson's keys act again (r runs the next cell, not the box)
        self.post_message(PredictView.Revealed(self))

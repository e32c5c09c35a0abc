"""Provides `PredictView`: a predict-the-output question; the code runs only after the learner answers."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.message import Message
from textual.widgets import Input, Static

from llm_tutor.engine import protocol
from llm_tutor.engine.predict import answers_match
from llm_tutor.tui.i18n import t
from llm_tutor.tui.widgets.lesson.cell import CellView, OutputView, code_view


class PredictView(CellView):
    """A cell whose output the learner predicts first; Enter in the answer box runs it and compares."""

    class Answered(Message):
        """The learner typed a prediction: the screen runs the cell."""

        def __init__(self, view: PredictView, answer: str) -> None:
            super().__init__()
            self.view = view
            self.answer = answer

    def __init__(self, cell_id: str, code: str, lang: str = "en", fixed_answer: str = "", **kwargs: object) -> None:
        super().__init__(cell_id, code, lang, **kwargs)  # type: ignore[arg-type]
        self.fixed_answer = fixed_answer
        self.answer = ""
        self.correct: bool | None = None

    def compose(self) -> ComposeResult:
        yield Static(self._header_text(), classes="cell-header")
        yield Static(code_view(self.code), classes="cell-code")
        yield Input(placeholder=t(self.lang, "predict_prompt"), classes="predict-input")
        yield OutputView(self.lang, classes="cell-output")
        yield Static("", classes="cell-result")
        yield Static("", classes="cell-error")

    def _header_text(self) -> Text:
        text = super()._header_text()
        text.append("  ?", style="bold")
        return text

    @on(Input.Submitted, ".predict-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        answer = event.value.strip()
        if answer:
            self.answer = answer
            self.post_message(self.Answered(self, answer))

    def show_result(self, event: protocol.Result) -> None:
        expected = self.fixed_answer or event.text
        widget = self.query_one(".cell-result", Static)
        if self.answer:
            self.correct = answers_match(expected, self.answer)
            label = t(self.lang, "predict_right" if self.correct else "predict_wrong")
            widget.update(Text(f"{'✓' if self.correct else '✗'} {label} {event.text}"))
            self.set_class(self.correct, "-right")
            self.set_class(not self.correct, "-wrong")
        else:
            widget.update(Text(event.text))
        widget.display = True

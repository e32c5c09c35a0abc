"""Provides `SamplePanel`: the GPT's newest generated text, with the step it was made at."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widget import Widget

from llm_tutor.tui.i18n import format_count, t


class SamplePanel(Widget):
    """Shows the last lines of the newest sample; newlines are kept, as the text has them."""

    DEFAULT_CSS = """
    SamplePanel { height: 7; padding: 0 1; border-top: hkey $panel-lighten-2; }
    """

    def __init__(self, lang: str = "en", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lang = lang
        self.text = ""
        self.step: int | None = None
        self.temperature = 0.8

    def show(self, text: str, step: int, temperature: float) -> None:
        self.text, self.step, self.temperature = text, step, temperature
        self.refresh()

    def clear(self) -> None:
        self.text, self.step = "", None
        self.refresh()

    def render(self) -> Text:
        if self.step is None:
            return Text(t(self.lang, "sample_empty"), style="dim")
        out = Text(t(self.lang, "sample_title", step=format_count(self.lang, self.step), temperature=f"{self.temperature:g}") + "\n",
                   style="bold")
        room = max(1, self.size.height - 1) if self.size.height else 5
        lines = self.text.strip("\n").split("\n")
        out.append("\n".join(lines[-room:]))
        return out

"""Provides `LessonErrorScreen`: shown in place of a lesson whose file does not parse."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Static

from llm_tutor.tui.i18n import t
from llm_tutor.tui.widgets.footer import KeyFooter


class LessonErrorScreen(Screen[None]):
    """Shown in place of a lesson whose file does not parse: the error, file and line."""

    BINDINGS = [Binding("escape,q", "back", "Lessons")]

    def __init__(self, message: str, lang: str) -> None:
        super().__init__()
        self.message = message
        self.lang = lang

    def compose(self) -> ComposeResult:
        yield Static(Text(t(self.lang, "lesson_error"), style="bold"), id="title")
        yield Static(Text(self.message), id="lesson-error")
        yield KeyFooter()

    def action_back(self) -> None:
        self.app.pop_screen()

"""Provides `HelpScreen`: every key of the screen underneath, and of the app, in one table."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from llm_tutor.tui.i18n import t

EDITOR_KEYS = [
    ("ctrl+r", "editor_check"),
    ("ctrl+t", "editor_hint"),
    ("tab", "editor_indent"),
    ("escape", "editor_leave"),
]
"""Keys inside the exercise editor (a TextArea's own keys, listed under the lesson's): key, label name."""


def key_rows(screen: Screen) -> list[tuple[str, str]]:
    """(key, description) for every binding active on `screen` and the app."""
    rows: list[tuple[str, str]] = []
    seen: set[str] = set()
    for source in (screen, screen.app):
        # the node's own bindings carry the descriptions translated for the learner's language
        by_id: dict[str, list[str]] = {}
        described: dict[str, str] = {}
        for key, items in source._bindings.key_to_bindings.items():
            for binding in items:
                if not binding.description:
                    continue
                ident = binding.id or f"{binding.action}:{binding.description}"
                by_id.setdefault(ident, []).append(binding.key_display or key.replace("question_mark", "?"))
                described[ident] = binding.description
        for ident, keys in by_id.items():
            label = ", ".join(k for k in keys if k not in seen)
            if not label:
                continue
            seen.update(keys)
            rows.append((label, described[ident]))
    return rows


class HelpScreen(ModalScreen[None]):
    """A modal list of keys; any of Escape, q, ? or F1 closes it."""

    BINDINGS = [
        Binding("escape,q,question_mark,f1", "dismiss_help", "Close", show=False),
    ]

    def __init__(self, under: Screen, lang: str = "en") -> None:
        super().__init__()
        self.under = under
        self.lang = lang

    def compose(self) -> ComposeResult:
        table = Table(title=t(self.lang, "help_title"), expand=True, show_edge=False)
        table.add_column(t(self.lang, "help_key"), no_wrap=True, style="bold")
        table.add_column(t(self.lang, "help_action"))
        self.rows = key_rows(self.under)
        if self.under.__class__.__name__ == "LessonScreen":
            self.rows += [(key, t(self.lang, name)) for key, name in EDITOR_KEYS]
        for key, desc in self.rows:
            table.add_row(key, desc)
        with VerticalScroll(id="help-body"):
            yield Static(table)

    def action_dismiss_help(self) -> None:
        self.dismiss(None)

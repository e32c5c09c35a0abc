"""Provides `ConfirmScreen`: a small yes/no question over the screen; only the named keys say yes."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static


class ConfirmScreen(ModalScreen[bool]):
    """Ask before something the learner may regret; dismissed with True only by one of `yes_keys`.

    Any other key answers no, so a stray key never confirms, and pressing the same key twice
    (`x`, then `x`) does.
    """

    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical {
        width: 70%; max-width: 76; height: auto;
        border: round $warning; background: $surface; padding: 0 1;
    }
    ConfirmScreen .confirm-title { text-style: bold; }
    ConfirmScreen .confirm-keys { color: $text-muted; margin-top: 1; }
    """

    def __init__(self, title: str, body: str, keys_help: str, yes_keys: tuple[str, ...] = ("y",)) -> None:
        super().__init__()
        self.title_text = title
        self.body = body
        self.keys_help = keys_help
        self.yes_keys = yes_keys

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self.title_text), classes="confirm-title")
            if self.body:
                yield Static(Text(self.body), classes="confirm-body")
            yield Static(Text(self.keys_help), classes="confirm-keys")

    def on_key(self, event: events.Key) -> None:
        event.stop()
        event.prevent_default()
        self.dismiss(event.key in self.yes_keys)

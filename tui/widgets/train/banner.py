"""Provides `FaultBanner`: what stopped or paused the run, and what to do about it."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static


class FaultBanner(Static):
    """Hidden unless there is something the learner must act on (NaN loss, out of memory, a dead trainer)."""

    DEFAULT_CSS = """
    FaultBanner { height: auto; padding: 0 1; display: none; background: $error 20%; color: $text; }
    FaultBanner.-warning { background: $warning 20%; }
    FaultBanner.-shown { display: block; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("", **kwargs)
        self.kind = ""
        self.message = ""

    def show_fault(self, kind: str, message: str, hint: str = "") -> None:
        """Show `message` (and a hint on its own line); kind "oom" is a warning, others are errors."""
        self.kind, self.message = kind, message
        text = Text("✗ " if kind != "oom" else "! ", style="bold")
        text.append(message)
        if hint:
            text.append("\n" + hint, style="bold")
        self.update(text)
        self.set_class(kind == "oom", "-warning")
        self.add_class("-shown")

    def hide(self) -> None:
        self.kind, self.message = "", ""
        self.remove_class("-shown")

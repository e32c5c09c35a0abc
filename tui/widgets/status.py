"""Provides `KernelStatus`, the bar that shows the kernel's state and device, and `KernelInfo`, what it shows.

The app keeps one `KernelInfo` in its reactive `kernel_info`; every status bar watches it, so the app
never reaches into a screen to update one.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from llm_tutor.tui.host import host
from llm_tutor.tui.i18n import t


@dataclass(frozen=True)
class KernelInfo:
    """The kernel as the status bars show it."""

    state: str = "stopped"
    """"starting", "idle", "busy", "dead", "stopped"."""
    device: str = ""
    detail: str = ""
    """The torch version, once the kernel is ready."""


class KernelStatus(Static):
    """One line: kernel state, device, torch version; the state drives a CSS class for its colour."""

    DEFAULT_CSS = """
    KernelStatus { height: 1; background: $panel; color: $text-muted; padding: 0 1; }
    KernelStatus.-idle { color: $success; }
    KernelStatus.-busy { color: $warning; }
    KernelStatus.-dead { color: $error; text-style: bold; }
    """

    state: reactive[str] = reactive("stopped")
    """The kernel's state: "starting", "idle", "busy", "dead", "stopped"."""
    device: reactive[str] = reactive("")
    """The device the kernel runs on ("cpu", "cuda", "mps"), once it is ready."""
    detail: reactive[str] = reactive("")
    """Extra text: torch version, the running cell."""

    def __init__(self, lang: str = "en", **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.lang = lang

    def on_mount(self) -> None:
        """Follow the app's `kernel_info` (see `TutorApp.sync_status`)."""
        self.watch(host(self), "kernel_info", self.show_info, init=True)

    def show_info(self, info: KernelInfo) -> None:
        self.state, self.device, self.detail = info.state, info.device, info.detail

    def render(self) -> Text:
        text = Text()
        text.append(f"{t(self.lang, 'kernel')}: ")
        text.append(t(self.lang, self.state), style="bold")
        if self.device:
            text.append(f"  ·  {self.device}")
        if self.detail:
            text.append(f"  ·  {self.detail}")
        return text

    def watch_state(self, old: str, new: str) -> None:
        self.remove_class(f"-{old}")
        self.add_class(f"-{new}")

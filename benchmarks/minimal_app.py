"""The peer for the start-up benchmark: the smallest Textual app that paints a screen."""

from textual.app import App, ComposeResult
from textual.widgets import Footer, Static


class Minimal(App[None]):
    def compose(self) -> ComposeResult:
        yield Static("minimal app ready")
        yield Footer()


if __name__ == "__main__":
    Minimal().run()

"""Provides `CellView`: a runnable code cell with its output, result and errors underneath."""

from __future__ import annotations

from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widgets import Static

from llm_tutor.engine.kernel import protocol
from llm_tutor.tui.i18n import error_hint, t
from llm_tutor.tui.widgets.lesson.wrap import HangingWrap

MAX_OUTPUT_LINES = 200
"""Lines of printed output kept on screen per cell; earlier lines are counted, not drawn."""
MAX_LINE_CHARS = 2000
"""Characters of one printed line drawn; a longer line (``print('x' * 10**7)``) is cut, so wrapping it stays cheap."""


def _clip(line: str) -> str:
    if len(line) <= MAX_LINE_CHARS:
        return line
    return line[:MAX_LINE_CHARS] + f" … ({len(line) - MAX_LINE_CHARS:,} more characters)"


def code_view(code: str) -> HangingWrap:
    """Highlighted Python that follows the terminal's own colours (safe on light and 16-colour terminals);
    a long line wraps under its own indent with a continuation mark, never back to column 0."""
    syntax = Syntax(code, "python", theme="ansi_dark", background_color="default")
    text = syntax.highlight(code)
    text.rstrip()
    return HangingWrap(text)


def output_view(text: Text) -> HangingWrap:
    """Printed output or a result: a tensor row too long for the screen goes on under its own indent."""
    return HangingWrap(text)


class OutputView(Static):
    """Printed text of a cell, keeping only the last `MAX_OUTPUT_LINES` lines on screen."""

    DEFAULT_CSS = "OutputView { height: auto; }"

    def __init__(self, lang: str = "en", **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.lang = lang
        self.lines: list[str] = []
        self.partial = ""
        self.hidden = 0

    def clear(self) -> None:
        self.lines, self.partial, self.hidden = [], "", 0
        self.update("")
        self.display = False

    def append(self, text: str) -> None:
        parts = (self.partial + text).split("\n")
        self.partial = parts.pop()
        if len(self.partial) > MAX_LINE_CHARS * 4:  # a line without end: keep a bounded head of it
            self.partial = self.partial[: MAX_LINE_CHARS * 4]
        self.lines.extend(_clip(line) for line in parts)
        extra = len(self.lines) - MAX_OUTPUT_LINES
        if extra > 0:
            del self.lines[:extra]
            self.hidden += extra
        self._refresh_text()

    def _refresh_text(self) -> None:
        text = Text()
        if self.hidden:
            text.append(t(self.lang, "output_hidden", n=self.hidden) + "\n", style="dim")
        body = "\n".join(self.lines + ([_clip(self.partial)] if self.partial else []))
        text.append(body)
        self.update(output_view(text))
        self.display = bool(body or self.hidden)


class CellView(Vertical, can_focus=True):
    """A lesson cell: header, highlighted code, then output, result and error."""

    state: reactive[str] = reactive("idle")
    """"idle" (not run), "queued", "running", "ok", "error", "interrupted", "dead"."""

    def __init__(self, cell_id: str, code: str, lang: str = "en", label: str = "", raises: str = "", **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.cell_id = cell_id
        self.code = code
        self.lang = lang
        self.label = label
        self.raises = raises
        self.run_count = 0
        self.request_id = ""

    def compose(self) -> ComposeResult:
        yield Static(self._header_text(), classes="cell-header")
        yield Static(code_view(self.code), classes="cell-code")
        yield OutputView(self.lang, classes="cell-output")
        yield Static("", classes="cell-result")
        yield Static("", classes="cell-error")

    def on_mount(self) -> None:
        self.query_one(".cell-result", Static).display = False
        self.query_one(".cell-error", Static).display = False
        self.query_one(OutputView).display = False

    def _header_text(self) -> Text:
        count = f"[{self.run_count}]" if self.run_count else "[ ]"
        marks = {"queued": "…", "running": "●", "ok": "✓", "error": "✗", "interrupted": "■", "dead": "✗"}
        text = Text(f"{count} {self.label or self.cell_id}")
        if self.state == "error" and self.has_class("-expected-error"):
            text.append(f"  ✓ {t(self.lang, 'expected_error', name=self.raises.rsplit('.', 1)[-1])}")
        elif self.state in marks:
            text.append(f"  {marks[self.state]} ")
            if self.state in ("queued", "running"):
                text.append(t(self.lang, self.state))
        return text

    def watch_state(self, old: str, new: str) -> None:
        self.remove_class(f"-{old}")
        self.add_class(f"-{new}")
        if self.is_mounted:
            self.query_one(".cell-header", Static).update(self._header_text())

    # -- driven by the lesson screen ---------------------------------------------------------

    def queue(self) -> None:
        self.state = "queued"

    def start(self, request_id: str) -> None:
        self.request_id = request_id
        self.run_count += 1
        self.remove_class("-expected-error")
        self.query_one(OutputView).clear()
        for cls in (".cell-result", ".cell-error"):
            widget = self.query_one(cls, Static)
            widget.update("")
            widget.display = False
        self.state = "running"

    def show_stream(self, event: protocol.Stream) -> None:
        self.query_one(OutputView).append(event.text)

    def show_result(self, event: protocol.Result) -> None:
        widget = self.query_one(".cell-result", Static)
        text = event.text if len(event.text) < 20_000 else event.text[:20_000] + " …"
        widget.update(output_view(Text(text)))
        widget.display = True

    def show_error(self, event: protocol.Error) -> None:
        widget = self.query_one(".cell-error", Static)
        if event.ename == "KeyboardInterrupt":
            widget.update(Text(t(self.lang, "interrupted")))
        else:
            text = Text()
            for line in event.traceback:
                text.append(line + "\n", style="dim")
            text.append(f"{event.ename}: {event.evalue}", style="bold")
            hint = error_hint(self.lang, event)
            if hint:
                text.append(f"\n→ {hint}")
            if self.raises and event.ename == self.raises.rsplit(".", 1)[-1]:
                self.add_class("-expected-error")
            widget.update(text)
        widget.display = True

    def finish(self, event: protocol.Done) -> None:
        self.state = event.status if event.status in ("ok", "error", "interrupted") else "error"

    def show_died(self, reason: str) -> None:
        widget = self.query_one(".cell-error", Static)
        widget.update(Text(reason, style="bold"))
        widget.display = True
        self.state = "dead"

"""Provides `HangingWrap`: text wrapped under its own indent with a continuation mark, never at column 0.

Rich wraps a long line back to the left edge, so a wrapped comment's tail reads like a statement and
a tensor row's tail like a new row. Here each row after the first of a wrapped line starts two cells
right of that line's indent with ``↪``, and breaks fall on a space where one is near.
"""

from __future__ import annotations

from collections.abc import Iterator

from rich.console import Console, ConsoleOptions
from rich.measure import Measurement
from rich.text import Text

MARKER = "↪ "
"""What starts each continuation row (after the line's indent)."""


class HangingWrap:
    """A renderable: `text` (highlighted code or printed output) wrapped at the width it is given."""

    def __init__(self, text: Text, marker: str = MARKER, marker_style: str = "dim") -> None:
        self.text = text
        self.marker = marker
        self.marker_style = marker_style

    def __str__(self) -> str:
        return self.text.plain

    def rows(self, width: int) -> list[Text]:
        """The rows drawn at `width` cells (for tests too)."""
        out: list[Text] = []
        for line in self.text.split("\n", allow_blank=True):
            out.extend(self._wrap_line(line, max(width, 8)))
        return out

    def _wrap_line(self, line: Text, width: int) -> list[Text]:
        plain = line.plain
        if len(plain) <= width:
            return [line]
        indent = min(len(plain) - len(plain.lstrip(" ")) + 2, width // 2)  # a hanging indent under the line's own
        rows: list[Text] = []
        start, room = 0, width
        while len(plain) - start > room:
            cut = _break_at(plain, start, room)
            piece = line[start:cut]
            piece.rstrip()
            if rows:
                piece = Text(" " * indent).append(self.marker, style=self.marker_style).append_text(piece)
            rows.append(piece)
            start = cut
            while start < len(plain) and plain[start] == " ":
                start += 1
            room = width - indent - len(self.marker)
        tail = line[start:]
        if rows:
            tail = Text(" " * indent).append(self.marker, style=self.marker_style).append_text(tail)
        rows.append(tail)
        return rows

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Text]:
        rows = self.rows(options.max_width)
        body = Text("\n", no_wrap=True, overflow="crop").join(rows)
        body.no_wrap, body.overflow = True, "crop"
        yield body

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        longest = max((len(line) for line in self.text.plain.split("\n")), default=0)
        return Measurement(min(8, longest), longest)


def _break_at(plain: str, start: int, room: int) -> int:
    """Where to end a row that starts at `start` and may hold `room` characters: at a space in its
    last third if there is one, else exactly at `room`."""
    end = start + room
    space = plain.rfind(" ", start + room * 2 // 3, end + 1)
    return space if space > start else end

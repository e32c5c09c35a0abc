"""Provides `BoundaryView`: the MLP's decision boundary as a half-block heat map with the data on top.

Each character cell shows two pixels ("▀": foreground on top, background below), coloured from
the class-0 colour through the background to the class-1 colour by P(label 1), as TensorFlow
Playground does; training points are drawn as dots in their class's colour. The grid comes from
the trainer (`TrainPicture`), the points from `TrainStarted.data`.
"""

from __future__ import annotations

from typing import Any

from rich.segment import Segment
from rich.style import Style
from textual.color import Color
from textual.strip import Strip
from textual.widget import Widget

LEVELS = 16
"""Colour steps per side of 0.5 (the picture is a probability map; finer steps are invisible)."""
STRENGTH = 0.5
"""How far a certain cell goes from the background to its class colour: points, at full colour, stay visible."""


class BoundaryView(Widget):
    """Decision boundary and training points, redrawn when a new picture arrives."""

    COMPONENT_CLASSES = {"boundary--zero", "boundary--one", "boundary--empty"}
    DEFAULT_CSS = """
    BoundaryView { width: 45%; max-width: 48; height: 1fr; min-height: 6; }
    BoundaryView > .boundary--zero { color: $warning; }
    BoundaryView > .boundary--one { color: $primary; }
    BoundaryView > .boundary--empty { color: $text-muted; }
    """

    def __init__(self, empty_text: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.probs: list[list[float]] = []
        self.extent: list[float] = [-1.0, 1.0, -1.0, 1.0]
        self.points: list[list[float]] = []
        self.step = 0
        self.empty_text = empty_text
        self._strips: list[Strip] | None = None
        self._key: tuple[Any, ...] = ()

    def set_points(self, points: list[list[float]], extent: list[float] | None) -> None:
        """Training points [[x, y, label], ...] in data coordinates."""
        self.points = points
        if extent:
            self.extent = list(extent)
        self.redraw()

    def set_picture(self, probs: list[list[float]], extent: list[float], step: int) -> None:
        self.probs, self.extent, self.step = probs, list(extent), step
        self.redraw()

    def clear(self) -> None:
        self.probs, self.points = [], []
        self.redraw()

    def redraw(self) -> None:
        self._strips = None
        self.refresh()

    def on_resize(self) -> None:
        self._strips = None

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips = None

    def render_line(self, y: int) -> Strip:
        strips = self._strips_now()
        return strips[y] if 0 <= y < len(strips) else Strip.blank(self.size.width, self.rich_style)

    def _palette(self) -> tuple[list[Color], Color, Color]:
        _, background = self.background_colors
        zero = self.get_component_styles("boundary--zero").color
        one = self.get_component_styles("boundary--one").color
        # index 0: certainly class 0 ... LEVELS: undecided ... 2·LEVELS: certainly class 1
        colours = [background.blend(zero, STRENGTH * (LEVELS - i) / LEVELS) for i in range(LEVELS)]
        colours.append(background)
        colours += [background.blend(one, STRENGTH * i / LEVELS) for i in range(1, LEVELS + 1)]
        return colours, zero, one

    def _strips_now(self) -> list[Strip]:
        width, height = self.size.width, self.size.height
        key = (width, height)
        if self._strips is not None and key == self._key:
            return self._strips
        base = self.rich_style
        if not self.probs or width < 2 or height < 1:
            empty = self.get_component_rich_style("boundary--empty")
            rows = [Strip.blank(width, base) for _ in range(height)]
            if height and self.empty_text:
                text = self.empty_text[:width].center(width)
                rows[height // 2] = Strip([Segment(text, empty)], width).apply_style(base)
            self._strips, self._key = rows, key
            return rows
        colours, zero, one = self._palette()
        side_px = min(width, height * 2)  # square: a cell is two pixels tall and about one wide
        cols, rows_px = side_px, side_px - side_px % 2
        grid_h, grid_w = len(self.probs), len(self.probs[0])
        level = [
            [
                round(self.probs[min(grid_h - 1, py * grid_h // rows_px)][min(grid_w - 1, px * grid_w // cols)] * 2 * LEVELS)
                for px in range(cols)
            ]
            for py in range(rows_px)
        ]
        marks = self._point_cells(cols, rows_px // 2)
        styles: dict[tuple[int, int], Style] = {}
        strips: list[Strip] = []
        for cy in range(height):
            if cy >= rows_px // 2:
                strips.append(Strip.blank(width, base))
                continue
            top, bottom = level[2 * cy], level[2 * cy + 1]
            segs: list[Segment] = []
            run_style: Style | None = None
            run = ""
            for cx in range(cols):
                a, b = top[cx], bottom[cx]
                mark = marks.get((cx, cy))
                if mark is not None:
                    char = "●"
                    dot = (-1 - mark, (a + b) // 2)
                    style = styles.get(dot)
                    if style is None:
                        bg = colours[(a + b) // 2]
                        style = styles[dot] = Style(color=(one if mark else zero).rich_color, bgcolor=bg.rich_color)
                else:
                    char = "▀"
                    style = styles.get((a, b))
                    if style is None:
                        style = styles[(a, b)] = Style(color=colours[a].rich_color, bgcolor=colours[b].rich_color)
                if style is not run_style and run:  # cells of one colour go out as one segment
                    segs.append(Segment(run, run_style))
                    run = ""
                run_style = style
                run += char
            if run:
                segs.append(Segment(run, run_style))
            if width > cols:
                segs.append(Segment(" " * (width - cols), base))
            strips.append(Strip(segs, width))
        self._strips, self._key = strips, key
        return strips

    def _point_cells(self, cols: int, cell_rows: int) -> dict[tuple[int, int], int]:
        """The cell of every training point, with the majority label of the points in it."""
        x0, x1, y0, y1 = self.extent
        votes: dict[tuple[int, int], int] = {}
        for x, y, label in self.points:
            cx = int((x - x0) / (x1 - x0) * cols)
            cy = int((y1 - y) / (y1 - y0) * cell_rows)
            if 0 <= cx < cols and 0 <= cy < cell_rows:
                votes[(cx, cy)] = votes.get((cx, cy), 0) + (1 if label else -1)
        return {cell: int(v > 0) for cell, v in votes.items() if v != 0}

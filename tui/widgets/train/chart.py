"""Provides `LossChart`: train, validation and lesson loss curves, drawn through the Line API.

The chart draws only when told its data moved (`redraw()`) or its size or theme changed; the
lines it draws are cached as strips, so Textual repainting the screen for another reason (a key,
a tooltip) costs nothing here. Colours come from the theme through component classes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ContextManager

from rich.style import Style
from textual.strip import Strip
from textual.widget import Widget

from llm_tutor.engine.train.series import Series
from llm_tutor.tui.widgets.train.plot import LinePlot, PlotSeries, PlotStyles


@dataclass
class ChartSource:
    """One curve: a name, the series, and the component class that colours it."""

    name: str
    series: Series
    component: str = "loss-chart--train"
    points: bool = False
    """Draw the points where they were measured, unjoined (validation)."""


class LossChart(Widget, can_focus=True):
    """A braille line plot of one or more `Series`, with a log-scale switch."""

    COMPONENT_CLASSES = {
        "loss-chart--train",
        "loss-chart--val",
        "loss-chart--lesson",
        "loss-chart--axis",
        "loss-chart--label",
        "loss-chart--empty",
    }
    DEFAULT_CSS = """
    LossChart { height: 1fr; min-height: 6; }
    LossChart > .loss-chart--train { color: $primary; }
    LossChart > .loss-chart--val { color: $warning; }
    LossChart > .loss-chart--lesson { color: $success; }
    LossChart > .loss-chart--axis { color: $text-muted; }
    LossChart > .loss-chart--label { color: $text-muted; }
    LossChart > .loss-chart--empty { color: $text-muted; }
    LossChart:focus { background-tint: $foreground 3%; }
    """

    def __init__(
        self,
        sources: list[ChartSource] | None = None,
        *,
        title: str = "",
        empty_text: str = "",
        lock: Callable[[], ContextManager[Any]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.sources: list[ChartSource] = list(sources or [])
        self.title = title
        self.empty_text = empty_text
        self.log_scale = False
        self._lock = lock or contextlib.nullcontext
        self._plot = LinePlot()
        self._strips: list[Strip] | None = None
        self._styles: tuple[PlotStyles, dict[str, Style]] | None = None
        self._key: tuple[Any, ...] = ()

    def redraw(self) -> None:
        """The data moved: draw again at the next repaint."""
        self._strips = None
        self.refresh()

    def set_log_scale(self, log: bool) -> None:
        self.log_scale = log
        self.redraw()

    def set_empty_text(self, text: str) -> None:
        if text != self.empty_text:
            self.empty_text = text
            self.redraw()

    def on_resize(self) -> None:
        self._strips = None

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips = None
        self._styles = None

    def render_line(self, y: int) -> Strip:
        strips = self._render_strips()
        return strips[y] if 0 <= y < len(strips) else Strip.blank(self.size.width, self.rich_style)

    def _plot_styles(self) -> tuple[PlotStyles, dict[str, Style]]:
        """The theme's colours with the widget's own style folded in (looked up once per theme change)."""
        if self._styles is None:
            base = self.rich_style
            styles = PlotStyles(
                axis=base + self.get_component_rich_style("loss-chart--axis"),
                label=base + self.get_component_rich_style("loss-chart--label"),
                empty=base + self.get_component_rich_style("loss-chart--empty"),
                blank=base,
            )
            lines = {name: base + self.get_component_rich_style(name) for name in self.COMPONENT_CLASSES}
            self._styles = (styles, lines)
        return self._styles

    def _render_strips(self) -> list[Strip]:
        width, height = self.size.width, self.size.height
        key = (width, height, self.log_scale)
        if self._strips is not None and key == self._key:
            return self._strips
        styles, line_styles = self._plot_styles()
        lines = [PlotSeries(s.name, s.series, line_styles[s.component], points=s.points) for s in self.sources]
        title = self.title + ("  [log]" if self.log_scale else "")
        with self._lock():
            rows = self._plot.draw(lines, width, height, log=self.log_scale, styles=styles,
                                   empty_text=self.empty_text, title=title)
        self._strips = [Strip(row, width) for row in rows]
        self._key = key
        return self._strips

    def text_lines(self) -> Iterator[str]:
        """The drawn rows as plain text (for tests)."""
        for strip in self._render_strips():
            yield strip.text

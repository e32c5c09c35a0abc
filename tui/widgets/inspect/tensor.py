"""Provides `TensorView`: one tensor's metadata, statistics and values, drawn from a `TensorSummary`.

Data-only: it holds one reactive summary and renders it through `TensorGrid`. The kernel never
sends more than a bounded grid (its corners, the middle elided), so drawing costs the same for a
ten-element tensor and a 10^8-element one.
"""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.text import Text
from textual.geometry import Size
from textual.reactive import reactive
from textual.widget import Widget

from llm_tutor.engine.kernel.protocol import TensorSummary
from llm_tutor.tui.i18n import t
from llm_tutor.tui.widgets.inspect.render import (
    GridStyles,
    TensorGrid,
    grid_shape,
    header_text,
    magnitude_scale,
    slice_text,
    stats_text,
)


class StyledGrid(Widget):
    """Base for views that draw value grids: the grid colours come from component classes (theme variables)."""

    COMPONENT_CLASSES = {
        "grid--positive",
        "grid--negative",
        "grid--zero",
        "grid--bad",
        "grid--index",
        "grid--title",
        "grid--note",
    }

    DEFAULT_CSS = """
    StyledGrid {
        height: auto;
        width: auto;
        min-width: 100%;
    }
    StyledGrid > .grid--positive { color: $text-primary; }
    StyledGrid > .grid--negative { color: $text-error; }
    StyledGrid > .grid--zero { color: $text-muted; }
    StyledGrid > .grid--bad { color: $error; text-style: bold reverse; }
    StyledGrid > .grid--index { color: $text-muted; }
    StyledGrid > .grid--title { color: $text-accent; text-style: bold; }
    StyledGrid > .grid--note { color: $text-warning; }
    """

    def __init__(self, lang: str = "en", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lang = lang

    def grid_width(self) -> int:
        """Columns the widest value grid needs; the widget grows past its container to fit it (and scrolls)."""
        return 0

    def get_content_width(self, container: Size, viewport: Size) -> int:
        return max(container.width, self.grid_width())

    def grid_styles(self) -> GridStyles:
        """The grid's styles from the current theme."""
        get = self.get_component_rich_style
        return GridStyles(
            positive=get("grid--positive", partial=True),
            negative=get("grid--negative", partial=True),
            zero=get("grid--zero", partial=True),
            bad=get("grid--bad", partial=True),
            index=get("grid--index", partial=True),
            elided=get("grid--index", partial=True),
        )


def _grid_width(s: TensorSummary) -> int:
    return TensorGrid(s.values, grid_shape(s)).width if s.values != [] else 0


def tensor_renderables(s: TensorSummary, styles: GridStyles, title: Text | None = None) -> list[RenderableType]:
    """Header, note, statistics, slice line and the value grid of one summary."""
    parts: list[RenderableType] = [title if title is not None else header_text(s)]
    if s.label:
        parts.append(Text(s.label, style="italic"))
    if s.stats:
        parts.append(stats_text(s.stats, styles.bad))
    line = slice_text(s)
    if line:
        parts.append(line)
    if s.values != [] or (s.numel == 0 and not s.label):
        parts.append(Text(""))
        parts.append(TensorGrid(s.values, grid_shape(s), styles, scale=magnitude_scale([], s.stats) or None))
    return parts


class TensorView(StyledGrid):
    """The tensor panel: shape, dtype, device, autograd facts, layout, statistics and a coloured grid."""

    summary: reactive[TensorSummary | None] = reactive(None, layout=True)
    """The tensor shown; None draws nothing."""

    def __init__(self, show_name: bool = True, lang: str = "en", **kwargs: Any) -> None:
        super().__init__(lang, **kwargs)
        self.show_name = show_name
        """Whether the header repeats the tensor's name (the inspector's title already does)."""

    def grid_width(self) -> int:
        s = self.summary
        return _grid_width(s) if s is not None else 0

    def render(self) -> RenderableType:
        s = self.summary
        if s is None:
            return Text("")
        styles = self.grid_styles()
        title = header_text(s, self.get_component_rich_style("grid--title", partial=True), name=self.show_name,
                            lang=self.lang)
        parts = tensor_renderables(s, styles, title)
        if s.grad is not None:
            g = s.grad
            line = Text("\ngrad ", style="bold")
            line.append_text(stats_text({k: g.stats[k] for k in ("norm", "nan", "inf") if k in g.stats}, styles.bad))
            line.append(f"   {t(self.lang, 'insp_beside')}", style="dim")
            parts.append(line)
        return Group(*parts)

"""Provides `GradView`: a tensor's gradient beside its value, with the gradient's norm.

Draws an ``InspectResult`` with ``what="grad"`` on a tensor: the value grid and the gradient grid
side by side when they fit, one above the other when not, both coloured on the same scheme as the
tensor panel (a heatmap of the gradient). Modules and optimizers are drawn by `ParamGradView`.
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from llm_tutor.engine.kernel.protocol import InspectResult, TensorSummary
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
from llm_tutor.tui.widgets.inspect.tensor import StyledGrid, _grid_width


def _grid(s: TensorSummary, styles: GridStyles) -> TensorGrid:
    return TensorGrid(s.values, grid_shape(s), styles, scale=magnitude_scale([], s.stats) or None)


class GradView(StyledGrid):
    """The gradient panel for one tensor (an ``InspectResult`` with ``what="grad"`` and a ``tensor``)."""

    result: reactive[InspectResult | None] = reactive(None, layout=True)
    """The reply shown; None draws nothing."""

    def grid_width(self) -> int:
        s = self.result.tensor if self.result is not None else None
        if s is None:
            return 0
        return max(_grid_width(s), _grid_width(s.grad) if s.grad is not None else 0)

    def render(self) -> RenderableType:
        r = self.result
        if r is None:
            return Text("")
        styles = self.grid_styles()
        title_style = self.get_component_rich_style("grid--title", partial=True)
        note = str(r.data.get("note") or "")
        parts: list[RenderableType] = []
        s = r.tensor
        if s is not None:
            parts.append(header_text(s, title_style, name=False, lang=self.lang))
            line = slice_text(s)
            if line:
                parts.append(line)
            parts.extend(self._side_by_side(s, styles))
        if note:
            parts.append(Text(note, style=self.get_component_rich_style("grid--note", partial=True)))
        return Group(*parts)

    def _side_by_side(self, s: TensorSummary, styles: GridStyles) -> list[RenderableType]:
        value_title = Text(t(self.lang, "insp_value"), style="bold")
        value_stats = stats_text({k: s.stats[k] for k in ("min", "max") if k in s.stats})
        g = s.grad
        if g is None:
            return [Text(""), value_title, value_stats, _grid(s, styles)]
        grad_title = Text(t(self.lang, "insp_gradient"), style="bold")
        grad_stats = stats_text({k: g.stats[k] for k in ("norm", "nan", "inf") if k in g.stats}, styles.bad)
        value_grid, grad_grid = _grid(s, styles), _grid(g, styles)
        left = Group(value_title, value_stats, value_grid)
        right = Group(grad_title, grad_stats, grad_grid)
        value_w = max(value_grid.width, value_stats.cell_len, 5)
        grad_w = max(grad_grid.width, grad_stats.cell_len, 8)
        room = self.parent.size.width if isinstance(self.parent, Widget) else 0
        if room and value_w + grad_w + 3 <= room:
            table = Table.grid(padding=(0, 3))
            table.add_column()
            table.add_column()
            table.add_row(left, right)
            return [Text(""), table]
        return [Text(""), left, Text(""), right]

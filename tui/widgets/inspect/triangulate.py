"""Provides `TriangulationView`: one gradient computed three ways (manual, numeric float64, autograd).

Draws the ``data`` of an ``InspectResult`` with ``what="triangulate"`` (docs/inspectors.md): one row
per parameter element with the manual, central-difference and autograd values, the relative error
and a verdict. The verdict is a word as well as a colour, so it reads the same without colour.
"""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.reactive import reactive

from llm_tutor.engine.kernel.protocol import InspectResult
from llm_tutor.engine.kernel.format import format_number
from llm_tutor.tui.i18n import t
from llm_tutor.tui.widgets.inspect.tensor import StyledGrid


class TriangulationView(StyledGrid):
    """The triangulation panel: do the manual, numerical and autograd gradients agree?"""

    COMPONENT_CLASSES = StyledGrid.COMPONENT_CLASSES | {"grid--ok", "grid--fail"}

    DEFAULT_CSS = """
    TriangulationView > .grid--ok { color: $text-success; text-style: bold; }
    TriangulationView > .grid--fail { color: $text-error; text-style: bold reverse; }
    """

    result: reactive[InspectResult | None] = reactive(None, layout=True)
    """The reply shown; None draws nothing."""

    def render(self) -> RenderableType:
        r = self.result
        if r is None:
            return Text("")
        data = r.data
        ok_style = self.get_component_rich_style("grid--ok", partial=True)
        fail_style = self.get_component_rich_style("grid--fail", partial=True)
        title_style = self.get_component_rich_style("grid--title", partial=True)
        title = Text(t(self.lang, "insp_grads_of", fn=data.get("fn") or r.name), style=title_style)
        title.append(f" = {format_number(data.get('value'), 6)}")
        method = Text(
            t(self.lang, "insp_method", dtype=data.get("numeric_dtype", "float64"), eps=format_number(data.get("eps")),
              rtol=format_number(data.get("rtol"))),
            style="dim",
        )
        rows: list[dict[str, Any]] = list(data.get("rows") or [])
        manual = any(row.get("manual") is not None for row in rows)
        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
        table.add_column(t(self.lang, "col_parameter"), overflow="fold")
        if manual:
            table.add_column(t(self.lang, "col_manual"), justify="right", no_wrap=True)
        table.add_column(t(self.lang, "col_numeric"), justify="right", no_wrap=True)
        table.add_column("autograd", justify="right", no_wrap=True)
        table.add_column(t(self.lang, "col_rel_err"), justify="right", no_wrap=True)
        table.add_column("", no_wrap=True)
        for row in rows:
            cells: list[Any] = [str(row.get("param", ""))]
            if manual:
                cells.append(format_number(row.get("manual"), 6))
            cells += [
                format_number(row.get("numeric"), 6),
                format_number(row.get("autograd"), 6),
                format_number(row.get("rel_err"), 2),
                Text(t(self.lang, "insp_ok"), style=ok_style) if row.get("ok") else Text(t(self.lang, "insp_fail"), style=fail_style),
            ]
            table.add_row(*cells)
        agree = t(self.lang, "insp_all_agree" if manual else "insp_two_agree")
        verdict = Text(agree if data.get("ok") else t(self.lang, "insp_disagree"), style=ok_style if data.get("ok") else fail_style)
        parts: list[RenderableType] = [title, method, table, verdict]
        note = data.get("note")
        if note:
            parts.append(Text(str(note), style=self.get_component_rich_style("grid--note", partial=True)))
        return Group(*parts)

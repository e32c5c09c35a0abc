"""Provides `ModuleView` (a module's parameter table with its total, or an optimizer's settings) and
`ParamGradView` (a module's or optimizer's parameters beside their gradients).

Both draw the ``data`` of an ``InspectResult`` (``what="module"`` and ``what="grad"`` on a module or
an optimizer, see docs/inspectors.md). Their rows are a table the learner can move through: Enter on
a parameter opens it (``model.fc1.weight``) as a tensor, or as its gradient beside its value.
"""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Group
from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.color import Color
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Static

from llm_tutor.engine.kernel.protocol import InspectResult
from llm_tutor.engine.kernel.format import format_number, format_shape
from llm_tutor.tui.i18n import format_count, t
from llm_tutor.tui.widgets.inspect.variables import RowTable

OPTIMIZER_KEYS = ("lr", "momentum", "weight_decay", "betas", "eps", "nesterov", "param_groups", "params", "elements")
BAD = "bold reverse"
"""NaN/inf counts: reversed (in the theme's error colour), so they stand out with or without colour."""


def is_module_data(data: dict[str, Any]) -> bool:
    """Whether a ``module`` reply describes an ``nn.Module`` (else an optimizer)."""
    return isinstance(data.get("params"), list)


def children_table(children: list[dict[str, Any]], lang: str = "en") -> Table:
    """The module's direct children and their parameter counts."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    table.add_column(t(lang, "col_child"), overflow="fold")
    table.add_column(t(lang, "col_type"), overflow="fold")
    table.add_column(t(lang, "col_params"), justify="right", no_wrap=True)
    for c in children:
        table.add_row(str(c.get("name", "")), str(c.get("type_name", "")), format_count(lang, int(c.get("params", 0))))
    return table


def optimizer_table(data: dict[str, Any]) -> Table:
    """An optimizer's settings, one per line."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="dim", no_wrap=True)
    table.add_column()
    for key in OPTIMIZER_KEYS:
        if key in data:
            value = data[key]
            table.add_row(key, ", ".join(format_number(v) for v in value) if isinstance(value, list) else format_number(value))
    return table


def _alarm_style(colour: str) -> Style:
    """`BAD` in the theme's error colour (when it parses)."""
    try:
        return Style.parse(BAD) + Style(color=Color.parse(colour).rich_color)
    except Exception:  # noqa: BLE001 - a theme without the variable: reverse alone still stands out
        return Style.parse(BAD)


class ParamChosen(Message):
    """Enter on a parameter row: open `path` (``model.fc1.weight``) in `view` ("tensor" or "grad")."""

    def __init__(self, path: str, view: str) -> None:
        super().__init__()
        self.path = path
        self.view = view


class _ParamRows(Vertical):
    """A title, a table of parameters (one row per parameter, keyed by its path) and lines under it."""

    OPENS = "tensor"
    """The view Enter on a row opens."""

    def __init__(self, lang: str = "en", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lang = lang

    def compose(self) -> ComposeResult:
        yield Static("", classes="inspect-heading")
        yield RowTable(cursor_type="row", classes="param-table")
        yield Static("", classes="inspect-footer")

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value:
            self.post_message(ParamChosen(str(event.row_key.value), self.OPENS))

    def _fill(self, heading: Text, columns: list[str], rows: list[tuple[str, list[Any]]], footer: Any) -> None:
        self.query_one(".inspect-heading", Static).update(heading)
        table = self.query_one(RowTable)
        table.clear(columns=True)
        table.add_columns(*columns)
        for key, cells in rows:
            table.add_row(*cells, key=key)
        table.display = bool(rows)
        foot = self.query_one(".inspect-footer", Static)
        foot.update(footer if footer is not None else "")
        foot.display = footer is not None


class ModuleView(_ParamRows):
    """The module panel: parameter table (name, shape, count, trainable) with the total, and the children."""

    OPENS = "tensor"

    def show(self, result: InspectResult) -> None:
        data = result.data
        heading = Text(str(data.get("type_name", "")), style="bold")
        if not is_module_data(data):
            self._fill(heading, [], [], optimizer_table(data))
            return
        total, trainable = int(data.get("total", 0)), int(data.get("trainable", 0))
        rows = []
        for p in data.get("params", []):
            trains = bool(p.get("trainable"))
            count = Text(format_count(self.lang, int(p.get("count", 0))), justify="right")
            rows.append((str(p.get("path") or p.get("name")), [
                str(p.get("name", "")), format_shape(p.get("shape")), count, t(self.lang, "insp_yes") if trains else Text(t(self.lang, "insp_no"), style="dim"),
            ]))
        footer = Text()
        footer.append(t(self.lang, "insp_total", total=format_count(self.lang, total)), style="bold")
        footer.append(t(self.lang, "insp_trainable", n=format_count(self.lang, trainable)))
        buffers = data.get("buffers")
        if isinstance(buffers, int) and buffers:
            footer.append(t(self.lang, "insp_buffers", n=format_count(self.lang, buffers)))
        children = data.get("children") or []
        columns = [t(self.lang, f"col_{c}") for c in ("parameter", "shape", "count", "trainable")]
        self._fill(heading, columns, rows, Group(footer, children_table(children, self.lang)) if children else footer)


class ParamGradView(_ParamRows):
    """Each parameter of a module or optimizer beside its gradient: value and gradient for single
    elements, the gradient's norm and NaN/inf count (highlighted) for every one."""

    OPENS = "grad"

    def show(self, result: InspectResult) -> None:
        rows_in: list[dict[str, Any]] = list(result.data.get("rows") or [])
        alarm = _alarm_style(self.app.get_css_variables().get("text-error", ""))
        heading = Text(t(self.lang, "insp_param_grads"), style="dim")
        singles = any(r.get("value") is not None for r in rows_in)
        columns = [t(self.lang, "col_parameter"), t(self.lang, "col_shape"), "‖grad‖", "nan/inf"]
        columns += [t(self.lang, "col_value"), t(self.lang, "col_grad")] if singles else []
        rows = []
        for r in rows_in:
            has = bool(r.get("has_grad"))
            cells: list[Any] = [Text(str(r.get("name", "")), style="" if has else "dim"), format_shape(r.get("shape"))]
            if has:
                bad = r.get("grad_nan") or 0
                cells.append(Text(format_number(r.get("grad_norm")), style=alarm if bad else "", justify="right"))
                cells.append(Text(f" {bad} ", style=alarm, justify="right") if bad else Text("0", style="dim", justify="right"))
            else:
                cells += [Text(t(self.lang, "insp_no_grad"), style="dim"), Text("")]
            if singles:
                cells.append(Text(format_number(r.get("value")) if r.get("value") is not None else "", justify="right"))
                grad = r.get("grad")
                cells.append(Text(format_number(grad) if grad is not None else "", style="bold", justify="right"))
            rows.append((str(r.get("path") or r.get("name")), cells))
        note = str(result.data.get("note") or "")
        self._fill(heading, columns, rows, Text(note, style="italic") if note else None)

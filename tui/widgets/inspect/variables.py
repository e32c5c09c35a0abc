"""Provides `VariablesPanel`: the tensors, modules and optimizers of the lesson's namespace."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Static

from llm_tutor.engine.kernel import protocol
from llm_tutor.engine.kernel.format import format_dtype, format_shape
from llm_tutor.tui.i18n import format_count, t


VALUE_WIDTH = 16
"""Characters of a value shown in the table; the detail panel shows the rest."""


def _shape(v: protocol.VariableSummary, lang: str = "en") -> str:
    if v.shape is not None:
        return format_shape(v.shape)
    if v.params is not None:
        return t(lang, "n_params", n=format_count(lang, v.params))
    return ""


def _kind(v: protocol.VariableSummary) -> Text:
    """dtype for tensors (with ∇ when a gradient is stored, ∂ when one is required but not there yet), else the type."""
    if v.kind == "tensor" or (v.kind == "module" and v.dtype):
        text = Text(format_dtype(v.dtype) if v.kind == "tensor" else v.type_name)
        if v.requires_grad:
            text.append(" ∇" if v.has_grad else " ∂", style="bold" if v.has_grad else "dim")
        return text
    return Text(v.type_name or v.kind, style="dim" if v.kind == "other" else "")


class RowTable(DataTable[object]):
    """A table of rows to choose from; j and k move like the lesson's keys."""

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]


class VariablesTable(RowTable):
    """The namespace's variables, one row each, keyed by name."""


class VariablesPanel(Vertical):
    """A table of the namespace's variables, refreshed after every cell; Enter selects one."""

    class Selected(Message):
        """A variable was chosen for the detail panels."""

        def __init__(self, name: str, kind: str) -> None:
            super().__init__()
            self.name = name
            self.kind = kind

    def __init__(self, lang: str = "en", **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.lang = lang
        self.variables: list[protocol.VariableSummary] = []

    def compose(self) -> ComposeResult:
        yield Static(t(self.lang, "variables"), classes="panel-title")
        yield Static(t(self.lang, "no_variables"), classes="panel-empty")
        yield VariablesTable(cursor_type="row", show_header=True, zebra_stripes=False, classes="variables-table")

    def on_mount(self) -> None:
        table = self.query_one(VariablesTable)
        table.add_columns(*(t(self.lang, f"col_{c}") for c in ("name", "shape", "type", "value")))
        table.display = False

    def show(self, event: protocol.Variables) -> None:
        """Replace the rows, keeping the cursor on the same variable."""
        table = self.query_one(VariablesTable)
        current = self.cursor_name()
        self.variables = list(event.variables)
        table.clear()
        for v in self.variables:
            text = v.text if len(v.text) <= VALUE_WIDTH else v.text[: VALUE_WIDTH - 1] + "…"
            table.add_row(v.name, _shape(v, self.lang), _kind(v), Text(text, no_wrap=True), key=v.name)
        table.display = bool(self.variables)
        self.query_one(".panel-empty", Static).display = not self.variables
        names = [v.name for v in self.variables]
        if current in names:
            table.move_cursor(row=names.index(current), animate=False, scroll=True)

    def summary(self, name: str) -> protocol.VariableSummary | None:
        """The listed variable called `name`, if any."""
        return next((v for v in self.variables if v.name == name), None)

    def cursor_name(self) -> str | None:
        """The variable under the table's cursor."""
        table = self.query_one(VariablesTable)
        if not self.variables or table.row_count == 0:
            return None
        row = table.cursor_row
        return self.variables[row].name if 0 <= row < len(self.variables) else None

    def move_to(self, name: str) -> None:
        """Put the cursor on `name` (when it is listed)."""
        names = [v.name for v in self.variables]
        if name in names:
            self.query_one(VariablesTable).move_cursor(row=names.index(name), animate=False, scroll=True)

    def focus_table(self) -> bool:
        """Focus the table; False when there is nothing in it to focus."""
        table = self.query_one(VariablesTable)
        if table.display:
            table.focus()
        return bool(table.display)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        name = str(event.row_key.value)
        summary = self.summary(name)
        self.post_message(self.Selected(name, summary.kind if summary else "other"))

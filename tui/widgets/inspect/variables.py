"""Provides `VariablesPanel`: the tensors, modules and optimizers of the lesson's namespace."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Static

from llm_tutor.engine import protocol
from llm_tutor.tui.i18n import t


def _shape(v: protocol.VariableSummary) -> str:
    if v.shape is not None:
        return "(" + ", ".join(str(s) for s in v.shape) + ("," if len(v.shape) == 1 else "") + ")"
    if v.params is not None:
        return f"{v.params:,} params"
    return v.text[:24]


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
        yield DataTable(cursor_type="row", show_header=True, classes="variables-table")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("name", "shape", "dtype")
        table.display = False

    def show(self, event: protocol.Variables) -> None:
        self.variables = list(event.variables)
        table = self.query_one(DataTable)
        table.clear()
        for v in self.variables:
            dtype = v.dtype.replace("torch.", "")
            if v.requires_grad:
                dtype += " ∇" if v.has_grad else " ∂"
            table.add_row(v.name, _shape(v), dtype or v.kind, key=v.name)
        table.display = bool(self.variables)
        self.query_one(".panel-empty", Static).display = not self.variables

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        name = str(event.row_key.value)
        kind = next((v.kind for v in self.variables if v.name == name), "other")
        self.post_message(self.Selected(name, kind))

"""Provides `InspectorPanel`: the lesson's side panel, variables on top and one variable's detail below.

The panel is also the small controller between the variables table, the kernel and the detail
views: choosing a variable (Enter) or a view (`t` tensor, `d` gradient, `g` graph, `m` module) sends
one ``Inspect`` request through ``app.client.inspect``; the screen hands every kernel event to
`handle_kernel_event`, which keeps the replies to the panel's own requests and the namespace's
``Variables``. At most one request is in flight: a newer wish waits for it, and only the newest is
sent, so holding `]` over a 10^8-element tensor never piles requests up in the kernel. After every
cell the chosen variable's view is asked for again, so gradients appear after ``backward()``.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import ScrollableContainer, Vertical
from textual.message import Message
from textual.timer import Timer
from textual.widgets import ContentSwitcher, Static

from llm_tutor.engine.kernel import protocol
from llm_tutor.engine.kernel import KernelDied
from llm_tutor.tui.i18n import t, translate_bindings
from llm_tutor.tui.widgets.inspect.grad import GradView
from llm_tutor.tui.widgets.inspect.graph import GraphView
from llm_tutor.tui.widgets.inspect.module import ModuleView, ParamChosen, ParamGradView
from llm_tutor.tui.widgets.inspect.render import grid_cell_width, next_slice
from llm_tutor.tui.widgets.inspect.tensor import TensorView
from llm_tutor.tui.widgets.inspect.triangulate import TriangulationView
from llm_tutor.tui.widgets.inspect.variables import VariablesPanel

VIEWS = ("tensor", "grad", "graph", "module", "triangulate")
"""The detail views, named as the ``what`` of the ``Inspect`` request that fills them."""
TRIANGULATION_TYPE = "Triangulation"
"""The type name of what ``triangulate()`` returns; a lesson variable of this type opens the check view."""
REFRESH_DELAY = 0.15
"""Seconds to wait after a cell before asking again, so "run all" asks once, not once per cell."""
MAX_GRID = 24
GRAPH_NODES = 300

INSPECT_BINDINGS = [
    Binding("t", "inspect('tensor')", "Inspect: tensor values and statistics", show=False, id="inspect.tensor"),
    Binding("d", "inspect('grad')", "Inspect: gradient beside the value", show=False, id="inspect.grad"),
    Binding("g", "inspect('graph')", "Inspect: autograd graph of the selected variable", show=False, id="inspect.graph"),
    Binding("m", "inspect('module')", "Inspect: parameter table of a module", show=False, id="inspect.module"),
    Binding("right_square_bracket", "slice(1)", "Inspect: next 2-D slice", show=False, key_display="]", id="inspect.slice_next"),
    Binding("left_square_bracket", "slice(-1)", "Inspect: previous 2-D slice", show=False, key_display="[", id="inspect.slice_previous"),
    Binding("right_curly_bracket", "slice(1, True)", "Inspect: next index of the first dimension", show=False, key_display="}", id="inspect.outer_next"),
    Binding("left_curly_bracket", "slice(-1, True)", "Inspect: previous index of the first dimension", show=False, key_display="{", id="inspect.outer_previous"),
]
"""Keys for the screen that holds the panel (so they work from the lesson too, and the help lists them)."""


def _clamp(value: int, lo: int, hi: int) -> int:
    return max(lo, min(hi, value))


class InspectorPanel(Vertical, can_focus=True):
    """Variables on top; below, the chosen variable as a tensor, gradient, graph, module or gradient check."""

    BINDINGS = [Binding("escape", "leave", "Back to the lesson", show=False, id="inspect.leave")]

    class Leave(Message):
        """Escape in the panel: the learner wants the lesson back."""

    class GradientCheckMade(Message):
        """A cell just made a gradient check while the panel is hidden: the screen may show the panel."""

        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

    def __init__(self, lang: str = "en", namespace: str = "main", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lang = lang
        translate_bindings(self, lang)
        self.namespace = namespace
        self.selected: str | None = None
        """The variable (or path, such as ``model.fc1.weight``) shown in the detail."""
        self.view = "tensor"
        self.slice_index: list[int] = []
        self.shape: list[int] = []
        """The full shape of the tensor shown, for stepping through slices."""
        self.inflight: str | None = None
        self._inflight_key: tuple[str, str] | None = None
        self._wanted: tuple[str, str, dict[str, Any]] | None = None
        self._refresh_timer: Timer | None = None
        self.stale = False
        """Cells ran while the panel was hidden: ask again when it shows."""
        self.cells_waiting = 0
        """Cells queued to run after the one running (the screen keeps it): while any wait, the panel waits too."""
        self._status = ""

    def compose(self) -> ComposeResult:
        yield VariablesPanel(self.lang, id="variables")
        with Vertical(id="detail"):
            yield Static("", id="detail-title", classes="panel-title")
            with ContentSwitcher(initial="detail-message", id="detail-switcher"):
                yield Static(t(self.lang, "inspect_hint"), id="detail-message", classes="panel-empty")
                with ScrollableContainer(id="detail-tensor", classes="detail-scroll"):
                    yield TensorView(show_name=False, lang=self.lang)
                with ScrollableContainer(id="detail-grad", classes="detail-scroll"):
                    yield GradView(self.lang)
                yield GraphView(self.lang, id="detail-graph")
                yield ModuleView(self.lang, id="detail-module")
                yield ParamGradView(self.lang, id="detail-params")
                with ScrollableContainer(id="detail-triangulate", classes="detail-scroll"):
                    yield TriangulationView(self.lang)
                with ScrollableContainer(id="detail-value", classes="detail-scroll"):
                    yield Static("", id="detail-value-text")

    # -- what the learner asks for -----------------------------------------------------------

    def focus_variables(self) -> None:
        """Put the keyboard in the variables table (in the panel itself while there are none)."""
        if not self.query_one(VariablesPanel).focus_table():
            self.focus()

    def select(self, name: str, view: str | None = None) -> None:
        """Show variable `name` in its default view (tensor, module, gradient check) or in `view`."""
        if name != self.selected:
            self.slice_index, self.shape = [], []
        self.selected = name
        self.query_one(VariablesPanel).move_to(name)
        self.view = view or self._default_view(name)
        self.request()

    def show_view(self, what: str) -> None:
        """Switch the detail to `what` for the chosen variable (or the one under the table's cursor)."""
        name = self.selected or self.query_one(VariablesPanel).cursor_name()
        if name is None:
            self._message(t(self.lang, "inspect_choose"))
            return
        self.selected = name
        self.view = what
        if what == "graph" and self.has_focus_within:
            self._switch("graph")
            self.query_one(GraphView).focus()
        self.request()

    def step_slice(self, step: int, outer: bool = False) -> None:
        """Show the next (or previous) 2-D slice of a tensor of rank > 2."""
        if self.selected is None or self.view not in ("tensor", "grad") or len(self.shape) <= 2:
            return
        self.slice_index = next_slice(self.shape, self.slice_index, step, outer)
        self.request()

    def _default_view(self, name: str) -> str:
        summary = self.query_one(VariablesPanel).summary(name)
        if summary is None:
            return "tensor"  # a path such as model.fc1.weight, chosen in the graph or a table
        if summary.kind in ("module", "optimizer"):
            return "module"
        if summary.type_name == TRIANGULATION_TYPE:
            return "triangulate"
        if summary.kind == "tensor":
            return "tensor"
        return "value"

    def on_variables_panel_selected(self, message: VariablesPanel.Selected) -> None:
        message.stop()
        self.select(message.name)

    def on_graph_view_node_chosen(self, message: GraphView.NodeChosen) -> None:
        message.stop()
        self.query_one(VariablesPanel).focus_table()
        self.select(message.name)

    def on_param_chosen(self, message: ParamChosen) -> None:
        message.stop()
        self.select(message.path, message.view)

    def action_leave(self) -> None:
        self.post_message(self.Leave())

    # -- requests ----------------------------------------------------------------------------

    def request(self) -> None:
        """Ask the kernel for the chosen variable's current view (numbers and other values need no kernel)."""
        name = self.selected
        if name is None:
            return
        if self.view == "value":
            self._show_value(name)
            return
        self._wanted = (name, self.view, self._options(name, self.view))
        self._update_title()
        if self.inflight is None:
            self._send()

    def _send(self) -> None:
        if self._wanted is None:
            return
        name, what, options = self._wanted
        self._wanted = None
        app: Any = self.app
        try:
            rid: str = app.client.inspect(name, what, self.namespace, options)
        except (OSError, AttributeError):
            self._message(t(self.lang, "inspect_no_kernel"))
            return
        self.inflight, self._inflight_key = rid, (name, what)
        self._update_title()

    def _options(self, name: str, what: str) -> dict[str, Any]:
        if what == "graph":
            return {"max_nodes": GRAPH_NODES}
        if what not in ("tensor", "grad"):
            return {}
        switcher = self.query_one("#detail-switcher")
        width, height = switcher.size.width, switcher.size.height
        summary = self.query_one(VariablesPanel).summary(name)
        cell = grid_cell_width(summary.dtype if summary else "float32")
        options: dict[str, Any] = {"max_rows": 12, "max_cols": 12}
        if width > 0 and height > 0:
            options["max_cols"] = _clamp((width - 6) // cell, 2, MAX_GRID)
            options["max_rows"] = _clamp(height - (9 if what == "tensor" else 8), 3, MAX_GRID)
        if self.slice_index:
            options["slice"] = list(self.slice_index)
        return options

    def refresh_soon(self) -> None:
        """Ask again for the chosen view shortly (after a cell ran), once for a burst of cells."""
        if self.selected is None:
            return
        if self._refresh_timer is not None:
            self._refresh_timer.stop()
        self._refresh_timer = self.set_timer(REFRESH_DELAY, self._refresh_now)

    def _refresh_now(self) -> None:
        """Ask now, unless nobody can see the answer or more cells are queued (then ask when that changes)."""
        self._refresh_timer = None
        if not self.display:
            self.stale = True
            return
        if self.cells_waiting:  # "run all": one request at the end, not one per cell
            self.refresh_soon()
            return
        self.request()

    @property
    def settled(self) -> bool:
        """Nothing in flight, wanted or due: what the panel shows answers the kernel's latest state."""
        idle = self.inflight is None and self._wanted is None and self._refresh_timer is None
        return idle and not (self.display and self.stale)

    def on_show(self) -> None:
        self.ask_if_stale()

    def ask_if_stale(self) -> None:
        """Shown again: ask for what changed while hidden (called by the screen too, not only on Show)."""
        if self.stale and self.display:
            self.stale = False
            self.request()

    # -- kernel events -----------------------------------------------------------------------

    def handle_kernel_event(self, event: Any) -> bool:
        """Take the events that belong to this panel; returns whether it did."""
        if isinstance(event, protocol.Variables):
            if event.namespace != self.namespace:
                return False
            self.show_variables(event)
            return True
        if isinstance(event, KernelDied):  # its namespace died with it: nothing listed is there any more
            self.clear()
            return False
        parent = getattr(event, "parent", "")
        if not parent or parent != self.inflight:
            return False
        if isinstance(event, protocol.InspectResult):
            if self._inflight_key == (self.selected, self.view):
                self.show_result(event)
        elif isinstance(event, protocol.Done):
            self.inflight = None
            self._send()
            self._update_title()
        return True

    def clear(self) -> None:
        """The kernel died or restarts: its namespace is gone, so nothing listed or shown exists any more."""
        self.inflight, self._wanted, self.selected = None, None, None
        if self._refresh_timer is not None:
            self._refresh_timer.stop()
            self._refresh_timer = None
        self.query_one(VariablesPanel).show(protocol.Variables("", self.namespace, []))
        self._message(t(self.lang, "inspect_hint"))

    def show_variables(self, event: protocol.Variables) -> None:
        """A cell ran: update the table, follow the chosen variable, open a new gradient check."""
        table = self.query_one(VariablesPanel)
        before = {v.name: v for v in table.variables}
        table.show(event)
        fresh = [v for v in event.variables if v.type_name == TRIANGULATION_TYPE and before.get(v.name) != v]
        if fresh:
            self.select(fresh[-1].name, "triangulate")
            if not self.display:
                self.post_message(self.GradientCheckMade(fresh[-1].name))
            return
        if self.selected is None:
            return
        root = self.selected.split(".")[0].split("[")[0]
        if table.summary(root) is None:
            self._message(t(self.lang, "inspect_gone", name=self.selected))
            self.selected = None
            return
        self.refresh_soon()

    def show_result(self, result: protocol.InspectResult) -> None:
        """Draw one reply in its view (an error as a message)."""
        self.selected = result.name
        if result.what in VIEWS:
            self.view = result.what
        if result.error:
            self._message(f"{result.name}: {result.error}", error=True)
            return
        if result.what in ("tensor", "grad") and result.tensor is not None:
            self.shape = list(result.tensor.shape)
            self.slice_index = list(result.tensor.slice_index)
        if result.what == "tensor" and result.tensor is not None:
            self.query_one(TensorView).summary = result.tensor
        elif result.what == "grad" and result.tensor is not None:
            self.query_one(GradView).result = result
        elif result.what == "grad":
            self.query_one(ParamGradView).show(result)
            self._switch("params")
            return
        elif result.what == "graph" and result.graph is not None:
            self.query_one(GraphView).show_graph(result.graph, result.name)
        elif result.what == "module":
            self.query_one(ModuleView).show(result)
        elif result.what == "triangulate":
            self.query_one(TriangulationView).result = result
        else:
            self._message(t(self.lang, "insp_nothing", name=result.name), error=True)
            return
        self._switch(result.what)

    # -- drawing -----------------------------------------------------------------------------

    def _switch(self, slot: str) -> None:
        self.query_one(ContentSwitcher).current = f"detail-{slot}"
        self._status = ""
        self._update_title()
        self.call_after_refresh(self._keep_focus)

    def _keep_focus(self) -> None:
        """A view that had the keyboard was switched away (the graph, then `m`): keep the keyboard in the
        panel, so the next Escape leaves the panel rather than the lesson."""
        if self.is_attached and self.display and self.screen.focused is None:
            self.focus_variables()

    def _message(self, text: str, error: bool = False) -> None:
        message = self.query_one("#detail-message", Static)
        message.update(Text(text))
        message.set_class(error, "-error")
        self.query_one(ContentSwitcher).current = "detail-message"
        self._update_title()
        self.call_after_refresh(self._keep_focus)

    def _show_value(self, name: str) -> None:
        summary = self.query_one(VariablesPanel).summary(name)
        body = Text()
        if summary is not None:
            body.append(summary.name, style="bold")
            body.append(f"  {summary.type_name}\n", style="dim")
            body.append(summary.text)
        self.query_one("#detail-value-text", Static).update(body)
        self._switch("value")

    def _update_title(self) -> None:
        title = self.query_one("#detail-title", Static)
        if self.selected is None:
            title.update("")
            return
        text = Text(self.selected, style="bold")
        text.append(f" · {t(self.lang, f'inspect_{self.view}')}")
        if self.inflight is not None or self._wanted is not None:
            text.append(f"  {t(self.lang, 'inspect_loading')}", style="dim")
        title.update(text)

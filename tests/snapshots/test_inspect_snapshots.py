"""Snapshots of the inspect panels: tensors, variables and modules, gradients, graphs, and the lesson layout.

Every panel is built from fixed protocol payloads (tests/snapshots/inspect_data.py), exactly as the
kernel would send them, so no picture depends on torch, a clock or a kernel. The panels run inside
a small app that loads the real app.tcss; the layout tests open a fixture lesson in the real app
with the kernel left stopped (its status line then always reads "stopped").
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from textual.app import App, ComposeResult
from textual.pilot import Pilot

from llm_tutor.engine.kernel.protocol import InspectResult
from llm_tutor.tui.app import make_app
from llm_tutor.tui.messages import KernelEvent
from llm_tutor.tui.widgets.inspect.graph import GraphView
from llm_tutor.tui.widgets.inspect.inspector import InspectorPanel
from tests.snapshots import inspect_data as data

APP_TCSS = Path(__file__).resolve().parents[2] / "tui" / "app.tcss"
LESSONS = Path(__file__).resolve().parents[1] / "fixtures" / "lessons" / "inspect"
SIDE = (50, 24)
"""About the side panel's size beside a 120-column lesson."""
FULL = (80, 24)
"""The panel in the lesson's place on an 80x24 terminal."""

Setup = Callable[[InspectorPanel], None]


class PanelApp(App[None]):
    """Just the inspector panel, filling the terminal, styled by the real app.tcss."""

    CSS_PATH = str(APP_TCSS)

    def compose(self) -> ComposeResult:
        yield InspectorPanel("en", data.NAMESPACE, id="side", classes="-overlay")


def panel(setup: Setup) -> Callable[[Pilot[Any]], Awaitable[None]]:
    """A `run_before` that lists the demo variables, then lets `setup` fill the detail."""

    async def run_before(pilot: Pilot[Any]) -> None:
        inspector = pilot.app.query_one(InspectorPanel)
        inspector.handle_kernel_event(data.variables())
        setup(inspector)
        await pilot.pause()

    return run_before


def show(result: InspectResult) -> Setup:
    return lambda inspector: inspector.show_result(result)


def tensor(summary: Any) -> InspectResult:
    return InspectResult("i-t", summary.name, "tensor", tensor=summary)


class TestTensorPanel:
    def test_small_matrix_whole(self, snap_compare: Any) -> None:
        """W (6, 8) float32: shape, dtype, device, requires_grad and leaf, contiguous with strides (8, 1),
        min/max/mean/std with nan 0 and inf 0 dimmed; all 6 rows and 8 columns with their indices,
        positives and negatives in two theme colours, larger magnitudes bolder; a grad norm line under it."""
        assert snap_compare(PanelApp(), terminal_size=FULL, run_before=panel(show(tensor(data.weights()))))

    def test_hundred_million_elements_elided_with_nan_highlighted(self, snap_compare: Any) -> None:
        """big (10000, 10000), 100,000,000 elements: the 12 x 12 corners the kernel sent, with row and column
        indices 0-5 and 9994-9999 and … marking the elided middle row and column; "3 nan" and "1 inf" stand
        out (reversed) in the statistics; the NaN cell (row 1, column 2) and the inf cell are reversed too."""
        assert snap_compare(PanelApp(), terminal_size=FULL, run_before=panel(show(tensor(data.huge()))))

    def test_higher_rank_shows_one_slice(self, snap_compare: Any) -> None:
        """t (4, 3, 5) int64 at slice [1, :, :]: the values 15..29 (the arange's second slice) and the
        line that says which slice is shown and that [ ] and { } move it."""
        assert snap_compare(PanelApp(), terminal_size=SIDE, run_before=panel(show(tensor(data.rank3(1)))))

    def test_non_contiguous_bool_view(self, snap_compare: Any) -> None:
        """mask.T (3, 4) bool: "not contiguous" with strides (1, 3), "true 4" in the statistics, True bold
        and False dim, so it reads without colour."""
        assert snap_compare(PanelApp(), terminal_size=SIDE, run_before=panel(show(tensor(data.transposed()))))


class TestVariablesPanel:
    def test_variables_table(self, snap_compare: Any) -> None:
        """The table lists x, w, b, loss, W, model, optimizer, lr with shape (or "61 params"), dtype or type
        (∇ on w, b, W and model: they hold gradients; ∂ on loss: it requires grad but has none) and values
        of small ones; the detail below explains how to choose a variable and which keys show what."""
        assert snap_compare(PanelApp(), terminal_size=SIDE, run_before=panel(lambda inspector: None))

    def test_module_parameter_table_with_total(self, snap_compare: Any) -> None:
        """model · module: SimpleNet's parameters fc1.weight (5, 10) 50, fc1.bias (5,) 5, fc2.weight (1, 5) 5,
        fc2.bias (1,) 1, all trainable; "total 61 parameters, 61 trainable"; the children fc1, relu, fc2,
        sigmoid with 55, 0, 6, 0 parameters."""
        assert snap_compare(PanelApp(), terminal_size=FULL, run_before=panel(show(data.module())))

    def test_optimizer_settings(self, snap_compare: Any) -> None:
        """optimizer · module: SGD with lr 0.01, momentum 0, weight_decay 0, nesterov False, 1 param group,
        4 parameter tensors, 61 elements."""
        assert snap_compare(PanelApp(), terminal_size=SIDE, run_before=panel(show(data.optimizer())))


class TestGradientPanel:
    def test_leaf_value_beside_gradient(self, snap_compare: Any) -> None:
        """w · gradient: the value 2.2000 on the left, the gradient -0.0898 on the right, with norm 0.08983
        and nan 0, inf 0."""
        assert snap_compare(PanelApp(), terminal_size=SIDE, run_before=panel(show(data.leaf_grad())))

    def test_matrix_gradient_heatmap(self, snap_compare: Any) -> None:
        """W · gradient at 80 columns: the (6, 8) value grid, then the gradient grid under it (they do not fit
        side by side) coloured as a heatmap, with columns 0, 3 and 6 exactly zero (dim)."""
        assert snap_compare(PanelApp(), terminal_size=FULL, run_before=panel(show(data.matrix_grad())))

    def test_module_gradients_with_nan(self, snap_compare: Any) -> None:
        """model · gradient: one row per parameter with shape and ‖grad‖; fc2.bias also shows its value 0.0757
        and gradient -0.5218; fc1.bias has nan as its norm and a reversed " 2 " in the nan/inf column."""
        assert snap_compare(PanelApp(), terminal_size=FULL, run_before=panel(show(data.module_grads())))

    def test_triangulation_agrees(self, snap_compare: Any) -> None:
        """check · gradient check: "gradients of loss_at = 0.0851879", central differences in float64 with eps
        1e-06; rows w and b with manual, numeric and autograd -0.0898263 / -0.0816603, relative errors, "ok"
        on both rows and "all three agree"."""
        assert snap_compare(PanelApp(), terminal_size=FULL, run_before=panel(show(data.triangulation(True))))

    def test_triangulation_flags_a_wrong_manual_gradient(self, snap_compare: Any) -> None:
        """The same check with the seed's rounded manual dL/dw = -0.0902: row w says FAIL (reversed), with
        relative error 0.0042; row b still ok; the verdict says "they disagree"."""
        assert snap_compare(PanelApp(), terminal_size=FULL, run_before=panel(show(data.triangulation(False))))


class TestGraphPanel:
    def test_neuron_graph(self, snap_compare: Any) -> None:
        """loss · graph as a tree: loss = BinaryCrossEntropy () 0.08519 ∇ 1, under it a = Sigmoid (1,) 0.9183
        ∇ -1.089, z = Add (1,) 2.42 ∇ -0.08166, whose inputs are Mul (1,) (over the leaf w 2.2 ∇ -0.08983)
        and the leaf b 0 ∇ -0.08166."""
        assert snap_compare(PanelApp(), terminal_size=SIDE, run_before=panel(show(data.neuron_graph())))

    def test_large_graph_collapses_per_module(self, snap_compare: Any) -> None:
        """A 12-layer MLP's loss (more than 40 nodes): MseLoss at the root, then a collapsed line per module
        ("model.layers.11  4 nodes"), with Relu between the modules; nothing inside a module is drawn until
        it is opened."""
        assert snap_compare(PanelApp(), terminal_size=SIDE, run_before=panel(show(data.mlp_graph())))

    def test_opening_a_module_group(self, snap_compare: Any) -> None:
        """The same graph after moving to the first module line and pressing Enter: model.layers.11 opens to
        show Addmm (32, 16) with model.layers.11.bias (‖∇‖ 0.12), Relu and T over model.layers.11.weight
        (‖∇‖ 1.2); the other modules stay collapsed."""

        async def run_before(pilot: Pilot[Any]) -> None:
            await panel(show(data.mlp_graph()))(pilot)
            pilot.app.query_one(GraphView).focus()
            await pilot.press("down", "enter")

        assert snap_compare(PanelApp(), terminal_size=SIDE, run_before=run_before)


class TestLessonLayout:
    @staticmethod
    async def _fill(pilot: Pilot[Any]) -> None:
        pilot.app.post_message(KernelEvent(data.variables()))  # as the kernel's reader thread posts it
        await pilot.pause()
        pilot.app.screen.query_one(InspectorPanel).show_result(data.neuron_graph())

    def test_side_by_side_at_120x40(self, snap_compare: Any) -> None:
        """At 120x40 the lesson is on the left and the inspector on the right (about 48 columns): the
        variables table on top and, below a rule, the neuron graph of loss with values and gradients."""

        async def run_before(pilot: Pilot[Any]) -> None:
            await self._fill(pilot)
            await pilot.pause()

        app = make_app("inspect-demo", lessons_dir=LESSONS, device="cpu", autostart_kernel=False)
        assert snap_compare(app, terminal_size=(120, 40), run_before=run_before)

    def test_panel_in_the_lessons_place_at_80x24(self, snap_compare: Any) -> None:
        """At 80x24, after v, the inspector takes the lesson's place, full width: variables on top, the
        neuron graph below; the footer still lists the keys (v gives the lesson back)."""

        async def run_before(pilot: Pilot[Any]) -> None:
            await pilot.press("v")
            await self._fill(pilot)
            await pilot.pause()

        app = make_app("inspect-demo", lessons_dir=LESSONS, device="cpu", autostart_kernel=False)
        assert snap_compare(app, terminal_size=FULL, run_before=run_before)

"""The inspector driven with a real kernel: the autograd lesson's graph and gradients, refresh after
backward(), slices of a rank-3 tensor, and a gradient check a lesson asked for."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from rich.console import Console
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import Static
from textual.widgets.tree import TreeNode

from llm_tutor.tui.app import TutorApp, make_app
from llm_tutor.tui.messages import KernelEvent
from llm_tutor.tui.screens.lesson import LessonScreen
from llm_tutor.tui.widgets.inspect.grad import GradView
from llm_tutor.tui.widgets.inspect.graph import GraphItem, GraphView
from llm_tutor.tui.widgets.inspect.inspector import InspectorPanel
from llm_tutor.tui.widgets.inspect.tensor import TensorView
from llm_tutor.tui.widgets.inspect.triangulate import TriangulationView
from llm_tutor.tui.widgets.inspect.variables import VariablesPanel, VariablesTable
from llm_tutor.tui.widgets.lesson.cell import CellView
from tests.functional.conftest import wait_for

LESSONS = Path(__file__).resolve().parents[1] / "fixtures" / "lessons" / "inspect"


def drawn(widget: Widget) -> str:
    """What a data-only panel draws, as plain text."""
    out = io.StringIO()
    Console(file=out, width=200, color_system=None).print(widget.content if isinstance(widget, Static) else widget.render())
    return out.getvalue()


def tree_lines(node: TreeNode[GraphItem], depth: int = 0) -> list[tuple[int, str]]:
    lines = [(depth, node.label.plain)]
    for child in node.children:
        lines += tree_lines(child, depth + 1)
    return lines


async def run_cells(pilot: Pilot[Any], app: TutorApp, *cell_ids: str) -> LessonScreen:
    """Run cells in order, through the screen's own queue, and wait for them and the inspector's refresh."""
    screen = app.screen
    assert isinstance(screen, LessonScreen)
    views = [screen.query_one(f"#cell-{cid}", CellView) for cid in cell_ids]
    screen.run_cells(views)
    assert await wait_for(pilot, lambda: all(v.state == "ok" for v in views), timeout=60), [v.state for v in views]
    await settled(pilot, screen.query_one(InspectorPanel))
    return screen


async def settled(pilot: Pilot[Any], panel: InspectorPanel) -> None:
    """Wait until the panel has no request in flight, none wanted and no refresh pending."""
    assert await wait_for(pilot, lambda: panel.settled, timeout=30)
    await pilot.pause()


async def choose(pilot: Pilot[Any], panel: InspectorPanel, name: str) -> None:
    """As a learner would: into the panel (v) or back to its table (shift+tab), cursor onto `name`, Enter."""
    if not panel.has_focus_within:
        await pilot.press("v")
    for _ in range(3):
        if isinstance(pilot.app.focused, VariablesTable):
            break
        await pilot.press("shift+tab")
    assert isinstance(pilot.app.focused, VariablesTable)
    panel.query_one(VariablesPanel).move_to(name)
    await pilot.press("enter")
    await settled(pilot, panel)


async def test_autograd_lesson_graph_and_gradients() -> None:
    """After the neuron and loss.backward(), loss's graph is BinaryCrossEntropy -> Sigmoid -> Add -> Mul with
    leaves w and b, and the gradient panels show -0.0898 and -0.0817."""
    app = make_app("autograd", device="cpu")
    async with app.run_test(size=(120, 40)) as pilot:
        assert await wait_for(pilot, lambda: app.kernel.state == "idle", timeout=60)
        screen = await run_cells(pilot, app, "chain", "neuron", "way4-backward")
        panel = screen.query_one(InspectorPanel)
        await choose(pilot, panel, "loss")
        assert panel.selected == "loss" and panel.view == "tensor"
        assert "0.0851879" in drawn(panel.query_one(TensorView))
        await pilot.press("g")
        await settled(pilot, panel)
        lines = tree_lines(panel.query_one(GraphView).root)
        text = "\n".join(f"{'  ' * d}{label}" for d, label in lines)
        ops = [label.split("=")[-1].split()[0] for _, label in lines if "leaf" not in label]
        assert ops == ["BinaryCrossEntropy", "Sigmoid", "Add", "Mul"], text
        leaves = {label.split()[0]: (d, label) for d, label in lines if "leaf" in label}
        assert set(leaves) == {"w", "b"}, text
        assert leaves["w"][0] == 4 and leaves["b"][0] == 3, text  # w under Mul, b beside it under Add
        assert "∇ -0.08983" in leaves["w"][1] and "∇ -0.08166" in leaves["b"][1], text
        # retain_grad() on z, a and loss: the graph shows their gradients too (dL/dz = a - y)
        assert "z = Add" in text and "∇ -0.08166" in next(label for _, label in lines if "z = Add" in label)
        for name, grad in (("w", "-0.0898"), ("b", "-0.0817")):
            await choose(pilot, panel, name)
            await pilot.press("d")
            await settled(pilot, panel)
            picture = drawn(panel.query_one(GradView))
            assert "gradient" in picture and grad in picture, picture


async def test_a_gradient_check_opens_the_hidden_panel_on_a_narrow_terminal() -> None:
    """At 80 columns the panel is hidden; a cell that makes a gradient check tells the screen (a message), which
    shows the panel on it."""
    app = make_app("inspect-demo", lessons_dir=LESSONS, device="cpu")
    async with app.run_test(size=(80, 30)) as pilot:
        assert await wait_for(pilot, lambda: app.kernel.state == "idle", timeout=60)
        screen = app.screen
        assert isinstance(screen, LessonScreen)
        panel = screen.query_one(InspectorPanel)
        assert not panel.display
        await run_cells(pilot, app, "neuron", "backward")
        assert not panel.display, "an ordinary cell leaves the panel hidden"
        await run_cells(pilot, app, "check")
        assert await wait_for(pilot, lambda: panel.display and panel.view == "triangulate", timeout=10)
        assert panel.selected == "check"


async def test_views_follow_cells_slices_step_and_a_lesson_check_opens() -> None:
    """w chosen before backward() shows no gradient; after it, the same view shows one. `]` steps a rank-3
    tensor's slice. A cell that keeps triangulate(...) in a variable opens the gradient check."""
    app = make_app("inspect-demo", lessons_dir=LESSONS, device="cpu")
    async with app.run_test(size=(120, 40)) as pilot:
        assert await wait_for(pilot, lambda: app.kernel.state == "idle", timeout=60)
        screen = await run_cells(pilot, app, "neuron")
        panel = screen.query_one(InspectorPanel)
        await choose(pilot, panel, "w")
        assert "grad norm" not in drawn(panel.query_one(TensorView))
        await run_cells(pilot, app, "backward")
        assert panel.selected == "w"
        assert "grad norm 0.08983" in drawn(panel.query_one(TensorView))

        await run_cells(pilot, app, "cube")
        await choose(pilot, panel, "cube")
        assert "slice [0, :, :]" in drawn(panel.query_one(TensorView))
        await pilot.press("right_square_bracket")
        await settled(pilot, panel)
        picture = drawn(panel.query_one(TensorView))
        assert "slice [1, :, :]" in picture and "15" in picture and "29" in picture, picture
        await pilot.press("left_curly_bracket")  # the first dimension, backwards: 1 -> 0
        await settled(pilot, panel)
        assert "slice [0, :, :]" in drawn(panel.query_one(TensorView))
        await pilot.press("left_curly_bracket")  # and from 0 it wraps to the last slice
        await settled(pilot, panel)
        assert "slice [3, :, :]" in drawn(panel.query_one(TensorView))

        await run_cells(pilot, app, "check")
        assert panel.selected == "check" and panel.view == "triangulate"
        picture = drawn(panel.query_one(TriangulationView))
        assert "gradients of loss_at" in picture and "they disagree" in picture, picture
        rows = {line.split()[0]: line for line in picture.splitlines() if line.strip().startswith(("w ", "b "))}
        assert rows["w"].rstrip().endswith("FAIL") and rows["b"].rstrip().endswith("ok"), picture

        panel.focus_variables()
        await pilot.press("escape")  # back to the lesson; at 120 columns the panel stays beside it
        assert isinstance(app.focused, CellView) and panel.display


async def test_a_dead_kernel_empties_the_panel_and_other_namespaces_are_ignored() -> None:
    """The namespace dies with the kernel, so its variables leave the table; another lesson's variables never
    enter it. (No kernel is started: the events are the ones the app routes.)"""
    from llm_tutor.engine.kernel import KernelDied
    from llm_tutor.engine.kernel.protocol import Variables
    from tests.snapshots import inspect_data

    app = make_app("inspect-demo", lessons_dir=LESSONS, device="cpu", autostart_kernel=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, LessonScreen)
        table = screen.query_one(VariablesPanel)
        app.post_message(KernelEvent(Variables("x1", "tr:other-lesson", inspect_data.variables().variables)))
        await pilot.pause()
        assert table.variables == []
        app.post_message(KernelEvent(inspect_data.variables()))
        await pilot.pause()
        assert [v.name for v in table.variables][:3] == ["x", "w", "b"]
        screen.query_one(InspectorPanel).show_result(inspect_data.neuron_graph())
        app.post_message(KernelEvent(KernelDied(-9, "killed")))
        await pilot.pause()
        panel = screen.query_one(InspectorPanel)
        assert table.variables == [] and panel.selected is None
        assert panel.query_one("#detail-switcher").current == "detail-message"


async def test_panels_speak_turkish() -> None:
    """With the UI in Turkish, the panels' own words are Turkish (PyTorch's terms stay as they are)."""
    from textual.app import App, ComposeResult

    from llm_tutor.tui.widgets.inspect.module import ModuleView
    from tests.snapshots import inspect_data

    class Panel(App[None]):
        def compose(self) -> ComposeResult:
            yield InspectorPanel("tr", inspect_data.NAMESPACE)

    app = Panel()
    async with app.run_test(size=(80, 30)) as pilot:
        panel = app.query_one(InspectorPanel)
        panel.handle_kernel_event(inspect_data.variables())
        panel.show_result(inspect_data.module())
        await pilot.pause()
        assert "toplam 61 parametre" in drawn(panel.query_one(ModuleView).query_one(".inspect-footer", Static))
        assert "model · modül" in drawn(panel.query_one("#detail-title", Static))
        panel.show_result(inspect_data.triangulation(False))
        await pilot.pause()
        picture = drawn(panel.query_one(TriangulationView))
        assert "loss_at gradyanları" in picture and "uyuşmuyorlar" in picture and "float64 ile merkezi farklar" in picture


async def test_hidden_panel_asks_again_when_shown_at_80x24() -> None:
    """At 80 columns the panel hides behind the lesson: cells that run meanwhile are not inspected for nobody;
    showing it (v) asks for the chosen variable again, so the gradient made while it was hidden appears."""
    app = make_app("inspect-demo", lessons_dir=LESSONS, device="cpu")
    async with app.run_test(size=(80, 24)) as pilot:
        assert await wait_for(pilot, lambda: app.kernel.state == "idle", timeout=60)
        screen = await run_cells(pilot, app, "neuron")
        panel = screen.query_one(InspectorPanel)
        await choose(pilot, panel, "w")
        assert not screen.query_one("#content").display and "grad norm" not in drawn(panel.query_one(TensorView))
        await pilot.press("v")
        assert not panel.display and screen.query_one("#content").display
        await run_cells(pilot, app, "backward")
        assert "grad norm" not in drawn(panel.query_one(TensorView)) and panel.stale
        await pilot.press("v")
        await settled(pilot, panel)
        assert panel.display and "grad norm 0.08983" in drawn(panel.query_one(TensorView))

"""Plain-text renderings: what `llm-tutor run --plain`, logs and screen readers get from the inspectors."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from llm_tutor.engine.kernel import format as textview
from llm_tutor.engine.kernel.panels import render_panels
from llm_tutor.engine.kernel.child.inspect import inspect_object, summarize_tensor, summarize_variables
from llm_tutor.engine.kernel.protocol import Graph, GraphNode, InspectResult


def _neuron_ns() -> dict[str, object]:
    x = torch.tensor([1.1])
    w = torch.tensor([2.2], requires_grad=True)
    b = torch.tensor([0.0], requires_grad=True)
    z = x * w + b
    a = torch.sigmoid(z)
    loss = F.binary_cross_entropy(a, torch.tensor([1.0]))
    loss.backward()
    return {"x": x, "w": w, "b": b, "z": z, "a": a, "loss": loss}


def test_the_neuron_graph_as_a_text_tree() -> None:
    r = inspect_object("p", "loss", _neuron_ns(), "graph", {})
    assert textview.render_inspect(r) == "\n".join([
        "autograd graph of loss:",
        "loss = BinaryCrossEntropy  value 0.08519  []",
        "`-- a = Sigmoid  value 0.9183  [1]",
        "    `-- z = Add  value 2.42  [1]",
        "        |-- Mul  [1]",
        "        |   `-- w (leaf)  value 2.2  [1]  grad -0.08983",
        "        `-- b (leaf)  value 0  [1]  grad -0.08166",
    ])


def test_shared_nodes_truncation_and_modules_in_the_tree() -> None:
    graph = Graph("p", "n0", [
        GraphNode("n0", "Add", name="y"),
        GraphNode("n1", "Mul"),
        GraphNode("n2", "Leaf", name="model.fc.weight", is_leaf=True, module="model.fc", grad_norm=0.5, shape=[2, 2]),
    ], [["n1", "n0"], ["n2", "n1"], ["n2", "n1"], ["n2", "n0"]], truncated=True)
    assert textview.render_graph(graph).splitlines() == [
        "y = Add",
        "|-- Mul",
        "|   |-- model.fc.weight (leaf)  [2, 2]  grad norm 0.5  in model.fc",
        "|   `-- model.fc.weight (shown above)",
        "`-- model.fc.weight (shown above)",
        "... graph truncated at 3 nodes",
    ]


def test_tensor_text_has_header_stats_values_and_gradient() -> None:
    ns = _neuron_ns()
    text = textview.render_inspect(inspect_object("p", "w", ns, "grad", {}))
    lines = text.splitlines()
    assert lines[0] == "w: [1] float32 on cpu  (requires_grad, leaf)"
    assert lines[1] == "  contiguous, strides (1,), 1 element"
    assert lines[2] == "  min 2.2  max 2.2  mean 2.2  std 0  nan 0  inf 0"
    assert lines[3] == "  [2.2000]"
    assert lines[4] == "  w.grad: [1] float32 on cpu  (leaf)"
    assert "norm 0.08983" in lines[6] and lines[7] == "    [-0.0898]"
    assert lines[-3:] == [
        "parameter  shape  value      grad  grad norm  nan/inf",
        "---------  -----  -----  --------  ---------  -------",
        "w          [1]      2.2  -0.08983    0.08983        0",
    ]


def test_elided_grids_and_notes_read_plainly() -> None:
    text = textview.render_tensor(summarize_tensor(torch.arange(100 * 100).reshape(100, 100), "m", max_rows=2, max_cols=2))
    assert text.splitlines()[-4:] == [
        "  [[   0,  ...,   99],",
        "   [ ...],",
        "   [9900,  ..., 9999]]",
        "  (... marks elided rows and columns)",
    ]
    meta = textview.render_tensor(summarize_tensor(torch.empty(2, 3, device="meta"), "wte"))
    assert "note: meta tensor" in meta and "[[" not in meta
    tiny = textview.render_tensor(summarize_tensor(torch.tensor([1e-8, 2.0])))
    assert "[1.0000e-08, 2.0000e+00]" in tiny
    ints = textview.render_values([[1.0, 2.0], [3.0, -0.0]])
    assert ints == "[[1., 2.],\n [3., 0.]]"


@pytest.mark.parametrize("values", [
    [1e-5], [0.0001234], [123456.0], [123456.5], [0.0898263, -0.0816603], [1.0, 2.0], [0.001, 2.0],
    [1e9, 1.0], [3e8, 2e8], [0.0, 0.0], [1.5, float("nan"), float("-inf")], [1, -2],
])
def test_grid_cells_read_as_torch_prints_them(values: list[float]) -> None:
    """One rule for the app and ``run --plain``: the cells of ``print(t)`` (torch's default precision)."""
    printed = repr(torch.tensor(values))
    cells = [c.strip() for c in printed[printed.index("[") + 1:printed.index("]")].split(",")]
    fmt = textview.value_formatter(values)
    assert [fmt(v) for v in values] == cells


def test_single_numbers_shapes_and_dtypes() -> None:
    assert [textview.format_number(v) for v in (1e-5, 0.0001234, 123456.0, -0.0, None)] == \
        ["1e-05", "0.0001234", "1.235e+05", "0", "-"]
    assert textview.format_scalar(0.08982631) == "0.0898263" and textview.render_values(0.08982631) == "0.0898263"
    assert [textview.format_shape(s) for s in ([2, 3], [3], [], None)] == ["[2, 3]", "[3]", "[]", "[?]"]
    assert textview.format_strides([3, 1]) == "(3, 1)" and textview.format_strides([1]) == "(1,)"
    assert textview.format_dtype("torch.bfloat16") == "bfloat16" and textview.format_slice([1, 0]) == "[1, 0, :, :]"


def test_the_app_draws_a_tensor_with_the_plain_texts_numbers_and_shape() -> None:
    from llm_tutor.tui.widgets.inspect.render import TensorGrid, header_text, stats_text

    s = summarize_tensor(torch.tensor([[1e-5, 2.0], [3.0, -4.0]]), "m")
    plain = textview.render_tensor(s).splitlines()
    grid = [line.plain for line in TensorGrid(s.values, s.shape, indices=False).lines()]
    assert plain[-2:] == ["  [[ 1.0000e-05,  2.0000e+00],", "   [ 3.0000e+00, -4.0000e+00]]"]
    assert grid == [" 1.0000e-05  2.0000e+00", " 3.0000e+00 -4.0000e+00"]
    assert plain[0].startswith("m: [2, 2] float32") and header_text(s).plain.startswith("m  [2, 2]  float32")
    assert stats_text(s.stats).plain.replace("  ", " ") in plain[2].replace("  ", " ")


def test_variables_module_and_optimizer_tables() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 5), nn.ReLU(), nn.Linear(5, 1))
    ns = {"model": model, "opt": torch.optim.SGD(model.parameters(), lr=0.01), "n": 3, "w": torch.ones(2, 3)}
    table = textview.render_variables(summarize_variables(ns)).splitlines()
    assert table[0].split() == ["name", "type", "shape", "dtype", "device", "grad", "params", "value"]
    assert table[2].split()[:4] == ["model", "Sequential", "float32", "cpu"] and "61" in table[2]
    assert "lr=0.01, 1 param group" in table[3] and table[4].split() == ["n", "number", "3"]
    assert table[5].split()[:5] == ["w", "Tensor", "[2,", "3]", "float32"]
    module = textview.render_inspect(inspect_object("p", "model", ns, "module", {})).splitlines()
    assert module[0] == "model: Sequential with 61 parameters (61 trainable)"
    assert module[3].split() == ["0.weight", "[5,", "10]", "50", "yes"]
    opt = textview.render_inspect(inspect_object("p", "opt", ns, "module", {}))
    assert opt == "opt: SGD(lr=0.01, momentum=0, weight_decay=0) over 4 tensors in 1 group(s)"
    assert textview.render_variables([]) == "(no variables)"


def test_triangulation_table_and_errors() -> None:
    ns = _neuron_ns()
    ns["f"] = lambda: F.binary_cross_entropy(torch.sigmoid(ns["x"] * ns["w"] + ns["b"]), torch.tensor([1.0]))  # type: ignore[operator]
    text = textview.render_inspect(
        inspect_object("p", "f", ns, "triangulate", {"params": ["w", "b"], "manual": {"w": -0.0898, "b": -0.5}})
    ).splitlines()
    assert text[0].startswith("gradients of f = 0.0851879: central differences in float64")
    assert text[1].split() == ["param", "manual", "numeric", "autograd", "rel", "err", "check"]
    assert text[3].split()[:4] == ["w", "-0.0898", "-0.0898263", "-0.0898263"] and text[3].endswith("ok")
    assert text[4].endswith("MISMATCH")
    err = InspectResult("p", "nope", "tensor", error="name 'nope' is not defined")
    assert textview.render_inspect(err) == "nope: error: name 'nope' is not defined"


def test_text_is_plain_ascii_and_the_module_is_torch_free() -> None:
    r = inspect_object("p", "loss", _neuron_ns(), "graph", {})
    text = textview.render_inspect(r)
    assert text.isascii() and "\x1b" not in text
    code = (
        "import sys, llm_tutor.engine.kernel.format as t; "
        "from llm_tutor.engine.kernel.protocol import TensorSummary; "
        "print(t.render_tensor(TensorSummary('x', [2], 'float32', 'cpu', values=[1.0, 2.0]))); "
        "assert 'torch' not in sys.modules"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={"NO_COLOR": "1", "PATH": ""})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "  [1., 2.]"


def test_panels_after_each_cell_through_a_real_kernel() -> None:
    """`llm-tutor run --plain` prints these: only what a cell changed, with a detail panel or two."""
    from llm_tutor.engine.kernel import BlockingKernel
    from llm_tutor.engine.kernel.protocol import Variables

    with BlockingKernel(device="cpu") as kernel:
        def cell(code: str) -> str:
            reply = kernel.execute(code, namespace="panels", inspect=True)
            assert reply.status == "ok", reply.error
            variables = reply.first(Variables)
            assert isinstance(variables, Variables)
            return render_panels(variables, kernel)

        first = cell(
            "import torch\nimport torch.nn.functional as F\n"
            "x = torch.tensor([1.1])\nw = torch.tensor([2.2], requires_grad=True)\nb = torch.tensor([0.0], requires_grad=True)"
        )
        assert first.startswith("variables (new or changed):")
        assert "w: [1] float32 on cpu  (requires_grad, leaf)" in first and "b: [1]" in first
        second = cell("loss = F.binary_cross_entropy(torch.sigmoid(x * w + b), torch.tensor([1.0]))")
        assert "autograd graph of loss:" in second and "w (leaf)  value 2.2" in second
        assert "\nx " not in second, "unchanged variables are not repeated"
        third = cell("loss.backward()")
        assert "w          [1]      2.2  -0.08983" in third and "b          [1]        0  -0.08166" in third
        fourth = cell("z = x * w + b\na = torch.sigmoid(z)\nloss2 = F.binary_cross_entropy(a, torch.tensor([1.0]))")
        assert fourth.count("autograd graph of") == 1, "one graph per cell: the last result's holds the others"
        graph_at = fourth.index("autograd graph of loss2:")
        assert "z = Add" in fourth[graph_at:] and graph_at < fourth.index("\nz: [1] float32"), "the graph comes first"
        assert cell("n = 1 + 1").splitlines()[-1].split() == ["n", "number", "2"]
        assert cell("pass") == ""
        bad = kernel.inspect("nope", "tensor", "panels").first(InspectResult)
        assert bad is not None and "not defined" in bad.error

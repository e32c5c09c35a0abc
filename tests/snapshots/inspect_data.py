"""Fixed, seeded protocol payloads for the inspect panels, shaped exactly as the kernel sends them.

Built from Python's own `random.Random(seed)` rather than torch, so the pictures never move with a
torch version, and the snapshot tests never import torch.
"""

from __future__ import annotations

import math
import random
from typing import Any

from llm_tutor.engine.kernel.protocol import Graph, GraphNode, InspectResult, TensorSummary, VariableSummary, Variables

NAMESPACE = "en:inspect-demo"


def _spans(n: int, most: int) -> list[tuple[int, int]]:
    """The kernel's head-and-tail split (engine/kernel/child/inspect/values.py)."""
    if n <= most:
        return [(0, n)]
    head = (most + 1) // 2
    return [(0, head), (n - (most - head), n)]


def grid(rows: int, cols: int, value: Any, max_rows: int = 12, max_cols: int = 12) -> list[list[Any]]:
    """The value grid the kernel sends for a (rows, cols) slice: corners, with None where it elides."""
    out: list[list[Any]] = []
    row_spans, col_spans = _spans(rows, max_rows), _spans(cols, max_cols)
    for k, (r0, r1) in enumerate(row_spans):
        for r in range(r0, r1):
            line: list[Any] = []
            for j, (c0, c1) in enumerate(col_spans):
                if j:
                    line.append(None)
                line += [value(r, c) for c in range(c0, c1)]
            out.append(line)
        if k == 0 and len(row_spans) > 1:
            out.append([None] * len(out[-1]))
    return out


def _stats(values: list[float], nan: int = 0, inf: int = 0, norm: bool = False) -> dict[str, Any]:
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    stats: dict[str, Any] = {"min": min(values), "max": max(values), "mean": mean, "std": std, "nan": nan, "inf": inf}
    if norm:
        stats["norm"] = math.sqrt(sum(v * v for v in values))
    return stats


def _round(v: float) -> float:
    return float(f"{v:.6g}")


def weights(seed: int = 7) -> TensorSummary:
    """A (6, 8) float32 weight matrix, small enough to be shown whole, with its gradient."""
    rng = random.Random(seed)
    vals = [[_round(rng.gauss(0, 0.5)) for _ in range(8)] for _ in range(6)]
    gvals = [[_round(rng.gauss(0, 0.05)) if c % 3 else 0.0 for c in range(8)] for _ in range(6)]
    flat = [v for r in vals for v in r]
    gflat = [v for r in gvals for v in r]
    grad = TensorSummary(
        name="W.grad", shape=[6, 8], dtype="float32", device="cpu", strides=[8, 1], numel=48,
        stats=_stats(gflat, norm=True), values=gvals,
    )
    return TensorSummary(
        name="W", shape=[6, 8], dtype="float32", device="cpu", requires_grad=True, is_leaf=True,
        strides=[8, 1], numel=48, stats=_stats(flat), values=vals, grad=grad,
    )


def huge() -> TensorSummary:
    """A (10000, 10000) tensor: 10^8 elements, of which the kernel sent 12 x 12 corners; 3 NaN, 1 inf."""
    rng = random.Random(3)
    corners = [0, 1, 2, 3, 4, 5, 9994, 9995, 9996, 9997, 9998, 9999]
    table = {(r, c): _round(rng.uniform(-3, 3)) for r in corners for c in corners}
    table[(1, 2)] = math.nan
    table[(9999, 9999)] = math.inf
    values = grid(10000, 10000, lambda r, c: table[(r, c)])
    stats = {"min": -2.99999, "max": 2.99998, "mean": 0.000113, "std": 1.73205, "nan": 3, "inf": 1}
    return TensorSummary(
        name="big", shape=[10000, 10000], dtype="float32", device="cpu", strides=[10000, 1],
        numel=100_000_000, stats=stats, values=values, elided=True,
    )


def rank3(index: int = 1) -> TensorSummary:
    """Slice `index` of a (4, 3, 5) int64 tensor, arange-filled: values tell which slice is shown."""
    values = [[index * 15 + r * 5 + c for c in range(5)] for r in range(3)]
    flat = list(range(60))
    stats = {"min": 0, "max": 59, "mean": 29.5, "std": _round(_stats([float(v) for v in flat])["std"]), "nan": 0, "inf": 0}
    return TensorSummary(
        name="t", shape=[4, 3, 5], dtype="int64", device="cpu", strides=[15, 5, 1], numel=60,
        stats=stats, values=values, slice_index=[index],
    )


def transposed() -> TensorSummary:
    """A non-contiguous view (``x.T``) of a bool tensor: layout facts, True count, no colour needed."""
    values = [[(r + c) % 3 == 0 for c in range(4)] for r in range(3)]
    return TensorSummary(
        name="mask.T", shape=[3, 4], dtype="bool", device="cpu", contiguous=False, strides=[1, 3], numel=12,
        stats={"true": 4, "nan": 0, "inf": 0}, values=values,
    )


def variables() -> Variables:
    """A namespace after a few cells: tensors with and without gradients, a module, an optimizer, numbers."""
    v = [
        VariableSummary("x", "tensor", "Tensor", [1], "float32", "cpu", text="[1.1]"),
        VariableSummary("w", "tensor", "Tensor", [1], "float32", "cpu", requires_grad=True, has_grad=True, text="[2.2]"),
        VariableSummary("b", "tensor", "Tensor", [1], "float32", "cpu", requires_grad=True, has_grad=True, text="[0]"),
        VariableSummary("loss", "tensor", "Tensor", [], "float32", "cpu", requires_grad=True, text="0.08519",
                        info={"grad_fn": "BinaryCrossEntropyBackward0"}),
        VariableSummary("W", "tensor", "Parameter", [6, 8], "float32", "cpu", requires_grad=True, has_grad=True),
        VariableSummary("model", "module", "SimpleNet", None, "float32", "cpu", requires_grad=True, has_grad=True,
                        params=61, text="SimpleNet(Linear, ReLU, Linear, Sigmoid)", info={"trainable": 61}),
        VariableSummary("optimizer", "optimizer", "SGD", params=61, text="lr=0.01, 1 param group",
                        info={"lr": 0.01, "param_groups": 1, "params": 4}),
        VariableSummary("lr", "number", "float", text="0.01"),
    ]
    return Variables("x-cell", NAMESPACE, v)


def module() -> InspectResult:
    """backprop's SimpleNet: Linear(10, 5), ReLU, Linear(5, 1), Sigmoid; 61 parameters."""
    params = [
        ("fc1.weight", [5, 10], 50), ("fc1.bias", [5], 5), ("fc2.weight", [1, 5], 5), ("fc2.bias", [1], 1),
    ]
    data = {
        "params": [
            {"name": n, "path": f"model.{n}", "shape": s, "count": c, "trainable": True, "dtype": "float32", "device": "cpu"}
            for n, s, c in params
        ],
        "total": 61, "trainable": 61, "buffers": 0, "type_name": "SimpleNet",
        "children": [
            {"name": "fc1", "type_name": "Linear", "params": 55}, {"name": "relu", "type_name": "ReLU", "params": 0},
            {"name": "fc2", "type_name": "Linear", "params": 6}, {"name": "sigmoid", "type_name": "Sigmoid", "params": 0},
        ],
    }
    return InspectResult("i-module", "model", "module", data=data)


def optimizer() -> InspectResult:
    data = {"type_name": "SGD", "lr": 0.01, "param_groups": 1, "params": 4, "elements": 61, "momentum": 0.0,
            "weight_decay": 0.0, "nesterov": False}
    return InspectResult("i-opt", "optimizer", "module", data=data)


def leaf_grad() -> InspectResult:
    """`w` of the neuron after backward: value 2.2 beside gradient -0.0898."""
    g = TensorSummary(name="w.grad", shape=[1], dtype="float32", device="cpu", strides=[1], numel=1,
                      stats=_stats([-0.0898263], norm=True), values=[-0.0898263])
    w = TensorSummary(name="w", shape=[1], dtype="float32", device="cpu", requires_grad=True, strides=[1], numel=1,
                      stats=_stats([2.2]), values=[2.2], grad=g)
    row = {"name": "w", "path": "w", "shape": [1], "count": 1, "requires_grad": True, "is_leaf": True, "has_grad": True,
           "value": 2.2, "grad": -0.0898263, "value_norm": 2.2, "grad_norm": 0.0898263, "grad_nan": 0, "grad_max_abs": 0.0898263}
    return InspectResult("i-grad", "w", "grad", tensor=w, data={"rows": [row], "note": ""})


def matrix_grad() -> InspectResult:
    """`W` (6, 8) beside its gradient: a heatmap, with every third column's gradient exactly zero."""
    return InspectResult("i-grad2", "W", "grad", tensor=weights(), data={"rows": [], "note": ""})


def module_grads() -> InspectResult:
    """The net's parameters beside their gradients; fc1.bias has 2 NaN entries, which must stand out."""
    def row(name: str, shape: list[int], count: int, norm: float | None, bad: int = 0, value: float | None = None,
            grad: float | None = None) -> dict[str, Any]:
        return {"name": name, "path": f"model.{name}", "shape": shape, "count": count, "requires_grad": True,
                "is_leaf": True, "has_grad": norm is not None, "value": value, "grad": grad, "value_norm": 1.0,
                "grad_norm": norm, "grad_nan": bad if norm is not None else None, "grad_max_abs": norm}
    rows = [row("fc1.weight", [5, 10], 50, 0.736912), row("fc1.bias", [5], 5, math.nan, bad=2),
            row("fc2.weight", [1, 5], 5, 0.436704), row("fc2.bias", [1], 1, 0.521797, value=0.0757, grad=-0.521797)]
    return InspectResult("i-grads", "model", "grad", data={"rows": rows, "note": ""})


def triangulation(ok: bool = True) -> InspectResult:
    """The neuron's gradients three ways; with ok=False the manual dL/dw is the seed's rounded -0.0902."""
    manual_w = -0.0898263 if ok else -0.0902
    rows = [
        {"param": "w", "manual": manual_w, "numeric": -0.0898263, "autograd": -0.0898263,
         "rel_err": 1.4e-07 if ok else 0.00416, "rel_err_numeric": 1.2e-10, "rel_err_manual": 1.4e-07 if ok else 0.00416, "ok": ok},
        {"param": "b", "manual": -0.0816603, "numeric": -0.0816603, "autograd": -0.0816603,
         "rel_err": 9.5e-08, "rel_err_numeric": 3.3e-10, "rel_err_manual": 9.5e-08, "ok": True},
    ]
    data = {"rows": rows, "value": 0.0851879, "numeric_dtype": "float64", "eps": 1e-06, "rtol": 0.0001, "atol": 1e-07,
            "manual_rtol": 0.001, "ok": ok, "note": "", "fn": "loss_at"}
    return InspectResult("i-tri", "check", "triangulate", data=data)


def neuron_graph() -> InspectResult:
    """The autograd lesson's neuron after backward with retain_grad on z, a and loss."""
    nodes = [
        GraphNode("n0", "BinaryCrossEntropy", "loss", [], 0.0851879, 1.0, backward="BinaryCrossEntropyBackward0", grad_norm=1.0),
        GraphNode("n1", "Sigmoid", "a", [1], 0.91834, -1.08892, backward="SigmoidBackward0", grad_norm=1.08892),
        GraphNode("n2", "Add", "z", [1], 2.42, -0.0816603, backward="AddBackward0", grad_norm=0.0816603),
        GraphNode("n3", "Mul", "", [1], None, None, backward="MulBackward0"),
        GraphNode("n4", "Leaf", "b", [1], 0.0, -0.0816603, True, backward="AccumulateGrad", grad_norm=0.0816603),
        GraphNode("n5", "Leaf", "w", [1], 2.2, -0.0898263, True, backward="AccumulateGrad", grad_norm=0.0898263),
    ]
    edges = [["n1", "n0"], ["n2", "n1"], ["n3", "n2"], ["n4", "n2"], ["n5", "n3"]]
    return InspectResult("i-graph", "loss", "graph", graph=Graph("i-graph", "n0", nodes, edges))


def mlp_graph(layers: int = 12) -> InspectResult:
    """A deep MLP's loss: Linear layers model.layers.K (weight via T, bias), ReLU between; 5 nodes per layer."""
    nodes = [GraphNode("n0", "MseLoss", "loss", [], 0.4321, backward="MseLossBackward0")]
    edges: list[list[str]] = []
    consumer = "n0"
    k = 1

    def new(op: str, **kw: Any) -> str:
        nonlocal k
        nid = f"n{k}"
        k += 1
        nodes.append(GraphNode(nid, op, backward=f"{op}Backward0" if op != "Leaf" else "AccumulateGrad", **kw))
        return nid

    for layer in reversed(range(layers)):
        mod = f"model.layers.{layer}"
        addmm = new("Addmm", shape=[32, 16], module=mod)
        edges.append([addmm, consumer])
        bias = new("Leaf", name=f"{mod}.bias", shape=[16], is_leaf=True, module=mod, grad_norm=round(0.01 * (layer + 1), 4))
        t = new("T", shape=[16, 16], module=mod)
        weight = new("Leaf", name=f"{mod}.weight", shape=[16, 16], is_leaf=True, module=mod, grad_norm=round(0.1 * (layer + 1), 4))
        edges += [[bias, addmm], [t, addmm], [weight, t]]
        if layer:
            relu = new("Relu", shape=[32, 16])
            edges.append([relu, addmm])
            consumer = relu
    return InspectResult("i-mlp", "loss", "graph", graph=Graph("i-mlp", "n0", nodes, edges))

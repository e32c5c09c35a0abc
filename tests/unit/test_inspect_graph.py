"""The autograd graph inspector: the neuron's graph, names, values, gradients, caps and module groups."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from llm_tutor.engine.kernel import protocol
from llm_tutor.engine.kernel.child.inspect import build_graph, inspect_object, op_name, record_forward
from llm_tutor.engine.kernel.protocol import Graph, GraphNode


def _neuron(record: bool = False) -> dict[str, object]:
    x = torch.tensor([1.1])
    w = torch.tensor([2.2], requires_grad=True)
    b = torch.tensor([0.0], requires_grad=True)
    y = torch.tensor([1.0])
    if record:
        with record_forward():
            loss = F.binary_cross_entropy(torch.sigmoid(x * w + b), y)
        return {"x": x, "w": w, "b": b, "y": y, "loss": loss}
    z = x * w + b
    a = torch.sigmoid(z)
    loss = F.binary_cross_entropy(a, y)
    return {"x": x, "w": w, "b": b, "y": y, "z": z, "a": a, "loss": loss, "F": F, "torch": torch}


def _chain(graph: Graph) -> list[GraphNode]:
    """The first-input path from the root down to a leaf."""
    by_id = {n.id: n for n in graph.nodes}
    inputs: dict[str, list[str]] = {}
    for src, dst in graph.edges:
        inputs.setdefault(dst, []).append(src)
    node, path = by_id[graph.root], []
    while True:
        path.append(node)
        if node.id not in inputs:
            return path
        node = by_id[inputs[node.id][0]]


def test_the_neuron_graph_names_ops_leaves_and_gradients() -> None:
    ns = _neuron()
    ns["loss"].backward()  # type: ignore[attr-defined]
    r = inspect_object("r7", "loss", ns, "graph", {})
    assert r.error == "" and r.graph is not None and r.graph.parent == "r7"
    graph = r.graph
    assert [n.op for n in _chain(graph)] == ["BinaryCrossEntropy", "Sigmoid", "Add", "Mul", "Leaf"]
    leaves = {n.name: n for n in graph.nodes if n.is_leaf}
    assert set(leaves) == {"w", "b"}
    assert round(leaves["w"].grad, 4) == -0.0898 and round(leaves["b"].grad, 4) == -0.0817  # type: ignore[arg-type]
    assert leaves["w"].value == torch.tensor(2.2).item() and leaves["w"].shape == [1]
    assert leaves["w"].backward == "AccumulateGrad" and leaves["w"].grad_norm == abs(leaves["w"].grad)  # type: ignore[arg-type]
    ops = {n.op: n for n in graph.nodes}
    assert ops["BinaryCrossEntropy"].name == "loss" and ops["BinaryCrossEntropy"].shape == []
    assert ops["Sigmoid"].name == "a" and round(ops["Sigmoid"].value, 4) == 0.9183  # type: ignore[arg-type]
    assert ops["Add"].name == "z" and round(ops["Add"].value, 2) == 2.42  # type: ignore[arg-type]
    assert ops["Mul"].backward == "MulBackward0" and ops["Mul"].shape == [1]
    # edges point from an input to the operation that used it; the root consumes, it feeds nothing
    by_id = {n.id: n for n in graph.nodes}
    pairs = {(by_id[s].name or by_id[s].op, by_id[d].name or by_id[d].op) for s, d in graph.edges}
    assert pairs == {("a", "loss"), ("z", "a"), ("Mul", "z"), ("b", "z"), ("w", "Mul")}
    assert not graph.truncated
    assert protocol.decode(protocol.encode(r)) == r


def test_named_intermediates_show_their_gradient_after_retain_grad() -> None:
    """The autograd lesson calls z.retain_grad(), a.retain_grad(), loss.retain_grad(): the graph shows dL/dz = a - y."""
    ns = _neuron()
    plain = {n.op: n for n in build_graph(ns["loss"], "loss", ns).nodes}  # type: ignore[arg-type]
    assert plain["Add"].grad is None and plain["Add"].grad_norm is None  # no backward yet, nothing retained
    for name in ("z", "a", "loss"):
        ns[name].retain_grad()  # type: ignore[attr-defined]
    ns["loss"].backward()  # type: ignore[attr-defined]
    ops = {n.op: n for n in build_graph(ns["loss"], "loss", ns).nodes}  # type: ignore[arg-type]
    a_minus_y = (ns["a"] - ns["y"]).item()  # type: ignore[operator]
    assert ops["Add"].name == "z" and abs(ops["Add"].grad - a_minus_y) < 1e-7  # type: ignore[operator]
    assert round(ops["Sigmoid"].grad, 4) == -1.0889  # type: ignore[arg-type]
    assert ops["BinaryCrossEntropy"].grad == 1.0
    assert ops["Mul"].grad is None  # unnamed and not retained: autograd kept nothing


def test_saved_inputs_give_values_before_backward_and_recording_keeps_them_after() -> None:
    ns = _neuron()
    del ns["a"], ns["z"]  # only what autograd saved is left to read values from
    before = {n.op: n for n in build_graph(ns["loss"], "loss", ns).nodes}  # type: ignore[arg-type]
    assert round(before["Sigmoid"].value, 4) == 0.9183  # type: ignore[arg-type]  # BCE's _saved_self
    recorded = _neuron(record=True)
    recorded["loss"].backward()  # type: ignore[attr-defined]
    after = {n.op: n for n in build_graph(recorded["loss"], "loss", recorded).nodes}  # type: ignore[arg-type]
    assert round(after["Mul"].value, 2) == 2.42 and round(after["Add"].value, 2) == 2.42  # type: ignore[arg-type]
    assert round(after["Sigmoid"].value, 4) == 0.9183 and after["Sigmoid"].shape == [1]  # type: ignore[arg-type]


def test_a_reused_tensor_is_one_node_with_several_edges() -> None:
    w = torch.tensor(3.0, requires_grad=True)
    y = w * w + w
    graph = build_graph(y, "y", {"w": w, "y": y})
    leaves = [n for n in graph.nodes if n.is_leaf]
    assert len(leaves) == 1 and leaves[0].name == "w"
    assert sum(1 for s, _ in graph.edges if s == leaves[0].id) == 3


def test_large_graphs_are_capped_nearest_the_root() -> None:
    w = torch.ones(3, requires_grad=True)
    h = w
    for _ in range(500):
        h = h * 1.001
    graph = build_graph(h.sum(), "loss", {"w": w}, max_nodes=200)
    assert graph.truncated and len(graph.nodes) == 200
    ids = {n.id for n in graph.nodes}
    assert all(s in ids and d in ids for s, d in graph.edges)
    assert graph.nodes[0].op == "Sum" and not any(n.is_leaf for n in graph.nodes)
    small = inspect_object("p", "h", {"h": h}, "graph", {"max_nodes": 10})
    assert small.graph is not None and len(small.graph.nodes) == 10 and small.graph.truncated


def test_module_parameters_are_named_by_path_and_grouped() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 5), nn.ReLU(), nn.Linear(5, 1), nn.Sigmoid())
    out = model(torch.randn(1, 10))
    loss = F.binary_cross_entropy(out, torch.ones(1, 1))
    loss.backward()
    graph = build_graph(loss, "loss", {"model": model, "loss": loss})
    leaves = {n.name: n for n in graph.nodes if n.is_leaf}
    assert set(leaves) == {"model.0.weight", "model.0.bias", "model.2.weight", "model.2.bias"}
    assert leaves["model.0.weight"].module == "model.0" and leaves["model.0.weight"].shape == [5, 10]
    assert leaves["model.0.weight"].grad is None and leaves["model.0.weight"].grad_norm is not None
    assert leaves["model.2.bias"].grad == model[2].bias.grad.item()  # type: ignore[union-attr]
    addmm = [n for n in graph.nodes if n.op == "Addmm"]
    assert sorted(n.module for n in addmm) == ["model.0", "model.2"]
    relu = next(n for n in graph.nodes if n.op == "Relu")
    assert relu.module == "" and relu.shape == [1, 5]


def test_a_leftover_loop_variable_does_not_name_a_parameter() -> None:
    """`for name, p in model.named_parameters()` leaves `p` bound to the last parameter: the graph still says
    model.2.bias, and the gradient table of an optimizer too."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1))
    loss = model(torch.randn(4, 3)).pow(2).mean()
    loss.backward()
    p = None
    for _name, p in model.named_parameters():
        pass
    ns = {"p": p, "model": model, "loss": loss}
    leaves = {n.name for n in build_graph(loss, "loss", ns).nodes if n.is_leaf}
    assert leaves == {"model.0.weight", "model.0.bias", "model.2.weight", "model.2.bias"}
    w = torch.ones(2, requires_grad=True)  # a tensor of its own keeps its own name
    assert [n.name for n in build_graph((w * 2).sum(), "s", {"w": w, "model": model}).nodes if n.is_leaf] == ["w"]


def test_leaves_and_multi_output_ops() -> None:
    w = torch.randn(4, requires_grad=True)
    leaf = inspect_object("p", "w", {"w": w}, "graph", {})
    assert leaf.graph is not None and [n.op for n in leaf.graph.nodes] == ["Leaf"] and leaf.graph.nodes[0].name == "w"
    a, b = w.split(2)
    y = (a * b).sum()
    graph = build_graph(y, "y", {"w": w})
    split = next(n for n in graph.nodes if n.op.startswith("Split"))
    assert split.shape is None  # two outputs: no single shape
    assert any(n.is_leaf and n.name == "w" for n in graph.nodes)


def test_op_names_drop_the_backward_suffix() -> None:
    y = torch.sigmoid(torch.ones(1, requires_grad=True))
    assert op_name(y.grad_fn) == "Sigmoid"
    assert op_name(y.grad_fn.next_functions[0][0]) == "Leaf"  # type: ignore[union-attr]

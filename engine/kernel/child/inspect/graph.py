"""Provides `build_graph`: the autograd graph behind a result, as plain nodes and edges.

The walk follows ``grad_fn.next_functions`` breadth-first from the result, so when a large graph is
capped the nodes nearest the loss are the ones kept. What each node shows comes from what autograd
keeps, best source first:

- names: namespace tensors are matched by identity, leaves through ``AccumulateGrad.variable``
  (``w``, ``model.fc1.weight``) and intermediate results through their ``grad_fn`` (``z``, ``a``);
- shapes: the node's ``_input_metadata`` (kept even after ``backward()``), or the leaf itself;
- single-element forward values: the named tensor itself, a value recorded by `record_forward`,
  the node's ``_saved_result``, or the consumer's ``_saved_self``/``_saved_other`` (saved tensors
  are freed by ``backward()``, so after it only named tensors and recorded values remain);
- gradients: a leaf's ``.grad`` (its value if single-element, its norm always), and the ``.grad`` of
  a named intermediate result that called ``retain_grad()`` (``z.retain_grad()`` in the autograd lesson).

An operation node is grouped under a module when the parameters it uses directly (or through one
view-like step such as ``t()``) all belong to that module.
"""

from __future__ import annotations

import dataclasses
import re
from collections import deque
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from llm_tutor.engine.kernel.child.inspect.paths import named_tensors
from llm_tutor.engine.kernel.child.inspect.tensor import safe_norm, safe_scalar
from llm_tutor.engine.kernel.protocol import Graph, GraphNode

MAX_NODES = 200
VALUE_KEY = "llm_tutor.value"
SHAPE_KEY = "llm_tutor.shape"
_SAVED_BY_INPUT = {0: ("_saved_self",), 1: ("_saved_other",)}
"""Saved forward inputs that belong to the consumer's n-th input (ATen's ``self``, ``other``)."""
_BACKWARD_SUFFIX = re.compile(r"Backward\d*$")


def op_name(node: object) -> str:
    """The forward operation a backward node stands for: ``MulBackward0`` gives ``Mul``."""
    name = type(node).__name__
    if name == "AccumulateGrad":
        return "Leaf"
    return _BACKWARD_SUFFIX.sub("", name) or name


def build_graph(
    root: torch.Tensor,
    root_name: str,
    namespace: dict[str, object],
    parent: str = "",
    max_nodes: int = MAX_NODES,
) -> Graph:
    """The graph that produced `root`, walked from ``root.grad_fn`` (a leaf gives a one-node graph)."""
    max_nodes = max(1, int(max_nodes))
    leaves: dict[int, tuple[str, str]] = {}
    results: dict[int, tuple[str, torch.Tensor]] = {}
    for path, module_path, tensor in named_tensors(namespace):
        leaves.setdefault(id(tensor), (path, module_path))
        fn = tensor.grad_fn
        if fn is not None:
            results.setdefault(id(fn), (path, tensor))
    start = root.grad_fn
    if start is None:
        return Graph(parent, "n0", [_leaf_node("n0", root, leaves, root_name)], [], False)
    results[id(start)] = (root_name, root)

    ids: dict[int, str] = {id(start): "n0"}
    order: list[Any] = [start]  # also keeps every node object alive, so ids stay unique
    children: dict[str, list[str]] = {}
    hints: dict[int, float] = {}
    edges: list[list[str]] = []
    truncated = False
    queue = deque([start])
    while queue:
        fn = queue.popleft()
        for k, (child, _) in enumerate(_next(fn)):
            if child is None:
                continue
            if id(child) not in ids:
                if len(ids) >= max_nodes:
                    truncated = True
                    continue
                ids[id(child)] = f"n{len(ids)}"
                order.append(child)
                queue.append(child)
                _saved_input_hint(fn, k, child, hints)
            edges.append([ids[id(child)], ids[id(fn)]])
            children.setdefault(ids[id(fn)], []).append(ids[id(child)])

    nodes: list[GraphNode] = []
    for fn in order:
        nid = ids[id(fn)]
        if type(fn).__name__ == "AccumulateGrad":
            nodes.append(_leaf_node(nid, _saved(fn, "variable"), leaves, "", fn))
        else:
            nodes.append(_op_node(nid, fn, results.get(id(fn)), hints.get(id(fn))))
    nodes = _group_by_module(nodes, children)
    return Graph(parent, "n0", nodes, edges, truncated)


def _next(fn: Any) -> tuple[tuple[Any, int], ...]:
    try:
        return tuple(fn.next_functions)
    except Exception:  # noqa: BLE001
        return ()


def _leaf_node(nid: str, var: object, leaves: dict[int, tuple[str, str]], fallback: str, fn: object = None) -> GraphNode:
    path, module_path = leaves.get(id(var), (fallback, ""))
    shape = _shape(var)
    grad = getattr(var, "grad", None) if isinstance(var, torch.Tensor) else None
    return GraphNode(
        id=nid, op="Leaf", name=path, shape=shape, value=safe_scalar(var), grad=safe_scalar(grad),
        is_leaf=True, module=module_path, backward=type(fn).__name__ if fn is not None else "",
        grad_norm=safe_norm(grad),
    )


def _op_node(nid: str, fn: Any, named: tuple[str, torch.Tensor] | None, hint: float | None) -> GraphNode:
    name, tensor = named if named is not None else ("", None)
    metadata = _metadata(fn)
    shape = _shape(tensor) if tensor is not None else None
    if shape is None:
        shape = _input_shape(fn)
    if shape is None and isinstance(metadata.get(SHAPE_KEY), list):
        shape = list(metadata[SHAPE_KEY])
    value = safe_scalar(tensor) if tensor is not None else None
    if value is None and isinstance(metadata.get(VALUE_KEY), float):
        value = metadata[VALUE_KEY]
    if value is None:
        value = safe_scalar(_saved(fn, "_saved_result"))
    if value is None:
        value = hint
    grad = _retained_grad(tensor)
    return GraphNode(
        id=nid, op=op_name(fn), name=name, shape=shape, value=value, backward=type(fn).__name__,
        grad=safe_scalar(grad), grad_norm=safe_norm(grad),
    )


def _retained_grad(t: torch.Tensor | None) -> torch.Tensor | None:
    """A named intermediate result's ``.grad``, kept only when the learner called ``retain_grad()``."""
    try:
        if t is None or not t.retains_grad:
            return None
        return t.grad
    except Exception:  # noqa: BLE001
        return None


def _saved_input_hint(consumer: Any, k: int, child: Any, hints: dict[int, float]) -> None:
    for attr in _SAVED_BY_INPUT.get(k, ()):
        saved = _saved(consumer, attr)
        value = safe_scalar(saved)
        if value is None or not isinstance(saved, torch.Tensor):
            continue
        expected = _input_shape(child)
        if expected is not None and list(saved.shape) != expected:
            continue
        hints.setdefault(id(child), value)


def _saved(fn: Any, attr: str) -> object:
    try:
        return getattr(fn, attr, None)
    except Exception:  # noqa: BLE001 - saved tensors are freed by backward()
        return None


def _metadata(fn: Any) -> dict[str, Any]:
    try:
        return dict(fn.metadata)
    except Exception:  # noqa: BLE001
        return {}


def _input_shape(fn: Any) -> list[int] | None:
    try:
        meta = fn._input_metadata
        if len(meta) == 1:
            return [int(s) for s in meta[0].shape]
    except Exception:  # noqa: BLE001 - private API, absent on older or newer torch
        pass
    return None


def _shape(t: object) -> list[int] | None:
    try:
        return [int(s) for s in t.shape] if isinstance(t, torch.Tensor) else None
    except Exception:  # noqa: BLE001 - nested tensors have no shape
        return None


def _group_by_module(nodes: list[GraphNode], children: dict[str, list[str]]) -> list[GraphNode]:
    by_id = {n.id: n for n in nodes}

    def direct_modules(nid: str) -> set[str]:
        found: set[str] = set()
        for cid in children.get(nid, []):
            child = by_id[cid]
            if child.is_leaf:
                found.add(child.module)
            else:
                grand = children.get(cid, [])
                if len(grand) == 1 and by_id[grand[0]].is_leaf:  # t(), view(), expand() of a parameter
                    found.add(by_id[grand[0]].module)
        return found

    out = []
    for node in nodes:
        if not node.is_leaf:
            mods = direct_modules(node.id)
            if len(mods) == 1 and "" not in mods:
                node = dataclasses.replace(node, module=mods.pop())
        out.append(node)
    return out


# --------------------------------------------------------------------------------------------
# Recording forward values
# --------------------------------------------------------------------------------------------


class record_forward(TorchFunctionMode):  # noqa: N801 - used like a function: ``with record_forward():``
    """Remember each result's shape and single-element value on its autograd node.

    Saved tensors are freed by ``backward()``; values recorded here stay on ``grad_fn.metadata``,
    so the graph can still show every intermediate scalar (``z = x*w + b``) after the backward pass.
    Costs a little per operation (and a device sync per scalar on GPUs), so it is opt-in::

        with record_forward():
            loss = F.binary_cross_entropy(torch.sigmoid(x * w + b), y)
    """

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor):
                _remember(t)
        return out


def _remember(t: torch.Tensor) -> None:
    try:
        fn = t.grad_fn
        if fn is None or t.output_nr != 0:
            return
        metadata: dict[str, Any] = fn.metadata  # type: ignore[assignment]  # a dict property at runtime
        metadata[SHAPE_KEY] = [int(s) for s in t.shape]
        value = safe_scalar(t)
        if value is not None:
            metadata[VALUE_KEY] = value
    except Exception:  # noqa: BLE001 - recording must never change what the learner's code does
        return

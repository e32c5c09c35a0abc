"""Provides `render_panels`: what the app's panels would show after a cell, as plain text (``llm-tutor run --plain``).

The variables a cell created or changed, then at most `MAX_DETAIL_PANELS` details asked of the kernel,
most telling first; each is drawn by `llm_tutor.engine.kernel.format`. Torch-free, like the formatter.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Sequence
from typing import Any, Protocol

from llm_tutor.engine.kernel.format import render_inspect, render_variables
from llm_tutor.engine.kernel.protocol import InspectResult, VariableSummary, Variables

MAX_DETAIL_PANELS = 4
"""Most detail panels (tensor, graph, gradients, module) printed after one cell."""
GRAPH_NODES = 40


class _Reply(Protocol):
    def first(self, kind: type) -> Any: ...


class _Inspecting(Protocol):
    """What `render_panels` needs of a kernel: `BlockingKernel.inspect`."""

    def inspect(self, name: str, what: str = ..., namespace: str = ..., options: dict[str, Any] | None = ...) -> _Reply: ...


_SEEN: weakref.WeakKeyDictionary[Any, dict[str, dict[str, VariableSummary]]] = weakref.WeakKeyDictionary()


def render_panels(variables: Variables, kernel: _Inspecting, max_panels: int = MAX_DETAIL_PANELS) -> str:
    """What the panels would show after a cell: the variables it created or changed, then details.

    Remembers, per kernel and namespace, the variables seen after the previous cell, so a transcript
    shows only what each cell changed. Details, at most `max_panels`, are asked of the kernel, most
    telling first: the autograd graph of the last single-element result (a loss, with every node's
    value and gradient), a gradient check the cell kept, gradients once they appear (after
    ``backward()``), a new module's parameter table, else a changed tensor's values. Returns "" when
    nothing changed.
    """
    seen = _SEEN.setdefault(kernel, {})
    previous = seen.get(variables.namespace, {})
    seen[variables.namespace] = {v.name: v for v in variables.variables}
    changed = [v for v in variables.variables if previous.get(v.name) != v]
    if not changed:
        return ""
    parts = ["variables (new or changed):\n" + render_variables(changed)]
    for v, (what, options) in _detail_requests(changed, previous):
        if len(parts) > max_panels:
            break
        try:
            result = kernel.inspect(v.name, what, variables.namespace, options).first(InspectResult)
        except Exception:  # noqa: BLE001 - a transcript must not fail on a panel
            continue
        if isinstance(result, InspectResult) and not result.error:
            parts.append(render_inspect(result))
    return "\n\n".join(parts)


_PRIORITY = {"graph": 0, "triangulate": 0, "grad": 1, "module": 2, "tensor": 3}


def _detail_requests(
    changed: Sequence[VariableSummary], previous: dict[str, VariableSummary]
) -> list[tuple[VariableSummary, tuple[str, dict[str, Any]]]]:
    """What to ask for, most telling first: one graph (the last single-element result defined, usually
    the loss, whose graph holds the earlier ones), gradient checks, gradients, modules, then values."""
    requests = []
    for v in changed:
        request = _detail_request(v, previous.get(v.name))
        if request is not None:
            requests.append((v, request))
    graphs = [v.name for v, (what, _) in requests if what == "graph"]
    for i, (v, (what, _)) in enumerate(requests):
        if what == "graph" and v.name != graphs[-1]:
            before = previous.get(v.name)
            requests[i] = (v, _detail_request(v, before, graph=False) or ("tensor", {}))
    return sorted(requests, key=lambda item: _PRIORITY.get(item[1][0], 9))


def _detail_request(
    v: VariableSummary, before: VariableSummary | None, graph: bool = True
) -> tuple[str, dict[str, Any]] | None:
    if v.kind == "tensor":
        if graph and v.info.get("grad_fn") and v.shape is not None and math.prod(v.shape) == 1:
            return "graph", {"max_nodes": GRAPH_NODES}
        if v.has_grad and (before is None or not before.has_grad or before.text != v.text):
            return "grad", {}
        return "tensor", {}
    if v.type_name == "Triangulation":  # `check = triangulate(...)` in a cell
        return "triangulate", {}
    if v.kind == "module":
        if v.has_grad and (before is None or not before.has_grad):
            return "grad", {}
        if before is None or before.params != v.params or before.type_name != v.type_name:
            return "module", {}
    return None

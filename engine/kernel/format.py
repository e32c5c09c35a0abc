"""Provides plain-text renderings of the inspectors' payloads, for ``llm-tutor run --plain``, logs and screen readers.

Torch-free: it reads only `llm_tutor.engine.kernel.protocol` payloads, so the UI process may import it.
The output is plain ASCII text (no colour codes, no box drawing), identical with or without
``NO_COLOR``, and stable enough for tests to compare.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Sequence
from typing import Any, Protocol

from llm_tutor.engine.kernel.protocol import Graph, GraphNode, InspectResult, TensorSummary, VariableSummary, Variables

ELLIPSIS = "..."


# --------------------------------------------------------------------------------------------
# Numbers
# --------------------------------------------------------------------------------------------


def format_number(value: Any, digits: int = 4) -> str:
    """A number as the panels show it: ``0.08983``, ``2.2``, ``1.5e-08``, ``nan``; None as ``-``."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:.{digits}g}"
    return str(value)


def _grid_formatter(values: list[Any]) -> Any:
    """One format for every cell of a grid, chosen like torch's printer: fixed unless magnitudes need e-notation."""
    floats = [v for v in values if isinstance(v, float) and math.isfinite(v) and v != 0]
    if not floats:
        return lambda v: ELLIPSIS if v is None else format_number(v)
    big, small = max(abs(v) for v in floats), min(abs(v) for v in floats)
    scientific = big >= 1e5 or small < 1e-4
    integral = all(v == int(v) for v in floats) and big < 1e5

    def fmt(v: Any) -> str:
        if v is None:
            return ELLIPSIS
        if not isinstance(v, float) or not math.isfinite(v):
            return format_number(v)
        v += 0.0  # -0.0 (a dead ReLU's gradient) reads as 0
        if scientific:
            return f"{v:.4e}"
        return f"{v:.0f}." if integral else f"{v:.4f}"

    return fmt


def _flat(values: Any) -> list[Any]:
    if isinstance(values, list):
        return [x for v in values for x in _flat(v)]
    return [values]


def render_values(values: Any, indent: str = "") -> str:
    """A 0-D value, a 1-D list or a 2-D grid, right-aligned, elided parts as ``...``."""
    fmt = _grid_formatter(_flat(values))
    if not isinstance(values, list):
        return indent + str(fmt(values))
    if not any(isinstance(v, list) for v in values):
        return indent + "[" + ", ".join(fmt(v) for v in values) + "]"
    rows = [[fmt(v) for v in row] if isinstance(row, list) else [fmt(row)] for row in values]
    width = max((len(c) for row in rows for c in row), default=1)
    lines = []
    for i, (row, cells) in enumerate(zip(values, rows)):
        elided_row = isinstance(row, list) and bool(row) and all(v is None for v in row)
        text = ELLIPSIS.rjust(width) if elided_row else ", ".join(c.rjust(width) for c in cells)
        opener = "[[" if i == 0 else " ["
        closer = "]]" if i == len(rows) - 1 else "],"
        lines.append(f"{indent}{opener}{text}{closer}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Tensors
# --------------------------------------------------------------------------------------------


def render_tensor(s: TensorSummary, indent: str = "") -> str:
    """Header (shape, dtype, device, autograd facts), layout, statistics, values, then the gradient."""
    flags = []
    if s.requires_grad:
        flags.append("requires_grad")
    flags.append("leaf" if s.is_leaf else "non-leaf")
    if s.grad_fn:
        flags.append(f"grad_fn={s.grad_fn}")
    title = s.name or "tensor"
    lines = [f"{indent}{title}: {_shape(s.shape)} {s.dtype} on {s.device}  ({', '.join(flags)})"]
    layout = [s.layout] if s.layout != "strided" else []
    layout.append("contiguous" if s.contiguous else "not contiguous")
    if s.strides:
        layout.append(f"strides {tuple(s.strides)}")
    layout.append(f"{s.numel} element{'s' if s.numel != 1 else ''}")
    lines.append(f"{indent}  {', '.join(layout)}")
    if s.label:
        lines.append(f"{indent}  note: {s.label}")
    if s.stats:
        lines.append(f"{indent}  {render_stats(s.stats)}")
    if s.slice_index:
        lines.append(f"{indent}  slice [{', '.join(str(i) for i in s.slice_index)}, :, :]")
    if s.values != [] or s.numel == 0 and not s.label:
        lines.append(render_values(s.values, indent + "  "))
    if s.elided:
        lines.append(f"{indent}  ({ELLIPSIS} marks elided rows and columns)")
    if s.grad is not None:
        lines.append(render_tensor(s.grad, indent + "  "))
    return "\n".join(lines)


def render_stats(stats: dict[str, Any]) -> str:
    """``min 0  max 1  mean 0.5  std 0.7071  nan 0  inf 0`` (plus ``true`` and ``norm`` when present)."""
    order = ["min", "max", "mean", "std", "norm", "true", "nan", "inf"]
    keys = [k for k in order if k in stats] + [k for k in stats if k not in order]
    return "  ".join(f"{k} {format_number(stats[k])}" for k in keys)


def _shape(shape: Sequence[int] | None) -> str:
    if shape is None:
        return "[?]"
    return "[" + ", ".join(str(s) for s in shape) + "]"


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool] | None = None) -> str:
    """Columns separated by two spaces, numbers right-aligned, a dashed rule under the header."""
    right = list(right) if right is not None else [False] * len(headers)
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        out = [c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right)]
        return "  ".join(out).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])


def render_variables(variables: Sequence[VariableSummary]) -> str:
    """The variables panel as a table: name, type, shape, dtype, device, grad, params, value."""
    if not variables:
        return "(no variables)"
    rows = []
    for v in variables:
        grad = "grad" if v.has_grad else ("req" if v.requires_grad else "")
        rows.append([
            v.name,
            v.type_name if v.kind in ("module", "optimizer", "other") else v.kind if v.kind != "tensor" else v.type_name,
            _shape(v.shape) if v.shape is not None else "",
            v.dtype,
            v.device,
            grad,
            f"{v.params:,}" if v.params is not None else "",
            v.text,
        ])
    return render_table(
        ["name", "type", "shape", "dtype", "device", "grad", "params", "value"], rows,
        [False, False, False, False, False, False, True, False],
    )


def render_module(data: dict[str, Any], name: str = "") -> str:
    """A module's parameter table with its totals (and its children's counts)."""
    total, trainable = data.get("total", 0), data.get("trainable", 0)
    head = f"{name + ': ' if name else ''}{data.get('type_name', 'module')} with {total:,} parameters ({trainable:,} trainable)"
    rows = [
        [p["name"], _shape(p["shape"]), f"{p['count']:,}", "yes" if p["trainable"] else "no"]
        for p in data.get("params", [])
    ]
    parts = [head]
    if rows:
        parts.append(render_table(["parameter", "shape", "count", "trainable"], rows, [False, False, True, False]))
    children = data.get("children", [])
    if children:
        parts.append(render_table(
            ["child", "type", "params"], [[c["name"], c["type_name"], f"{c['params']:,}"] for c in children],
            [False, False, True],
        ))
    return "\n".join(parts)


def render_optimizer(data: dict[str, Any], name: str = "") -> str:
    """An optimizer's type, learning rate and groups on one line."""
    keys = [k for k in ("lr", "momentum", "weight_decay", "betas", "eps") if k in data]
    extras = ", ".join(f"{k}={format_number(data[k]) if not isinstance(data[k], list) else data[k]}" for k in keys)
    return (f"{name + ': ' if name else ''}{data.get('type_name', 'optimizer')}({extras}) over "
            f"{data.get('params', 0)} tensors in {data.get('param_groups', 0)} group(s)")


def render_grads(data: dict[str, Any]) -> str:
    """Each parameter beside its gradient: values for single elements, norms for all."""
    rows = []
    for r in data.get("rows", []):
        rows.append([
            r["name"], _shape(r["shape"]), format_number(r.get("value")), format_number(r.get("grad")),
            format_number(r.get("grad_norm")), format_number(r.get("grad_nan")) if r.get("has_grad") else "",
        ])
    table = render_table(["parameter", "shape", "value", "grad", "grad norm", "nan/inf"], rows,
                         [False, False, True, True, True, True])
    note = data.get("note")
    return table + (f"\nnote: {note}" if note else "")


def render_triangulation(data: dict[str, Any]) -> str:
    """Manual, numerical and autograd gradients side by side, with relative errors and a verdict per row."""
    rows = []
    for r in data.get("rows", []):
        rows.append([
            r["param"], format_number(r.get("manual"), 6), format_number(r.get("numeric"), 6),
            format_number(r.get("autograd"), 6), format_number(r.get("rel_err"), 2), "ok" if r["ok"] else "MISMATCH",
        ])
    head = (f"gradients of {data.get('fn', 'f')} = {format_number(data.get('value'), 6)}: central differences in "
            f"{data.get('numeric_dtype', 'float64')} (eps {format_number(data.get('eps'))}), "
            f"tolerance rtol {format_number(data.get('rtol'))}")
    table = render_table(["param", "manual", "numeric", "autograd", "rel err", "check"], rows,
                         [False, True, True, True, True, False])
    note = data.get("note")
    return "\n".join([head, table] + ([f"note: {note}"] if note else []))


# --------------------------------------------------------------------------------------------
# Graphs
# --------------------------------------------------------------------------------------------


def node_label(node: GraphNode) -> str:
    """``a = Sigmoid  value 0.9183  [1]``; leaves as ``w (leaf)  value 2.2  [1]  grad -0.08983``."""
    if node.is_leaf:
        parts = [f"{node.name or 'tensor'} (leaf)"]
    else:
        parts = [f"{node.name} = {node.op}" if node.name else node.op]
    if node.value is not None:
        parts.append(f"value {format_number(node.value)}")
    if node.shape is not None:
        parts.append(_shape(node.shape))
    if node.grad is not None:
        parts.append(f"grad {format_number(node.grad)}")
    elif node.grad_norm is not None:
        parts.append(f"grad norm {format_number(node.grad_norm)}")
    if node.module:
        parts.append(f"in {node.module}")
    return "  ".join(parts)


def render_graph(graph: Graph) -> str:
    """The graph as an indented tree from the result down to the leaves; shared nodes are drawn once."""
    by_id = {n.id: n for n in graph.nodes}
    inputs: dict[str, list[str]] = {}
    for src, dst in graph.edges:
        inputs.setdefault(dst, []).append(src)
    if graph.root not in by_id:
        return "(empty graph)"
    lines: list[str] = []
    seen: set[str] = set()
    # iterative depth-first walk; each entry is (node id, prefix for its line, prefix for its children)
    stack: list[tuple[str, str, str]] = [(graph.root, "", "")]
    while stack:
        nid, lead, child_lead = stack.pop()
        node = by_id.get(nid)
        if node is None:
            continue
        if nid in seen:
            lines.append(f"{lead}{node.name or node.op} (shown above)")
            continue
        seen.add(nid)
        lines.append(lead + node_label(node))
        kids = inputs.get(nid, [])
        for i in reversed(range(len(kids))):
            last = i == len(kids) - 1
            stack.append((kids[i], child_lead + ("`-- " if last else "|-- "), child_lead + ("    " if last else "|   ")))
    if graph.truncated:
        lines.append(f"{ELLIPSIS} graph truncated at {len(graph.nodes)} nodes")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Any inspect result
# --------------------------------------------------------------------------------------------


def render_inspect(result: InspectResult) -> str:
    """Whatever an ``Inspect`` request returned, as text (``error: ...`` for failures)."""
    if result.error:
        return f"{result.name}: error: {result.error}"
    parts: list[str] = []
    if result.what == "graph" and result.graph is not None:
        parts.append(f"autograd graph of {result.name}:")
        parts.append(render_graph(result.graph))
    elif result.what == "module":
        if "params" in result.data and isinstance(result.data["params"], list):
            parts.append(render_module(result.data, result.name))
        else:
            parts.append(render_optimizer(result.data, result.name))
    elif result.what == "triangulate":
        parts.append(render_triangulation(result.data))
    else:
        if result.tensor is not None:
            parts.append(render_tensor(result.tensor))
        if result.what == "grad" and result.data.get("rows") is not None:
            parts.append(render_grads(result.data))
    return "\n".join(parts)


# --------------------------------------------------------------------------------------------
# Panels after a cell (llm-tutor run --plain)
# --------------------------------------------------------------------------------------------

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

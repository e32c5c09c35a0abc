"""Provides the one rule for how numbers, shapes, dtypes and statistics read, and plain-text renderings of the inspectors' payloads.

The rule (used by ``llm-tutor run --plain``, logs and screen readers here, and by the app's panels,
which only add Rich styling: `tui/widgets/inspect/render.py`) follows torch's own printing, so a tensor
reads the same in the panels as in what ``print(t)`` showed in the cell just above them:

- a grid of values gets one format for every cell, chosen as ``torch._tensor_str._Formatter`` chooses it
  with the default print options (precision 4): e-notation (``1.0000e-05``) when the nonzero finite
  magnitudes span more than 1000x, exceed 1e8 or go below 1e-4; else whole numbers as ``2.`` and the rest
  as ``0.0898``. So ``123456.0`` reads ``123456.``, as torch prints it, not ``1.2346e+05``;
- a shape reads as ``torch.Size`` prints it and torch's own errors name it: ``[2, 3]``, ``[3]``, ``[]``;
  strides as ``Tensor.stride()`` returns them: ``(3, 1)``; a dtype without its ``torch.`` prefix;
- a single number (a statistic, a norm, a node's value) has four significant digits (``0.08983``,
  ``1.5e-08``), a 0-D tensor's value six (``0.0898263``); ``-0.0`` (a dead ReLU's gradient) reads ``0``.

Torch-free: it reads only `llm_tutor.engine.kernel.protocol` payloads, so the UI process may import it.
The plain output is ASCII text (no colour codes, no box drawing), identical with or without
``NO_COLOR``, and stable enough for tests to compare.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from llm_tutor.engine.kernel.protocol import Graph, GraphNode, InspectResult, TensorSummary, VariableSummary

ELLIPSIS = "..."
PRECISION = 4
"""Digits after the point in a grid, as torch's default print options."""
STATS_ORDER = ("min", "max", "mean", "std", "norm", "true", "nan", "inf")


# --------------------------------------------------------------------------------------------
# Numbers, shapes, dtypes: the one rule
# --------------------------------------------------------------------------------------------


def format_number(value: Any, digits: int = 4) -> str:
    """A single number: ``0.08983``, ``2.2``, ``1.5e-08``, ``nan``; None as ``-``."""
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
        return f"{value + 0.0:.{digits}g}"
    return str(value)


def format_scalar(value: Any) -> str:
    """A 0-D tensor's value: one number, with more digits than a grid cell (``0.0898263``)."""
    return format_number(value, 6) if isinstance(value, float) else format_number(value)


def _finite_float(v: Any) -> bool:
    return isinstance(v, float) and math.isfinite(v)


def value_formatter(values: Iterable[Any], ellipsis: str = ELLIPSIS) -> Callable[[Any], str]:
    """One format for every cell of a grid, chosen as torch's printer does (see the module docstring).

    None (an elided position) reads as `ellipsis`; ints and bools as Python prints them.
    """
    nonzero = [abs(v) for v in values if _finite_float(v) and v != 0]
    integral = all(v == math.floor(v) for v in nonzero)
    scientific = bool(nonzero) and (max(nonzero) / min(nonzero) > 1000.0 or max(nonzero) > 1.0e8 or min(nonzero) < 1.0e-4)

    def fmt(v: Any) -> str:
        if v is None:
            return ellipsis
        if not _finite_float(v):
            return format_number(v)
        v += 0.0  # -0.0 (a dead ReLU's gradient) reads as 0
        if scientific:
            return f"{v:.{PRECISION}e}"
        return f"{v:.0f}." if integral else f"{v:.{PRECISION}f}"

    return fmt


def flat_values(values: Any) -> list[Any]:
    """Every value of a 0-, 1- or 2-D value list, elided ones (None) included."""
    if isinstance(values, list):
        return [x for v in values for x in flat_values(v)]
    return [values]


def format_shape(shape: Sequence[int] | None) -> str:
    """A shape as ``torch.Size`` prints it: ``[2, 3]``, ``[3]``, ``[]`` (unknown: ``[?]``)."""
    if shape is None:
        return "[?]"
    return "[" + ", ".join(str(s) for s in shape) + "]"


def format_strides(strides: Sequence[int]) -> str:
    """Strides as ``Tensor.stride()`` returns them, a tuple: ``(3, 1)``, ``(1,)``."""
    return str(tuple(strides))


def format_dtype(dtype: str) -> str:
    """A dtype's name without the ``torch.`` prefix: ``float32``."""
    return str(dtype).removeprefix("torch.")


def format_slice(index: Sequence[int]) -> str:
    """The 2-D slice shown of a tensor of rank > 2: ``[1, :, :]``."""
    return "[" + ", ".join(str(i) for i in index) + ", :, :]"


def stats_fields(stats: dict[str, Any]) -> list[tuple[str, str]]:
    """The statistics in reading order (`STATS_ORDER`, then any others), each with its value as text."""
    keys = [k for k in STATS_ORDER if k in stats] + [k for k in stats if k not in STATS_ORDER]
    return [(k, format_number(stats[k])) for k in keys]


def render_values(values: Any, indent: str = "") -> str:
    """A 0-D value, a 1-D list or a 2-D grid, right-aligned, elided parts as ``...``."""
    if not isinstance(values, list):
        return indent + format_scalar(values)
    fmt = value_formatter(flat_values(values))
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
    lines = [f"{indent}{title}: {format_shape(s.shape)} {format_dtype(s.dtype)} on {s.device}  ({', '.join(flags)})"]
    layout = [s.layout] if s.layout != "strided" else []
    layout.append("contiguous" if s.contiguous else "not contiguous")
    if s.strides:
        layout.append(f"strides {format_strides(s.strides)}")
    layout.append(f"{s.numel} element{'s' if s.numel != 1 else ''}")
    lines.append(f"{indent}  {', '.join(layout)}")
    if s.label:
        lines.append(f"{indent}  note: {s.label}")
    if s.stats:
        lines.append(f"{indent}  {render_stats(s.stats)}")
    if s.slice_index:
        lines.append(f"{indent}  slice {format_slice(s.slice_index)}")
    if s.values != [] or s.numel == 0 and not s.label:
        lines.append(render_values(s.values, indent + "  "))
    if s.elided:
        lines.append(f"{indent}  ({ELLIPSIS} marks elided rows and columns)")
    if s.grad is not None:
        lines.append(render_tensor(s.grad, indent + "  "))
    return "\n".join(lines)


def render_stats(stats: dict[str, Any]) -> str:
    """``min 0  max 1  mean 0.5  std 0.7071  nan 0  inf 0`` (plus ``true`` and ``norm`` when present)."""
    return "  ".join(f"{k} {text}" for k, text in stats_fields(stats))


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
            format_shape(v.shape) if v.shape is not None else "",
            format_dtype(v.dtype),
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
        [p["name"], format_shape(p["shape"]), f"{p['count']:,}", "yes" if p["trainable"] else "no"]
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
            r["name"], format_shape(r["shape"]), format_number(r.get("value")), format_number(r.get("grad")),
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
        parts.append(format_shape(node.shape))
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


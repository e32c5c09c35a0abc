"""Provides the kernel-side inspectors: tensors, gradients, autograd graphs, modules and variables.

Everything here runs inside the kernel process (it imports torch) and returns only the plain
payloads of `llm_tutor.engine.kernel.protocol`; `llm_tutor.engine.kernel.format` and the UI's widgets draw them.
The kernel runtime calls the two entry points:

- `summarize_variables(namespace)` after every cell, for the variables panel;
- `inspect_object(parent, name, namespace, what, options)` for an ``Inspect`` request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from llm_tutor.engine.kernel.child.inspect.gradcheck import Triangulation, numeric_grad, relative_error, triangulate
from llm_tutor.engine.kernel.child.inspect.graph import build_graph, op_name, record_forward
from llm_tutor.engine.kernel.child.inspect.modules import grad_note, grad_row, module_table
from llm_tutor.engine.kernel.child.inspect.paths import PathError, resolve, tensor_names
from llm_tutor.engine.kernel.child.inspect.stats import tensor_stats
from llm_tutor.engine.kernel.child.inspect.tensor import MAX_COLS, MAX_ROWS, summarize_tensor
from llm_tutor.engine.kernel.child.inspect.variables import optimizer_info, summarize_variables
from llm_tutor.engine.kernel.protocol import InspectResult

__all__ = [
    "INSPECTORS",
    "Triangulation",
    "build_graph",
    "inspect_object",
    "numeric_grad",
    "op_name",
    "record_forward",
    "relative_error",
    "summarize_tensor",
    "summarize_variables",
    "tensor_stats",
    "triangulate",
]

LIMIT_ROWS = 200
"""The most rows or columns of values any request may ask for."""
MAX_TRIANGULATE_ELEMENTS = 64


class InspectError(ValueError):
    """A request the inspectors cannot serve; its text is the `InspectResult.error` shown to the learner."""


def inspect_object(
    parent: str, name: str, namespace: dict[str, object], what: str, options: dict[str, Any]
) -> InspectResult:
    """Serve one ``Inspect`` request; errors come back in `InspectResult.error`, never as exceptions.

    Args:
        parent: the request id, copied to the result (and the graph) so the UI can match them.
        name: a variable or an expression path (``model.fc1.weight``, ``w.grad``), resolved by walking.
        namespace: the lesson's namespace.
        what: "tensor", "grad", "graph", "module" or "triangulate" (see `INSPECTORS`).
        options: per-inspector options: ``slice``, ``max_rows``, ``max_cols`` (tensor, grad);
            ``max_nodes`` (graph); ``fn``, ``params``, ``manual``, ``eps``, ``rtol``, ``atol``,
            ``manual_rtol``, ``max_elements`` (triangulate).
    """
    handler = INSPECTORS.get(what)
    if handler is None:
        return InspectResult(parent, name, what, error=f"unknown inspector {what!r}; expected one of {', '.join(INSPECTORS)}")
    try:
        return handler(parent, name, namespace, dict(options or {}))
    except (PathError, InspectError) as exc:
        return InspectResult(parent, name, what, error=str(exc))
    except Exception as exc:  # noqa: BLE001 - an inspector must never take the kernel down
        return InspectResult(parent, name, what, error=f"{type(exc).__name__}: {exc}")


def _tensor(parent: str, name: str, ns: dict[str, object], options: dict[str, Any]) -> InspectResult:
    t = _resolve_tensor(name, ns)
    return InspectResult(parent, name, "tensor", tensor=_summary(t, name, options))


def _grad(parent: str, name: str, ns: dict[str, object], options: dict[str, Any]) -> InspectResult:
    obj = resolve(name, ns)
    if isinstance(obj, torch.Tensor):
        data = {"rows": [grad_row(name, name, obj)], "note": grad_note(obj)}
        return InspectResult(parent, name, "grad", tensor=_summary(obj, name, options), data=data)
    if isinstance(obj, torch.nn.Module):
        rows = [grad_row(p, f"{name}.{p}", t) for p, t in obj.named_parameters()]
        note = "" if any(r["has_grad"] for r in rows) else "no gradients yet: call .backward() on a loss computed by this module"
        return InspectResult(parent, name, "grad", data={"rows": rows, "note": note})
    if isinstance(obj, torch.optim.Optimizer):
        names = tensor_names(ns)
        rows = []
        for g, group in enumerate(obj.param_groups):
            for i, p in enumerate(group.get("params", [])):
                path = names.get(id(p), (f"{name}.param_groups[{g}]['params'][{i}]", ""))[0]
                rows.append(grad_row(path, path, p))
        return InspectResult(parent, name, "grad", data={"rows": rows, "note": ""})
    raise InspectError(f"{name} is a {type(obj).__name__}: gradients belong to tensors, modules and optimizers")


def _graph(parent: str, name: str, ns: dict[str, object], options: dict[str, Any]) -> InspectResult:
    t = _resolve_tensor(name, ns)
    if t.grad_fn is None and not t.requires_grad:
        raise InspectError(
            f"{name} has no autograd graph: it does not require grad and was not computed from tensors that do"
        )
    max_nodes = _int_option(options, "max_nodes", 200, 1, 5000)
    return InspectResult(parent, name, "graph", graph=build_graph(t, name, ns, parent, max_nodes))


def _module(parent: str, name: str, ns: dict[str, object], options: dict[str, Any]) -> InspectResult:
    obj = resolve(name, ns)
    if isinstance(obj, torch.nn.Module):
        return InspectResult(parent, name, "module", data=module_table(obj, name))
    if isinstance(obj, torch.optim.Optimizer):
        return InspectResult(parent, name, "module", data=optimizer_info(obj))
    raise InspectError(f"{name} is a {type(obj).__name__}, not an nn.Module")


def _triangulate(parent: str, name: str, ns: dict[str, object], options: dict[str, Any]) -> InspectResult:
    fn_name = options.get("fn") or name
    f = resolve(str(fn_name), ns)
    if isinstance(f, Triangulation):  # a check the lesson already ran: `check = triangulate(...)`
        return InspectResult(parent, name, "triangulate", data={"fn": str(fn_name), **f})
    if not callable(f):
        raise InspectError(f"{fn_name} is a {type(f).__name__}; triangulation needs a function returning a scalar")
    names = options.get("params")
    if isinstance(names, str):
        names = [names]
    if not names or not all(isinstance(n, str) for n in names):
        raise InspectError('options["params"] must name the parameters, e.g. ["w", "b"]')
    params = {n: resolve(n, ns) for n in names}
    total = sum(p.numel() if isinstance(p, torch.Tensor) else 1 for p in params.values())
    limit = _int_option(options, "max_elements", MAX_TRIANGULATE_ELEMENTS, 1, 100_000)
    if total > limit:
        raise InspectError(
            f"triangulation is for a few numbers: {', '.join(names)} hold {total} elements (limit {limit}); "
            "name single parameters or raise options['max_elements']"
        )
    manual_in = options.get("manual") or {}
    if not isinstance(manual_in, dict):
        raise InspectError('options["manual"] must map parameter names to gradient values or variable names')
    manual = {k: resolve(v, ns) if isinstance(v, str) else v for k, v in manual_in.items()}
    data = triangulate(
        f, params, manual,
        eps=_float_option(options, "eps", 1e-6), rtol=_float_option(options, "rtol", 1e-4),
        atol=_float_option(options, "atol", 1e-7), manual_rtol=_float_option(options, "manual_rtol", 1e-3),
    )
    data["fn"] = str(fn_name)
    return InspectResult(parent, name, "triangulate", data=data)


INSPECTORS: dict[str, Callable[[str, str, dict[str, object], dict[str, Any]], InspectResult]] = {
    "tensor": _tensor,
    "grad": _grad,
    "graph": _graph,
    "module": _module,
    "triangulate": _triangulate,
}
"""The inspectors by the `what` of an ``Inspect`` request."""


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _resolve_tensor(name: str, ns: dict[str, object]) -> torch.Tensor:
    obj = resolve(name, ns)
    if isinstance(obj, torch.Tensor):
        return obj
    if obj is None and name.endswith(".grad"):
        raise InspectError(f"{name} is None: no gradient has been computed (call .backward() first)")
    hint = " (inspect it as a module)" if isinstance(obj, torch.nn.Module) else ""
    raise InspectError(f"{name} is a {type(obj).__name__}, not a tensor{hint}")


def _summary(t: torch.Tensor, name: str, options: dict[str, Any]) -> Any:
    index = options.get("slice")
    if index is not None:
        if isinstance(index, int):
            index = [index]
        if not isinstance(index, (list, tuple)) or not all(isinstance(i, int) and not isinstance(i, bool) for i in index):
            raise InspectError('options["slice"] must be a list of integers (the leading indices)')
    return summarize_tensor(
        t, name, slice_index=list(index) if index is not None else None,
        max_rows=_int_option(options, "max_rows", MAX_ROWS, 1, LIMIT_ROWS),
        max_cols=_int_option(options, "max_cols", MAX_COLS, 1, LIMIT_ROWS),
    )


def _int_option(options: dict[str, Any], key: str, default: int, lo: int, hi: int) -> int:
    value = options.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise InspectError(f"options[{key!r}] must be an integer, got {value!r}")
    return min(max(value, lo), hi)


def _float_option(options: dict[str, Any], key: str, default: float) -> float:
    value = options.get(key, default)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
        raise InspectError(f"options[{key!r}] must be a positive number, got {value!r}")
    return float(value)

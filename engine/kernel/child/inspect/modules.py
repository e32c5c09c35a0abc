"""Provides the module and gradient tables: a model's parameters, and each parameter beside its gradient.

Shared (tied) parameters are counted once, as ``nn.Module.parameters()`` does, so the totals match
the "with weight tying" count of a GPT.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch

from llm_tutor.engine.kernel.child.inspect.tensor import safe_norm, safe_scalar, safe_stats


def module_table(module: torch.nn.Module, path: str) -> dict[str, Any]:
    """``{"params": [{"name", "path", "shape", "count", "trainable", "dtype", "device"}], "total", "trainable",
    "children": [{"name", "type_name", "params"}], "buffers"}`` for one module."""
    rows = []
    for name, p in module.named_parameters():
        rows.append({
            "name": name,
            "path": f"{path}.{name}" if path else name,
            "shape": [int(s) for s in p.shape],
            "count": int(p.numel()),
            "trainable": bool(p.requires_grad),
            "dtype": str(p.dtype).removeprefix("torch."),
            "device": str(p.device),
        })
    children = [
        {"name": name, "type_name": type(child).__name__, "params": sum(int(p.numel()) for p in child.parameters())}
        for name, child in module.named_children()
    ]
    return {
        "params": rows,
        "total": sum(r["count"] for r in rows),
        "trainable": sum(r["count"] for r in rows if r["trainable"]),
        "children": children,
        "buffers": sum(int(b.numel()) for b in module.buffers()),
        "type_name": type(module).__name__,
    }


def grad_row(name: str, path: str, t: torch.Tensor) -> dict[str, Any]:
    """One parameter beside its gradient: values for single elements, norms and NaN counts for any size."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # .grad of a non-leaf warns
        g = t.grad
    grad = g if isinstance(g, torch.Tensor) else None
    row: dict[str, Any] = {
        "name": name,
        "path": path,
        "shape": [int(s) for s in t.shape],
        "count": int(t.numel()),
        "requires_grad": bool(t.requires_grad),
        "is_leaf": bool(t.is_leaf),
        "has_grad": grad is not None,
        "value": safe_scalar(t),
        "grad": safe_scalar(grad),
        "value_norm": safe_norm(t),
        "grad_norm": None,
        "grad_nan": None,
        "grad_max_abs": None,
    }
    stats = safe_stats(grad, norm=True) if grad is not None else None
    if stats is not None:
        row["grad_norm"] = stats["norm"]
        row["grad_nan"] = int(stats["nan"] or 0) + int(stats["inf"] or 0)
        lo, hi = stats["min"], stats["max"]
        if lo is not None and hi is not None:
            row["grad_max_abs"] = max(abs(float(lo)), abs(float(hi)))
    return row


def grad_note(t: torch.Tensor) -> str:
    """Why a tensor has no gradient, in words a learner can act on ("" when it has one)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        has = t.grad is not None
    if has:
        return ""
    if not t.requires_grad:
        return "it does not require grad: create it with requires_grad=True (or call .requires_grad_())"
    if not t.is_leaf:
        return "it is not a leaf: autograd keeps .grad only for leaves unless you call .retain_grad() before backward()"
    return "no gradient yet: call .backward() on a result computed from it"

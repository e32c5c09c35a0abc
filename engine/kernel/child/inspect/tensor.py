"""Provides `summarize_tensor`: a tensor as a `TensorSummary`, without copying the whole tensor.

Only the displayed part crosses to the CPU (`values.value_grid`); statistics are computed on the device,
exactly, over every element, in bounded chunks (`stats.tensor_stats`, whose docstring says how fast).

Reading is exact but bounded in time: the tensor panel stops after ``STATS_BUDGET_S`` seconds (a
10^9-element tensor takes 10-30 s on two cores), and the summary then says how many elements the
statistics cover, so one click on a huge tensor never holds the kernel for half a minute.

Tensors whose data cannot be read (meta, freed storage, nested, broken devices) come back with
their metadata and a `label` saying why, never an exception; `safe_scalar`, `safe_stats` and
`safe_norm` are the same guard for the other inspectors.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import torch

from llm_tutor.engine.kernel.child.inspect.stats import bounded_stats, tensor_stats
from llm_tutor.engine.kernel.child.inspect.values import value_grid
from llm_tutor.engine.kernel.protocol import TensorSummary

MAX_ROWS = 12
MAX_COLS = 12
STATS_BUDGET_S = 2.0
"""Seconds `summarize_tensor` spends on statistics; past it they cover the elements read so far."""


def summarize_tensor(
    t: torch.Tensor,
    name: str = "",
    *,
    slice_index: list[int] | None = None,
    max_rows: int = MAX_ROWS,
    max_cols: int = MAX_COLS,
    with_grad: bool = True,
    norm: bool = False,
) -> TensorSummary:
    """What the tensor panel shows of `t`; `norm` adds the L2 norm to the stats (used for gradients).

    Args:
        t: any tensor (dense, sparse, quantized, complex, meta, on any device).
        name: the path it was reached by, shown as its title.
        slice_index: for rank > 2, the leading indices of the 2-D slice to show (missing ones are 0).
        max_rows: most rows of values shown; the middle rows are elided (None).
        max_cols: most columns of values shown; the middle columns are elided (None).
        with_grad: summarise ``t.grad`` too, as the nested `grad` summary.
        norm: put the L2 norm in ``stats["norm"]``.
    """
    notes: list[str] = []
    meta = _metadata(t, notes)
    stats: dict[str, float | int | None] = {}
    values: Any = []
    shown: list[int] = []
    elided = False
    with torch.no_grad():
        can_read = readable(t, notes)
        data = _data_view(t, can_read, notes)
        if data is not None:
            try:
                stats, counted = bounded_stats(data, norm, time.perf_counter() + STATS_BUDGET_S)
                if counted < meta["numel"]:
                    notes.append(
                        f"statistics of the first {counted:,} of {meta['numel']:,} elements "
                        f"(stopped after {STATS_BUDGET_S:g} s)"
                    )
            except Exception as exc:  # noqa: BLE001 - any backend may refuse an op
                notes.append(f"statistics unavailable: {_short(exc)}")
        if can_read and (t.layout == torch.strided or meta["numel"] <= max_rows * max_cols):
            try:
                source = t if t.layout == torch.strided else t.to_dense()
                values, shown, elided = value_grid(source, slice_index, max(1, max_rows), max(1, max_cols), notes)
            except Exception as exc:  # noqa: BLE001
                notes.append(f"values unavailable: {_short(exc)}")
    grad = None
    if with_grad:
        g = _grad_of(t)
        if isinstance(g, torch.Tensor):
            grad = summarize_tensor(
                g, f"{name}.grad" if name else "grad", slice_index=slice_index,
                max_rows=max_rows, max_cols=max_cols, with_grad=False, norm=True,
            )
    return TensorSummary(
        name=name, stats=stats, values=values, slice_index=shown, elided=elided,
        label="; ".join(notes), grad=grad, **meta,
    )


# --------------------------------------------------------------------------------------------
# Metadata and readability
# --------------------------------------------------------------------------------------------


def _metadata(t: torch.Tensor, notes: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"shape": [], "dtype": "", "device": "", "numel": 0}
    out["dtype"] = _try(lambda: str(t.dtype).removeprefix("torch."), "?")
    out["device"] = _try(lambda: str(t.device), "?")
    out["layout"] = _try(lambda: str(t.layout).removeprefix("torch."), "?")
    out["requires_grad"] = bool(_try(lambda: t.requires_grad, False))
    out["is_leaf"] = bool(_try(lambda: t.is_leaf, True))
    out["grad_fn"] = _try(lambda: type(t.grad_fn).__name__ if t.grad_fn is not None else "", "")
    if _try(lambda: t.is_nested, False):
        notes.append("nested tensor: its components have different shapes, so no single shape or grid")
        out["contiguous"] = False
        return out
    out["shape"] = _try(lambda: [int(s) for s in t.shape], [])
    out["numel"] = _try(lambda: int(t.numel()), 0)
    if out["layout"] == "strided":
        out["contiguous"] = bool(_try(lambda: t.is_contiguous(), False))
        out["strides"] = _try(lambda: [int(s) for s in t.stride()], [])
    else:
        out["contiguous"] = False
    return out


def readable(t: torch.Tensor, notes: list[str]) -> bool:
    """Whether the tensor's elements may be read at all (reading freed storage would crash)."""
    try:
        if t.is_nested:
            return False
        if t.device.type == "meta":
            notes.append("meta tensor: shape and dtype only, it holds no data")
            return False
        if t.layout != torch.strided:
            return True
        if t.is_quantized:
            notes.append(f"quantized ({_qdesc(t)}): values and stats are dequantized")
        elif t.is_complex():
            notes.append("complex: stats are of |z|, values shown as text")
        if t.numel() == 0:
            return True
        nbytes = t.untyped_storage().nbytes()
        extent = t.storage_offset() + sum((s - 1) * abs(st) for s, st in zip(t.shape, t.stride())) + 1
        need = extent * t.element_size()
        if nbytes < need:
            notes.append(f"storage freed or too small: this view needs {need} bytes, its storage holds {nbytes}")
            return False
        return True
    except Exception as exc:  # noqa: BLE001
        notes.append(f"data cannot be read: {_short(exc)}")
        return False


def _data_view(t: torch.Tensor, can_read: bool, notes: list[str]) -> torch.Tensor | None:
    """The strided tensor whose elements the statistics are computed over."""
    if not can_read:
        return None
    if t.layout == torch.strided:
        return t
    try:
        values = t._values() if t.layout == torch.sparse_coo else t.values()
        notes.append(
            f"sparse ({str(t.layout).removeprefix('torch.')}) with {int(t._nnz())} stored values: "
            "stats are of the stored values"
        )
        return values
    except Exception as exc:  # noqa: BLE001
        notes.append(f"sparse layout {t.layout}: {_short(exc)}")
        return None


def _qdesc(t: torch.Tensor) -> str:
    scheme: str = _try(lambda: str(t.qscheme()).removeprefix("torch."), "?")
    if scheme == "per_tensor_affine":
        return f"{scheme}, scale={t.q_scale():.4g}, zero_point={t.q_zero_point()}"
    return scheme


def _grad_of(t: torch.Tensor) -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # .grad of a non-leaf warns
        return _try(lambda: t.grad, None)


def _try(fn: Any, default: Any) -> Any:
    try:
        return fn()
    except Exception:  # noqa: BLE001 - metadata of odd tensor subclasses may raise
        return default


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if len(text) > 160:
        text = text[:157] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def safe_scalar(t: object) -> float | None:
    """The value of a single-element real tensor as a float, or None where it cannot be read safely."""
    if not isinstance(t, torch.Tensor):
        return None
    try:
        if t.numel() != 1 or t.is_complex() or t.layout != torch.strided:
            return None
        if not readable(t, []):
            return None
        with torch.no_grad():
            d = t.detach()
            if d.is_quantized:
                d = d.dequantize()
            return float(d.reshape(()).cpu().item())
    except Exception:  # noqa: BLE001
        return None


def safe_stats(t: object, norm: bool = False) -> dict[str, float | int | None] | None:
    """`tensor_stats` of a readable dense tensor, or None where its data cannot be read safely."""
    if not isinstance(t, torch.Tensor):
        return None
    try:
        if t.layout != torch.strided or not readable(t, []):
            return None
        with torch.no_grad():
            return tensor_stats(t, norm=norm)
    except Exception:  # noqa: BLE001
        return None


def safe_norm(t: object) -> float | None:
    """The L2 norm of a readable real tensor (computed in chunks on its device), else None."""
    stats = safe_stats(t, norm=True)
    value = stats.get("norm") if stats is not None else None
    return float(value) if value is not None else None

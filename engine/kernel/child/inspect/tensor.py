"""Provides `summarize_tensor`: a tensor as a `TensorSummary`, without copying the whole tensor.

Only the displayed part crosses to the CPU: the 2-D slice is taken on the tensor's own device, and
at most ``max_rows x max_cols`` corners of it (head and tail rows and columns, the middle elided)
are moved to the host. Statistics are computed on the device, exactly, over every element:
the tensor is read in chunks of ``2**22`` elements (``2**24`` off the CPU), each chunk reduced in
its own precision (float32 for half types, float64 for integers) and the per-chunk count, mean,
sum of squared deviations, min and max combined in float64 (Chan et al.'s parallel variance). So
memory stays bounded (a chunk, not a float64 copy of the tensor) and a single NaN among 10^8 values
is still counted. Measured on the two-core development machine (shared, load average 2-4): a
10^8-element float32 tensor is summarised in 0.07-0.7 s (best of five, depending on load; medians up
to about 1.3 s); bfloat16 and transposed views cost about the same, since permuted views are read in
memory order. Sampling would be faster but could miss the one NaN that matters.

Reading is exact but bounded in time: the tensor panel stops after ``STATS_BUDGET_S`` seconds (a
10^9-element tensor takes 10-30 s on two cores), and the summary then says how many elements the
statistics cover, so one click on a huge tensor never holds the kernel for half a minute.

``min``/``max``/``mean``/``std`` are of the *finite* values; ``nan`` and ``inf`` count the rest.
Tensors whose data cannot be read (meta, freed storage, nested, broken devices) come back with
their metadata and a `label` saying why, never an exception.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Iterator
from typing import Any

import torch

from llm_tutor.engine.kernel.protocol import TensorSummary

MAX_ROWS = 12
MAX_COLS = 12
CHUNK_CPU = 1 << 22
CHUNK_DEVICE = 1 << 24
STATS_BUDGET_S = 2.0
"""Seconds `summarize_tensor` spends on statistics; past it they cover the elements read so far."""
_LOW_FLOATS = {torch.float16, torch.bfloat16} | {
    getattr(torch, n) for n in ("float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz") if hasattr(torch, n)
}


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
        readable = _readability(t, notes)
        data = _data_view(t, readable, notes)
        if data is not None:
            try:
                stats, counted = _stats(data, norm, time.perf_counter() + STATS_BUDGET_S)
                if counted < meta["numel"]:
                    notes.append(
                        f"statistics of the first {counted:,} of {meta['numel']:,} elements "
                        f"(stopped after {STATS_BUDGET_S:g} s)"
                    )
            except Exception as exc:  # noqa: BLE001 - any backend may refuse an op
                notes.append(f"statistics unavailable: {_short(exc)}")
        if readable and (t.layout == torch.strided or meta["numel"] <= max_rows * max_cols):
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


def _readability(t: torch.Tensor, notes: list[str]) -> bool:
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


def _data_view(t: torch.Tensor, readable: bool, notes: list[str]) -> torch.Tensor | None:
    """The strided tensor whose elements the statistics are computed over."""
    if not readable:
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


# --------------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------------


def tensor_stats(t: torch.Tensor, norm: bool = False) -> dict[str, float | int | None]:
    """min, max, mean, std (of finite values), nan and inf counts, and the norm if asked, over every element.

    Reads `t` in bounded chunks on its own device; see the module docstring for why and how fast.
    Bool tensors report min/max as False/True and ``mean`` as the fraction of True.
    """
    return _stats(t, norm, None)[0]


def _stats(t: torch.Tensor, norm: bool, deadline: float | None) -> tuple[dict[str, float | int | None], int]:
    """`tensor_stats`, stopping between chunks once `deadline` (perf_counter) passed; also the elements read."""
    stats: dict[str, float | int | None] = {"min": None, "max": None, "mean": None, "std": None, "nan": 0, "inf": 0}
    if norm:
        stats["norm"] = None
    if t.numel() == 0:
        return stats, 0
    counted = 0
    acc = _Accumulator()
    kind = "bool" if t.dtype == torch.bool else "complex" if t.is_complex() else "float" if _floatish(t) else "int"
    chunk = CHUNK_CPU if t.device.type == "cpu" else CHUNK_DEVICE
    wide = torch.float32 if t.device.type == "mps" else torch.float64
    for c in _chunks(t, chunk):
        if c.is_quantized:
            c = c.dequantize()
        if kind == "complex":
            c = c.abs()
        if kind == "bool":
            acc.add_bool(c)
        elif kind == "int":
            acc.add_int(c, wide)
        else:
            if c.dtype in _LOW_FLOATS:
                c = c.float()
            acc.add_float(c, wide)
        counted += c.numel()
        if deadline is not None and time.perf_counter() > deadline:
            break
    return acc.result(stats, kind, norm), counted


def _floatish(t: torch.Tensor) -> bool:
    return t.is_floating_point() or t.is_quantized


def _chunks(t: torch.Tensor, size: int) -> Iterator[torch.Tensor]:
    """Views of `t` that together hold every element once, each of at most about `size` elements.

    Statistics do not depend on element order, so a permuted tensor (``x.T``) is read in memory order,
    and other strided views are cut along their outermost dimension in memory.
    """
    if t.dim() == 0:
        yield t
        return
    if not t.is_quantized:
        order = sorted(range(t.dim()), key=lambda i: t.stride(i), reverse=True)
        dense = t.permute(order)
        if dense.is_contiguous():
            flat = dense.view(-1)
            for i in range(0, flat.numel(), size):
                yield flat[i : i + size]
            return
        dim = order[0]
    else:
        dim = 0
    n = t.shape[dim]
    row = t.numel() // n if n else 0
    if row >= size:
        for i in range(n):
            yield from _chunks(t.select(dim, i), size)
        return
    step = max(1, size // max(row, 1))
    for i in range(0, n, step):
        yield t.narrow(dim, i, min(step, n - i))


class _Accumulator:
    """Combines per-chunk count, mean and M2 (sum of squared deviations) in float64."""

    def __init__(self) -> None:
        self.n = 0
        self.mean = 0.0
        self.m2 = 0.0
        self.lo: float | int | bool | None = None
        self.hi: float | int | bool | None = None
        self.nan = 0
        self.inf = 0
        self.trues = 0
        self.buf: torch.Tensor | None = None
        """Scratch space for one chunk's deviations, reused so each chunk does not allocate (and fault in) anew."""

    def _combine(self, n: int, mean: float, m2: float, lo: Any, hi: Any) -> None:
        if n == 0:
            return
        delta = mean - self.mean
        total = self.n + n
        self.mean += delta * n / total
        self.m2 += m2 + delta * delta * self.n * n / total
        self.n = total
        self.lo = lo if self.lo is None else min(self.lo, lo)
        self.hi = hi if self.hi is None else max(self.hi, hi)

    def add_float(self, c: torch.Tensor, wide: torch.dtype) -> None:
        m, m2, a, b = self._moments(c, wide)
        if all(math.isfinite(x) for x in (m, m2, a, b)):
            self._combine(c.numel(), m, m2, a, b)
            return
        # Rare path: count NaN/inf exactly, then reduce the finite values in the wide dtype.
        nans = int(torch.isnan(c).sum())
        infs = int(torch.isinf(c).sum())
        self.nan += nans
        self.inf += infs
        finite = c[torch.isfinite(c)].to(wide) if nans or infs else c.to(wide)
        if finite.numel():
            self._combine(finite.numel(), *self._moments(finite, wide))

    def _moments(self, c: torch.Tensor, wide: torch.dtype) -> tuple[float, float, float, float]:
        """(mean, sum of squared deviations, min, max) of one chunk with a single device sync.

        ``sum((x - m)**2)`` around the chunk's own mean is as exact as ``var_mean`` here and about
        five times faster on CPU (two cascade sums instead of Welford).
        """
        n = c.numel()
        m = c.sum() / n
        if self.buf is None or self.buf.numel() < n or self.buf.dtype != c.dtype or self.buf.device != c.device:
            self.buf = torch.empty(n, dtype=c.dtype, device=c.device)
        d = _dense_like(self.buf[:n], c)
        torch.sub(c, m, out=d)
        d.mul_(d)
        lo, hi = torch.aminmax(c)
        mean, m2, a, b = torch.stack([m.to(wide), d.sum().to(wide), lo.to(wide), hi.to(wide)]).tolist()
        return mean, m2, a, b

    def add_int(self, c: torch.Tensor, wide: torch.dtype) -> None:
        w = c.to(wide)
        mean_t = w.mean()
        try:
            lo_t, hi_t = torch.aminmax(c)  # exact for int64 beyond 2**53
            lo, hi = int(lo_t), int(hi_t)
        except (RuntimeError, NotImplementedError):
            lo_f, hi_f = torch.aminmax(w)
            lo, hi = int(lo_f), int(hi_f)
        d = w - mean_t
        d.mul_(d)
        m, m2 = torch.stack([mean_t, d.sum()]).tolist()
        self._combine(c.numel(), m, m2, lo, hi)

    def add_bool(self, c: torch.Tensor) -> None:
        trues = int(c.sum())
        self.trues += trues
        n = c.numel()
        mean = trues / n
        self._combine(n, mean, trues * (1 - mean) ** 2 + (n - trues) * mean**2, trues == n, trues > 0)

    def result(self, stats: dict[str, Any], kind: str, norm: bool) -> dict[str, Any]:
        stats["nan"], stats["inf"] = self.nan, self.inf
        if self.n:
            stats["min"], stats["max"], stats["mean"] = self.lo, self.hi, self.mean
            if kind != "bool":
                stats["std"] = math.sqrt(self.m2 / (self.n - 1)) if self.n > 1 else 0.0
        if kind == "bool" and self.n:
            stats["true"] = self.trues
        if norm:
            if self.nan:
                stats["norm"] = math.nan
            elif self.inf:
                stats["norm"] = math.inf
            else:
                stats["norm"] = math.sqrt(max(self.m2 + self.n * self.mean * self.mean, 0.0))
        return stats


def _dense_like(buf: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """`buf` viewed with `c`'s shape and its dimension order, so writing ``c - m`` into it reads and writes
    memory in the same order (a transposed chunk into a row-major buffer is several times slower)."""
    if c.is_contiguous():
        return buf.view(c.shape)
    order = sorted(range(c.dim()), key=lambda i: c.stride(i), reverse=True)
    strides = [0] * c.dim()
    step = 1
    for i in reversed(order):
        strides[i] = step
        step *= c.shape[i]
    return buf.as_strided(c.shape, strides)


# --------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------


def value_grid(
    t: torch.Tensor, slice_index: list[int] | None, max_rows: int, max_cols: int, notes: list[str]
) -> tuple[Any, list[int], bool]:
    """(values, leading indices used, whether anything was elided) for display; only corners move to the host."""
    shown: list[int] = []
    if t.dim() > 2:
        sliced, shown = _leading_slice(t, slice_index or [], notes)
        if sliced is None:
            return [], shown, False
        t = sliced
    if t.dim() == 0:
        return _host(t), shown, False
    if t.dim() == 1:
        cols = _spans(t.shape[0], max_cols)
        parts = [_host(t[a:b]) for a, b in cols]
        return _join(parts), shown, len(cols) > 1
    rows, cols = _spans(t.shape[0], max_rows), _spans(t.shape[1], max_cols)
    grid: list[Any] = []
    for r, (r0, r1) in enumerate(rows):
        blocks = [_host(t[r0:r1, c0:c1]) for c0, c1 in cols]
        for i in range(r1 - r0):
            grid.append(_join([block[i] for block in blocks]))
        if r == 0 and len(rows) > 1:
            grid.append([None] * (len(grid[-1]) if grid else 0))
    return grid, shown, len(rows) > 1 or len(cols) > 1


def _leading_slice(t: torch.Tensor, index: list[int], notes: list[str]) -> tuple[torch.Tensor | None, list[int]]:
    lead = t.dim() - 2
    wanted = [int(i) for i in list(index)[:lead]] + [0] * max(0, lead - len(index))
    used: list[int] = []
    for dim, i in enumerate(wanted):
        size = t.shape[dim]
        if size == 0:
            notes.append(f"dimension {dim} is empty: no values to show")
            return None, used
        j = i + size if i < 0 else i
        if not 0 <= j < size:
            j = min(max(j, 0), size - 1)
            notes.append(f"slice index {i} is out of range for dimension {dim} (size {size}); showing {j}")
        used.append(j)
    return t[tuple(used)], used


def _spans(n: int, most: int) -> list[tuple[int, int]]:
    if n <= most:
        return [(0, n)]
    head = (most + 1) // 2
    return [(0, head), (n - (most - head), n)]


def _join(parts: list[list[Any]]) -> list[Any]:
    if len(parts) == 1:
        return list(parts[0])
    return list(parts[0]) + [None] + list(parts[1])


def _host(piece: torch.Tensor) -> Any:
    """A small piece as Python values (floats, ints, bools; complex numbers as text)."""
    p = piece.detach()
    if p.is_quantized:
        p = p.dequantize()
    p = p.cpu()
    if p.is_complex():
        return _map(p.to(torch.complex128).tolist(), lambda z: f"{z.real:.6g}{z.imag:+.6g}j")
    if p.dtype in _LOW_FLOATS:
        p = p.float()
    return p.tolist()


def _map(value: Any, fn: Any) -> Any:
    if isinstance(value, list):
        return [_map(v, fn) for v in value]
    return fn(value)


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
        if not _readability(t, []):
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
        if t.layout != torch.strided or not _readability(t, []):
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

"""Provides `tensor_stats`: min, max, mean, std, NaN and inf counts (and the norm) of every element, exactly.

The tensor is read in chunks of ``2**22`` elements (``2**24`` off the CPU) on its own device, each chunk
reduced in its own precision (float32 for half types, float64 for integers) and the per-chunk count, mean,
sum of squared deviations, min and max combined in float64 (Chan et al.'s parallel variance). So memory
stays bounded (a chunk, not a float64 copy of the tensor) and a single NaN among 10^8 values is still
counted. Measured on the two-core development machine (shared, load average 2-4): a 10^8-element float32
tensor is summarised in 0.07-0.7 s (best of five, depending on load; medians up to about 1.3 s); bfloat16
and transposed views cost about the same, since permuted views are read in memory order. Sampling would be
faster but could miss the one NaN that matters.

``min``/``max``/``mean``/``std`` are of the *finite* values; ``nan`` and ``inf`` count the rest.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import Any

import torch

CHUNK_CPU = 1 << 22
CHUNK_DEVICE = 1 << 24
LOW_FLOATS = {torch.float16, torch.bfloat16} | {
    getattr(torch, n) for n in ("float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz") if hasattr(torch, n)
}
"""Float types reduced (and shown) as float32."""


def tensor_stats(t: torch.Tensor, norm: bool = False) -> dict[str, float | int | None]:
    """min, max, mean, std (of finite values), nan and inf counts, and the norm if asked, over every element.

    Reads `t` in bounded chunks on its own device; see the module docstring for why and how fast.
    Bool tensors report min/max as False/True and ``mean`` as the fraction of True.
    """
    return bounded_stats(t, norm, None)[0]


def bounded_stats(t: torch.Tensor, norm: bool, deadline: float | None) -> tuple[dict[str, float | int | None], int]:
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
            if c.dtype in LOW_FLOATS:
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

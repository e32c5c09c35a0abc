"""Provides `value_grid`: the values the tensor panel shows, with only the shown corners moved to the host.

The 2-D slice is taken on the tensor's own device, and at most ``max_rows x max_cols`` corners of it (head
and tail rows and columns, the middle elided and marked by None) are copied to the CPU as Python values.
"""

from __future__ import annotations

from typing import Any

import torch

from llm_tutor.engine.kernel.child.inspect.stats import LOW_FLOATS


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
        return host_values(t), shown, False
    if t.dim() == 1:
        cols = _spans(t.shape[0], max_cols)
        parts = [host_values(t[a:b]) for a, b in cols]
        return _join(parts), shown, len(cols) > 1
    rows, cols = _spans(t.shape[0], max_rows), _spans(t.shape[1], max_cols)
    grid: list[Any] = []
    for r, (r0, r1) in enumerate(rows):
        blocks = [host_values(t[r0:r1, c0:c1]) for c0, c1 in cols]
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


def host_values(piece: torch.Tensor) -> Any:
    """A small piece as Python values (floats, ints, bools; complex numbers as text)."""
    p = piece.detach()
    if p.is_quantized:
        p = p.dequantize()
    p = p.cpu()
    if p.is_complex():
        return _map(p.to(torch.complex128).tolist(), lambda z: f"{z.real:.6g}{z.imag:+.6g}j")
    if p.dtype in LOW_FLOATS:
        p = p.float()
    return p.tolist()


def _map(value: Any, fn: Any) -> Any:
    if isinstance(value, list):
        return [_map(v, fn) for v in value]
    return fn(value)

"""Provides `Series`, a compact (step, value) store for loss curves, and its per-column downsampler.

A training run logs one loss per step: a long run reaches millions of points, and drawing them all
(plotext needs ~8 µs a point) would take seconds. `Series` keeps the points in `array` buffers
(16 bytes a point) plus a small pyramid of block minima and maxima, built as points arrive, so
`downsample(width)` answers min, max and last per screen column by reading a few hundred numbers
instead of every point. Torch-free: the UI process imports it.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from typing import Iterable

BLOCK = 64
"""Points per block at each pyramid level (level k+1 holds min/max of BLOCK entries of level k)."""


@dataclass(frozen=True)
class Downsampled:
    """One entry per non-empty column, left to right.

    `x` is the step of the column's last point, `last` its value; `lo` and `hi` are the column's
    minimum and maximum, so a spike inside a column is never lost.
    """

    x: list[float] = field(default_factory=list)
    lo: list[float] = field(default_factory=list)
    hi: list[float] = field(default_factory=list)
    last: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.x)


class Series:
    """Points (step, value) with non-decreasing steps; non-finite values are counted, not stored."""

    def __init__(self, name: str = "") -> None:
        self.name = name
        self.steps: array[float] = array("d")
        self.values: array[float] = array("d")
        self.skipped = 0
        """How many non-finite values were offered and left out (they would break min/max)."""
        # _mins[k], _maxs[k]: level k+1 of the pyramid (level 0 is `values` itself).
        self._mins: list[array[float]] = []
        self._maxs: list[array[float]] = []

    def __len__(self) -> int:
        return len(self.values)

    def clear(self) -> None:
        """Forget every point (a reset run starts a fresh curve)."""
        self.steps = array("d")
        self.values = array("d")
        self.skipped = 0
        self._mins.clear()
        self._maxs.clear()

    @property
    def last(self) -> tuple[float, float] | None:
        """The newest point, or None when empty."""
        if not self.values:
            return None
        return self.steps[-1], self.values[-1]

    def append(self, step: float, value: float) -> bool:
        """Add one point; returns False (and counts it) when `value` is NaN or infinite."""
        if not math.isfinite(value):
            self.skipped += 1
            return False
        if self.steps and step < self.steps[-1]:
            raise ValueError(f"step {step} is before the last step {self.steps[-1]}; clear() first")
        self.steps.append(step)
        self.values.append(value)
        if len(self.values) % BLOCK == 0:
            self._grow()
        return True

    def extend(self, steps: Iterable[float], values: Iterable[float]) -> int:
        """Add many points; returns how many were stored."""
        stored = 0
        for step, value in zip(steps, values):
            stored += self.append(step, value)
        return stored

    def _grow(self) -> None:
        """A block of level 0 just filled: summarise it, cascading upward while blocks fill."""
        mins: array[float] = self.values
        maxs: array[float] = self.values
        level = 0
        while len(mins) % BLOCK == 0 and len(mins) > 0:
            if level == len(self._mins):
                self._mins.append(array("d"))
                self._maxs.append(array("d"))
            self._mins[level].append(min(mins[-BLOCK:]))
            self._maxs[level].append(max(maxs[-BLOCK:]))
            mins, maxs = self._mins[level], self._maxs[level]
            level += 1

    def minmax(self, i: int, j: int) -> tuple[float, float]:
        """Minimum and maximum of values[i:j] (inf, -inf when empty), reading O(BLOCK·levels) entries."""
        return self._range(0, i, j)

    def _range(self, level: int, i: int, j: int) -> tuple[float, float]:
        if i >= j:
            return math.inf, -math.inf
        mins = self.values if level == 0 else self._mins[level - 1]
        maxs = self.values if level == 0 else self._maxs[level - 1]
        if level < len(self._mins) and j - i >= 2 * BLOCK:
            a = -(-i // BLOCK) * BLOCK  # first block boundary at or after i
            b = (j // BLOCK) * BLOCK  # last block boundary at or before j
            b = min(b, len(self._mins[level]) * BLOCK)  # only completed blocks are summarised
            lo, hi = self._range(level + 1, a // BLOCK, b // BLOCK)
            if i < a:
                lo, hi = min(lo, min(mins[i:a])), max(hi, max(maxs[i:a]))
            if b < j:
                lo, hi = min(lo, min(mins[b:j])), max(hi, max(maxs[b:j]))
            return lo, hi
        return min(mins[i:j]), max(maxs[i:j])

    def downsample(
        self, width: int, start: float | None = None, end: float | None = None
    ) -> Downsampled:
        """Min, max and last value per column for `width` equal step ranges over [start, end].

        With no more points than columns every point comes back as its own column.
        """
        if width < 1:
            raise ValueError("width must be at least 1")
        out = Downsampled()
        if not self.values:
            return out
        steps, values = self.steps, self.values
        i0 = 0 if start is None else bisect_left(steps, start)
        i1 = len(steps) if end is None else bisect_right(steps, end)
        if i0 >= i1:
            return out
        if i1 - i0 <= width:
            for k in range(i0, i1):
                out.x.append(steps[k])
                out.lo.append(values[k])
                out.hi.append(values[k])
                out.last.append(values[k])
            return out
        x0 = steps[i0] if start is None else start
        x1 = steps[i1 - 1] if end is None else end
        span = (x1 - x0) or 1.0
        i = i0
        for c in range(width):
            if c == width - 1:
                j = i1
            else:
                edge = x0 + span * (c + 1) / width
                j = bisect_left(steps, edge, i, i1)
            if j > i:
                lo, hi = self._range(0, i, j)
                out.x.append(steps[j - 1])
                out.lo.append(lo)
                out.hi.append(hi)
                out.last.append(values[j - 1])
            i = j
        return out

    def thinned(self, columns: int = 4000) -> tuple[list[float], list[float]]:
        """At most 3 × `columns` points that draw as this series does: every point when there are few,
        else per column its minimum, maximum and last value, all at the column's last step (a chart's
        column covers several of these, so its min, max and last come out the same)."""
        if len(self) <= 3 * columns:
            return list(self.steps), list(self.values)
        d = self.downsample(columns)
        steps: list[float] = []
        values: list[float] = []
        for x, lo, hi, last in zip(d.x, d.lo, d.hi, d.last):
            steps += (x, x, x)
            values += (lo, hi, last)
        return steps, values

    def state(self) -> dict[str, bytes | int | str]:
        """Plain data for a checkpoint (the pyramid is rebuilt on load)."""
        return {
            "name": self.name,
            "steps": self.steps.tobytes(),
            "values": self.values.tobytes(),
            "skipped": self.skipped,
        }

    @classmethod
    def from_state(cls, state: dict[str, bytes | int | str]) -> Series:
        """Rebuild a series saved by `state()`."""
        series = cls(str(state.get("name", "")))
        steps, values = array("d"), array("d")
        steps.frombytes(bytes(state["steps"]))  # type: ignore[arg-type]
        values.frombytes(bytes(state["values"]))  # type: ignore[arg-type]
        for step, value in zip(steps, values):
            series.append(step, value)
        series.skipped = int(state.get("skipped", 0))
        return series

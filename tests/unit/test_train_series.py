"""The loss-curve store: every column's min and max survive downsampling, at any size."""

from __future__ import annotations

import math
import random
from bisect import bisect_left

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_tutor.engine.train.series import BLOCK, Series


def brute_columns(steps: list[float], values: list[float], width: int) -> list[tuple[float, float, float, float]]:
    """The definition: `width` equal step ranges; (last step, min, max, last value) per non-empty one."""
    x0, x1 = steps[0], steps[-1]
    span = (x1 - x0) or 1.0
    out, i = [], 0
    for c in range(width):
        j = len(steps) if c == width - 1 else bisect_left(steps, x0 + span * (c + 1) / width, i)
        if j > i:
            seg = values[i:j]
            out.append((steps[j - 1], min(seg), max(seg), seg[-1]))
        i = j
    return out


def as_tuples(series: Series, width: int) -> list[tuple[float, float, float, float]]:
    d = series.downsample(width)
    return list(zip(d.x, d.lo, d.hi, d.last))


@pytest.mark.parametrize("n, width", [(10_000, 80), (5 * BLOCK * BLOCK + 17, 200), (BLOCK * 3 + 1, 7)])
def test_downsample_keeps_every_columns_min_and_max(n: int, width: int) -> None:
    rng = random.Random(n)
    values = [rng.gauss(0, 1) for _ in range(n)]
    values[n // 3] = 50.0  # a spike inside one column must survive
    values[2 * n // 3] = -50.0
    series = Series()
    series.extend(range(n), values)
    got = as_tuples(series, width)
    assert got == brute_columns(list(map(float, range(n))), values, width)
    assert max(hi for _, _, hi, _ in got) == 50.0
    assert min(lo for _, lo, _, _ in got) == -50.0
    assert len(got) == width


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=3000),
    gaps=st.integers(1, 5),
    width=st.integers(1, 120),
)
def test_downsample_matches_brute_force_on_uneven_steps(values: list[float], gaps: int, width: int) -> None:
    steps = [float(i * (gaps + 2) + (i % 3)) for i in range(len(values))]  # uneven, increasing
    series = Series()
    series.extend(steps, values)
    if len(values) <= width:
        assert as_tuples(series, width) == [(s, v, v, v) for s, v in zip(steps, values)]
    else:
        assert as_tuples(series, width) == brute_columns(steps, values, width)


def test_minmax_of_any_index_range() -> None:
    rng = random.Random(7)
    values = [rng.random() for _ in range(BLOCK**2 * 3 + 5)]
    series = Series()
    series.extend(range(len(values)), values)
    for _ in range(200):
        i = rng.randrange(len(values))
        j = rng.randrange(i, len(values) + 1)
        want = (min(values[i:j]), max(values[i:j])) if j > i else (math.inf, -math.inf)
        assert series.minmax(i, j) == want


def test_window_by_step_range_and_small_series() -> None:
    series = Series()
    assert len(series.downsample(10)) == 0
    series.extend(range(1, 101), [float(v) for v in range(1, 101)])
    d = series.downsample(10, start=51, end=60)
    assert d.x == [float(s) for s in range(51, 61)]  # ten points, ten columns: every point itself
    d = series.downsample(5, start=1, end=100)
    assert d.lo[0] == 1.0 and d.hi[-1] == 100.0 and d.last[-1] == 100.0


def test_non_finite_values_are_counted_not_stored_and_steps_must_not_go_back() -> None:
    series = Series("loss")
    assert series.append(1, 0.5)
    assert not series.append(2, float("nan"))
    assert not series.append(3, float("inf"))
    assert len(series) == 1 and series.skipped == 2
    with pytest.raises(ValueError, match="before the last step"):
        series.append(0, 1.0)


def test_state_round_trip_rebuilds_the_pyramid() -> None:
    series = Series("loss")
    series.extend(range(5000), [math.sin(i / 50) for i in range(5000)])
    copy = Series.from_state(series.state())
    assert copy.name == "loss" and len(copy) == 5000
    assert as_tuples(copy, 64) == as_tuples(series, 64)


def test_thinned_series_draws_like_the_full_one() -> None:
    """A resumed run's curve travels thinned (min, max, last per column): any chart coarser than the thinning
    draws exactly the columns the full series gives, spikes included."""
    rng = random.Random(3)
    full = Series("loss")
    for step in range(1, 100_001):
        full.append(step, 1.5 + 2.0 * math.exp(-step / 20_000) + 0.2 * rng.random() + (9.0 if step == 77_777 else 0.0))
    steps, values = full.thinned(1000)
    assert len(steps) == 3000 and steps == sorted(steps)
    thin = Series("loss")
    thin.extend(steps, values)
    for width in (100, 200, 250, 500):
        a = full.downsample(width, 1, 100_000)
        b = thin.downsample(width, 1, 100_000)
        assert (a.x, a.lo, a.hi, a.last) == (b.x, b.lo, b.hi, b.last)
    assert max(values) > 10  # the spike survived
    small = Series()
    small.extend([1, 2, 3], [3.0, 2.0, 1.0])
    assert small.thinned(1000) == ([1, 2, 3], [3.0, 2.0, 1.0])

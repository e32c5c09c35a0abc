"""The lab's braille plot: every column drawn, spikes kept, the column cache equal to a fresh drawing."""

from __future__ import annotations

import math

from rich.style import Style

from llm_tutor.engine.train.series import Series
from llm_tutor.tui.widgets.train.plot import LinePlot, PlotSeries, draw_plot, format_value, nice_ceiling


def text(rows: list) -> list[str]:
    return ["".join(seg.text for seg in row) for row in rows]


def curve(n: int, start: int = 1) -> Series:
    s = Series("loss")
    for i in range(start, start + n):
        s.append(i, 3.0 * math.exp(-i / max(n / 4, 1)) + 0.1)
    return s


def test_rows_have_the_exact_size_and_a_legend_with_the_newest_value() -> None:
    s = curve(500)
    rows = text(draw_plot([PlotSeries("train", s, Style())], 60, 12, title="loss"))
    assert len(rows) == 12 and all(len(r) == 60 for r in rows)
    assert rows[0].startswith("loss  ━ train ") and format_value(s.values[-1]) in rows[0]
    assert rows[-1].lstrip().startswith("step└1") and rows[-1].rstrip().endswith("500")
    plot_cells = "".join(r[8:] for r in rows[1:-1])
    assert any(0x2800 < ord(c) <= 0x28FF for c in plot_cells)


def test_a_one_step_spike_among_a_million_points_survives() -> None:
    s = Series("loss")
    for i in range(1, 1_000_001):
        s.append(i, 5.0 if i == 777_777 else 1.0)
    rows = text(draw_plot([PlotSeries("train", s, Style())], 80, 12))
    top_row = rows[1][8:]  # the largest value sits on the first plot row
    assert sum(1 for c in top_row if c != " ") >= 1  # the spike's column reaches the top row
    assert float(rows[1][:7]) > 4.5  # and the axis runs up to it


def test_the_column_cache_draws_exactly_what_a_fresh_plot_draws() -> None:
    s = Series("loss")
    plot = LinePlot()
    for chunk in range(40):  # points arrive in bursts, as metrics do
        for i in range(chunk * 250 + 1, chunk * 250 + 251):
            s.append(i, 2.0 + math.sin(i / 300.0) + (0.5 if i % 997 == 0 else 0.0))
        cached = text(plot.draw([PlotSeries("train", s, Style())], 70, 14))
        fresh = text(draw_plot([PlotSeries("train", s, Style())], 70, 14))
        assert cached == fresh, f"differs after {len(s)} points"


def test_empty_and_log_scale_and_sparse_series() -> None:
    empty = text(draw_plot([PlotSeries("train", Series(), Style())], 40, 6, empty_text="press space"))
    assert any("press space" in r for r in empty)
    s = curve(1000)
    val = Series("val")
    for step in (100, 400, 900):
        val.append(step, 1.0)
    rows = text(draw_plot([PlotSeries("train", s, Style()), PlotSeries("val", val, Style())], 50, 10, log=True))
    labels = [r[:7].strip() for r in rows[1:-1] if r[:7].strip()]
    values = [float(v) for v in labels]
    assert values == sorted(values, reverse=True) and values[0] / values[-1] > 5  # log ticks span the range
    assert "val 1.00" in rows[0]


def test_nice_ceiling_moves_in_steps() -> None:
    assert [nice_ceiling(x) for x in (0.5, 1, 7, 11, 151, 2001, 9000)] == [1, 1, 8, 15, 200, 3000, 10000]


def test_live_plots_redraw_at_most_10_hz_and_2_hz_over_a_slow_link() -> None:
    from llm_tutor.tui.rendering import max_redraw_hz

    class App:
        low_bandwidth = False

    class Remote:
        low_bandwidth = True

    assert max_redraw_hz(App()) == 10.0 and max_redraw_hz(Remote()) == 2.0


def test_validation_points_are_drawn_where_measured_not_joined_by_a_line() -> None:
    """The MLP's validation curve was a straight line between two far-apart measurements."""
    val = Series("val")
    val.append(1, 2.0)
    val.append(1000, 0.5)
    joined = text(draw_plot([PlotSeries("val", val, Style())], 50, 10))
    points = text(draw_plot([PlotSeries("val", val, Style(), points=True)], 50, 10))

    def columns_drawn(rows: list[str]) -> int:
        cells = [r[8:] for r in rows[1:-1]]
        return sum(1 for x in range(len(cells[0])) if any(row[x] != " " for row in cells))

    assert columns_drawn(joined) > 30 and columns_drawn(points) == 2


def test_a_narrow_legend_drops_the_title_then_the_values_but_keeps_every_key() -> None:
    """At 80 columns the decision boundary left the chart too narrow, and the `━ val` key was cut off."""
    train, val = curve(50), Series("val")
    val.append(50, 0.7)
    lines = [PlotSeries("train", train, Style()), PlotSeries("val", val, Style())]
    assert text(draw_plot(lines, 28, 8, title="loss"))[0].startswith("━ train 0.155  ━ val 0.700")
    narrow = text(draw_plot(lines, 20, 8, title="loss"))[0]
    assert narrow.rstrip() == "━ train  ━ val"

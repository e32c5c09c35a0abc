"""plotext charts for plain output (`engine.charts`): fixed-size snapshots, widths, NO_COLOR and TERM=dumb."""

from __future__ import annotations

import io
import math
import os
import re
from typing import Any

import pytest

from llm_tutor.engine.kernel import protocol
from llm_tutor.engine.cli.charts import ChartStyle, bar_chart, curve_points, line_chart, series_from_metrics
from llm_tutor.engine.train.series import Series

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def decay(n: int, name: str = "train", every: int = 1, floor: float = 0.3) -> Series:
    """A loss-like curve, the same on every machine (no randomness)."""
    s = Series(name)
    for i in range(1, n + 1, every):
        s.append(i, floor + 2.5 * math.exp(-i / (n / 4)) + 0.05 * math.sin(i))
    return s


def visible(text: str) -> list[str]:
    return ANSI.sub("", text).splitlines()


class TestSnapshots:
    """The charts' text at fixed sizes, as `train --headless` and `run --plain` print them."""

    def test_train_and_validation_in_ascii_at_60_by_12(self, snapshot: Any) -> None:
        """Two curves, `*` and `o`, x ticks at round steps, a key line naming both: ASCII only."""
        chart = line_chart([("train loss", decay(500)), ("validation loss", decay(500, "val", every=50, floor=0.6))],
                           ChartStyle(60, 12, color=False, ascii=True), title="mlp: loss")
        assert chart == snapshot

    def test_log_scale_in_unicode_at_80_by_14(self, snapshot: Any) -> None:
        """Braille curve on a log axis, box-drawing frame, the key says it is a log scale; no colour codes."""
        chart = line_chart([("loss", decay(2000))], ChartStyle(80, 14, color=False, ascii=False), log_y=True)
        assert "\x1b[" not in chart and "(log scale)" in chart.splitlines()[-1]
        assert chart == snapshot

    def test_stacked_bars_at_40_by_10(self, snapshot: Any) -> None:
        """One bar per label, one marker per group, integer y ticks, a key line."""
        chart = bar_chart(["12-01", "12-02", "12-03"], {"tensors": [1, 2, 0], "autograd": [3, 0, 1]},
                          ChartStyle(40, 10, color=False, ascii=True), title="attempts per day")
        assert chart == snapshot


@pytest.mark.parametrize("width", [40, 41, 63, 80, 120, 157, 200])
@pytest.mark.parametrize("color, ascii", [(True, False), (False, False), (False, True)])
def test_no_line_is_wider_than_the_chart(width: int, color: bool, ascii: bool) -> None:
    style = ChartStyle(width, 12, color=color, ascii=ascii)
    lines = visible(line_chart([("train loss", decay(3000)), ("validation loss", decay(3000, every=300))], style,
                               title="gpt: loss", log_y=True))
    lines += visible(bar_chart([f"12-{d:02d}" for d in range(1, 15)], {"a": [1] * 14, "b": [2] * 14}, style, "attempts"))
    assert max(len(line) for line in lines) <= width
    assert max(len(line) for line in lines) >= width - 2  # sized to the width, not left at a default
    assert ("\x1b[" in "".join(lines)) is False
    if ascii:
        assert all(ch.isascii() for line in lines for ch in line)


def test_colour_only_when_asked() -> None:
    curves = [("loss", decay(100))]
    assert "\x1b[" in line_chart(curves, ChartStyle(60, 10, color=True))
    assert "\x1b[" not in line_chart(curves, ChartStyle(60, 10, color=False))


def test_a_million_points_reach_plotext_thinned_to_the_width() -> None:
    big = decay(1_000_000)
    style = ChartStyle(120, 15)
    xs, ys = curve_points(big, style)
    assert len(xs) == len(ys) <= 3 * (120 - 10) * 2
    assert min(ys) == pytest.approx(min(big.values)) and max(ys) == pytest.approx(max(big.values))
    small = decay(100)
    assert curve_points(small, style) == (list(small.steps), list(small.values))  # few points: every one
    assert line_chart([("loss", big)], style).count("\n") == line_chart([("loss", small)], style).count("\n")


def test_empty_curves_give_no_chart_and_non_positive_values_stay_linear() -> None:
    assert line_chart([("loss", Series())], ChartStyle()) == ""
    assert bar_chart(["a"], {"x": [0]}, ChartStyle()) == ""
    s = Series("delta")
    s.extend([1, 2, 3], [0.5, 0.0, -0.5])
    chart = line_chart([("delta", s)], ChartStyle(60, 10, ascii=True), log_y=True)
    assert "linear: some values are not positive" in chart and "(log scale)" not in chart


def test_track_events_become_one_series_per_metric() -> None:
    events = [protocol.Metric("c", i, {"loss": 1.0 / (i + 1), "val_loss": 2.0}) for i in range(5)]
    events += [protocol.Metric("c", i, {"loss": 0.1}) for i in range(3)]  # the loop ran again: a fresh curve
    events.append(protocol.Metric("c", 3, {"loss": None}))  # NaN crosses the wire as null
    by_name = series_from_metrics(events)
    assert list(by_name) == ["loss", "val_loss"]
    assert list(by_name["loss"].steps) == [0, 1, 2] and by_name["val_loss"].last == (4, 2.0)
    assert "(1 NaN/inf not drawn)" in line_chart(list(by_name.items()), ChartStyle(80, 10))


class TestDetect:
    """`ChartStyle.detect`: the terminal's width within 40-200, colour on a terminal, ASCII for NO_COLOR/dumb."""

    @pytest.fixture(autouse=True)
    def _plain_env(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for name in ("NO_COLOR", "COLUMNS", "LINES"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("TERM", "xterm-256color")

    def test_a_terminal_gets_colour_and_its_own_width(self) -> None:
        import fcntl
        import struct
        import termios

        master, slave = os.openpty()
        try:
            fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 132, 0, 0))
            with open(slave, "w", closefd=False) as tty:
                style = ChartStyle.detect(tty)
        finally:
            os.close(master)
            os.close(slave)
        assert style == ChartStyle(width=132, height=15, color=True, ascii=False)

    @pytest.mark.parametrize("name, value", [("NO_COLOR", "1"), ("TERM", "dumb")])
    def test_no_color_and_dumb_terminals_get_plain_ascii(self, monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
        monkeypatch.setenv(name, value)
        style = ChartStyle.detect(io.StringIO())
        assert style.ascii and not style.color

    def test_a_pipe_gets_no_colour_and_widths_stay_within_40_and_200(self, monkeypatch: pytest.MonkeyPatch) -> None:
        assert ChartStyle.detect(io.StringIO()) == ChartStyle(80, 12, color=False, ascii=False)
        monkeypatch.setenv("COLUMNS", "20")
        assert ChartStyle.detect(io.StringIO()).width == 40
        monkeypatch.setenv("COLUMNS", "500")
        monkeypatch.setenv("LINES", "100")
        assert ChartStyle.detect(io.StringIO()) == ChartStyle(200, 25, color=False, ascii=False)


def test_plotext_is_imported_only_where_a_chart_is_drawn() -> None:
    import json
    import subprocess
    import sys

    probe = ("import sys, json\n"
             "import llm_tutor.engine.cli.charts, llm_tutor.engine.cli.train, llm_tutor.engine.cli.run\n"
             "import llm_tutor.engine.cli.progress, llm_tutor.engine.course.export, llm_tutor.engine.grading.inplace\n"
             "print(json.dumps('plotext' in sys.modules))\n")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) is False


def test_curves_named_as_points_are_drawn_where_measured_not_joined() -> None:
    """A validation loss measured at two far-apart steps shows two points, not a line nobody measured."""
    val = Series("val")
    val.append(1, 2.0)
    val.append(300, 0.5)
    style = ChartStyle(60, 12, color=False, ascii=True)
    joined = visible(line_chart([("train loss", decay(300)), ("validation loss", val)], style))
    apart = visible(line_chart([("train loss", decay(300)), ("validation loss", val)], style,
                               points={"validation loss"}))
    body = lambda lines: "".join(lines[:-1])  # noqa: E731 (the last line is the key)
    assert body(apart).count("o") == 2
    assert body(joined).count("o") > 10
    assert "o validation loss" in apart[-1]

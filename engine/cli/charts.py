"""Provides plotext charts for plain-text output: loss curves and bar charts, sized for a terminal.

The app draws its own plots (a braille widget that redraws in under a millisecond); this module is
for output without the app: `llm-tutor train --headless`, `run --plain`, `progress`, logs and SSH
sessions. plotext (6.x API: ``figure.signal/bar/draw/build``) is imported inside the functions that
draw, so importing this module costs nothing. Curves are thinned with `Series.thinned` first (the
same per-column min, max and last value the app draws), so a million points chart as fast as a
hundred. `ChartStyle.detect` follows the terminal: its width (kept within 40-200 columns), colour
only on a terminal without ``NO_COLOR``, and plain ASCII (no braille, no box drawing) under
``NO_COLOR`` or ``TERM=dumb``.
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from llm_tutor.engine.train.series import Series

MIN_WIDTH = 40
MAX_WIDTH = 200
ASCII_MARKERS = ("*", "o", "+", "x", "#", "=", "%", "@", "~", "^", "&", "$")
UNICODE_MARKERS = ("braille", "•", "×", "+", "*", "o", "#", "=", "%", "@", "~", "^")
BAR_MARKERS = ("#", "=", "+", "o", "x", "%", "@", "*", "~", "^", "&", "$")
_BOX_TO_ASCII = str.maketrans("─│┌┐└┘┤├┬┴┼━┃╭╮╰╯", "-|+++++++++-|++++")


@dataclass(frozen=True)
class ChartStyle:
    """How a chart is drawn: its size in terminal cells, colour, and whether only ASCII may be used."""

    width: int = 80
    height: int = 15
    color: bool = False
    ascii: bool = False

    @classmethod
    def detect(cls, stream: TextIO | None = None, height: int | None = None) -> ChartStyle:
        """The style for writing to `stream`: its terminal's width, colour on a terminal, ASCII when asked.

        `height` defaults to half the terminal's rows, between 10 and 25.
        """
        env = os.environ
        plain = "NO_COLOR" in env or env.get("TERM", "") == "dumb"
        tty = False
        size = shutil.get_terminal_size((80, 24))  # COLUMNS/LINES first, as a pager or a test sets them
        try:
            tty = bool(stream is not None and stream.isatty())
            if tty and "COLUMNS" not in env and stream is not None:
                size = os.get_terminal_size(stream.fileno())
        except (OSError, ValueError, AttributeError):
            pass
        width = max(MIN_WIDTH, min(MAX_WIDTH, size.columns))
        rows = height if height is not None else max(10, min(25, size.lines // 2))
        return cls(width=width, height=rows, color=tty and not plain, ascii=plain)


def _figure(style: ChartStyle) -> Any:
    import plotext as plt

    plt.terminal.limit(False, False)  # the style's size decides (plotext would cap it at its own guess)
    fig = plt.figure
    fig.clear()
    fig.theme("simple" if style.color else "colorless")
    fig.plot_size(style.width, style.height)
    fig.legend(active=False)  # a key line under the chart instead: a legend box would hide the curve
    return fig


def _render(fig: Any, style: ChartStyle) -> str:
    text = fig.build().string(colorless=not style.color)
    lines = [line.rstrip() for line in text.splitlines()]
    while lines and not lines[-1].strip():
        lines.pop()
    text = "\n".join(lines)
    return text.translate(_BOX_TO_ASCII) if style.ascii else text


def _nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick positions (1, 2 or 5 times a power of ten apart) within [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / max(1, count - 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def _tick_label(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:g}"


def curve_points(series: Series, style: ChartStyle) -> tuple[list[float], list[float]]:
    """What plotext is given for a curve: at most three points (min, max, last) per half column."""
    return series.thinned(max(8, (style.width - 10) * 2))


def line_chart(
    curves: Sequence[tuple[str, Series]],
    style: ChartStyle,
    title: str = "",
    log_y: bool = False,
    x_label: str = "step",
    points: Collection[str] = (),
) -> str:
    """Curves (name, series) on shared axes, with a key line under them; "" when no curve has a point.

    Each curve is thinned to at most three points per half column before plotext sees it. `log_y`
    is ignored (and the key says so) when a value is zero or negative. The curves named in `points`
    are drawn as points where they were measured, not joined: a validation loss taken every few
    hundred steps joined by straight lines would show a trend nobody measured.
    """
    curves = [(name, s) for name, s in curves if len(s)]
    if not curves:
        return ""
    markers = ASCII_MARKERS if style.ascii else UNICODE_MARKERS
    lo_x = min(s.steps[0] for _, s in curves)
    hi_x = max(s.steps[-1] for _, s in curves)
    if log_y and min(min(s.values) for _, s in curves) <= 0:
        log_y = False
        title = (title + "  " if title else "") + "(linear: some values are not positive)"
    fig = _figure(style)
    key = []
    for i, (name, series) in reversed(list(enumerate(curves))):  # the first curve drawn last, on top
        xs, ys = curve_points(series, style)
        marker = markers[i % len(markers)]
        signal = fig.signal(xs, ys, marker=marker)
        fig.draw(signal if name in points else signal.lines())
        shown = "⣿" if marker == "braille" else marker
        note = f" ({series.skipped} NaN/inf not drawn)" if series.skipped else ""
        key.insert(0, f"{shown} {name}{note}")
    if log_y:
        fig.ruler("y").scale("log")
    ticks = _nice_ticks(lo_x, hi_x)
    fig.ruler("x").ticks(ticks, [_tick_label(t) for t in ticks])
    if title:
        fig.title(title)
    chart = _render(fig, style)
    scale = "  (log scale)" if log_y else ""
    legend = "  ".join(key) + f"   x: {x_label}{scale}"
    return chart + "\n" + _fit(legend, style)


def bar_chart(
    labels: Sequence[str],
    groups: Mapping[str, Sequence[float]],
    style: ChartStyle,
    title: str = "",
) -> str:
    """Stacked bars: one bar per label, one layer per group (name -> a height per label), and a key line."""
    names = [name for name, heights in groups.items() if any(heights)]
    if not labels or not names:
        return ""
    fig = _figure(style)
    markers = [BAR_MARKERS[i % len(BAR_MARKERS)] for i in range(len(names))]
    heights = [list(groups[name]) for name in names]
    if len(names) == 1:
        fig.draw(fig.bar(list(labels), heights[0], marker=markers[0]))
    else:
        fig.draw(fig.bar(list(labels), heights, marker=markers, stacked=True))
    top = max(sum(h[i] for h in heights) for i in range(len(labels)))
    ticks = [t for t in _nice_ticks(0, top, 4) if float(t).is_integer()]
    if ticks:
        fig.ruler("y").ticks(ticks, [_tick_label(t) for t in ticks])
    if title:
        fig.title(title)
    chart = _render(fig, style)
    key = "  ".join(f"{m} {name}" for m, name in zip(markers, names))
    return chart + "\n" + _fit(key, style)


def _fit(line: str, style: ChartStyle) -> str:
    """Cut a key line to the chart's width, so it never wraps."""
    return line if len(line) <= style.width else line[: style.width - 3] + "..."


def series_from_metrics(events: Sequence[Any]) -> dict[str, Series]:
    """`track()` events (protocol.Metric) as one Series per metric name, in the order they first appear.

    A step smaller than the curve's last one starts the curve again, as the app's live plot does.
    """
    by_name: dict[str, Series] = {}
    for event in events:
        for name, value in event.values.items():
            series = by_name.get(name)
            if series is None:
                series = by_name[name] = Series(name)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                series.skipped += 1  # NaN and inf cross the wire as null
                continue
            last = series.last
            if last is not None and event.step < last[0]:
                series.clear()
            series.append(event.step, float(value))
    return by_name

"""Provides `draw_plot`, a braille line plot of `Series` that costs the same at 10³ and 10⁶ points.

Each series is first reduced to min, max and last per braille column (`Series.downsample`, which
reads a pyramid of block extremes), then rasterised into a grid of 2×4-dot braille cells: a
column's min..max run is filled, so a spike inside a column is never lost, and consecutive
columns are joined. The result is rows of Rich segments; no Textual, no plotext (why, measured:
docs/training-lab.md, "Why not plotext").
"""

from __future__ import annotations

import math
from bisect import bisect_left
from itertools import groupby
from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style

from llm_tutor.engine.train.series import Series

# braille dot bits for (dx, dy) inside a cell of 2 × 4 dots
_BITS = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))
_RUNS = tuple(
    tuple(tuple(sum(_BITS[dx][d] for d in range(a, b + 1)) for b in range(4)) for a in range(4)) for dx in range(2)
)
"""_RUNS[dx][a][b]: the bits of dots a..b (top to bottom) of dot column dx in one cell."""
_CHARS = [" "] + [chr(0x2800 + bits) for bits in range(1, 256)]
Y_LABEL_WIDTH = 7


@dataclass(frozen=True)
class PlotSeries:
    """One line of the plot."""

    name: str
    series: Series
    style: Style
    show_last: bool = True
    """Print the newest value beside the name in the legend."""
    points: bool = False
    """Draw each point where it was measured, unjoined (validation, measured every few seconds: a line
    between two far-apart measurements would show a curve nobody measured)."""


@dataclass(frozen=True)
class PlotStyles:
    """The plot's own colours (from the theme, through the widget's component classes)."""

    axis: Style = Style()
    label: Style = Style()
    empty: Style = Style()
    blank: Style | None = None
    """For cells with nothing drawn (the widget's own style, so no segment needs it added later)."""


def format_value(v: float) -> str:
    """A tick or legend number in at most 6 characters."""
    if v == 0 or not math.isfinite(v):
        return f"{v:g}"
    a = abs(v)
    if a >= 10000 or a < 0.001:
        return f"{v:.0e}".replace("e+0", "e").replace("e-0", "e-")
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def format_step(step: float) -> str:
    n = int(step)
    if n >= 1_000_000:
        return f"{n / 1e6:.1f}M"
    if n >= 10_000:
        return f"{n / 1e3:.0f}k"
    return str(n)


def nice_ceiling(x: float) -> float:
    """The smallest of 1, 1.5, 2, 3, 4, 5, 6, 8 × 10^k at or above `x` (the x axis' right end).

    A right end that moves in such steps keeps the columns of the plot fixed between them, so
    a redraw recomputes only the columns new points fell into.
    """
    if x <= 1:
        return 1.0
    k = 10 ** math.floor(math.log10(x))
    for m in (1, 1.5, 2, 3, 4, 5, 6, 8, 10):
        if m * k >= x:
            return float(m * k)
    return float(10 * k)


class ColumnCache:
    """Min, max and last per column of one series on a fixed grid, kept between redraws.

    Columns left of the newest point's column never change while the grid (width, x range)
    stays, so only the columns from there on are downsampled again: a redraw reads a few
    columns, not 10⁶ points and not even the whole pyramid.
    """

    def __init__(self) -> None:
        self.key: tuple[int, int, float, float] | None = None
        self.count = 0
        self.x: list[float] = []
        self.lo: list[float] = []
        self.hi: list[float] = []
        self.last: list[float] = []

    def columns(self, series: Series, width: int, x0: float, x1: float) -> ColumnCache:
        key = (id(series), width, x0, x1)
        n = len(series)
        if key != self.key or n < self.count or (self.count and self.x and series.last and series.last[0] < self.x[-1]):
            d = series.downsample(width, x0, x1)
            self.x, self.lo, self.hi, self.last = list(d.x), list(d.lo), list(d.hi), list(d.last)
        elif n > self.count:
            span = x1 - x0
            last_x = self.x[-1] if self.x else x0
            c = min(width - 1, max(0, int((last_x - x0) * width / span)))
            edge = x0 + span * c / width
            keep = bisect_left(self.x, edge)
            del self.x[keep:], self.lo[keep:], self.hi[keep:], self.last[keep:]
            d = series.downsample(width - c, edge, x1)
            self.x += d.x
            self.lo += d.lo
            self.hi += d.hi
            self.last += d.last
        self.key, self.count = key, n
        return self


class LinePlot:
    """A braille line plot of several series; keeps one `ColumnCache` per series between draws."""

    def __init__(self) -> None:
        self._caches: dict[str, ColumnCache] = {}

    def draw(
        self,
        lines: list[PlotSeries],
        width: int,
        height: int,
        *,
        log: bool = False,
        styles: PlotStyles = PlotStyles(),
        empty_text: str = "",
        title: str = "",
    ) -> list[list[Segment]]:
        """`height` rows of segments, each exactly `width` cells wide: legend, plot, step axis."""
        width, height = max(width, 1), max(height, 1)
        rows: list[list[Segment]] = []
        legend = _legend(lines, width, title, styles)
        plot_h = height - 2
        plot_w = width - Y_LABEL_WIDTH - 1
        filled = [s for s in lines if len(s.series)]
        if plot_h < 2 or plot_w < 4 or not filled:
            rows.append(legend)
            for i in range(height - 1):
                text = empty_text[:width].center(width) if i == (height - 1) // 2 else " " * width
                rows.append([Segment(text, styles.empty)])
            return rows[:height]

        x0 = min(s.series.steps[0] for s in filled)
        x1 = max(nice_ceiling(max(s.series.steps[-1] for s in filled)), x0 + 1)
        px_w, px_h = plot_w * 2, plot_h * 4
        columns = []
        for s in filled:
            cache = self._caches.setdefault(s.name, ColumnCache())
            columns.append((s, cache.columns(s.series, px_w, x0, x1)))

        def tr(v: float) -> float:
            return math.log10(max(v, 1e-12)) if log else v

        lo = min(tr(min(d.lo)) for _, d in columns if d.x)
        hi = max(tr(max(d.hi)) for _, d in columns if d.x)
        pad = (hi - lo) * 0.04 if hi - lo > 1e-12 else (abs(hi) * 0.05 or 0.5)
        lo, hi = (lo - pad if log or lo - pad >= 0 or lo < 0 else 0.0), hi + pad  # a loss axis never dips below 0
        y_scale = (px_h - 1) / (hi - lo)
        x_scale = (px_w - 1) / (x1 - x0)

        cells = [0] * (plot_w * plot_h)  # braille bits per cell
        owner = [-1] * (plot_w * plot_h)  # which series drew the cell last

        def vrun(px: int, ya: int, yb: int, who: int) -> None:
            """Set the dots of pixel column `px` from row ya to yb, a cell at a time."""
            if ya > yb:
                ya, yb = yb, ya
            ya, yb = max(ya, 0), min(yb, px_h - 1)
            if ya > yb or not 0 <= px < px_w:
                return
            cx, dx = divmod(px, 2)
            masks = _RUNS[dx]
            cy0, d0 = divmod(ya, 4)
            cy1, d1 = divmod(yb, 4)
            i = cy0 * plot_w + cx
            for cy in range(cy0, cy1 + 1):
                cells[i] |= masks[d0 if cy == cy0 else 0][d1 if cy == cy1 else 3]
                owner[i] = who
                i += plot_w

        s_points = [s.points for s, _ in columns]
        for who, (_, d) in enumerate(columns):
            prev_x = prev_y = -1
            for x, a, b, last in zip(d.x, d.lo, d.hi, d.last):
                px = round((x - x0) * x_scale)
                y_lo = round((hi - tr(a)) * y_scale)  # a larger value sits on a smaller row
                y_hi = round((hi - tr(b)) * y_scale)
                y_last = round((hi - tr(last)) * y_scale)
                vrun(px, y_hi, y_lo, who)
                if s_points[who]:
                    vrun(px, y_last - 1, y_last + 1, who)  # a mark of three dots, so a lone point is seen
                elif prev_x >= 0:
                    if px - prev_x <= 1:  # join to the previous column's last value
                        vrun(px, prev_y, min(max(prev_y, y_hi), y_lo), who)
                    else:  # a gap (a sparse series): a straight segment
                        span = px - prev_x
                        for k in range(1, span):
                            ya = prev_y + (y_last - prev_y) * k / span
                            yb = prev_y + (y_last - prev_y) * (k + 1) / span
                            vrun(prev_x + k, round(ya), round(yb), who)
                prev_x, prev_y = px, y_last

        rows.append(legend)
        tick_rows = _tick_rows(plot_h)
        line_styles = [s.style for s, _ in columns]
        blank = Segment(" " * Y_LABEL_WIDTH, styles.blank)
        bar = Segment("│", styles.axis)
        tick = Segment("┤", styles.axis)
        for cy in range(plot_h):
            segs: list[Segment] = []
            if cy in tick_rows:
                # the top and bottom rows name the axis' ends (their outer dots); others their middle
                v = hi if cy == 0 else lo if cy == plot_h - 1 else hi - (cy * 4 + 1.5) / y_scale
                label = format_value(10**v if log else v)
                segs.append(Segment(label.rjust(Y_LABEL_WIDTH)[:Y_LABEL_WIDTH], styles.label))
                segs.append(tick)
            else:
                segs.append(blank)
                segs.append(bar)
            base = cy * plot_w
            row_text = "".join(map(_CHARS.__getitem__, cells[base : base + plot_w]))
            start = 0
            for who, run in groupby(owner[base : base + plot_w]):
                end = start + len(tuple(run))
                segs.append(Segment(row_text[start:end], line_styles[who] if who >= 0 else styles.blank))
                start = end
            rows.append(segs)
        rows.append(_x_axis(x0, x1, plot_w, width, styles))
        return rows


def draw_plot(lines: list[PlotSeries], width: int, height: int, **kwargs: object) -> list[list[Segment]]:
    """One-off drawing (no cache kept): see `LinePlot.draw`."""
    return LinePlot().draw(lines, width, height, **kwargs)  # type: ignore[arg-type]


def _tick_rows(plot_h: int) -> set[int]:
    if plot_h < 4:
        return {0}
    count = 3 if plot_h < 10 else 5 if plot_h < 24 else 7
    return {round(i * (plot_h - 1) / (count - 1)) for i in range(count)}


def _x_axis(x0: float, x1: float, plot_w: int, width: int, styles: PlotStyles) -> list[Segment]:
    left, right = format_step(x0), format_step(x1)
    mid = format_step((x0 + x1) / 2)
    line = [" "] * plot_w
    for i, ch in enumerate(left[:plot_w]):
        line[i] = ch
    start = max(len(left) + 1, plot_w - len(right))
    for i, ch in enumerate(right):
        if start + i < plot_w:
            line[start + i] = ch
    m = plot_w // 2 - len(mid) // 2
    if m > len(left) + 1 and m + len(mid) < start - 1:
        for i, ch in enumerate(mid):
            line[m + i] = ch
    prefix = "step".rjust(Y_LABEL_WIDTH)[:Y_LABEL_WIDTH] + "└"
    text = (prefix + "".join(line))[:width].ljust(width)
    return [Segment(text[: Y_LABEL_WIDTH + 1], styles.axis), Segment(text[Y_LABEL_WIDTH + 1 :], styles.label)]


def _legend(lines: list[PlotSeries], width: int, title: str, styles: PlotStyles) -> list[Segment]:
    """The title and a key per curve with its newest value; where that does not fit (80 columns, beside
    the decision boundary), the title goes first (its log-scale mark last), then the values, so every curve
    keeps its key."""
    shown = [s for i, s in enumerate(lines) if not i or len(s.series)]  # curves with no points yet stay out
    mark = "[log]" if "[log]" in title else ""  # the scale's mark outlives the title's words
    for head, with_values in ((title, True), (mark, True), (mark, False), ("", False)):
        parts: list[tuple[str, Style | None]] = []
        if head:
            parts.append((head + "  ", styles.label))
        for s in shown:
            last = s.series.last
            value = f" {format_value(last[1])}" if with_values and s.show_last and last is not None else ""
            parts += [("━ ", s.style), (f"{s.name}{value}  ", styles.label)]
        if sum(len(text) for text, _ in parts) - 2 <= width:
            break
    segs: list[Segment] = []
    used = 0
    for text, style in parts:
        text = text[: max(width - used, 0)]
        if text:
            segs.append(Segment(text, style))
            used += len(text)
    if used < width:
        segs.append(Segment(" " * (width - used), styles.blank))
    return segs

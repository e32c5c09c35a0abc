"""Provides the Rich renderables and text helpers the inspect panels draw with.

Textual-free and torch-free: everything here reads only `llm_tutor.engine.kernel.protocol` payloads and
returns Rich `Text` or renderables, so the pictures are easy to test and to reuse. How numbers, shapes
and dtypes read is the engine's one rule (`llm_tutor.engine.kernel.format`, shared with ``run --plain``);
this module adds only the styling. Colours come in
through `GridStyles`, which the widgets fill from their component classes (theme variables); the
magnitude of a value is carried by intensity (dim, normal, bold), which survives ``NO_COLOR``,
monochrome and 16-colour terminals.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.style import Style
from rich.text import Text

from llm_tutor.engine.kernel.format import (
    flat_values,
    format_dtype,
    format_scalar,
    format_shape,
    format_slice,
    format_strides,
    stats_fields,
    value_formatter,
)
from llm_tutor.engine.kernel.protocol import TensorSummary
from llm_tutor.tui.i18n import format_count, t

ELLIPSIS = "…"


@dataclass(frozen=True)
class GridStyles:
    """The styles a value grid is drawn with; the defaults use no colour at all."""

    positive: Style = field(default_factory=Style)
    negative: Style = field(default_factory=Style)
    zero: Style = field(default_factory=lambda: Style(dim=True))
    bad: Style = field(default_factory=lambda: Style(bold=True, reverse=True))
    """NaN and inf cells: reversed, so they stand out even without colour."""
    index: Style = field(default_factory=lambda: Style(dim=True))
    elided: Style = field(default_factory=lambda: Style(dim=True))


# --------------------------------------------------------------------------------------------
# Styling numbers
# --------------------------------------------------------------------------------------------


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def magnitude_scale(values: Iterable[Any], stats: dict[str, Any] | None = None) -> float:
    """The largest |value| the colours are scaled to: the tensor's own min/max when known, else the shown values."""
    scale = 0.0
    if stats:
        for key in ("min", "max"):
            v = stats.get(key)
            if _finite(v):
                scale = max(scale, abs(float(v)))
    if scale == 0.0:
        scale = max((abs(float(v)) for v in values if _finite(v)), default=0.0)
    return scale


def value_style(v: Any, scale: float, styles: GridStyles) -> Style:
    """Sign picks the colour, |v| / scale picks the intensity (dim, normal, bold); NaN and inf stand out."""
    if v is None:
        return styles.elided
    if isinstance(v, bool):
        return styles.positive + Style(bold=True) if v else styles.zero
    if isinstance(v, (int, float)):
        if not math.isfinite(v):
            return styles.bad
        if v == 0:
            return styles.zero
        base = styles.positive if v > 0 else styles.negative
        ratio = abs(v) / scale if scale > 0 else 1.0
        if ratio >= 2 / 3:
            return base + Style(bold=True)
        if ratio < 1 / 3:
            return base + Style(dim=True)
        return base
    return Style()


# --------------------------------------------------------------------------------------------
# Grids
# --------------------------------------------------------------------------------------------


def shown_indices(count: int, size: int, elided_at: int | None) -> list[int | None]:
    """The indices of `count` shown positions out of `size`, one of them (`elided_at`) the elision marker.

    The kernel shows a head and a tail with one elided position between them (see
    ``engine/kernel/child/inspect/values.py``); this recovers their indices for the grid's labels.
    """
    if elided_at is None:
        return list(range(count))
    tail = count - elided_at - 1
    return list(range(elided_at)) + [None] + list(range(size - tail, size))


def _elided_column(rows: list[list[Any]]) -> int | None:
    for row in rows:
        if row and not all(v is None for v in row):
            return next((i for i, v in enumerate(row) if v is None), None)
    return None


class TensorGrid:
    """A 0-, 1- or 2-D block of values with row and column indices, coloured by sign and magnitude.

    Args:
        values: the summary's ``values`` (None marks elided positions).
        shape: the full shape of the 2-D (or 1-D) slice shown, to label indices.
        styles: colours and intensities.
        scale: the |value| drawn brightest (see `magnitude_scale`).
        indices: whether to draw row and column indices.
    """

    def __init__(
        self,
        values: Any,
        shape: Sequence[int],
        styles: GridStyles | None = None,
        scale: float | None = None,
        indices: bool = True,
    ) -> None:
        self.values = values
        self.shape = list(shape)
        self.styles = styles or GridStyles()
        flat = flat_values(values)
        self.scale = magnitude_scale(flat) if scale is None else scale
        self.fmt = value_formatter(flat, ELLIPSIS)
        self.indices = indices
        self._lines: list[Text] | None = None

    def lines(self) -> list[Text]:
        """The grid as lines of text (built once)."""
        if self._lines is None:
            self._lines = self._build()
        return self._lines

    def _cell(self, v: Any, width: int) -> Text:
        text = self.fmt(v)
        return Text(text.rjust(width), style=value_style(v, self.scale, self.styles))

    def _build(self) -> list[Text]:
        values, st = self.values, self.styles
        if not isinstance(values, list):  # a 0-D tensor: one number, with more digits than a grid cell
            text = format_scalar(values)
            return [Text(text, style=value_style(values, self.scale, st))]
        rows: list[list[Any]]
        one_d = not (values and all(isinstance(r, list) for r in values))
        if not one_d:
            rows = values
            n_rows = self.shape[0] if len(self.shape) >= 2 else len(rows)
            n_cols = self.shape[1] if len(self.shape) >= 2 else max((len(r) for r in rows), default=0)
            gap = next((i for i, r in enumerate(rows) if r and all(v is None for v in r)), None)
            row_index = shown_indices(len(rows), n_rows, gap)
        else:
            rows = [values]
            n_cols = self.shape[-1] if self.shape else len(values)
            row_index = [None]
        width_cols = max((len(r) for r in rows), default=0)
        col_index = shown_indices(width_cols, n_cols, _elided_column(rows))
        width = max([len(self.fmt(v)) for r in rows for v in r] + [1])
        if self.indices:
            width = max([width] + [len(str(i)) for i in col_index if i is not None])
        label_w = max([len(str(i)) for i in row_index if i is not None] + [1])
        out: list[Text] = []
        if self.indices and rows:
            head = Text(" " * (label_w + 1) if not one_d else "")
            for c, i in enumerate(col_index):
                head.append(" " if c else "")
                head.append((ELLIPSIS if i is None else str(i)).rjust(width), style=st.index)
            out.append(head)
        for r, row in enumerate(rows):
            line = Text()
            elided_row = bool(row) and all(v is None for v in row)
            if self.indices and not one_d:
                label = row_index[r] if r < len(row_index) else None
                line.append((ELLIPSIS if label is None else str(label)).rjust(label_w), style=st.index)
                line.append(" ")
            for c, v in enumerate(row):
                if c:
                    line.append(" ")
                if elided_row:
                    line.append(ELLIPSIS.rjust(width), style=st.elided)
                else:
                    line.append_text(self._cell(v, width))
            out.append(line)
        return out

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for line in self.lines():
            line.no_wrap = True
            line.overflow = "ellipsis"
            yield line

    @property
    def width(self) -> int:
        """Columns the widest line takes."""
        return max((line.cell_len for line in self.lines()), default=0)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(self.width, self.width)


def grid_cell_width(dtype: str) -> int:
    """About how many columns one value takes (number plus separator), to size a request."""
    if dtype.startswith("bool"):
        return 6
    if dtype.startswith(("int", "uint")):
        return 6
    return 9


# --------------------------------------------------------------------------------------------
# Tensor summaries as text
# --------------------------------------------------------------------------------------------


def header_text(s: TensorSummary, title_style: Style | None = None, name: bool = True, lang: str = "en") -> Text:
    """``name  [2, 3]  float32  cpu`` then the autograd facts, then the memory layout.

    `name` False leaves the name out, for panels whose title already says it.
    """
    text = Text()
    if name:
        text.append(s.name or "tensor", style=title_style or Style(bold=True))
        text.append("  ")
    text.append(format_shape(s.shape), style=title_style or Style(bold=True))
    text.append(f"  {format_dtype(s.dtype)}  {s.device}\n")
    facts = ["requires_grad" if s.requires_grad else t(lang, "insp_no_grad"), t(lang, "insp_leaf" if s.is_leaf else "insp_non_leaf")]
    if s.grad_fn:
        facts.append(f"grad_fn={s.grad_fn}")
    text.append(" · ".join(facts) + "\n", style="dim")
    layout = [] if s.layout == "strided" else [s.layout]
    layout.append(t(lang, "insp_contiguous" if s.contiguous else "insp_not_contiguous"))
    if s.strides:
        layout.append(t(lang, "insp_strides", strides=format_strides(s.strides)))
    layout.append(t(lang, "insp_elements", n=format_count(lang, s.numel)) if s.numel != 1 else t(lang, "insp_element"))
    text.append(" · ".join(layout), style="dim")
    return text


def stats_text(stats: dict[str, Any], bad: Style | None = None) -> Text:
    """``min … max … mean … std …`` then NaN and inf counts, highlighted when not zero."""
    text = Text()
    for key, value in stats_fields(stats):
        if text:
            text.append("  ")
        count = stats[key]
        if key in ("nan", "inf") and isinstance(count, (int, float)) and count:
            text.append(f" {value} {key} ", style=bad or GridStyles().bad)
        elif key in ("nan", "inf"):
            text.append(f"{key} {value}", style="dim")
        else:
            text.append(f"{key} ", style="dim")
            text.append(value)
    return text


def slice_text(s: TensorSummary) -> Text:
    """``slice [1, :, :] of [4, 3, 5]  ([ ] next/previous)`` for tensors of rank > 2, else empty."""
    if len(s.shape) <= 2 or not s.slice_index:
        return Text()
    text = Text()
    text.append(f"slice {format_slice(s.slice_index)}", style="bold")
    text.append(f" of {format_shape(s.shape)}   [ ] step  {{ }} outer", style="dim")
    return text


def grid_shape(s: TensorSummary) -> list[int]:
    """The shape of what the grid shows: the last two dimensions (the 2-D slice) or the vector."""
    return list(s.shape[-2:]) if len(s.shape) >= 2 else list(s.shape)


def next_slice(shape: Sequence[int], index: Sequence[int], step: int, outer: bool = False) -> list[int]:
    """The leading indices of the next (or previous) 2-D slice, counting like an odometer.

    `outer` steps the first leading dimension instead of the last, for (B, H, T, T)-like tensors.
    Wraps around at either end.
    """
    lead = list(shape[:-2])
    if not lead:
        return []
    idx = (list(index) + [0] * len(lead))[: len(lead)]
    if outer:
        idx[0] = (idx[0] + step) % max(lead[0], 1)
        return idx
    total = math.prod(lead)
    flat = 0
    for i, n in zip(idx, lead):
        flat = flat * n + i
    flat = (flat + step) % max(total, 1)
    out = []
    for n in reversed(lead):
        out.append(flat % n)
        flat //= n
    return list(reversed(out))

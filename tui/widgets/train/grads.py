"""Provides `GradNorms`: the gradient's L2 norm per layer as bars on a log scale."""

from __future__ import annotations

import math
from typing import Any

from rich.text import Text
from textual.widget import Widget

from llm_tutor.tui.i18n import t
from llm_tutor.tui.widgets.train.plot import format_value


class GradNorms(Widget):
    """One bar per layer group; a log scale, because norms differ by orders of magnitude between layers."""

    DEFAULT_CSS = """
    GradNorms { height: auto; padding: 0 1; }
    """

    def __init__(self, lang: str = "en", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lang = lang
        self.norms: dict[str, float] = {}

    def show(self, norms: dict[str, float]) -> None:
        if norms != self.norms:
            grew = len(norms) != len(self.norms)
            self.norms = dict(norms)
            self.refresh(layout=grew)

    def render(self) -> Text:
        if not self.norms:
            return Text(t(self.lang, "grads_empty"), style="dim")
        text = Text(t(self.lang, "grads_title") + "\n", style="bold")
        finite = [v for v in self.norms.values() if math.isfinite(v) and v > 0]
        lo = math.log10(min(finite)) if finite else 0.0
        hi = math.log10(max(finite)) if finite else 1.0
        span = max(hi - lo, 1e-9)
        name_w = min(14, max(len(k) for k in self.norms))
        bar_w = max(4, self.size.width - name_w - 10) if self.size.width else 12
        for name, value in self.norms.items():
            if math.isfinite(value) and value > 0:
                fill = 1 + round((math.log10(value) - lo) / span * (bar_w - 1)) if finite else 0
            else:
                fill = 0
            text.append(f"{name[:name_w]:<{name_w}} ")
            text.append("█" * fill, style="bold")
            text.append(" " * (bar_w - fill))
            text.append(f" {format_value(value):>6}\n", style="dim" if math.isfinite(value) else "bold red")
        text.rstrip()
        return text

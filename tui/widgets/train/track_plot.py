"""Provides `TrackPlot`, the small live loss plot under a lesson cell that calls `track(...)`, and `show_metric`.

`track(step=i, loss=...)` in a cell sends `protocol.Metric` events; the lesson screen hands each
one to `show_metric`, which mounts a `TrackPlot` under the cell on the first event of a run and
feeds it after that. Every key of `values` becomes a curve. Redraws are capped (`tui.rendering`:
10 Hz, 2 Hz on a low-bandwidth link) however fast the cell calls `track()`.
"""

from __future__ import annotations

from typing import Any

from textual.widget import Widget

from llm_tutor.engine.kernel import protocol
from llm_tutor.engine.train.series import Series
from llm_tutor.tui.rendering import Throttle
from llm_tutor.tui.widgets.train.chart import ChartSource, LossChart

COMPONENTS = ("loss-chart--train", "loss-chart--val", "loss-chart--lesson")


class TrackPlot(LossChart):
    """A compact loss chart fed by `protocol.Metric` events of one cell run."""

    DEFAULT_CSS = """
    TrackPlot { height: 9; min-height: 6; margin: 1 0 0 0; }
    """

    def __init__(self, title: str = "track()", **kwargs: Any) -> None:
        super().__init__([], title=title, **kwargs)
        self.can_focus = False
        self.parent_id = ""
        self.by_name: dict[str, Series] = {}
        self._throttle = Throttle(self, self.redraw)

    def add(self, event: protocol.Metric) -> None:
        """Append one `track()` call's values (a new run of the cell starts fresh curves)."""
        if event.parent != self.parent_id:
            self.parent_id = event.parent
            self.by_name.clear()
            self.sources.clear()
        for name, value in event.values.items():
            if not isinstance(value, (int, float)):
                continue  # not a number (None, a string): nothing to draw; NaN and inf arrive as floats and the series counts them
            series = self.by_name.get(name)
            if series is None:
                series = self.by_name[name] = Series(name)
                component = COMPONENTS[min(len(self.sources), len(COMPONENTS) - 1)]
                if name in ("val_loss", "val"):
                    component = "loss-chart--val"
                self.sources.append(ChartSource(name, series, component))
            last = series.last
            if last is not None and event.step < last[0]:
                series.clear()
            series.append(event.step, value)
        # a NaN or infinite loss cannot be drawn: say so rather than leave a silent gap
        skipped = sum(s.skipped for s in self.by_name.values())
        self.title = f"track()  {skipped} NaN/inf not plotted" if skipped else "track()"
        self._throttle()


def show_metric(screen: Any, view: Widget | None, event: protocol.Metric) -> TrackPlot | None:
    """Route a `track()` event to the plot under `view` (the cell that is running), mounting it once."""
    if view is None or not view.is_mounted:
        return None
    found = list(view.query(TrackPlot))
    plot = found[0] if found else None
    if plot is None:
        plot = TrackPlot(id=f"track-{view.id or 'cell'}")
        view.mount(plot)
    plot.add(event)
    return plot

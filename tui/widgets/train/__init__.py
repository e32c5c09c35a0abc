"""Provides the training lab's widgets: loss chart, decision boundary, run status, settings forms and panels.

`LabScreen` (tui/screens/lab.py) arranges them; `TrackPlot` is the small chart a lesson cell gets
when it calls `track()`. They draw plain data from `llm_tutor.engine.train.monitor.RunMonitor` and
the trainer's events; none of them imports torch.
"""

from llm_tutor.tui.widgets.train.banner import FaultBanner
from llm_tutor.tui.widgets.train.boundary import BoundaryView
from llm_tutor.tui.widgets.train.card import ReproCard
from llm_tutor.tui.widgets.train.chart import ChartSource, LossChart
from llm_tutor.tui.widgets.train.counts import ParamCounts
from llm_tutor.tui.widgets.train.form import ConfigForm
from llm_tutor.tui.widgets.train.grads import GradNorms
from llm_tutor.tui.widgets.train.sample import SamplePanel
from llm_tutor.tui.widgets.train.status import RunStatus
from llm_tutor.tui.widgets.train.track_plot import TrackPlot, show_metric

__all__ = [
    "BoundaryView",
    "ChartSource",
    "ConfigForm",
    "FaultBanner",
    "GradNorms",
    "LossChart",
    "ParamCounts",
    "ReproCard",
    "RunStatus",
    "SamplePanel",
    "TrackPlot",
    "show_metric",
]

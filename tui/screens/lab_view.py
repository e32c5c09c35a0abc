"""Provides `LabView`, the part of `LabScreen` that draws a run: what changed, at most at the redraw cap.

The reader thread folds the trainer's events into the screen's `RunMonitor` and posts one
coalescing `TrainerUpdated`; the screen marks what changed (`_dirty`) and `frame` draws it through
the one redraw `Throttle` (`tui.rendering`: 10 Hz, 2 Hz over a slow link). State changes and faults
show at once (`_show_state`); a (re)started run fills every widget with its real configuration
(`_sync_started`); settings that wait for a reset are named in the hint line.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static, TabbedContent

from llm_tutor.engine.train.config import field_names
from llm_tutor.tui.i18n import format_count, t
from llm_tutor.tui.screens.lab_settings import MODEL_KEYS, RESET_KEYS
from llm_tutor.tui.widgets.train.banner import FaultBanner
from llm_tutor.tui.widgets.train.boundary import BoundaryView
from llm_tutor.tui.widgets.train.card import ReproCard
from llm_tutor.tui.widgets.train.chart import LossChart
from llm_tutor.tui.widgets.train.counts import ParamCounts
from llm_tutor.tui.widgets.train.form import ConfigForm
from llm_tutor.tui.widgets.train.grads import GradNorms
from llm_tutor.tui.widgets.train.sample import SamplePanel
from llm_tutor.tui.widgets.train.status import RunStatus


class LabView:
    """The drawing half of `LabScreen` (a mixin: it reads the screen's monitor, configs and widgets)."""

    def _title_text(self) -> Text:
        text = Text(f"{t(self.lang, 'lab_title')} · {self.model}", style="bold")
        started = self.monitor.started
        if started is not None:
            text.append(f" · {format_count(self.lang, started.params)} {t(self.lang, 'params')}")
        return text

    def frame(self, force: bool = False) -> None:
        """Draw what changed now, or when the redraw cap allows (`tui.rendering.Throttle`: one timer at most)."""
        self._throttle(force)

    def _draw(self) -> None:
        dirty, self._dirty = self._dirty, set()
        if not self.is_mounted:
            return
        monitor = self.monitor
        with monitor.lock:
            metrics = monitor.metrics
            sample = monitor.sample
            picture = monitor.picture
            val_loss, accuracy = monitor.val_loss, monitor.accuracy
            last, last_val = monitor.loss.last, monitor.val.last
        chart = self.query_one("#lab-chart", LossChart)
        if dirty & {"metrics", "started", "lesson"}:
            chart.redraw()
        status = self.query_one(RunStatus)
        if metrics is not None and "metrics" in dirty:
            world = status.world_size
            if world > 1 and metrics.tokens_per_s and self.query_one("#lab-side", TabbedContent).active == "tab-card":
                self.query_one(ReproCard).show_rate(metrics.tokens_per_s / world)
            status.show(
                step=metrics.step, total=metrics.total_steps, progress=metrics.progress, eta_s=metrics.eta_s,
                steps_per_s=metrics.steps_per_s, tokens_per_s=metrics.tokens_per_s,
                # the last step's loss, as the legend's `train` shows it; validation with the step it was measured at
                loss=last[1] if last is not None else metrics.loss,
                val_loss=val_loss, val_step=last_val[0] if last_val is not None else None,
                accuracy=accuracy, lr=metrics.lr, batch_size=metrics.batch_size,
            )
            if self.query_one("#lab-side", TabbedContent).active == "tab-grads":
                # refreshing a widget on a hidden tab makes Textual lay out the whole screen again
                self.query_one(GradNorms).show(metrics.grad_norms)
            if self.model == "neuron" and metrics.extras:
                self._show_neuron(metrics.extras)
        if "sample" in dirty and self.model == "gpt":
            panel = self.query_one(SamplePanel)
            if sample is None:
                panel.clear()
            else:
                panel.show(sample.text, sample.step, sample.temperature)
        if "picture" in dirty and self.model == "mlp":
            view = self.query_one(BoundaryView)
            if picture is not None:
                view.set_picture(picture.probs, picture.extent, picture.step)

    def _show_neuron(self, extras: dict[str, float]) -> None:
        parts = "   ".join(f"{k} = {v:.4f}" for k, v in extras.items())
        self.query_one("#lab-neuron", Static).update(Text(f"{t(self.lang, 'neuron_title')}   {parts}"))

    def _show_state(self) -> None:
        monitor = self.monitor
        with monitor.lock:
            state, fault, step = monitor.state, monitor.fault, monitor.step
        status = self.query_one(RunStatus)
        status.show(state=state, step=step)
        banner = self.query_one(FaultBanner)
        if state == "dead":
            pass  # the exit handler wrote the banner
        elif fault is not None:
            hint = {"nan": "nan_hint", "oom": "oom_hint"}.get(fault.kind)
            message = fault.message if fault.kind != "config" else t(self.lang, "config_error", message=fault.message)
            banner.show_fault(fault.kind, message, t(self.lang, hint) if hint else "")
        else:
            banner.hide()
        chart = self.query_one("#lab-chart", LossChart)
        chart.set_empty_text(t(self.lang, "press_play") if state in ("paused", "starting") else t(self.lang, "waiting"))
        self._update_hint()

    def _sync_started(self) -> None:
        """A run (re)started: show its real configuration, size and card."""
        started = self.monitor.started
        if started is None:
            return
        self.running_config = {**started.train, **started.config}
        for key, value in started.config.items():
            if hasattr(self.model_config, key):
                setattr(self.model_config, key, value)
        for key, value in started.train.items():
            if hasattr(self.train_config, key):
                setattr(self.train_config, key, value)
        for form_id, keys in (("#form-model", MODEL_KEYS[self.model]), ("#form-reset", RESET_KEYS)):
            form = self.query_one(form_id, ConfigForm)
            for key in keys:
                form.set_value(key, self.running_config.get(key, form.values.get(key)))
        live = self.query_one("#form-live", ConfigForm)
        for key in live.keys:
            live.set_value(key, self.running_config.get(key, live.values.get(key)))
        devices = started.card.get("devices")
        if devices:
            self.devices = ["auto", *devices]
            self.query_one("#form-reset", ConfigForm).set_choices("device", self.devices)
        self.query_one("#lab-title", Static).update(self._title_text())
        self.query_one("#lab-counts", ParamCounts).show(self.model, self.model_config, started.params)
        self.query_one(ReproCard).show(
            started.card,
            {"model": started.model, "optimizer": started.train.get("optimizer"), "lr": started.train.get("lr"),
             "batch_size": started.train.get("batch_size")},
        )
        self.query_one(RunStatus).show(
            params=started.params, device=str(started.card.get("device", "")), total=started.train.get("steps", 0),
            step=started.step, lr=started.train.get("lr"), batch_size=started.train.get("batch_size"),
            drop_rate=started.config.get("drop_rate"), loss=None, val_loss=None, val_step=None, accuracy=None,
            steps_per_s=None, tokens_per_s=None, progress=None, eta_s=None,
            world_size=int(started.card.get("world_size") or 1),
        )
        self.query_one(GradNorms).show({})
        if self.model == "mlp":
            self.query_one(BoundaryView).set_points(started.data.get("points", []), started.data.get("extent"))
        if self.model == "gpt":
            self.query_one(SamplePanel).clear()
        self.query_one("#lab-chart", LossChart).redraw()

    def pending_changes(self) -> list[str]:
        """Keys whose shown value differs from the running trainer's (they apply at the next reset)."""
        if not self.running_config:
            return []
        changed = []
        for key in (*MODEL_KEYS[self.model], *RESET_KEYS):
            config = self.model_config if key in field_names(self.model_config) else self.train_config
            if key in self.running_config and getattr(config, key) != self.running_config[key]:
                changed.append(key)
        if self.model == "gpt" and self.processes != self.running_world_size():
            changed.append("processes")
        return changed

    def running_world_size(self) -> int:
        """Processes the running trainer trains on (1 before it has started)."""
        started = self.monitor.started
        return int(started.card.get("world_size") or 1) if started is not None else self.processes

    def _update_hint(self) -> None:
        hint = self.query_one("#lab-hint", Static)
        pending = self.pending_changes()
        if pending:
            hint.update(Text(t(self.lang, "pending", keys=", ".join(pending)), style="bold"))
        else:
            hint.update("")
        hint.display = bool(pending)

"""Provides `LabScreen`: the training lab, where the neuron, the MLP and the GPT train live under the learner's controls.

Training runs in a trainer child process (`TrainerProcess`); the UI process never imports torch
and never steps a model on its own thread. The child's events are folded into a `RunMonitor` by
the reader thread, which then posts one coalescing `TrainerUpdated`; the screen looks at what
changed and repaints only those widgets, at most `max_redraw_hz` times a second (`tui.rendering`:
10 Hz, 2 Hz over a slow link). State changes and faults show at once; curves, figures and pictures
wait for the next frame. Settings that a running trainer can change in place (learning rate, batch size,
dropout, budget) are sent as soon as they are entered; those that need new weights (the model's
shape, optimizer, seed, device) wait for a reset (`r`), and the calculator shows their parameter
count before anything trains. The gpt's `processes` setting, applied at reset too, restarts the
trainer as a data-parallel run of that many processes (torch.distributed.run); the controls reach
every process through rank 0, and a process that dies ends the run with its rank and reason.

This module holds the screen, its layout, and its handling of the trainer's messages and the forms; the
trainer process is `lab_run.LabRun`, the drawing `lab_view.LabView`, the keys `lab_keys.LabKeys`, the
settings' tables `lab_settings`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Static, TabbedContent, TabPane

from llm_tutor.engine.kernel import protocol
from llm_tutor.engine.train.series import Series
from llm_tutor.engine.train.config import (
    ACTIVATIONS,
    DATASETS,
    MODELS,
    OPTIMIZERS,
    ConfigError,
    apply_settings,
    default_configs,
)
from llm_tutor.engine.train.monitor import RunMonitor
from llm_tutor.engine.train.process import TrainerProcess
from llm_tutor.tui.rendering import Throttle
from llm_tutor.tui.screens.lab_keys import LAB_BINDINGS, LabKeys
from llm_tutor.tui.screens.lab_run import LabRun
from llm_tutor.tui.screens.lab_settings import (
    CONTROL_FOR,
    MAX_PROCESSES,
    MODEL_KEYS,
    RESET_KEYS,
    LiveSettings,
    ModelChoice,
    ScaleSetting,
    lab_threads,
    live_keys,
)
from llm_tutor.tui.screens.lab_view import LabView
from llm_tutor.tui.widgets.train.banner import FaultBanner
from llm_tutor.tui.widgets.train.boundary import BoundaryView
from llm_tutor.tui.widgets.train.card import ReproCard
from llm_tutor.tui.widgets.train.chart import ChartSource, LossChart
from llm_tutor.tui.widgets.train.counts import ParamCounts
from llm_tutor.tui.widgets.train.form import ConfigForm
from llm_tutor.tui.widgets.train.grads import GradNorms
from llm_tutor.tui.i18n import sentence_case, t, translate_bindings
from llm_tutor.tui.widgets.train.messages import TrainerExited, TrainerUpdated
from llm_tutor.tui.widgets.train.sample import SamplePanel
from llm_tutor.tui.widgets.train.status import RunStatus
from llm_tutor.tui.widgets.footer import KeyFooter
from llm_tutor.tui.messages import KernelEvent, ScreenMounted


class LabScreen(LabRun, LabKeys, LabView, Screen[None]):
    """The training lab for one model; switching the model opens a fresh lab screen in its place."""

    CSS_PATH = "lab.tcss"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]
    BINDINGS = LAB_BINDINGS

    def __init__(
        self,
        model: str = "gpt",
        *,
        lang: str = "en",
        device: str = "auto",
        settings: dict[str, Any] | None = None,
        resume: str | None = None,
        text: str | None = None,
        play: bool = False,
        checkpoint: str | None = None,
        threads: int | None = None,
        data_dir: Path | None = None,
        start_trainer: bool = True,
        processes: int = 1,
    ) -> None:
        super().__init__()
        if model not in MODELS:
            raise ValueError(f"unknown model {model!r}: expected one of {', '.join(MODELS)}")
        self.model = model
        self.lang = lang
        self.lab_options: dict[str, Any] = {
            "lang": lang, "device": device, "resume": None, "text": text, "play": False, "checkpoint": checkpoint,
            "threads": threads, "data_dir": data_dir, "start_trainer": start_trainer, "processes": processes,
        }
        translate_bindings(self, lang)
        self.model_config, self.train_config = default_configs(model)
        self.train_config.device = device
        self.settings_error = ""
        try:
            apply_settings(self.model_config, self.train_config, dict(settings or {}))
        except ConfigError as err:
            self.settings_error = str(err)
        self.resume = resume
        self.text_path = text
        self.play_at_start = play
        self.checkpoint = checkpoint
        self.data_dir = data_dir
        self.start_trainer = start_trainer
        self.processes = processes if model == "gpt" else 1
        """Processes the next (re)started gpt run trains on; the running one's count is in its card."""
        self.monitor = RunMonitor()
        self.process = TrainerProcess(self.trainer_event, self.trainer_exited, threads=threads or lab_threads())
        self.lesson_series = Series("lesson")
        self.devices = ["auto", "cpu", "cuda", "mps"]
        self._throttle = Throttle(self, self._draw)
        self._dirty: set[str] = set()
        self.running_config: dict[str, Any] = {}
        """The configuration the trainer runs now (from its last TrainStarted), by key."""

    # -- layout --------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        lang = self.lang
        yield Static(self._title_text(), id="lab-title")
        yield FaultBanner(id="lab-fault")
        with Horizontal(id="lab-body"):
            with Vertical(id="lab-main"):
                # the status sits above the chart, not across the screen: what changes every frame then
                # lies in one column, and Textual repaints that column instead of the whole width
                yield RunStatus(lang, id="lab-status")
                with Horizontal(id="lab-plots"):
                    yield LossChart(
                        [
                            ChartSource(t(lang, "train"), self.monitor.loss, "loss-chart--train"),
                            ChartSource(t(lang, "val"), self.monitor.val, "loss-chart--val", points=True),
                            ChartSource(t(lang, "lesson_series"), self.lesson_series, "loss-chart--lesson"),
                        ],
                        title=t(lang, "loss"),
                        empty_text=t(lang, "press_play"),
                        lock=lambda: self.monitor.lock,
                        id="lab-chart",
                    )
                    if self.model == "mlp":
                        yield BoundaryView(t(lang, "boundary_empty"), id="lab-boundary")
                if self.model == "gpt":
                    yield SamplePanel(lang, id="lab-sample")
                if self.model == "neuron":
                    yield Static("", id="lab-neuron")
                yield Static("", id="lab-hint")
            with TabbedContent(id="lab-side"):
                with TabPane(t(lang, "tab_settings"), id="tab-settings"):
                    with VerticalScroll(can_focus=False):  # Tab goes from the tabs straight to the first setting
                        yield ConfigForm(
                            ModelChoice(self.model), ["model"], choices={"model": list(MODELS)},
                            labels={"model": t(lang, "model_choice")}, id="form-choice", lang=lang,
                        )
                        yield ConfigForm(self._live_template(), live_keys(self.model), title=t(lang, "live_section"),
                                         id="form-live", lang=lang)
                        yield ConfigForm(
                            self.train_config, list(RESET_KEYS), title=t(lang, "reset_section"),
                            choices={"optimizer": list(OPTIMIZERS), "device": self.devices}, id="form-reset", lang=lang,
                        )
                        if self.model == "gpt":
                            yield ConfigForm(ScaleSetting(self.processes), ["processes"],
                                             labels={"processes": t(lang, "processes")}, id="form-scale", lang=lang)
                with TabPane(t(lang, "tab_model"), id="tab-model"):
                    with VerticalScroll(can_focus=False):
                        yield ConfigForm(
                            self.model_config, list(MODEL_KEYS[self.model]), title=t(lang, "model_section"),
                            choices={"dataset": list(DATASETS), "activation": list(ACTIVATIONS)}, id="form-model", lang=lang,
                        )
                        yield ParamCounts(lang, id="lab-counts")
                with TabPane(t(lang, "tab_grads"), id="tab-grads"):
                    with VerticalScroll(can_focus=False):
                        yield GradNorms(lang, id="lab-grads")
                with TabPane(t(lang, "tab_card"), id="tab-card"):
                    with VerticalScroll(can_focus=False):
                        yield ReproCard(lang, id="lab-card")
        yield KeyFooter()

    def _live_template(self) -> LiveSettings:
        return LiveSettings(
            lr=self.train_config.lr,
            batch_size=self.train_config.batch_size,
            steps=self.train_config.steps,
            drop_rate=float(getattr(self.model_config, "drop_rate", 0.0)),
            temperature=self.train_config.temperature,
        )


    def on_mount(self) -> None:
        self.query_one("#lab-chart", LossChart).focus()
        self.query_one("#lab-counts", ParamCounts).show(self.model, self.model_config)
        self.query_one(RunStatus).show(state="starting", device=self.train_config.device)
        if self.settings_error:
            self.query_one(FaultBanner).show_fault("config", t(self.lang, "config_error", message=self.settings_error))
        elif self.start_trainer:
            self.start_process(resume=self.resume, play=self.play_at_start)
        self._update_hint()
        self.post_message(ScreenMounted())  # the lab's widgets are long-lived: out of the collector's way

    def on_unmount(self) -> None:
        self.stop_process(wait=False)

    # -- the trainer process's messages (the reader thread posts them) --------------------------

    @on(TrainerUpdated)
    def _updated(self, message: TrainerUpdated) -> None:
        changed, notices = self.monitor.take()
        for notice in notices:
            self._notice(notice)
        if "started" in changed:
            self._sync_started()
        if changed & {"state", "fault", "started"}:
            self._show_state()  # at once: a key's effect must show without waiting for a frame
        self._dirty |= changed
        self.frame()

    @on(TrainerExited)
    def _exited(self, message: TrainerExited) -> None:
        fault = self.monitor.fault
        self.monitor.mark_dead(message.reason)
        self.monitor.take()
        banner = self.query_one(FaultBanner)
        if fault is not None and fault.kind == "config":
            banner.show_fault("config", t(self.lang, "config_error", message=fault.message))
        else:
            reason = sentence_case(self.lang, message.reason)
            banner.show_fault("dead", t(self.lang, "trainer_dead", reason=reason))
        self._show_state()

    # -- lesson metrics (routed by the app) ---------------------------------------------------------

    def on_kernel_event(self, message: KernelEvent) -> None:
        """`track(loss=...)` in a lesson cell: shown as the chart's "lesson" curve."""
        event = message.event
        if not isinstance(event, protocol.Metric) or not event.values:
            return
        value = event.values.get("loss", next(iter(event.values.values())))
        if not isinstance(value, (int, float)):
            return
        last = self.lesson_series.last
        if last is not None and event.step < last[0]:
            self.lesson_series.clear()
        self.lesson_series.append(event.step, value)
        self._dirty.add("lesson")
        self.frame()

    # -- the learner's edits ----------------------------------------------------------------------------

    @on(ConfigForm.Changed)
    def _form_changed(self, message: ConfigForm.Changed) -> None:
        key, value = message.key, message.value
        form_id = message.form.id
        if form_id == "form-choice":
            if value != self.model and message.committed:
                self.switch_model(str(value))
            return
        if form_id == "form-live":
            self._live_change(key, value, message.committed)
            return
        if form_id == "form-scale":
            form = self.query_one("#form-scale", ConfigForm)
            if not 1 <= int(value) <= MAX_PROCESSES:
                form.errors[key] = f"processes must lie in 1..{MAX_PROCESSES}, got {value}"
                form._show_errors()
                return
            self.processes = int(value)
            self._update_hint()
            return
        config = self.model_config if form_id == "form-model" else self.train_config
        setattr(config, key, value)
        if form_id == "form-model":
            self.query_one("#lab-counts", ParamCounts).show(
                self.model, self.model_config, self.monitor.started.params if self.monitor.started else None
            )
        self._update_hint()

    def _live_change(self, key: str, value: Any, committed: bool) -> None:
        target = self.model_config if key == "drop_rate" else self.train_config
        trial = dataclasses.replace(target)
        setattr(trial, key, value)
        try:
            trial.validate()
        except ConfigError as err:
            form = self.query_one("#form-live", ConfigForm)
            form.errors[key] = str(err)
            form._show_errors()
            return
        setattr(target, key, value)
        if committed and self.process.is_alive() and self.running_config.get(key) != value:
            self.process.send(CONTROL_FOR[key], value)
            self.running_config[key] = value
            if key == "drop_rate":
                self.query_one(RunStatus).show(drop_rate=value)

    def switch_model(self, model: str) -> None:
        """Open a lab for another model in this one's place (this trainer stops)."""
        options = dict(self.lab_options)
        options["device"] = self.train_config.device
        self.app.switch_screen(LabScreen(model, **options))












    @on(TabbedContent.TabActivated)
    def _tab_shown(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id == "tab-grads":
            with self.monitor.lock:
                metrics = self.monitor.metrics
            self.query_one(GradNorms).show(metrics.grad_norms if metrics is not None else {})

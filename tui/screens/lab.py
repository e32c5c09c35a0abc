"""Provides `LabScreen`: the training lab, where the neuron, the MLP and the GPT train live under the learner's controls.

Training runs in a trainer child process (`TrainerProcess`); the UI process never imports torch
and never steps a model on its own thread. The child's events are folded into a `RunMonitor` by
the reader thread, which then posts one coalescing `TrainerUpdated`; the screen looks at what
changed and repaints only those widgets, at most `max_redraw_hz` times a second (10 Hz, 2 Hz over
a slow link). State changes and faults show at once; curves, figures and pictures wait for the
next frame. Settings that a running trainer can change in place (learning rate, batch size,
dropout, budget) are sent as soon as they are entered; those that need new weights (the model's
shape, optimizer, seed, device) wait for a reset (`r`), and the calculator shows their parameter
count before anything trains. The gpt's `processes` setting, applied at reset too, restarts the
trainer as a data-parallel run of that many processes (torch.distributed.run); the controls reach
every process through rank 0, and a process that dies ends the run with its rank and reason.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Input, Select, Static, TabbedContent, TabPane

from llm_tutor.engine.kernel import protocol
from llm_tutor.engine.train.series import Series
from llm_tutor.engine.train import events
from llm_tutor.engine.train.config import (
    ACTIVATIONS,
    DATASETS,
    MODELS,
    OPTIMIZERS,
    ConfigError,
    apply_settings,
    default_configs,
    field_names,
)
from llm_tutor.engine.train.monitor import RunMonitor
from llm_tutor.engine.train.process import TrainerProcess
from llm_tutor.tui.widgets.train.banner import FaultBanner
from llm_tutor.tui.widgets.train.boundary import BoundaryView
from llm_tutor.tui.widgets.train.card import ReproCard
from llm_tutor.tui.widgets.train.chart import ChartSource, LossChart
from llm_tutor.tui.widgets.train.counts import ParamCounts
from llm_tutor.tui.widgets.train.form import ConfigForm
from llm_tutor.tui.widgets.train.grads import GradNorms
from llm_tutor.tui.widgets.train.labels import lt, translate_lab_bindings
from llm_tutor.tui.i18n import exit_reason, format_count, sentence_case
from llm_tutor.tui.widgets.train.messages import TrainerExited, TrainerUpdated
from llm_tutor.tui.widgets.train.sample import SamplePanel
from llm_tutor.tui.widgets.train.status import RunStatus
from llm_tutor.tui.widgets.train.track_plot import max_redraw_hz
from llm_tutor.tui.widgets.footer import KeyFooter
from llm_tutor.tui.messages import KernelEvent, ScreenMounted

LIVE_KEYS = ("lr", "batch_size", "steps", "drop_rate", "temperature")
"""Settings a running trainer changes in place (the controls `set_<key>`)."""
RESET_KEYS = ("optimizer", "seed", "device", "deterministic")
"""Trainer settings that need new weights or a new optimizer: applied by a reset."""
MODEL_KEYS = {
    "gpt": ("vocab_size", "context_length", "emb_dim", "n_heads", "n_layers", "qkv_bias", "tie_weights"),
    "mlp": ("dataset", "n_samples", "noise", "hidden_width", "hidden_layers", "activation"),
    "neuron": ("x", "w", "b", "y"),
}
"""The calculator's fields per model (drop_rate is live, so it sits with the live settings)."""
MAX_PROCESSES = 64
"""The most processes the lab starts on one machine."""
CONTROL_FOR = {"lr": "set_lr", "batch_size": "set_batch_size", "steps": "set_steps", "drop_rate": "set_dropout",
               "temperature": "set_temperature"}


@dataclass
class LiveSettings:
    """The live settings' types, for the form (values come from the trainer and model configs)."""

    lr: float = 1e-3
    batch_size: int = 32
    steps: int = 1000
    drop_rate: float = 0.0
    temperature: float = 0.8


@dataclass
class ScaleSetting:
    """How many processes train the gpt (data parallel); applied at reset."""

    processes: int = 1


class LabScreen(Screen[None]):
    """The training lab for one model; switching the model opens a fresh lab screen in its place."""

    CSS_PATH = "lab.tcss"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]
    BINDINGS = [
        Binding("space", "play_pause", "Play/Pause", id="lab.play"),
        Binding("n", "step", "Step", id="lab.step"),
        Binding("s", "stop", "Stop", id="lab.stop"),
        Binding("r", "reset", "Reset", id="lab.reset"),
        Binding("l", "log_scale", "Log scale", id="lab.log"),
        Binding("ctrl+s", "save", "Save", id="lab.save"),
        Binding("ctrl+o", "load", "Load", id="lab.load"),
        Binding("g", "sample", "Sample now", show=False, id="lab.sample"),
        Binding("right_square_bracket", "scale_lr(2.0)", "Learning rate ×2", show=False, key_display="]", id="lab.lr_up"),
        Binding("left_square_bracket", "scale_lr(0.5)", "Learning rate ÷2", show=False, key_display="[", id="lab.lr_down"),
        Binding("1", "show_tab('settings')", "Settings", show=False, id="lab.tab_settings"),
        Binding("2", "show_tab('model')", "Model and calculator", show=False, id="lab.tab_model"),
        Binding("3", "show_tab('grads')", "Gradient norms", show=False, id="lab.tab_grads"),
        Binding("4", "show_tab('card')", "Reproducibility card", show=False, id="lab.tab_card"),
        Binding("escape", "back", "Back", id="lab.back"),
    ]

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
        translate_lab_bindings(self, lang)
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
        self.process = TrainerProcess(self._trainer_event, self._trainer_exit, threads=threads or lab_threads())
        self.lesson_series = Series("lesson")
        self.devices = ["auto", "cpu", "cuda", "mps"]
        self.redraws = 0
        """Frames drawn (the throughput benchmark reads it)."""
        self._last_frame = 0.0
        self._frame_timer: Any = None
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
                            ChartSource(lt(lang, "train"), self.monitor.loss, "loss-chart--train"),
                            ChartSource(lt(lang, "val"), self.monitor.val, "loss-chart--val", points=True),
                            ChartSource(lt(lang, "lesson_series"), self.lesson_series, "loss-chart--lesson"),
                        ],
                        title=lt(lang, "loss"),
                        empty_text=lt(lang, "press_play"),
                        lock=lambda: self.monitor.lock,
                        id="lab-chart",
                    )
                    if self.model == "mlp":
                        yield BoundaryView(lt(lang, "boundary_empty"), id="lab-boundary")
                if self.model == "gpt":
                    yield SamplePanel(lang, id="lab-sample")
                if self.model == "neuron":
                    yield Static("", id="lab-neuron")
                yield Static("", id="lab-hint")
            with TabbedContent(id="lab-side"):
                with TabPane(lt(lang, "tab_settings"), id="tab-settings"):
                    with VerticalScroll(can_focus=False):  # Tab goes from the tabs straight to the first setting
                        yield ConfigForm(
                            _ModelChoice(self.model), ["model"], choices={"model": list(MODELS)},
                            labels={"model": lt(lang, "model_choice")}, id="form-choice",
                        )
                        yield ConfigForm(self._live_template(), self._live_keys(), title=lt(lang, "live_section"),
                                         id="form-live")
                        yield ConfigForm(
                            self.train_config, list(RESET_KEYS), title=lt(lang, "reset_section"),
                            choices={"optimizer": list(OPTIMIZERS), "device": self.devices}, id="form-reset",
                        )
                        if self.model == "gpt":
                            yield ConfigForm(ScaleSetting(self.processes), ["processes"],
                                             labels={"processes": lt(lang, "processes")}, id="form-scale")
                with TabPane(lt(lang, "tab_model"), id="tab-model"):
                    with VerticalScroll(can_focus=False):
                        yield ConfigForm(
                            self.model_config, list(MODEL_KEYS[self.model]), title=lt(lang, "model_section"),
                            choices={"dataset": list(DATASETS), "activation": list(ACTIVATIONS)}, id="form-model",
                        )
                        yield ParamCounts(lang, id="lab-counts")
                with TabPane(lt(lang, "tab_grads"), id="tab-grads"):
                    with VerticalScroll(can_focus=False):
                        yield GradNorms(lang, id="lab-grads")
                with TabPane(lt(lang, "tab_card"), id="tab-card"):
                    with VerticalScroll(can_focus=False):
                        yield ReproCard(lang, id="lab-card")
        yield KeyFooter()

    def _live_keys(self) -> list[str]:
        keys = ["lr", "batch_size", "steps"]
        if self.model in ("mlp", "gpt"):
            keys.append("drop_rate")
        if self.model == "gpt":
            keys.append("temperature")
        return keys

    def _live_template(self) -> LiveSettings:
        return LiveSettings(
            lr=self.train_config.lr,
            batch_size=self.train_config.batch_size,
            steps=self.train_config.steps,
            drop_rate=float(getattr(self.model_config, "drop_rate", 0.0)),
            temperature=self.train_config.temperature,
        )

    def _title_text(self) -> Text:
        text = Text(f"{lt(self.lang, 'lab_title')} · {self.model}", style="bold")
        started = self.monitor.started
        if started is not None:
            text.append(f" · {format_count(self.lang, started.params)} {lt(self.lang, 'params')}")
        return text

    def on_mount(self) -> None:
        self.query_one("#lab-chart", LossChart).focus()
        self.query_one("#lab-counts", ParamCounts).show(self.model, self.model_config)
        self.query_one(RunStatus).show(state="starting", device=self.train_config.device)
        if self.settings_error:
            self.query_one(FaultBanner).show_fault("config", lt(self.lang, "config_error", message=self.settings_error))
        elif self.start_trainer:
            self.start_process(resume=self.resume, play=self.play_at_start)
        self._update_hint()
        self.post_message(ScreenMounted())  # the lab's widgets are long-lived: out of the collector's way

    def on_unmount(self) -> None:
        self.stop_process(wait=False)

    # -- the trainer process ---------------------------------------------------------------------

    def start_process(self, resume: str | None = None, play: bool = False) -> None:
        """Start (or restart) the trainer with the settings shown; it starts paused unless `play`."""
        self.monitor.reset_view()
        config = dataclasses.asdict(self.model_config)
        train = dataclasses.asdict(self.train_config)
        self.query_one(FaultBanner).hide()
        self.process.start(
            self.model, config, train, resume=resume, text=self.text_path, play=play, processes=self.processes
        )
        self._frame(force=True)

    def stop_process(self, wait: bool = True) -> None:
        """Stop the trainer (between two steps); without `wait` the UI does not wait for it to exit."""
        if wait:
            self.process.stop()
            return
        import threading

        threading.Thread(target=self.process.stop, name="llm-tutor-lab-stop", daemon=True).start()

    def _trainer_event(self, event: Any) -> None:
        """Reader thread: fold the event into the monitor, then nudge the UI (coalesced)."""
        self.monitor.apply(event)
        self.post_message(TrainerUpdated(self.monitor.version))

    def _trainer_exit(self, code: int | None, reason: str) -> None:
        """Reader thread: the trainer ended; say why in the learner's language (the engine's English reason
        is kept for the log)."""
        last = [line for line in self.process.stderr_tail().splitlines() if line.strip()]
        local = exit_reason(self.lang, "trainer", code, last[-1] if last else "")
        self.post_message(TrainerExited(code, local))

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
        self._frame()

    @on(TrainerExited)
    def _exited(self, message: TrainerExited) -> None:
        fault = self.monitor.fault
        self.monitor.mark_dead(message.reason)
        self.monitor.take()
        banner = self.query_one(FaultBanner)
        if fault is not None and fault.kind == "config":
            banner.show_fault("config", lt(self.lang, "config_error", message=fault.message))
        else:
            reason = sentence_case(self.lang, message.reason)
            banner.show_fault("dead", lt(self.lang, "dead", reason=reason))
        self._show_state()

    def _notice(self, notice: Any) -> None:
        if isinstance(notice, events.TrainCheckpointSaved):
            key = "loaded" if notice.loaded else "saved"
            self.app.notify(lt(self.lang, key, step=format_count(self.lang, notice.step), path=notice.path))
        elif isinstance(notice, events.TrainError) and notice.kind not in ("nan", "oom"):
            self.app.notify(notice.message, severity="error", timeout=8)

    # -- drawing ---------------------------------------------------------------------------------

    def _frame(self, force: bool = False) -> None:
        """Draw what changed now, or when the redraw cap allows (one timer at most)."""
        if self._frame_timer is not None and not force:
            return  # a frame is already on its way and will draw this change too
        wait = self._last_frame + 1.0 / max_redraw_hz(self.app) - time.monotonic()
        if force or wait <= 0:
            if self._frame_timer is not None:
                self._frame_timer.stop()
            self._draw()
        else:
            self._frame_timer = self.set_timer(wait, self._draw)

    def _draw(self) -> None:
        self._frame_timer = None
        self._last_frame = time.monotonic()
        dirty, self._dirty = self._dirty, set()
        if not self.is_mounted:
            return
        self.redraws += 1
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
        self.query_one("#lab-neuron", Static).update(Text(f"{lt(self.lang, 'neuron_title')}   {parts}"))

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
            message = fault.message if fault.kind != "config" else lt(self.lang, "config_error", message=fault.message)
            banner.show_fault(fault.kind, message, lt(self.lang, hint) if hint else "")
        else:
            banner.hide()
        chart = self.query_one("#lab-chart", LossChart)
        chart.set_empty_text(lt(self.lang, "press_play") if state in ("paused", "starting") else lt(self.lang, "waiting"))
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
            hint.update(Text(lt(self.lang, "pending", keys=", ".join(pending)), style="bold"))
        else:
            hint.update("")
        hint.display = bool(pending)

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
        self._frame()

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

    # -- actions --------------------------------------------------------------------------------------

    def _alive_or_restart(self, play: bool = False) -> bool:
        """True when a trainer runs; otherwise start one (it answers later) and return False."""
        if self.process.is_alive() and self.monitor.state not in ("stopped", "dead"):
            return True
        if self.settings_error:
            return False
        self.start_process(play=play)
        return False

    def action_play_pause(self) -> None:
        state = self.monitor.state
        if not self._alive_or_restart(play=True):
            return
        if state == "running":
            self.process.send("pause")
        elif state == "failed":
            self.app.notify(lt(self.lang, "nan_hint"), severity="warning")
        else:
            self.process.send("play")

    def action_step(self) -> None:
        if not self._alive_or_restart():
            return
        self.process.send("step", 1)

    def action_stop(self) -> None:
        if self.process.is_alive():
            self.process.send("stop")

    def action_reset(self) -> None:
        """New weights from the seed, with every setting shown (or a new trainer after a crash)."""
        self.query_one(FaultBanner).hide()
        if not self.process.is_alive() or self.monitor.state in ("stopped", "dead", "starting"):
            if self.monitor.state == "starting" and self.process.is_alive():
                return  # it is still importing torch; its first start event is on the way
            self.start_process()
            return
        if self.processes != self.running_world_size():
            self.start_process()  # another number of processes: a new run, with every setting shown
            return
        overrides: dict[str, Any] = {}
        for key in (*MODEL_KEYS[self.model], *RESET_KEYS):
            config = self.model_config if key in field_names(self.model_config) else self.train_config
            overrides[key] = getattr(config, key)
        for key in self._live_keys():
            config = self.model_config if key == "drop_rate" else self.train_config
            overrides[key] = getattr(config, key)
        self.process.send("reset", overrides)

    def action_log_scale(self) -> None:
        chart = self.query_one("#lab-chart", LossChart)
        chart.set_log_scale(not chart.log_scale)

    def checkpoint_path(self) -> Path:
        """Where ctrl+s saves and ctrl+o loads: `--checkpoint`, else `<data dir>/lab/<model>.pt`."""
        if self.checkpoint:
            return Path(self.checkpoint).expanduser()
        from llm_tutor.engine.settings import data_dir

        return data_dir(self.data_dir) / "lab" / f"{self.model}.pt"

    def action_save(self) -> None:
        if not self.process.is_alive():
            return
        path = self.checkpoint_path()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            self.app.notify(f"{path.parent}: {err.strerror or err}", severity="error")
            return
        self.process.send("save", str(path))

    def action_load(self) -> None:
        path = self.checkpoint_path()
        if not path.is_file():
            self.app.notify(lt(self.lang, "no_checkpoint", path=str(path)), severity="warning")
            return
        if not self.process.is_alive() or self.monitor.state in ("dead", "stopped"):
            self.start_process(resume=str(path))
            return
        self.process.send("load", str(path))

    def action_sample(self) -> None:
        if self.model == "gpt" and self.process.is_alive():
            self.process.send("sample")

    def action_scale_lr(self, factor: float) -> None:
        lr = float(f"{self.train_config.lr * factor:.3g}")
        self.query_one("#form-live", ConfigForm).set_value("lr", lr)
        self._live_change("lr", lr, committed=True)
        self.query_one(RunStatus).show(lr=lr)

    @on(TabbedContent.TabActivated)
    def _tab_shown(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id == "tab-grads":
            with self.monitor.lock:
                metrics = self.monitor.metrics
            self.query_one(GradNorms).show(metrics.grad_norms if metrics is not None else {})

    def action_show_tab(self, name: str) -> None:
        self.query_one("#lab-side", TabbedContent).active = f"tab-{name}"

    def action_back(self) -> None:
        focused = self.focused
        if focused is not None and any(isinstance(node, ConfigForm) for node in focused.ancestors_with_self):
            self.query_one("#lab-chart", LossChart).focus()
            return
        self.app.pop_screen()


@dataclass
class _ModelChoice:
    model: str = "gpt"


def lab_threads() -> int:
    """Torch threads for the trainer: `LLM_TUTOR_LAB_THREADS` if set, else every core but one.

    The core left over keeps the UI responsive, and it keeps torch's threads from waiting on one
    another while the UI briefly takes a core (on 2 busy cores measured here: 296 steps/s for the
    MLP with 1 thread, 47 with 2).
    """
    value = os.environ.get("LLM_TUTOR_LAB_THREADS", "")
    if value.isdigit() and int(value) > 0:
        return int(value)
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 2
    return max(1, cores - 1)

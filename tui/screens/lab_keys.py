"""Provides the lab's keys: `LAB_BINDINGS` and `LabKeys`, the part of `LabScreen` that answers them.

Each action sends a control to the trainer process (play, pause, one step, stop, reset, save,
load, sample, the learning rate ×2 / ÷2) or changes the view (log scale, tabs). A key pressed
while no trainer runs (it crashed, or was stopped) starts a new one with the settings shown.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.binding import Binding
from textual.widgets import TabbedContent

from llm_tutor.engine.train.config import field_names
from llm_tutor.tui.screens.lab_settings import MODEL_KEYS, RESET_KEYS, live_keys
from llm_tutor.tui.widgets.train.banner import FaultBanner
from llm_tutor.tui.widgets.train.chart import LossChart
from llm_tutor.tui.widgets.train.form import ConfigForm
from llm_tutor.tui.i18n import t
from llm_tutor.tui.widgets.train.status import RunStatus

LAB_BINDINGS = [
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
"""The lab's keys, with ids so users can remap them (`LabScreen.BINDINGS`)."""


class LabKeys:
    """The key half of `LabScreen` (a mixin: it reads the screen's process, monitor and configs)."""

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
            self.app.notify(t(self.lang, "nan_hint"), severity="warning")
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
        for key in live_keys(self.model):
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
            self.app.notify(t(self.lang, "no_checkpoint", path=str(path)), severity="warning")
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

    def action_show_tab(self, name: str) -> None:
        self.query_one("#lab-side", TabbedContent).active = f"tab-{name}"

    def action_back(self) -> None:
        focused = self.focused
        if focused is not None and any(isinstance(node, ConfigForm) for node in focused.ancestors_with_self):
            self.query_one("#lab-chart", LossChart).focus()
            return
        self.app.pop_screen()

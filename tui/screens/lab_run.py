"""Provides `LabRun`, the part of `LabScreen` that owns the trainer process: start, stop, and its events.

The trainer runs in a child process (`TrainerProcess`); its reader thread folds each event into the
screen's `RunMonitor` and posts one coalescing `TrainerUpdated` (or `TrainerExited` when the child
ends), which the screen handles on its own thread. Checkpoints saved and control errors become
notifications.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

from llm_tutor.engine.train import events
from llm_tutor.tui.i18n import exit_reason, format_count, t
from llm_tutor.tui.widgets.train.banner import FaultBanner
from llm_tutor.tui.widgets.train.messages import TrainerExited, TrainerUpdated


class LabRun:
    """The trainer-process half of `LabScreen` (a mixin: it uses the screen's process, monitor and configs)."""

    def start_process(self, resume: str | None = None, play: bool = False) -> None:
        """Start (or restart) the trainer with the settings shown; it starts paused unless `play`."""
        self.monitor.reset_view()
        config = dataclasses.asdict(self.model_config)
        train = dataclasses.asdict(self.train_config)
        self.query_one(FaultBanner).hide()
        self.process.start(
            self.model, config, train, resume=resume, text=self.text_path, play=play, processes=self.processes
        )
        self.frame(force=True)

    def stop_process(self, wait: bool = True) -> None:
        """Stop the trainer (between two steps); without `wait` the UI does not wait for it to exit."""
        if wait:
            self.process.stop()
            return
        threading.Thread(target=self.process.stop, name="llm-tutor-lab-stop", daemon=True).start()

    def trainer_event(self, event: Any) -> None:
        """Reader thread: fold the event into the monitor, then nudge the UI (coalesced)."""
        self.monitor.apply(event)
        self.post_message(TrainerUpdated(self.monitor.version))

    def trainer_exited(self, code: int | None, reason: str) -> None:
        """Reader thread: the trainer ended; say why in the learner's language (the engine's English reason
        is kept for the log)."""
        last = [line for line in self.process.stderr_tail().splitlines() if line.strip()]
        local = exit_reason(self.lang, "trainer", code, last[-1] if last else "")
        self.post_message(TrainerExited(code, local))

    def _notice(self, notice: Any) -> None:
        if isinstance(notice, events.TrainCheckpointSaved):
            key = "loaded" if notice.loaded else "saved"
            self.app.notify(t(self.lang, key, step=format_count(self.lang, notice.step), path=notice.path))
        elif isinstance(notice, events.TrainError) and notice.kind not in ("nan", "oom"):
            self.app.notify(notice.message, severity="error", timeout=8)

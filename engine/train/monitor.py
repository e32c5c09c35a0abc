"""Provides `RunMonitor`: what the training lab shows, built from a trainer's events.

Torch-free and Textual-free. The reader thread of `TrainerProcess` calls `apply(event)`, which
appends every step's loss to a compact `Series` and keeps the newest metrics, sample, picture
and state; the UI thread calls `take()` to learn what changed since it last looked, and reads
the fields under `lock`. So a burst of events costs the UI one look, whatever their number (the
"full value" pattern: the state is always complete up to the newest step).
"""

from __future__ import annotations

import threading
from typing import Any

from llm_tutor.engine.train.series import Series
from llm_tutor.engine.train import events

FAULTS = ("nan", "oom", "config", "error")
"""TrainError kinds that put the run in a state the learner must act on."""


class RunMonitor:
    """The lab's view of one run; `apply` from any one thread, read under `lock`."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.loss = Series("loss")
        """Every training step's loss since the run (or its reset) started."""
        self.val = Series("val_loss")
        """Validation loss at the steps it was measured."""
        self.started: events.TrainStarted | None = None
        self.state = "starting"
        """"starting" until the trainer speaks; then its states; "dead" when its process died."""
        self.reason = ""
        self.step = 0
        self.metrics: events.TrainMetrics | None = None
        self.val_loss: float | None = None
        self.accuracy: float | None = None
        self.sample: events.TrainSample | None = None
        self.picture: events.TrainPicture | None = None
        self.fault: events.TrainError | None = None
        """The error that stopped or paused the run (NaN, out of memory, bad config), until a new start."""
        self.version = 0
        """Bumped whenever the series change (a chart redraws only when it moved)."""
        self._changed: set[str] = set()
        self._notices: list[Any] = []

    def apply(self, event: Any) -> None:
        """Fold one trainer event into the state (dispatched by type name)."""
        handler = getattr(self, f"on_{type(event).__name__}", None)
        if handler is None:
            return
        with self.lock:
            handler(event)

    def take(self) -> tuple[set[str], list[Any]]:
        """What changed ("started", "metrics", "sample", "picture", "state", "fault") and the
        events to tell the learner about (errors, checkpoints), since the last call."""
        with self.lock:
            changed, notices = self._changed, self._notices
            self._changed, self._notices = set(), []
        return changed, notices

    def mark_dead(self, reason: str) -> None:
        """The trainer process ended without being asked to."""
        with self.lock:
            self.state = "dead"
            self.reason = reason
            self._changed.add("state")

    def reset_view(self) -> None:
        """Forget the run (a new trainer process is starting)."""
        with self.lock:
            self.loss.clear()
            self.val.clear()
            self.started = self.metrics = self.sample = self.picture = self.fault = None
            self.val_loss = self.accuracy = None
            self.state, self.reason, self.step = "starting", "", 0
            self.version += 1
            self._changed.update({"started", "metrics", "sample", "picture", "state", "fault"})

    # -- handlers (called with the lock held) ----------------------------------------------------

    def on_TrainStarted(self, event: events.TrainStarted) -> None:
        # a reset starts at 0; a loaded checkpoint at its step, with its curves so far
        self.loss.clear()
        self.val.clear()
        for name, series in (("loss", self.loss), ("val", self.val)):
            steps, values = (event.history.get(name) or [[], []])[:2]
            series.extend(steps, values)
        self.version += 1
        self.started = event
        self.step = event.step
        if self.state in ("starting", "stopped", "dead"):
            self.state = "paused"  # a trainer starts paused; a TrainState follows if it plays at once
            self._changed.add("state")
        self.metrics = None
        self.val_loss = self.accuracy = None
        self.sample = self.picture = None
        self.fault = None
        self._changed.update({"started", "metrics", "sample", "picture", "fault"})

    def on_TrainMetrics(self, event: events.TrainMetrics) -> None:
        steps = range(event.first_step, event.first_step + len(event.losses))
        last = self.loss.last
        if last is not None and event.first_step < last[0]:
            self.loss.clear()  # steps went back without a start event: never mix two runs
            self.val.clear()
        self.loss.extend(steps, event.losses)
        if event.val_loss is not None:
            self.val_loss = event.val_loss
            if self.val.last is None or event.step >= self.val.last[0]:
                self.val.append(event.step, event.val_loss)
        if event.accuracy is not None:
            self.accuracy = event.accuracy
        self.metrics = event
        self.step = event.step
        self.version += 1
        self._changed.add("metrics")

    def on_TrainSample(self, event: events.TrainSample) -> None:
        self.sample = event
        self._changed.add("sample")

    def on_TrainPicture(self, event: events.TrainPicture) -> None:
        self.picture = event
        self._changed.add("picture")

    def on_TrainState(self, event: events.TrainState) -> None:
        self.state = event.state
        self.reason = event.reason
        self.step = event.step
        if event.state == "running" and self.fault is not None and self.fault.kind == "oom":
            self.fault = None  # out of memory pauses a run; playing again means it was dealt with
            self._changed.add("fault")
        self._changed.add("state")

    def on_TrainError(self, event: events.TrainError) -> None:
        if event.kind in FAULTS:
            self.fault = event
            self._changed.add("fault")
        self._notices.append(event)

    def on_TrainCheckpointSaved(self, event: events.TrainCheckpointSaved) -> None:
        self._notices.append(event)

"""Provides `Controls`, the part of `Trainer` that takes controls from any thread and applies them between two steps.

Every control (`play()`, `set_lr(0.01)`, or a `TrainControl` message through `control()`) only
enqueues; the loop drains the queue between two steps (`_drain`) and `handle` runs the matching
`on_<action>` handler, so a change never lands inside a step. A handler that raises is rolled back
and reported as a `TrainError`: a control never kills the loop. In a data-parallel run rank 0's
controls reach every rank together (`_exchange`), so all ranks apply them at the same step.

The states: "paused" → "running" → "finished" (step budget) | "stopped" | "failed" (NaN, error).
"""

from __future__ import annotations

import dataclasses
import gc
import math
import time
from pathlib import Path
from typing import Any

from llm_tutor.engine.train.child.build import check_batch, is_out_of_memory
from llm_tutor.engine.train.child.checkpoint import CheckpointError
from llm_tutor.engine.train.config import ConfigError, coerce, field_names
from llm_tutor.engine.train.events import TrainCheckpointSaved, TrainControl, TrainState

INTERRUPTING = ("pause", "stop", "reset", "load")
"""Controls that apply at once even while queued single steps are still running."""

EXCHANGE_INTERVAL_S = 0.05
"""Data-parallel runs swap rank 0's controls about this often while training (every step when slower)."""


class Controls:
    """The control half of `Trainer` (a mixin: it reads and sets the trainer's state, config and queue)."""

    # ------------------------------------------------------------------ controls (any thread)

    def control(self, message: TrainControl) -> None:
        """Queue a control message; the loop applies it between two steps."""
        self._commands.append((message.action, message.value, message.id))
        self._wake.set()

    def _put(self, action: str, value: Any = None) -> None:
        self.control(TrainControl(id="", action=action, value=value))

    def play(self) -> None:
        self._put("play")

    def pause(self) -> None:
        self._put("pause")

    def single_step(self, n: int = 1) -> None:
        """Run `n` steps, then stay paused."""
        self._put("step", n)

    def stop(self) -> None:
        """End the loop (`run()` returns)."""
        self._put("stop")

    def reset(self, overrides: dict[str, Any] | None = None) -> None:
        """Fresh weights from the seed; `overrides` may change model or trainer keys first."""
        self._put("reset", overrides)

    def set_lr(self, lr: float) -> None:
        self._put("set_lr", lr)

    def set_batch_size(self, batch_size: int) -> None:
        self._put("set_batch_size", batch_size)

    def set_dropout(self, p: float) -> None:
        self._put("set_dropout", p)

    def set_steps(self, steps: int) -> None:
        self._put("set_steps", steps)

    def save(self, path: str | Path) -> None:
        self._put("save", str(path))

    def load(self, path: str | Path) -> None:
        self._put("load", str(path))


    # ------------------------------------------------------------------ applying them (the loop's thread)

    def _drain(self) -> None:
        """Apply queued controls in order; controls after a `step n` wait for its steps to run,
        except those that cancel it (pause, stop, reset, load). In a data-parallel run every rank
        applies rank 0's controls, received at the end of the last step or fetched now."""
        if self.dist is not None:
            inbox, self._inbox = self._inbox, None
            if inbox is None:
                if self.state == "running" or self._pending_steps > 0:
                    return  # a step follows: its exchange brings rank 0's controls
                _, inbox = self.dist.sync(False, self._take_commands())
                self._until_exchange = 1  # the next step exchanges at once
            for action, value, request_id in inbox:
                self.handle(action, value, request_id)
            return
        while self._commands:
            if self._pending_steps > 0 and self._commands[0][0] not in INTERRUPTING:
                return
            action, value, request_id = self._commands.popleft()
            self.handle(action, value, request_id)

    def _exchange(self, now: float, timed: bool) -> bool:
        """Data-parallel: every `dist.every` steps, swap rank 0's report decision and controls (pipelined);
        returns whether to report now (the same on every rank)."""
        self._until_exchange -= 1
        if self._until_exchange > 0:
            return False
        steps = self.step - self._exchanged_at[0]
        step_s = (now - self._exchanged_at[1]) / steps if steps > 0 else 1.0
        every = max(1, min(64, int(EXCHANGE_INTERVAL_S / max(step_s, 1e-6))))  # rank 0's proposal counts
        timed, self._inbox = self.dist.exchange(timed, self._take_commands(), every)
        self._until_exchange = self.dist.every
        self._exchanged_at = (self.step, now)
        self._finish_report()  # the last report's all-reduce ended while these steps ran
        return timed

    def _take_commands(self) -> list[tuple[str, Any, str]]:
        """Rank 0: the queued controls `_drain` would apply now (the others' queues are never read)."""
        if not self.leads:
            return []
        taken: list[tuple[str, Any, str]] = []
        pending = self._pending_steps > 0
        while self._commands:
            if pending and self._commands[0][0] not in INTERRUPTING:
                break
            command = self._commands.popleft()
            taken.append(command)
            pending = command[0] == "step" or (pending and command[0] not in INTERRUPTING)
        return taken

    def handle(self, action: str, value: Any = None, request_id: str = "") -> None:
        """Apply one control now, in the caller's thread (the loop calls this between steps)."""
        method = getattr(self, f"on_{action}", None)
        if self.dist is not None:
            self._finish_report()  # before a control changes what the report describes
        if method is None:
            self._error("control", f"unknown control {action!r}")
            return
        saved = dict(self.__dict__)  # controls that rebuild (reset, load) replace objects, never mutate them
        try:
            method(value)
        except Exception as err:  # a control must never kill the loop: roll back and say why
            self.__dict__.update(saved)
            if isinstance(err, CheckpointError):
                kind = "checkpoint"
            elif isinstance(err, (ConfigError, ValueError, TypeError)):
                kind = "control"
            elif is_out_of_memory(err):
                kind = "oom"
                gc.collect()
            else:
                kind = "error"
            self._error(kind, str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__)

    def _set_state(self, state: str, reason: str = "") -> None:
        if state != self.state:
            self.state = state
            self.emit(TrainState(self.parent, state, self.step, reason))

    def _budget_left(self) -> bool:
        return self.train_config.steps == 0 or self.step < self.train_config.steps

    # ------------------------------------------------------------------ control handlers

    def on_play(self, value: Any = None) -> None:
        if self.state == "failed":
            raise ValueError(f"the run failed at step {self.step}; reset or load a checkpoint before playing")
        if not self._budget_left():
            raise ValueError(f"the step budget ({self.train_config.steps}) is reached; raise it to go on")
        if self.state != "running":
            self._reset_window()
            self._set_state("running")

    def on_pause(self, value: Any = None) -> None:
        if self.state == "running":
            self._report(time.perf_counter(), force=True)
            self._set_state("paused")
        self._pending_steps = 0

    def on_step(self, value: Any = None) -> None:
        n = 1 if value is None else int(value)
        if n < 1:
            raise ValueError("step needs a count of at least 1")
        if self.state == "failed":
            raise ValueError(f"the run failed at step {self.step}; reset or load a checkpoint first")
        if self.state == "running":
            self.on_pause()
        if self.state == "finished":
            self._set_state("paused")
        self._reset_window()
        self._pending_steps = n

    def on_stop(self, value: Any = None) -> None:
        if self.state == "running":
            self._report(time.perf_counter())
        self._set_state("stopped")

    def on_reset(self, value: Any = None) -> None:
        overrides = dict(value or {})
        model_config = dataclasses.replace(self.model_config)
        train_config = dataclasses.replace(self.train_config)
        for key, setting in overrides.items():
            for config in (model_config, train_config):
                if key in field_names(config):
                    setattr(config, key, coerce(config, key, setting))
                    break
            else:
                raise ConfigError(f"unknown key {key!r} for model {self.model_name}")
        model_config.validate()
        train_config.validate()
        device = self._resolve_device(train_config.device)
        was = self.state
        self.model_config, self.train_config, self.device = model_config, train_config, device
        self._set_determinism()
        self._build()
        self._pending_steps = 0
        self.last_error = None
        self.emit(self.started_event())
        self._set_state("paused", "reset")
        if was == "running":
            self.on_play()

    def on_set_lr(self, value: Any) -> None:
        lr = float(value)
        if not lr > 0 or not math.isfinite(lr):
            raise ValueError(f"lr must be a positive number, got {value!r}")
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.train_config.lr = lr

    def on_set_batch_size(self, value: Any) -> None:
        batch_size = int(value)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {value!r}")
        if self.dist is not None:
            check_batch(batch_size, self.dist.world_size)
        self.train_config.batch_size = batch_size

    def on_set_dropout(self, value: Any) -> None:
        p = float(value)
        if not 0.0 <= p < 1.0:
            raise ValueError(f"drop_rate must lie in [0, 1), got {value!r}")
        if not self.task.set_dropout(p):
            raise ValueError(f"the {self.model_name} model has no dropout")

    def on_set_steps(self, value: Any) -> None:
        steps = int(value)
        if steps < 0:
            raise ValueError(f"steps must be >= 0, got {value!r}")
        self.train_config.steps = steps
        if self.state == "finished" and self._budget_left():
            self._set_state("paused", "budget raised")

    def on_set_temperature(self, value: Any) -> None:
        t = float(value)
        if t < 0:
            raise ValueError(f"temperature must be >= 0, got {value!r}")
        self.train_config.temperature = t

    def on_sample(self, value: Any = None) -> None:
        self._emit_sample()

    def on_save(self, value: Any) -> None:
        if self.dist is not None:
            # every rank reports its window (a collective); only rank 0 writes, and a failed write
            # must not roll rank 0 back alone
            try:
                self.save_checkpoint(str(value))
            except CheckpointError as err:
                self._error("checkpoint", str(err))
                return
        else:
            self.save_checkpoint(str(value))
        self.emit(TrainCheckpointSaved(self.parent, str(value), self.step))

    def on_load(self, value: Any) -> None:
        self.load_checkpoint(str(value))
        self.emit(self.started_event())
        self.emit(TrainCheckpointSaved(self.parent, str(value), self.step, loaded=True))
        self._set_state("paused", "checkpoint loaded")

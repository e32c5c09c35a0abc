"""Provides `Trainer`: one model, its optimizer and data, and a step loop controllable while it runs.

The loop (`run`, or `start` for a background thread) and the step (`train_step`) are here and read
as a learner would write them: take a batch, compute the loss, backpropagate, update. What happens
around a step is a call out to the trainer's other parts, one module each:

- `control.Controls`: controls from any thread (`play()`, `set_lr(0.01)`, `control(TrainControl)`)
  only enqueue; the loop applies them between two steps, so a change never lands inside a step.
- `reporting.Reporting`: a step keeps its loss; at most every `report_interval_s` one `TrainMetrics`
  carries every per-step loss; validation, samples and pictures run on slower clocks.
- `faults.Faults`: NaN/inf, out of memory and errors become a `TrainError`, never the loop's end.
- `checkpoint.Checkpoints`: save the run, load one, resume from one.
- `build`: the device, the task (model and data) and the optimizer a run is built from.

Events go out through `emit`, a callable taking the dataclasses of `llm_tutor.engine.train.events`.
Imports torch: load it only in the kernel or a trainer process.
"""

from __future__ import annotations

import dataclasses
import math
import platform
import threading
import time
from collections import deque
from typing import Any, Callable

import torch

from llm_tutor.engine.train.child.build import (
    available_devices,
    build_task,
    check_batch,
    make_optimizer,
    param_counts,
    resolve_device,
)
from llm_tutor.engine.train.child.checkpoint import Checkpoints
from llm_tutor.engine.train.child.control import Controls
from llm_tutor.engine.train.child.faults import Faults
from llm_tutor.engine.train.child.reporting import Reporting
from llm_tutor.engine.train.config import ConfigError, TrainConfig, default_configs
from llm_tutor.engine.train.events import TrainError, TrainStarted
from llm_tutor.engine.train.series import Series

Emit = Callable[[Any], None]


class Trainer(Controls, Reporting, Faults, Checkpoints):
    """Trains one of the lab's models; the module docstring says which part does what.

    Args:
        model: "neuron", "mlp" or "gpt".
        model_config: the model's configuration (defaults when None).
        train_config: the trainer's configuration (the model's defaults when None).
        emit: called with every event, from the loop's thread.
        parent: the request id events carry.
        text: the GPT's training text (the bundled corpus when None).
        dist: this rank's `Dist` in a data-parallel run (`llm_tutor.engine.train.child.distributed`), else None.
    """

    def __init__(
        self,
        model: str,
        model_config: Any = None,
        train_config: TrainConfig | None = None,
        emit: Emit | None = None,
        parent: str = "",
        text: str | None = None,
        dist: Any = None,
    ) -> None:
        default_model, default_train = default_configs(model)
        self.model_name = model
        self.model_config = model_config if model_config is not None else default_model
        self.train_config = train_config if train_config is not None else default_train
        self.model_config.validate()
        self.train_config.validate()
        self.emit: Emit = emit or (lambda event: None)
        self.parent = parent
        self.text = text
        self.dist = dist
        self._inbox: list[tuple[str, Any, str]] | None = None
        """Controls rank 0 broadcast at the end of the last step, applied at the next drain."""
        self._until_exchange = 1
        self._exchanged_at = (0, time.perf_counter())
        self.device = self._resolve_device(self.train_config.device)
        self.state = "paused"
        """"running", "paused", "finished", "stopped" or "failed"; changed only by the loop."""
        self.history = Series("loss")
        """Every step's training loss, compactly."""
        self.val_history = Series("val_loss")
        self.last_error: TrainError | None = None
        self._commands: deque[tuple[str, Any, str]] = deque()  # append/popleft are thread-safe
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pending_steps = 0
        self.autosave_path: str | None = None
        """Where to save a checkpoint every `autosave_interval_s` while running (None: never)."""
        self.autosave_interval_s = 60.0
        self._last_autosave = time.perf_counter()
        self._set_determinism()
        self._build()

    def run(self, exit_when_done: bool = True, play: bool = False) -> str:
        """The step loop; returns the final state. `play` starts running at once.

        With `exit_when_done` (headless) the loop returns as soon as the run is no longer running
        and has no single steps queued: budget reached, failed, stopped, or paused (for example
        after running out of memory). Without it (the lab) it waits for controls until `stop()`.
        """
        if self.state == "stopped":
            self._set_state("paused", "restarted")
        self.emit(self.started_event())
        if play:
            self.handle("play")
        while True:
            self._drain()  # controls apply here, between two steps
            if self.state == "stopped":
                break
            if self.state == "running":
                self._guarded_step()
                continue
            if self._pending_steps > 0:
                self._pending_steps -= 1
                self._guarded_step()
                if self._pending_steps == 0 and self.state == "paused":
                    self._report(time.perf_counter(), force=True)
                continue
            if exit_when_done:
                break
            if not self.leads:
                continue  # the next drain waits for rank 0's broadcast
            self._wake.wait(0.2)
            self._wake.clear()
        if self.dist is not None:  # controls still in the pipeline apply when the loop runs again
            self._finish_report()
            self._inbox = (self._inbox or []) + self.dist.flush()[1]
        return self.state

    def train_step(self) -> None:
        """One optimisation step, as a learner writes it; the report is a call out (`_after_step`)."""
        cfg, task = self.train_config, self.task
        batch = task.batch(cfg.batch_size, self.data_gen)  # inputs and targets of this step
        loss = task.loss(batch)  # forward pass: a 0-d tensor
        loss, value = self._kept_loss(loss)  # None: a non-finite loss stopped the run first
        if value is None:
            return
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()  # the gradient of the loss for every weight
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(task.model.parameters(), cfg.grad_clip)
        self.optimizer.step()  # the update
        self.step += 1
        self._after_step(value)  # keep the loss; report, evaluate, sample when due

    def start(self, exit_when_done: bool = False) -> threading.Thread:
        """Run the loop in a daemon thread (paused until `play()` or `single_step()`)."""
        self._thread = threading.Thread(
            target=self.run, kwargs={"exit_when_done": exit_when_done}, name="llm-tutor-trainer", daemon=True
        )
        self._thread.start()
        return self._thread

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _set_determinism(self) -> None:
        """Apply the configuration's determinism setting (process-wide, as torch has it)."""
        if torch.are_deterministic_algorithms_enabled() != self.train_config.deterministic:
            torch.use_deterministic_algorithms(self.train_config.deterministic, warn_only=True)

    @property
    def leads(self) -> bool:
        """Whether this trainer speaks for the run: always, except on the ranks after 0 of a data-parallel run."""
        return self.dist is None or self.dist.is_leader

    def _resolve_device(self, name: str) -> torch.device:
        return self.dist.device if self.dist is not None else resolve_device(name)

    def _build(self) -> None:
        """(Re)create weights, optimizer, generators and counters from the configurations."""
        cfg = self.train_config
        self.task = build_task(self.model_name, self.model_config, cfg, self.device, self.text)
        if self.dist is not None:
            if self.model_name != "gpt":
                raise ConfigError(f"data-parallel runs train the gpt model, not {self.model_name}")
            check_batch(cfg.batch_size, self.dist.world_size)
            self.task.shard = (self.dist.rank, self.dist.world_size)
            self.task.wrapped = self.dist.wrap(self.task.model)  # copies rank 0's weights to every rank
        self.task.model.train()
        self.optimizer = make_optimizer(cfg, self.task.model.parameters())
        self.data_gen = torch.Generator().manual_seed(cfg.seed)
        self.eval_gen = torch.Generator().manual_seed(cfg.seed + 1)  # never shifts training batches
        self.sample_gen = torch.Generator(device=self.device).manual_seed(cfg.seed)
        self.step = 0
        self.elapsed_s = 0.0
        self.history = Series("loss")  # new objects, not clear(): a failed rebuild can roll back
        self.val_history = Series("val_loss")
        self.last_val: dict[str, float] = {}
        self._reset_window()
        self._last_eval = -math.inf
        self._last_sample = -math.inf
        self._last_picture = -math.inf
        self._cost = {"eval": 0.0, "sample": 0.0, "picture": 0.0}  # seconds the last one took
        self._rate_ema: float | None = None
        self._report_first = True

    @property
    def params(self) -> int:
        """Distinct parameters of the model (a tied matrix counts once)."""
        return sum(p.numel() for p in self.task.model.parameters())

    def card(self) -> dict[str, Any]:
        """The reproducibility card: what it takes to get the same run again."""
        device = self.device
        name = "cpu"
        if device.type == "cuda":
            name = torch.cuda.get_device_name(device)
        elif device.type == "mps":
            name = "Apple GPU (mps)"
        return {
            "seed": self.train_config.seed,
            "device": str(device),
            "device_name": name,
            "torch": torch.__version__,
            "cuda": torch.version.cuda,
            "python": platform.python_version(),
            "platform": platform.platform(terse=True),
            "deterministic": torch.are_deterministic_algorithms_enabled(),
            "threads": torch.get_num_threads(),
            "dtype": "float32",
            "devices": available_devices(),
            "world_size": self.dist.world_size if self.dist is not None else 1,
            "backend": self.dist.backend if self.dist is not None else None,
        }

    def started_event(self) -> TrainStarted:
        """What a UI needs to draw the run's frame (sent at start, reset and load)."""
        config = dataclasses.asdict(self.model_config)
        return TrainStarted(
            parent=self.parent,
            model=self.model_name,
            config=config,
            train=dataclasses.asdict(self.train_config),
            params=self.params,
            param_counts=param_counts(self.model_name, self.model_config),
            card=self.card(),
            data=self.task.describe(),
            step=self.step,
            history={
                name: [list(xs), list(ys)]
                for name, series in (("loss", self.history), ("val", self.val_history))
                if len(series)
                for xs, ys in [series.thinned()]
            },
        )

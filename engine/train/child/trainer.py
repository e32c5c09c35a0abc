"""Provides `Trainer`: one model, its optimizer and data, and a step loop controllable while it runs.

The loop runs in one thread (`run()`, or `start()` for a background thread). Controls come from
any thread as method calls (`play()`, `pause()`, `set_lr(0.01)`...) or as `TrainControl`
messages (`control(msg)`); both only enqueue, and the loop applies them between two steps, so a
change never lands inside a step and never resets the model. Events go out through `emit`, a
callable taking the dataclasses of `llm_tutor.engine.train.events`.

Reporting never slows the loop down: a step only detaches its loss into a list; at most every
`report_interval_s` (20 Hz) the list is synced once, checked for NaN/inf, appended to the
compact `history` series and sent as one `TrainMetrics` carrying every per-step loss. Validation,
samples and the MLP's boundary picture run on their own, slower clocks.

Imports torch: load it only in the kernel or a trainer process.
"""

from __future__ import annotations

import dataclasses
import gc
import math
import platform
import re
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any, Callable

import torch

from llm_tutor.engine.train.series import Series
from llm_tutor.engine.train import calc
from llm_tutor.engine.train.child.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from llm_tutor.engine.train.config import (
    MODEL_CONFIGS,
    ConfigError,
    TrainConfig,
    coerce,
    default_configs,
    field_names,
)
from llm_tutor.engine.train.events import (
    TrainCheckpointSaved,
    TrainControl,
    TrainError,
    TrainMetrics,
    TrainPicture,
    TrainSample,
    TrainStarted,
    TrainState,
)
from llm_tutor.engine.train.child.task import Task

Emit = Callable[[Any], None]

MAX_STRETCH = 6.0
"""An extra (validation, sample, picture) never waits longer than this many of its intervals."""

INTERRUPTING = ("pause", "stop", "reset", "load")
"""Controls that apply at once even while queued single steps are still running."""

EXCHANGE_INTERVAL_S = 0.05
"""Data-parallel runs swap rank 0's controls about this often while training (every step when slower)."""


def resolve_device(name: str) -> torch.device:
    """`auto` picks CUDA, then MPS, then CPU; an unavailable device raises ConfigError."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device {name!r}: expected cpu, cuda, cuda:N, mps or auto") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device cuda is not available here (no CUDA GPU or a CPU-only torch); use cpu")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError("device mps is not available here (Apple GPUs only); use cpu")
    if device.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"device {name!r} is not supported: use cpu, cuda or mps")
    return device


def available_devices() -> list[str]:
    """The devices this torch can train on here, for the lab's device choice."""
    devices = ["cpu"]
    if torch.cuda.is_available():
        count = torch.cuda.device_count()
        devices += ["cuda"] + ([f"cuda:{i}" for i in range(count)] if count > 1 else [])
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        devices.append("mps")
    return devices


def build_task(model: str, model_config: Any, train_config: TrainConfig, device: torch.device, text: str | None = None) -> Task:
    """Seed torch, then build the task (weights and data) for `model`."""
    torch.manual_seed(train_config.seed)
    if model == "neuron":
        from llm_tutor.engine.train.child.models.neuron import NeuronTask

        return NeuronTask(model_config, device, seed=train_config.seed)
    if model == "mlp":
        from llm_tutor.engine.train.child.models.mlp import MLPTask

        return MLPTask(model_config, device, seed=train_config.seed)
    if model == "gpt":
        from llm_tutor.engine.train.child.models.gpt import GPTTask

        return GPTTask(model_config, device, seed=train_config.seed, text=text)
    raise ConfigError(f"unknown model {model!r}: expected neuron, mlp or gpt")


def make_optimizer(cfg: TrainConfig, params: Any) -> torch.optim.Optimizer:
    """SGD, Adam or AdamW with the configuration's learning rate and decay."""
    params = list(params)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    raise ConfigError(f"unknown optimizer {cfg.optimizer!r}: expected sgd, adam or adamw")


def param_counts(model: str, model_config: Any) -> dict[str, Any]:
    """The closed-form counts the UI shows (calc), as plain data."""
    if model == "gpt":
        return calc.gpt_summary(model_config)
    if model == "mlp":
        return calc.mlp_params(model_config).as_dict()
    return calc.neuron_params().as_dict()


def is_out_of_memory(err: BaseException) -> bool:
    """CUDA/MPS OOM errors and the CPU allocator's refusal both count."""
    oom_type = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)
    if isinstance(err, oom_type):
        return True
    text = str(err).lower()
    return isinstance(err, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


class Trainer:
    """Trains one of the lab's models; see the module docstring for the threading rules.

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

    # ------------------------------------------------------------------ building

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
            _check_batch(cfg.batch_size, self.dist.world_size)
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

    def _reset_window(self) -> None:
        now = time.perf_counter()
        self._window: list[Any] = []  # per-step losses: floats (CPU) or 0-d tensors (GPU)
        self._window_first = self.step + 1
        self._window_start = now
        self._window_tokens = 0
        self._last_report = now
        self._pending_report: Any = None
        """A data-parallel report whose all-reduce runs in the background (see `_report`)."""

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

    # ------------------------------------------------------------------ the loop

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
            self._drain()
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
            _check_batch(batch_size, self.dist.world_size)
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

    # ------------------------------------------------------------------ stepping

    def _guarded_step(self) -> None:
        try:
            self.train_step()
        except Exception as err:  # the loop must survive anything a step can raise
            if self.dist is not None:
                # one rank cannot recover alone while the others wait for it: end this rank, and
                # torch.distributed.run ends the others and reports which rank failed and why
                raise
            if is_out_of_memory(err):
                self._recover_from_oom(err)
            elif not self._weights_finite() or re.search(r"\b(inf|nan)\b", str(err), re.IGNORECASE):
                # e.g. sampling from a model whose weights an enormous learning rate blew up: its
                # probabilities overflow to inf or NaN although the last loss was still finite
                lr = self.train_config.lr
                self._fail(
                    "nan",
                    f"the model's numbers overflowed to inf or NaN by step {self.step} with learning rate {lr:g} "
                    f"({type(err).__name__}: {err}); training stopped. "
                    f"Try a lower learning rate (for example {lr / 10:g}) and reset.",
                )
            else:
                self._fail("error", f"step {self.step + 1} failed: {type(err).__name__}: {err}")

    @torch.no_grad()
    def _weights_finite(self) -> bool:
        """Whether every parameter is finite (checked only after a failure: it reads every weight)."""
        try:
            return all(bool(torch.isfinite(p).all()) for p in self.task.model.parameters())
        except Exception:  # noqa: BLE001 - a broken model: report the original error
            return True

    def train_step(self) -> None:
        """One optimisation step, then a report if one is due (call from the loop's thread)."""
        cfg = self.train_config
        task = self.task
        batch = task.batch(cfg.batch_size, self.data_gen)
        loss = task.loss(batch)
        if self.dist is not None:
            # this rank's mean loss, weighted by its share of the global batch: summed over ranks it
            # is the global batch's mean loss; DDP averages the gradients over ranks, so scaling by
            # share × ranks makes that average the gradient of the global mean (1 for equal shares)
            share = self.dist.weight(cfg.batch_size)
            value: Any = loss.detach() * share
            scale = share * self.dist.world_size
            if scale != 1.0:
                loss = loss * scale
        elif self.device.type == "cpu":
            # on the CPU reading the value costs nothing: check it before the update, so a NaN
            # never reaches the weights. On a GPU that read would stall the queue of kernels, so
            # the losses stay on the device and are checked at the next report.
            value: Any = loss.item()
            if not math.isfinite(value):
                self._report(time.perf_counter())
                self._nan(value, self.step + 1)
                return
        else:
            value = loss.detach()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(task.model.parameters(), cfg.grad_clip)
        self.optimizer.step()
        self.step += 1
        self._window.append(value)
        self._window_tokens += task.tokens_per_step(cfg.batch_size)
        now = time.perf_counter()
        budget_done = cfg.steps > 0 and self.step >= cfg.steps
        timed = now - self._last_report >= cfg.report_interval_s
        if self.dist is not None:  # rank 0's clock decides for all (an exchange later); its controls come along
            timed = self._exchange(now, timed)
        if self._report_first or budget_done or timed or (cfg.report_every and self.step % cfg.report_every == 0):
            self._report(now, force=budget_done)
        if budget_done and self.state not in ("failed",):
            self._set_state("finished", f"reached the step budget ({cfg.steps})")

    def _report(self, now: float, force: bool = False, wait: bool = False) -> None:
        """Sync the window's losses once, check them, and emit the aggregated metrics.

        In a data-parallel run the window's losses are summed over the ranks by one all-reduce,
        which carries rank 0's decision to evaluate too. Unless `force`d (extras due at once) or
        told to `wait`, that all-reduce runs in the background and the report is finished at the
        next step (`_finish_report`), so a report never makes the ranks wait on each other."""
        self._finish_report()
        if not self._window:
            return
        cfg = self.train_config
        eval_due = cfg.eval_interval_s > 0 and (force or self._due("eval", now, self._last_eval, cfg.eval_interval_s))
        first, tokens = self._window_first, self._window_tokens
        window_s = max(now - self._window_start, 1e-9)
        window, self._window = self._window, []
        self._report_first = False
        self._window_first = self.step + 1
        self._window_tokens = 0
        self._window_start = now  # what follows (evaluation, samples) counts against the next window
        self._last_report = now
        self.elapsed_s += window_s
        if self.dist is not None:
            flag = torch.tensor([1.0 if eval_due and self.leads else 0.0], device=self.device)
            packed = torch.cat([torch.stack(window).float().reshape(-1), flag])  # the others add 0 to the flag
            if force or wait:
                summed = self.dist.sum(packed).cpu().tolist()
                self._emit_report(summed[:-1], summed[-1] > 0, first, window_s, tokens, now, force)
            else:
                self._pending_report = (self.dist.sum_async(packed), (first, window_s, tokens, now))
            return
        if isinstance(window[0], torch.Tensor):
            values = torch.stack(window).float().cpu().tolist()
        else:
            values = window
        self._emit_report(values, eval_due, first, window_s, tokens, now, force)

    def release_distributed(self) -> None:
        """Before the process group is destroyed: wait for a report still being summed and drop DDP's wrapper.

        An async all-reduce left pending, or a DDP reducer that outlives its process group, can end a rank
        with SIGABRT ("terminate called without an active exception") as the interpreter exits.
        """
        if self.dist is None:
            return
        self._finish_report()
        self.task.wrapped = None
        gc.collect()

    def _finish_report(self) -> None:
        """Emit the report whose all-reduce was started in the background (every rank calls it at the same point)."""
        pending, self._pending_report = self._pending_report, None
        if pending is None:
            return
        (work, packed), (first, window_s, tokens, now) = pending
        work.wait()
        summed = packed.cpu().tolist()
        self._emit_report(summed[:-1], summed[-1] > 0, first, window_s, tokens, now, False)

    def _emit_report(
        self, values: list[float], eval_due: bool, first: int, window_s: float, tokens: int, now: float, force: bool
    ) -> None:
        """Check the window's losses, keep them, then emit the metrics and whatever extras are due."""
        cfg = self.train_config
        bad = next((i for i, v in enumerate(values) if not math.isfinite(v)), None)
        losses = values if bad is None else values[:bad]
        self.history.extend(range(first, first + len(losses)), losses)
        steps_per_s = len(values) / window_s
        tokens_per_s = tokens / window_s if tokens else None
        self._rate_ema = steps_per_s if self._rate_ema is None else 0.7 * self._rate_ema + 0.3 * steps_per_s
        if bad is not None:
            if losses:
                self._emit_metrics(first, losses, steps_per_s, tokens_per_s, {})
            self._nan(values[bad], first + bad)
            return
        evaluated: dict[str, float] = {}
        if eval_due:
            evaluated = self._timed("eval", self.evaluate)
            self._last_eval = now
        self._emit_metrics(first, losses, steps_per_s, tokens_per_s, evaluated)
        if self.task.kind == "gpt" and cfg.sample_interval_s > 0 and cfg.sample_chars > 0 and self.leads:
            if force or self._due("sample", now, self._last_sample, cfg.sample_interval_s):
                self._timed("sample", self._emit_sample)
                self._last_sample = now
        if self.task.kind == "mlp" and cfg.picture_interval_s > 0:
            if force or self._due("picture", now, self._last_picture, cfg.picture_interval_s):
                self._timed("picture", self._emit_picture)
                self._last_picture = now
        if self.autosave_path and self.leads and now - self._last_autosave >= self.autosave_interval_s:
            self._last_autosave = now
            try:
                save_checkpoint(self.autosave_path, self.checkpoint_payload())
            except CheckpointError as err:
                self._error("checkpoint", str(err))
            else:
                self.emit(TrainCheckpointSaved(self.parent, self.autosave_path, self.step))

    def _due(self, extra: str, now: float, last: float, interval: float) -> bool:
        """Whether an extra (evaluation, sample, picture) should run now.

        Besides its own interval, an extra waits until its typical cost is at most
        `extras_budget` of the time since (but never more than MAX_STRETCH intervals), so a slow
        model evaluates less often instead of training more slowly.
        """
        stretched = self._cost[extra] / max(self.train_config.extras_budget, 1e-6)
        wait = max(interval, min(stretched, MAX_STRETCH * interval))
        return now - last >= wait

    def _timed(self, extra: str, fn: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        try:
            return fn()
        finally:
            cost = time.perf_counter() - start
            previous = self._cost[extra]
            # the first call pays for warm-up (allocations, caches): trust it only halfway
            self._cost[extra] = cost / 2 if previous == 0.0 else 0.5 * previous + 0.5 * cost

    def _emit_metrics(
        self,
        first: int,
        losses: list[float],
        steps_per_s: float,
        tokens_per_s: float | None,
        evaluated: dict[str, float],
    ) -> None:
        cfg = self.train_config
        total = cfg.steps
        last = first + len(losses) - 1
        progress = min(1.0, last / total) if total else None
        eta = (total - last) / self._rate_ema if total and self._rate_ema else None
        self.emit(
            TrainMetrics(
                parent=self.parent,
                step=last,
                loss=sum(losses) / len(losses),
                first_step=first,
                losses=list(losses),
                steps_per_s=steps_per_s,
                tokens_per_s=tokens_per_s,
                val_loss=evaluated.get("val_loss"),
                accuracy=evaluated.get("accuracy"),
                lr=cfg.lr,
                batch_size=cfg.batch_size,
                grad_norms=self.grad_norms() if self.leads else {},
                extras=self.task.extras(),
                elapsed_s=self.elapsed_s,
                total_steps=total,
                progress=progress,
                eta_s=max(0.0, eta) if eta is not None else None,
            )
        )

    def _nan(self, value: float, step: int) -> None:
        lr = self.train_config.lr
        self._fail(
            "nan",
            f"the loss became {value} at step {step} with learning rate {lr:g}; training stopped. "
            f"Try a lower learning rate (for example {lr / 10:g}) and reset.",
        )

    def evaluate(self) -> dict[str, float]:
        """Validation figures in eval mode (dropout off) and without autograd, back to train mode after.

        Without `no_grad` each validation forward pass recorded a graph and kept its activations: the
        lab's MLP trained 3-4 % slower with validation on than off (paired slices), though the pass
        itself takes half a millisecond."""
        model = self.task.model
        model.eval()
        try:
            cfg = self.train_config
            with torch.no_grad():
                result = self.task.evaluate(self.eval_gen, batches=cfg.eval_batches, batch_size=cfg.batch_size)
        finally:
            model.train()
        if self.dist is not None and result:  # each rank measured its rows: weight and add them up
            keys = sorted(result)
            share = self.dist.weight(cfg.batch_size)
            summed = self.dist.sum(torch.tensor([result[k] * share for k in keys], dtype=torch.float64, device=self.device))
            result = dict(zip(keys, summed.cpu().tolist()))
        self.last_val = result
        if "val_loss" in result:
            self.val_history.append(self.step, result["val_loss"])
        return result

    @torch.no_grad()
    def grad_norms(self) -> dict[str, float]:
        """L2 norm of the gradient per layer group (from the last step's `.grad`)."""
        groups = self.task.layer_groups()
        norms: list[torch.Tensor] = []
        names: list[str] = []
        for name, params in groups.items():
            grads = [p.grad for p in params if p.grad is not None]
            if not grads:
                continue
            norms.append(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])))
            names.append(name)
        if not norms:
            return {}
        values = torch.stack(norms).float().cpu().tolist()
        return dict(zip(names, values))

    def _emit_sample(self) -> None:
        # one sequence, one token at a time: tensors this small gain nothing from more threads and,
        # on a busy machine, lose a lot to threads waiting on each other (measured: 0.4 s vs 2.6 s)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            text = self.task.sample(self.sample_gen, self.train_config.sample_chars, self.train_config.temperature)
        finally:
            torch.set_num_threads(threads)
        if text is not None:
            self.emit(TrainSample(self.parent, self.step, text, self.train_config.temperature))

    def _emit_picture(self) -> None:
        picture = self.task.picture()
        if picture is not None:
            self.emit(TrainPicture(parent=self.parent, step=self.step, **picture))

    # ------------------------------------------------------------------ faults

    def _error(self, kind: str, message: str) -> None:
        self.last_error = TrainError(self.parent, kind, message, self.step)
        self.emit(self.last_error)

    def _fail(self, kind: str, message: str) -> None:
        self._error(kind, message)
        self._pending_steps = 0
        self._set_state("failed", message)

    def _recover_from_oom(self, err: BaseException) -> None:
        """Free what the failed step held, pause, and say what to change; the weights are kept."""
        self.optimizer.zero_grad(set_to_none=True)
        self._window = []
        self._pending_steps = 0
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        self._error(
            "oom",
            f"out of memory at step {self.step + 1} with batch size {self.train_config.batch_size} "
            f"on {self.device} ({first_line[:160]}). The run is paused and the model is kept: lower the "
            f"batch size or the model's size, then press play.",
        )
        self._reset_window()
        self._set_state("paused", "out of memory")

    # ------------------------------------------------------------------ checkpoints

    def checkpoint_payload(self) -> dict[str, Any]:
        """Everything needed to go on exactly where the run is."""
        return {
            "model": self.model_name,
            "model_config": dataclasses.asdict(self.model_config),
            "train_config": dataclasses.asdict(self.train_config),
            "step": self.step,
            "elapsed_s": self.elapsed_s,
            "state_dict": self.task.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "rng": {
                "torch": torch.get_rng_state(),
                "data": self.data_gen.get_state(),
                "eval": self.eval_gen.get_state(),
                "sample": self.sample_gen.get_state(),
            },
            "history": self.history.state(),
            "val_history": self.val_history.state(),
            "data_state": self.task.data_state(),
        }

    def save_checkpoint(self, path: str | Path) -> Path:
        """Write the run atomically (call between steps: from the loop, or when no loop runs).

        In a data-parallel run every rank calls it (the pending losses are reported together) and
        rank 0 alone writes: the weights and optimizer state are the same on every rank, and the
        file holds the bare model's, so any number of ranks can resume from it."""
        self._finish_report()
        if self._window:
            self._report(time.perf_counter(), wait=True)
        if not self.leads:
            return Path(path)
        return save_checkpoint(path, self.checkpoint_payload())

    def load_checkpoint(self, path: str | Path, keep_train_settings: bool = False) -> None:
        """Replace model, optimizer, counters and RNG states by a checkpoint's.

        With `keep_train_settings` the current trainer configuration (budget, lr, batch size...)
        stays; otherwise the checkpoint's is restored too.
        """
        model, model_config, saved_train, data = read_run(path)
        train_config = dataclasses.replace(self.train_config) if keep_train_settings else saved_train
        train_config.seed = saved_train.seed
        self.model_name, self.model_config, self.train_config = model, model_config, train_config
        self.device = self._resolve_device(train_config.device)
        self._build()
        self._restore(data, str(path))

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        emit: Emit | None = None,
        parent: str = "",
        text: str | None = None,
        train_overrides: dict[str, Any] | None = None,
        drop_rate: float | None = None,
        dist: Any = None,
    ) -> Trainer:
        """A trainer that goes on from a checkpoint; `train_overrides` change trainer keys (budget, lr...)."""
        model, model_config, train_config, data = read_run(path)
        for key, value in (train_overrides or {}).items():
            if key not in field_names(train_config):
                raise ConfigError(f"unknown trainer key {key!r}")
            setattr(train_config, key, coerce(train_config, key, value))
        if drop_rate is not None and hasattr(model_config, "drop_rate"):
            model_config.drop_rate = drop_rate
        trainer = cls(model, model_config, train_config, emit=emit, parent=parent, text=text, dist=dist)
        trainer._restore(data, str(path))
        return trainer

    def _restore(self, data: dict[str, Any], path: str) -> None:
        saved_optimizer = data.get("train_config", {}).get("optimizer", self.train_config.optimizer)
        try:
            self.task.model.load_state_dict(data["state_dict"])
            # another optimizer (resumed with --optimizer sgd, say) starts with its own fresh state:
            # Adam's moments mean nothing to SGD and would fail its first step
            if saved_optimizer == self.train_config.optimizer:
                self.optimizer.load_state_dict(data["optimizer"])
        except (RuntimeError, KeyError, ValueError) as err:
            raise CheckpointError(f"checkpoint {path} does not fit its own model: {str(err)[:160]}") from None
        saved_chars = data.get("data_state", {}).get("chars")
        if saved_chars is not None and saved_chars != self.task.data_state().get("chars"):
            raise CheckpointError(f"checkpoint {path} was trained on a text with other characters")
        for group in self.optimizer.param_groups:
            group["lr"] = self.train_config.lr
        if hasattr(self.model_config, "drop_rate"):
            self.task.set_dropout(self.model_config.drop_rate)
        rng = data.get("rng", {})
        if "torch" in rng:
            torch.set_rng_state(rng["torch"])
        if "data" in rng:
            self.data_gen.set_state(rng["data"])
        if "eval" in rng:
            self.eval_gen.set_state(rng["eval"])
        if "sample" in rng and self.device.type == "cpu":
            self.sample_gen.set_state(rng["sample"])
        self.step = int(data["step"])
        self.elapsed_s = float(data.get("elapsed_s", 0.0))
        if "history" in data:
            self.history = Series.from_state(data["history"])
        if "val_history" in data:
            self.val_history = Series.from_state(data["val_history"])
        self._reset_window()
        self._report_first = True


def _check_batch(batch_size: int, world_size: int) -> None:
    if batch_size < world_size:
        raise ConfigError(
            f"batch_size ({batch_size}) is the global batch, split across {world_size} processes: "
            f"it must be at least {world_size}"
        )


def read_run(path: str | Path) -> tuple[str, Any, TrainConfig, dict[str, Any]]:
    """(model, model config, trainer config, raw data) of a checkpoint, checked."""
    data = load_checkpoint(path, map_location="cpu")
    model = data.get("model")
    if model not in MODEL_CONFIGS:
        raise CheckpointError(f"checkpoint {path} holds an unknown model {model!r}")
    try:
        model_config = MODEL_CONFIGS[model](**data["model_config"])
        train_config = TrainConfig(**data["train_config"])
        model_config.validate()
    except (TypeError, KeyError, ConfigError) as err:
        raise CheckpointError(f"checkpoint {path} has an unexpected configuration: {err}") from None
    return model, model_config, train_config, data

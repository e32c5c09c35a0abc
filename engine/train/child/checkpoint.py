"""Provides checkpoints: atomic files (`save_checkpoint`, `load_checkpoint`) and `Checkpoints`, the part of
`Trainer` that saves a run and goes on from one.

A file is written to a temporary file, synced, then renamed into place: a run stopped mid-save, or
a process killed by `kill -9`, therefore leaves either the previous checkpoint or the new one,
never half of one. A file that is truncated or corrupt anyway (copied half-way, edited) raises
`CheckpointError` with one clear sentence instead of a zip-reader trace.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import time
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import torch

from llm_tutor.engine.train.config import MODEL_CONFIGS, ConfigError, TrainConfig, coerce, field_names
from llm_tutor.engine.train.series import Series

if TYPE_CHECKING:
    from llm_tutor.engine.train.child.trainer import Trainer

FORMAT = "llm-tutor-checkpoint"
VERSION = 1


class CheckpointError(Exception):
    """A checkpoint that cannot be written or read; the message names the file and the cause."""


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write `payload` (plain data and tensors) to `path` atomically; returns the path."""
    path = Path(path).expanduser()
    if path.parent and not path.parent.exists():
        raise CheckpointError(f"cannot save checkpoint {path}: folder {path.parent} does not exist")
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    data = {"format": FORMAT, "version": VERSION, **payload}
    try:
        with open(tmp, "wb") as f:
            torch.save(data, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)  # atomic on POSIX and Windows: readers see old or new, never half
        _sync_dir(path.parent)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise CheckpointError(f"cannot save checkpoint {path}: {err.strerror or err}") from err
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by `save_checkpoint`; tensors land on `map_location`."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(f"no checkpoint file at {path}")
    try:
        # pickle protocol 2 writes an empty bytes (an empty loss series) as a call of `bytes`
        with torch.serialization.safe_globals([bytes]):
            data = torch.load(path, map_location=map_location, weights_only=True)
    except PermissionError:
        raise CheckpointError(f"cannot read checkpoint {path}: permission denied") from None
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError, KeyError) as err:
        size = path.stat().st_size
        detail = str(err).splitlines()[0][:120] if str(err) else type(err).__name__
        raise CheckpointError(
            f"checkpoint {path} is truncated or corrupt ({size} bytes; {detail}); "
            f"it cannot be loaded, use another checkpoint or start a new run"
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an llm-tutor checkpoint")
    if data.get("version", 0) > VERSION:
        raise CheckpointError(
            f"checkpoint {path} has format version {data.get('version')}; this llm-tutor reads up to {VERSION}"
        )
    return data


def _sync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class Checkpoints:
    """The checkpoint half of `Trainer` (a mixin): what a checkpoint holds, saving, loading, resuming."""

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
        emit: Callable[[Any], None] | None = None,
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

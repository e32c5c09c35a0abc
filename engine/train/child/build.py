"""Provides what a training run is built from: its device, its task (model and data), its optimizer.

Also the closed-form parameter counts the UI shows and the test for an out-of-memory error. Imports
torch: load it only in the kernel or a trainer process.
"""

from __future__ import annotations

from typing import Any

import torch

from llm_tutor.engine.train import calc
from llm_tutor.engine.train.child.task import Task
from llm_tutor.engine.train.config import ConfigError, TrainConfig


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


def check_batch(batch_size: int, world_size: int) -> None:
    """A global batch must give every rank of a data-parallel run at least one row."""
    if batch_size < world_size:
        raise ConfigError(
            f"batch_size ({batch_size}) is the global batch, split across {world_size} processes: "
            f"it must be at least {world_size}"
        )

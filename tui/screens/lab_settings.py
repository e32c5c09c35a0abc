"""Provides the lab's settings: which keys apply live or at a reset, per model, and the trainer's thread count.

A running trainer changes the live settings in place (`CONTROL_FOR`: learning rate, batch size,
budget, dropout, temperature); the others need new weights or a new optimizer and wait for a reset.
The small dataclasses give the settings forms their fields and types.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

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
"""The control a running trainer takes for each live setting."""


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


@dataclass
class ModelChoice:
    """The model picker's one field (switching opens a fresh lab)."""

    model: str = "gpt"


def live_keys(model: str) -> list[str]:
    """The settings a running trainer of `model` changes in place, as the form lists them."""
    keys = ["lr", "batch_size", "steps"]
    if model in ("mlp", "gpt"):
        keys.append("drop_rate")
    if model == "gpt":
        keys.append("temperature")
    return keys


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

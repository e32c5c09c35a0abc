"""Provides `Task`, what the trainer needs from a model: batches, a loss, evaluation and extras.

Each lab model (neuron, MLP, GPT) is a `Task`, so one `Trainer` drives all three. Imports torch:
load it only in the kernel or trainer process.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import torch
from torch import nn


class Task(ABC):
    """A model with its data. Subclasses set `kind`, `config` and `model`, and must define `batch` and `loss`."""

    kind: str = ""
    config: Any
    model: nn.Module
    device: torch.device
    shard: tuple[int, int] | None = None
    """(rank, world size) in a data-parallel run: `batch` keeps this rank's rows of the global batch."""
    wrapped: nn.Module | None = None
    """The model inside DistributedDataParallel in a data-parallel run; training forward passes use it."""

    @property
    def net(self) -> nn.Module:
        """What a training forward pass calls: the DDP wrapper when there is one, else the model."""
        return self.wrapped if self.wrapped is not None else self.model

    def local_rows(self, batch_size: int) -> slice:
        """This rank's rows of a global batch of `batch_size` (all of them outside a data-parallel run)."""
        if self.shard is None:
            return slice(0, batch_size)
        rank, world = self.shard
        base, extra = divmod(batch_size, world)
        lo = rank * base + min(rank, extra)
        return slice(lo, lo + base + (1 if rank < extra else 0))

    @abstractmethod
    def batch(self, batch_size: int, generator: torch.Generator) -> Any:
        """One training batch on the task's device."""

    @abstractmethod
    def loss(self, batch: Any) -> torch.Tensor:
        """The scalar loss of `batch` (the model is in train mode)."""

    def tokens_per_step(self, batch_size: int) -> int:
        """Tokens one step reads (0 where the idea does not apply)."""
        return 0

    @torch.no_grad()
    def evaluate(self, generator: torch.Generator, batches: int = 4, batch_size: int = 32) -> dict[str, float]:
        """Validation figures (`val_loss`, `accuracy`...); the caller sets eval mode.

        `batches` × `batch_size` is the sample size for tasks too large to evaluate whole.
        """
        return {}

    def sample(self, generator: torch.Generator, chars: int, temperature: float) -> str | None:
        """Generated text, for language models."""
        return None

    def extras(self) -> dict[str, float]:
        """Small per-report numbers worth showing (the neuron's w and b)."""
        return {}

    def describe(self) -> dict[str, Any]:
        """What the UI shows once at the start: data preview, vocabulary, split sizes."""
        return {}

    def picture(self) -> dict[str, Any] | None:
        """A small plain-data picture of what the model learned (the MLP's decision boundary)."""
        return None

    def set_dropout(self, p: float) -> bool:
        """Change every dropout probability in place; False when the model has no dropout."""
        found = False
        for module in self.model.modules():
            if isinstance(module, nn.Dropout):
                module.p = p
                found = True
        if found and hasattr(self.config, "drop_rate"):
            self.config.drop_rate = p
        return found

    def layer_groups(self) -> dict[str, list[nn.Parameter]]:
        """Parameters grouped by layer for the per-layer gradient norms, in model order."""
        groups: dict[str, list[nn.Parameter]] = {}
        for name, param in self.model.named_parameters():
            parts = name.split(".")
            key = ".".join(parts[:2]) if len(parts) > 2 and parts[1].isdigit() else parts[0]
            groups.setdefault(key, []).append(param)
        return groups

    def data_state(self) -> dict[str, Any]:
        """Whatever besides the weights a checkpoint needs to rebuild the task's data exactly."""
        return {}

"""Provides the autograd lesson's single neuron as a trainable lab model.

    z = x·w + b        a = σ(z)        loss = BCE(a, y) = -(y·ln a + (1-y)·ln(1-a))

With the defaults (x=1.1, w=2.2, b=0, y=1) the first gradients are ∂L/∂w = -(1-a)·x ≈ -0.0898 and
∂L/∂b = -(1-a) ≈ -0.0817; plain SGD then moves w and b by -lr·grad each step.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from llm_tutor.engine.train.config import NeuronConfig
from llm_tutor.engine.train.child.task import Task


class Neuron(nn.Module):
    """One weight, one bias, a sigmoid."""

    def __init__(self, w: float, b: float) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor([w]))  # shape [1], as in the lesson
        self.b = nn.Parameter(torch.tensor([b]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = x * self.w + self.b  # (1,)
        return torch.sigmoid(z)  # a, in (0, 1)


class NeuronTask(Task):
    """The neuron on its one example (batch size does not apply)."""

    kind = "neuron"
    model: Neuron
    config: NeuronConfig

    def __init__(self, config: NeuronConfig, device: torch.device, seed: int = 0) -> None:
        config.validate()
        self.config = config
        self.device = device
        self.model = Neuron(config.w, config.b).to(device)
        self.x = torch.tensor([config.x], device=device)
        self.y = torch.tensor([config.y], device=device)

    def batch(self, batch_size: int, generator: torch.Generator) -> Any:
        return self.x, self.y

    def loss(self, batch: Any) -> torch.Tensor:
        x, y = batch
        a = self.model(x)
        return F.binary_cross_entropy(a, y)

    def layer_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"w": [self.model.w], "b": [self.model.b]}

    def extras(self) -> dict[str, float]:
        return {"w": float(self.model.w.item()), "b": float(self.model.b.item())}

    def describe(self) -> dict[str, Any]:
        return {"x": self.config.x, "y": self.config.y}

"""Provides the backprop lesson's small network, widened into a TensorFlow-Playground-style lab model.

    h = f(W¹x + b¹)   (repeated `hidden_layers` times, f = ReLU or tanh)
    ŷ = σ(Wᴸh + bᴸ)   loss = BCE(ŷ, y)

trained on a 2-D toy dataset (circles, moons, spirals, xor); the decision boundary comes back as a
small grid of probabilities for the UI to draw.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from llm_tutor.engine.train.config import MLPConfig
from llm_tutor.engine.train.child.task import Task
from llm_tutor.engine.train.child.toydata import make_dataset

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {"relu": F.relu, "tanh": torch.tanh}


class MLP(nn.Module):
    """Linear layers 2 → width → … → 1; returns logits (the sigmoid lives in the loss)."""

    def __init__(self, cfg: MLPConfig) -> None:
        super().__init__()
        widths = [2] + [cfg.hidden_width] * cfg.hidden_layers + [1]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.act: Callable[[torch.Tensor], torch.Tensor] = ACTIVATIONS[cfg.activation]
        self.drop = nn.Dropout(cfg.drop_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, 2)
        for layer in self.layers[:-1]:
            x = self.drop(self.act(layer(x)))  # (B, width)
        return self.layers[-1](x).squeeze(-1)  # (B,) logits


class MLPTask(Task):
    """The network and its dataset, split into training and validation points."""

    kind = "mlp"
    model: MLP
    config: MLPConfig

    def __init__(self, config: MLPConfig, device: torch.device, seed: int = 0) -> None:
        config.validate()
        self.config = config
        self.device = device
        X, y = make_dataset(config.dataset, config.n_samples, config.noise, seed)
        n_val = max(1, int(round(config.n_samples * config.val_fraction)))
        self.X_train, self.y_train = X[n_val:].to(device), y[n_val:].to(device)  # (N, 2), (N,)
        self.X_val, self.y_val = X[:n_val].to(device), y[:n_val].to(device)
        lo, hi = X.min(dim=0).values, X.max(dim=0).values
        margin = 0.1 * (hi - lo)
        self.extent = [float(v) for v in (lo[0] - margin[0], hi[0] + margin[0], lo[1] - margin[1], hi[1] + margin[1])]
        self.model = MLP(config).to(device)

    def batch(self, batch_size: int, generator: torch.Generator) -> Any:
        idx = torch.randint(len(self.X_train), (batch_size,), generator=generator).to(self.device)
        return self.X_train[idx], self.y_train[idx]  # (B, 2), (B,)

    def loss(self, batch: Any) -> torch.Tensor:
        X, y = batch
        logits = self.model(X)  # (B,)
        # sigmoid + binary cross-entropy, fused for numerical stability
        return F.binary_cross_entropy_with_logits(logits, y)

    @torch.no_grad()
    def evaluate(self, generator: torch.Generator, batches: int = 4, batch_size: int = 32) -> dict[str, float]:
        logits = self.model(self.X_val)  # (N_val,)
        val_loss = F.binary_cross_entropy_with_logits(logits, self.y_val)
        return {"val_loss": float(val_loss), "accuracy": accuracy(logits, self.y_val)}

    @torch.no_grad()
    def boundary(self, width: int = 40, height: int = 20) -> dict[str, Any]:
        """P(label 1) at the centre of each cell of a `height` × `width` grid; row 0 is the top."""
        x0, x1, y0, y1 = self.extent
        xs = x0 + (torch.arange(width, device=self.device) + 0.5) * (x1 - x0) / width  # (W,)
        ys = y1 - (torch.arange(height, device=self.device) + 0.5) * (y1 - y0) / height  # (H,) top first
        grid = torch.stack(torch.meshgrid(ys, xs, indexing="ij")[::-1], dim=-1)  # (H, W, 2) as (x, y)
        was_training = self.model.training
        self.model.eval()
        probs = torch.sigmoid(self.model(grid.reshape(-1, 2))).reshape(height, width)  # (H, W)
        self.model.train(was_training)
        return {
            "width": width,
            "height": height,
            "extent": list(self.extent),
            "probs": [[round(p, 4) for p in row] for row in probs.cpu().tolist()],  # floats, not 800 tensors
        }

    def picture(self) -> dict[str, Any] | None:
        return self.boundary()

    def describe(self, max_points: int = 300) -> dict[str, Any]:
        X, y = self.X_train[:max_points].cpu(), self.y_train[:max_points].cpu()
        return {
            "dataset": self.config.dataset,
            "n_train": len(self.X_train),
            "n_val": len(self.X_val),
            "extent": list(self.extent),
            "points": [[round(float(a), 4), round(float(b), 4), int(c)] for (a, b), c in zip(X, y)],
        }


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    """Share of points on the right side of the boundary (logit > 0 means label 1)."""
    return float(((logits > 0).float() == y).float().mean())

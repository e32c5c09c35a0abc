"""Provides the 2-D toy datasets of the MLP lab: circles, moons, spirals and xor, made with torch.

Each generator takes a point count, a noise level and a `torch.Generator`, and returns
`X` of shape (n, 2) (float32, roughly within [-1.5, 1.5]) and labels `y` of shape (n,) in {0, 1}.
The same seed always gives the same points.
"""

from __future__ import annotations

import math
from typing import Callable

import torch


def circles(n: int, noise: float, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """An inner circle (label 1, radius 0.5) inside an outer one (label 0, radius 1)."""
    n_out = n // 2
    n_in = n - n_out
    t = torch.rand(n, generator=g) * 2 * math.pi  # (n,) angles
    r = torch.cat([torch.ones(n_out), torch.full((n_in,), 0.5)])  # (n,) radii
    X = torch.stack([r * torch.cos(t), r * torch.sin(t)], dim=1)  # (n, 2)
    y = torch.cat([torch.zeros(n_out), torch.ones(n_in)])  # (n,)
    return _jitter(X, noise, g), y


def moons(n: int, noise: float, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Two interleaving half circles (as scikit-learn's make_moons), centred on the origin."""
    n_out = n // 2
    n_in = n - n_out
    t_out = torch.rand(n_out, generator=g) * math.pi
    t_in = torch.rand(n_in, generator=g) * math.pi
    upper = torch.stack([torch.cos(t_out), torch.sin(t_out)], dim=1)  # (n_out, 2)
    lower = torch.stack([1 - torch.cos(t_in), 0.5 - torch.sin(t_in)], dim=1)  # (n_in, 2)
    X = torch.cat([upper, lower]) - torch.tensor([0.5, 0.25])  # (n, 2)
    y = torch.cat([torch.zeros(n_out), torch.ones(n_in)])
    return _jitter(X, noise, g), y


def spirals(n: int, noise: float, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Two arms winding 1.5 turns around the origin, label 0 and label 1."""
    n0 = n // 2
    n1 = n - n0
    parts, labels = [], []
    for label, count in ((0, n0), (1, n1)):
        t = torch.sqrt(torch.rand(count, generator=g)) * 3 * math.pi  # (count,) denser near the centre
        angle = t + label * math.pi  # the second arm is the first turned half a circle
        r = t / (3 * math.pi) * 1.2
        parts.append(torch.stack([r * torch.cos(angle), r * torch.sin(angle)], dim=1))
        labels.append(torch.full((count,), float(label)))
    return _jitter(torch.cat(parts), noise, g), torch.cat(labels)


def xor(n: int, noise: float, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Uniform points in the square; label 1 where x and y have the same sign."""
    X = torch.rand(n, 2, generator=g) * 2 - 1  # (n, 2) in [-1, 1]
    X = X + 0.05 * torch.sign(X)  # keep a small gap along the axes
    y = (X[:, 0] * X[:, 1] > 0).float()
    return _jitter(X, noise, g), y


def _jitter(X: torch.Tensor, noise: float, g: torch.Generator) -> torch.Tensor:
    if noise <= 0:
        return X
    return X + noise * torch.randn(X.shape, generator=g)


GENERATORS: dict[str, Callable[[int, float, torch.Generator], tuple[torch.Tensor, torch.Tensor]]] = {
    "circles": circles,
    "moons": moons,
    "spirals": spirals,
    "xor": xor,
}


def make_dataset(
    name: str, n: int, noise: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Shuffled points and labels of dataset `name`, reproducible from `seed`."""
    g = torch.Generator().manual_seed(seed)
    X, y = GENERATORS[name](n, noise, g)
    order = torch.randperm(n, generator=g)
    return X[order].float(), y[order].float()

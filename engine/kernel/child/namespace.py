"""Provides the namespace guard: what a lesson's namespace holds, and what a cell may not carry over.

Every lesson namespace holds `TUTOR_NAMES` (``device``, ``track``; the export's setup cell defines the same).
An exercise's check runs on an `isolated` copy, so it cannot change the lesson's own tensors; a namespace
reset puts back the process-wide torch settings a lesson may have changed (`torch_settings`,
`restore_torch_settings`), so they do not follow the learner into the next lesson.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from typing import Any

TUTOR_NAMES = ("device", "track")


def fresh_namespace() -> dict[str, Any]:
    """An empty module namespace, as a notebook's ``__main__``."""
    return {"__name__": "__main__", "__builtins__": __builtins__}


def add_tutor_names(ns: dict[str, Any], device: str, make_track: Callable[[], Any]) -> dict[str, Any]:
    """Put `TUTOR_NAMES` back where a cell deleted them (``globals().clear()``): lesson cells rely on both."""
    if "device" not in ns:
        ns["device"] = device
    if "track" not in ns:
        ns["track"] = make_track()
    return ns


def isolated(namespace: dict[str, Any]) -> dict[str, Any]:
    """A scratch copy of a lesson's namespace for an exercise's check.

    New names stay in the copy; tensors, modules, optimizers and the lists, tuples and dicts holding them are
    copied too (one `deepcopy` memo for all, so an optimizer still steps the copied model's parameters), so
    an exercise that changes them in place (`w -= lr * w.grad`, `model.fc.weight.zero_()`) leaves the
    lesson's own objects as they were. What cannot be copied (a tensor made by an operation, a generator,
    a file) is shared, as before.
    """
    scratch = dict(namespace)
    torch = sys.modules.get("torch")
    if torch is None:
        return scratch
    import copy

    def tensors(value: Any, depth: int = 0) -> Iterator[Any]:
        """The tensors a value holds (itself, a module's parameters and buffers, an optimizer's parameters,
        the items of a list, tuple or dict up to two levels deep)."""
        if isinstance(value, torch.Tensor):
            yield value
        elif isinstance(value, torch.nn.Module):
            yield from value.parameters()
            yield from value.buffers()
        elif isinstance(value, torch.optim.Optimizer):
            for group in value.param_groups:
                yield from group.get("params", [])
        elif depth < 2 and isinstance(value, (list, tuple, dict)) and len(value) <= 1000:
            for item in value.values() if isinstance(value, dict) else value:
                yield from tensors(item, depth + 1)

    memo: dict[int, Any] = {}
    for name, value in namespace.items():
        if name.startswith("__") or next(tensors(value), None) is None:
            continue
        try:
            scratch[name] = copy.deepcopy(value, memo)
        except Exception:  # noqa: BLE001 - a non-leaf tensor, an uncopyable member: share it, as before
            scratch[name] = value
            continue
        # a copied nn.Parameter comes without its .grad (a plain tensor keeps it): give it a copy, so code
        # that steps with p.grad, or an optimizer's step(), sees what the lesson computed
        for original in tensors(value):
            copied = memo.get(id(original))
            if isinstance(copied, torch.Tensor) and copied is not original and copied.grad is None \
                    and original.grad is not None:
                copied.grad = original.grad.detach().clone()
    return scratch


def torch_settings() -> dict[str, Any]:
    """The process-wide torch settings a lesson may change (torch is imported by then)."""
    import torch

    return {
        "threads": torch.get_num_threads(),
        "dtype": torch.get_default_dtype(),
        "grad": torch.is_grad_enabled(),
        "deterministic": torch.are_deterministic_algorithms_enabled(),
        "anomaly": torch.is_anomaly_enabled(),
        "printoptions": dict(vars(torch._tensor_str.PRINT_OPTS)),
    }


def restore_torch_settings(saved: dict[str, Any]) -> None:
    """Put back what `torch_settings()` saved; a setting that cannot be restored is left as it is."""
    import torch

    steps = (
        lambda: torch.get_num_threads() != saved["threads"] and torch.set_num_threads(saved["threads"]),
        lambda: torch.set_default_dtype(saved["dtype"]),
        lambda: torch.set_grad_enabled(saved["grad"]),
        lambda: torch.use_deterministic_algorithms(saved["deterministic"]),
        lambda: torch.set_anomaly_enabled(saved["anomaly"]),
        lambda: vars(torch._tensor_str.PRINT_OPTS).update(saved["printoptions"]),
    )
    for step in steps:
        try:
            step()
        except Exception:  # noqa: BLE001 - best effort: a reset must still succeed
            pass

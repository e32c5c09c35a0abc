"""Provides name resolution for the inspectors: expression paths walked on a namespace, never eval'd.

A path is a variable name followed by attribute and index steps: ``model.fc1.weight``, ``w.grad``,
``layers[0].bias``, ``model.blocks.0.attn`` (a numeric attribute, as ``named_parameters`` spells
submodules of ``nn.Sequential``), ``config['emb_dim']``. Walking is plain ``getattr`` / ``[]``, so a
learner's property may run, but no arbitrary code is evaluated.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import torch

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_TOKEN = re.compile(
    rf"""
    \.(?P<attr>{_IDENT}|\d+)                      # .name or .0
  | \[\s*(?P<index>-?\d+(?:\s*,\s*-?\d+)*)\s*\]   # [0] or [0, 1]
  | \[\s*(?P<key>'[^']*'|"[^"]*")\s*\]           # ['key'] or ["key"]
    """,
    re.VERBOSE,
)
_HEAD = re.compile(_IDENT)

TUTOR_NAMES = frozenset({"device", "track", "expect"})
"""Helpers the kernel puts in every namespace; they are not the learner's variables."""


class PathError(LookupError):
    """A path is malformed or names something that does not exist; `str()` says which step failed."""


def resolve(path: str, namespace: dict[str, object]) -> Any:
    """The object a path names in `namespace`, walking attributes and indices one step at a time."""
    path = path.strip()
    head = _HEAD.match(path)
    if head is None:
        raise PathError(f"{path!r} is not a variable name or a path such as model.fc1.weight")
    name = head.group(0)
    if name not in namespace:
        raise PathError(f"name {name!r} is not defined")
    obj: Any = namespace[name]
    walked = name
    pos = head.end()
    while pos < len(path):
        match = _TOKEN.match(path, pos)
        if match is None:
            raise PathError(f"cannot read {path!r} after {walked!r}: expected .name, [index] or ['key']")
        obj = _step(obj, match, walked)
        walked = path[: match.end()]
        pos = match.end()
    return obj


def _step(obj: Any, match: re.Match[str], walked: str) -> Any:
    attr, index, key = match.group("attr"), match.group("index"), match.group("key")
    if attr is not None:
        if attr.startswith("__"):
            raise PathError(f"{walked}.{attr}: dunder attributes are not inspected")
        if attr.isdigit():
            if hasattr(obj, attr):  # nn.Sequential / ModuleList children are attributes "0", "1"...
                return getattr(obj, attr)
            return _index(obj, int(attr), walked)
        if not hasattr(obj, attr):
            raise PathError(f"{walked} ({type(obj).__name__}) has no attribute {attr!r}")
        return getattr(obj, attr)
    if index is not None:
        parts = tuple(int(p) for p in index.split(","))
        return _index(obj, parts[0] if len(parts) == 1 else parts, walked)
    assert key is not None
    return _index(obj, key[1:-1], walked)


def _index(obj: Any, index: Any, walked: str) -> Any:
    try:
        return obj[index]
    except (IndexError, KeyError, TypeError) as exc:
        raise PathError(f"{walked}[{index!r}]: {type(exc).__name__}: {exc}") from None


# --------------------------------------------------------------------------------------------
# Names by identity (graph leaves, gradient tables)
# --------------------------------------------------------------------------------------------


def is_learner_name(name: str) -> bool:
    """Whether a namespace entry is one of the learner's own (not private, not a tutor helper)."""
    return not name.startswith("_") and name not in TUTOR_NAMES


def tensor_names(namespace: dict[str, object]) -> dict[int, tuple[str, str]]:
    """Map ``id(tensor)`` to ``(path, module_path)`` for every tensor reachable by a short path.

    Module parameters and buffers win over top-level names (a loop such as ``for name, p in
    model.named_parameters()`` leaves ``p`` behind, and ``model.fc2.bias`` says more than ``p``), which win
    over items of lists, tuples and dicts;
    `module_path` is the owning module's path for parameters and buffers (``model.fc1``), else "".
    The ids are only meaningful while `namespace` keeps the tensors alive.
    """
    names: dict[int, tuple[str, str]] = {}
    for path, module_path, tensor in named_tensors(namespace):
        names.setdefault(id(tensor), (path, module_path))
    return names


def named_tensors(namespace: dict[str, object]) -> Iterator[tuple[str, str, torch.Tensor]]:
    """``(path, module_path, tensor)`` for module tensors, then top-level tensors, then container items."""
    items = [(k, v) for k, v in list(namespace.items()) if is_learner_name(k)]
    for key, value in items:
        if isinstance(value, torch.nn.Module):
            yield from _module_tensors(key, value)
    for key, value in items:
        if isinstance(value, torch.Tensor):
            yield key, "", value
    for key, value in items:
        for path, tensor in _container_tensors(key, value):
            yield path, "", tensor


def _module_tensors(prefix: str, module: torch.nn.Module) -> Iterator[tuple[str, str, torch.Tensor]]:
    try:
        for mod_name, mod in module.named_modules(prefix=prefix):
            for pname, param in mod.named_parameters(recurse=False):
                yield f"{mod_name}.{pname}", mod_name, param
            for bname, buf in mod.named_buffers(recurse=False):
                yield f"{mod_name}.{bname}", mod_name, buf
    except Exception:  # noqa: BLE001 - a learner's broken module must not break naming
        return


def _container_tensors(prefix: str, value: object) -> Iterator[tuple[str, torch.Tensor]]:
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value[:1000]):
            if isinstance(item, torch.Tensor):
                yield f"{prefix}[{i}]", item
    elif isinstance(value, dict):
        for k, item in list(value.items())[:1000]:
            if isinstance(item, torch.Tensor) and isinstance(k, (str, int)):
                yield f"{prefix}[{k!r}]", item
    elif isinstance(value, torch.optim.Optimizer):
        for g, group in enumerate(value.param_groups):
            for i, p in enumerate(group.get("params", [])):
                if isinstance(p, torch.Tensor):
                    yield f"{prefix}.param_groups[{g}]['params'][{i}]", p

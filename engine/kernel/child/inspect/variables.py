"""Provides `summarize_variables`: the variables panel's rows for a namespace, cheap enough for every cell.

Only metadata is read (shapes, dtypes, parameter counts); a tensor's values are read only when it
has at most `PREVIEW_NUMEL` elements, so the summary costs microseconds per variable whatever the
tensors' sizes.
"""

from __future__ import annotations

import functools
import reprlib
import types
import warnings
from typing import Any

import torch

from llm_tutor.engine.kernel.child.inspect.paths import is_learner_name
from llm_tutor.engine.kernel.child.inspect.tensor import readable
from llm_tutor.engine.kernel.child.inspect.values import host_values
from llm_tutor.engine.kernel.format import format_number
from llm_tutor.engine.kernel.protocol import VariableSummary

PREVIEW_NUMEL = 6
"""Tensors this small show their values in the panel's text column."""
TEXT_LIMIT = 80
MAX_VARIABLES = 500

_SKIPPED_TYPES = (
    types.ModuleType,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.BuiltinMethodType,
    types.WrapperDescriptorType,
    types.MethodWrapperType,
    functools.partial,
    type,
)


def summarize_variables(namespace: dict[str, object]) -> list[VariableSummary]:
    """Every tensor, nn.Module, optimizer, number and other value of the learner, in definition order.

    Skips names starting with '_', Python modules, functions, classes and the tutor's helpers
    (`device`, `track`, `expect`).
    """
    out: list[VariableSummary] = []
    for name, value in list(namespace.items()):
        if not is_learner_name(name) or isinstance(value, _SKIPPED_TYPES):
            continue
        out.append(summarize_value(name, value))
        if len(out) >= MAX_VARIABLES:
            break
    return out


def summarize_value(name: str, value: object) -> VariableSummary:
    """One row of the variables panel; never raises."""
    try:
        if isinstance(value, torch.Tensor):
            return _tensor_row(name, value)
        if isinstance(value, torch.nn.Module):
            return _module_row(name, value)
        if isinstance(value, torch.optim.Optimizer):
            return _optimizer_row(name, value)
        if isinstance(value, (bool, int, float, complex)) or _is_numpy_scalar(value):
            return VariableSummary(name, "number", type(value).__name__, text=short_repr(value))
        return _other_row(name, value)
    except Exception as exc:  # noqa: BLE001 - a learner's odd object must never break the panel
        return VariableSummary(name, "other", _type_name(value), text=f"<cannot summarise: {type(exc).__name__}>")


def _tensor_row(name: str, t: torch.Tensor) -> VariableSummary:
    try:
        shape: list[int] | None = [int(s) for s in t.shape]
    except Exception:  # noqa: BLE001 - nested tensors have no shape
        shape = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # .grad of a non-leaf warns
        grad = getattr(t, "grad", None)
    info: dict[str, Any] = {}
    if t.grad_fn is not None:
        info["grad_fn"] = type(t.grad_fn).__name__
    return VariableSummary(
        name=name,
        kind="tensor",
        type_name=type(t).__name__,
        shape=shape,
        dtype=str(t.dtype).removeprefix("torch."),
        device=str(t.device),
        requires_grad=bool(t.requires_grad),
        has_grad=isinstance(grad, torch.Tensor),
        text=_tensor_preview(t, shape),
        info=info,
    )


def _tensor_preview(t: torch.Tensor, shape: list[int] | None) -> str:
    """The values of a tiny tensor (``[-0.0898]``), else nothing; reading is guarded like the tensor panel."""
    if shape is None or t.layout != torch.strided or t.numel() > PREVIEW_NUMEL:
        return ""
    if not readable(t, []):
        return "(no data)" if t.device.type == "meta" else "(unreadable)"
    with torch.no_grad():
        values = host_values(t)
    return _clip(_format(values))


def _format(value: Any) -> str:
    """Each value as a single number reads (`format.format_number`): ``[-0.08983]``."""
    if isinstance(value, list):
        return "[" + ", ".join(_format(v) for v in value) + "]"
    return format_number(value)


def _module_row(name: str, module: torch.nn.Module) -> VariableSummary:
    params = list(module.parameters())
    total = sum(p.numel() for p in params)
    trainable = sum(p.numel() for p in params if p.requires_grad)
    first = params[0] if params else None
    return VariableSummary(
        name=name,
        kind="module",
        type_name=type(module).__name__,
        dtype=str(first.dtype).removeprefix("torch.") if first is not None else "",
        device=str(first.device) if first is not None else "",
        requires_grad=trainable > 0,
        has_grad=any(p.grad is not None for p in params),
        params=total,
        text=_clip(_module_text(module)),
        info={"trainable": trainable, "training": bool(module.training)},
    )


def _module_text(module: torch.nn.Module) -> str:
    try:
        extra = module.extra_repr()
    except Exception:  # noqa: BLE001
        extra = ""
    if extra:
        return f"{type(module).__name__}({extra})"
    children = [type(m).__name__ for m in module.children()]
    shown = ", ".join(children[:4]) + (f", +{len(children) - 4}" if len(children) > 4 else "")
    return f"{type(module).__name__}({shown})"


def optimizer_info(opt: torch.optim.Optimizer) -> dict[str, Any]:
    """Type, learning rate(s), group and parameter counts, and the usual hyper-parameters of an optimizer."""
    groups = opt.param_groups
    lrs = [_plain_number(g.get("lr")) for g in groups]
    info: dict[str, Any] = {
        "type_name": type(opt).__name__,
        "lr": lrs[0] if len(set(map(repr, lrs))) == 1 and lrs else lrs,
        "param_groups": len(groups),
        "params": sum(len(g.get("params", [])) for g in groups),
        "elements": sum(int(p.numel()) for g in groups for p in g.get("params", []) if isinstance(p, torch.Tensor)),
    }
    for key in ("momentum", "weight_decay", "betas", "eps", "nesterov"):
        if groups and key in groups[0]:
            value = groups[0][key]
            info[key] = list(value) if isinstance(value, tuple) else _plain_number(value)
    return info


def _optimizer_row(name: str, opt: torch.optim.Optimizer) -> VariableSummary:
    info = optimizer_info(opt)
    groups = info["param_groups"]
    lr = info["lr"]
    lr_text = f"{lr:g}" if isinstance(lr, float) else str(lr)
    return VariableSummary(
        name=name,
        kind="optimizer",
        type_name=info["type_name"],
        params=info["elements"],
        text=f"lr={lr_text}, {groups} param group{'s' if groups != 1 else ''}",
        info=info,
    )


def _other_row(name: str, value: object) -> VariableSummary:
    shape = dtype = None
    if type(value).__module__ == "numpy" and hasattr(value, "shape"):
        shape = [int(s) for s in getattr(value, "shape")]
        dtype = str(getattr(value, "dtype", ""))
    return VariableSummary(name, "other", _type_name(value), shape=shape, dtype=dtype or "", text=short_repr(value))


def _plain_number(value: Any) -> Any:
    if isinstance(value, torch.Tensor) and value.numel() == 1:  # lr may be a tensor (capturable schedules)
        return float(value.detach().cpu())
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    return repr(value)


def _is_numpy_scalar(value: object) -> bool:
    return type(value).__module__ == "numpy" and not hasattr(value, "__len__") and hasattr(value, "dtype")


def _type_name(value: object) -> str:
    try:
        return type(value).__name__
    except Exception:  # noqa: BLE001
        return "object"


class _ShortRepr(reprlib.Repr):
    """reprlib with tensors described, not printed (printing could read freed storage or a huge tensor)."""

    def __init__(self) -> None:
        super().__init__()
        self.maxstring = TEXT_LIMIT
        self.maxother = TEXT_LIMIT
        self.maxlist = self.maxtuple = self.maxdict = self.maxset = 6
        self.maxlevel = 3

    def repr1(self, x: Any, level: int) -> str:
        if isinstance(x, torch.Tensor):
            try:
                return f"tensor{list(x.shape)}"
            except Exception:  # noqa: BLE001
                return "tensor(?)"
        if isinstance(x, torch.nn.Module):
            return f"{type(x).__name__}(...)"
        return super().repr1(x, level)

    def repr_instance(self, x: Any, level: int) -> str:
        try:
            text = repr(x)
        except Exception as exc:  # noqa: BLE001 - a learner's __repr__ may raise
            return f"<{_type_name(x)}: repr failed: {type(exc).__name__}>"
        return _clip(text.replace("\n", " "))


_SHORT = _ShortRepr()


def short_repr(value: object) -> str:
    """A one-line repr of at most `TEXT_LIMIT` characters that never raises."""
    try:
        return _clip(_SHORT.repr(value).replace("\n", " "))
    except Exception as exc:  # noqa: BLE001
        return f"<{_type_name(value)}: repr failed: {type(exc).__name__}>"


def _clip(text: str) -> str:
    return text if len(text) <= TEXT_LIMIT else text[: TEXT_LIMIT - 1] + "…"

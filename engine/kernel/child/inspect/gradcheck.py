"""Provides gradient triangulation: manual, numerical (central differences) and autograd side by side.

`triangulate` is the pure maths that lessons call too::

    result = triangulate(lambda w, b: loss_fn(w, b), {"w": w, "b": b}, manual={"w": dw, "b": db})
    result["rows"]  # [{"param": "w", "manual": ..., "numeric": ..., "autograd": ..., "rel_err": ..., "ok": True}, ...]

`f` is either a function of the parameters (called with them, in order) or a zero-argument closure
that reads them itself (``lambda: loss(model(x), y)``). Central differences run in float64: the
parameters are replaced by perturbed float64 copies and every other floating tensor an operation
meets is promoted to float64 on the fly (a `TorchFunctionMode`), so constants such as a float32 ``x``
or a module's other weights do not drag the evaluation back to float32. If the function cannot run
in float64 (an MPS device, a custom kernel), the differences are taken in the parameters' own dtype
with a larger step and a looser tolerance, and the result says so. Autograd runs in the parameters'
own dtype on fresh copies (or, for a closure, through ``torch.autograd.grad``), so nobody's ``.grad``
changes.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

DEFAULT_EPS = 1e-6
DEFAULT_RTOL = 1e-4
DEFAULT_ATOL = 1e-7
MANUAL_RTOL = 1e-3
"""Hand-derived values are usually carried to a few significant digits (-0.0898), so compare loosely."""
LOW_PRECISION_RTOL = 1e-2


def relative_error(a: float, b: float) -> float:
    """``|a - b| / max(|a|, |b|)``; 0 when both are 0, inf when either is NaN."""
    if math.isnan(a) or math.isnan(b):
        return math.inf
    scale = max(abs(a), abs(b))
    return 0.0 if scale == 0 else abs(a - b) / scale


def close(a: float, b: float, rtol: float, atol: float) -> bool:
    """Whether ``|a - b| <= atol + rtol * max(|a|, |b|)`` (symmetric, unlike ``math.isclose``'s atol use)."""
    if math.isnan(a) or math.isnan(b):
        return False
    return abs(a - b) <= atol + rtol * max(abs(a), abs(b))


def takes_params(f: Callable[..., Any], count: int) -> bool:
    """Whether `f` expects the parameters as arguments (else it is a zero-argument closure)."""
    try:
        sig = inspect.signature(f)
    except (TypeError, ValueError):
        return False
    required = 0
    for p in sig.parameters.values():
        if p.kind is p.VAR_POSITIONAL:
            return count > 0
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty:
            required += 1
    if required and required != count:
        raise ValueError(f"the function takes {required} argument(s) but {count} parameter(s) were named")
    return required > 0


def numeric_grad(
    f: Callable[..., Any], params: Sequence[torch.Tensor], eps: float = DEFAULT_EPS, dtype: torch.dtype | None = torch.float64
) -> tuple[list[torch.Tensor], torch.dtype]:
    """Central differences ``(f(x+h) - f(x-h)) / 2h`` for every element, with ``h = eps * max(1, |x|)``.

    `dtype` float64 evaluates in float64 (see the module docstring); None keeps the parameters' own
    dtype. Either way the function sees perturbed *copies* (swapped in by identity), so the learner's
    tensors are never written to and graphs that saved them stay valid. Returns the gradients
    (float64, shaped like each parameter) and the dtype the function's output actually had.
    """
    pass_params = takes_params(f, len(params))
    bases = [p.detach().to(dtype).clone() if dtype is not None else p.detach().clone() for p in params]
    subs = {} if pass_params else {id(p): b for p, b in zip(params, bases)}

    def evaluate() -> Any:
        with torch.no_grad(), _Promote(subs, dtype):
            return f(*bases) if pass_params else f()

    out_dtype: torch.dtype = torch.float64
    grads: list[torch.Tensor] = []
    for base in bases:
        g = torch.zeros(base.shape, dtype=torch.float64)
        for i in range(base.numel()):
            idx = _unravel(i, base.shape)
            x = float(base[idx])
            h = eps * max(1.0, abs(x))
            base[idx] = x + h
            plus, out_dtype = _as_float(evaluate())
            base[idx] = x - h
            minus, _ = _as_float(evaluate())
            base[idx] = x
            # the step actually taken, after rounding x +/- h to the base's dtype
            g[idx] = (plus - minus) / _step(base, x, h)
        grads.append(g)
    return grads, out_dtype


def _step(base: torch.Tensor, x: float, h: float) -> float:
    if base.dtype == torch.float64:
        return 2 * h
    hi = torch.tensor(x + h, dtype=base.dtype).item()
    lo = torch.tensor(x - h, dtype=base.dtype).item()
    return (hi - lo) or 2 * h


def autograd_grad(f: Callable[..., Any], params: Sequence[torch.Tensor]) -> list[torch.Tensor | None]:
    """Gradients by ``torch.autograd.grad`` in the parameters' own dtype, without touching any ``.grad``."""
    pass_params = takes_params(f, len(params))
    flipped: list[torch.Tensor] = []
    with torch.enable_grad():
        if pass_params:
            leaves = [p.detach().clone().requires_grad_(True) for p in params]
            out = f(*leaves)
        else:
            leaves = list(params)
            for p in leaves:
                if p.is_leaf and not p.requires_grad:
                    p.requires_grad_(True)
                    flipped.append(p)
            try:
                out = f()
            finally:
                for p in flipped:
                    p.requires_grad_(False)
        if not isinstance(out, torch.Tensor) or out.numel() != 1:
            raise ValueError(f"the function must return a one-element tensor, got {_describe(out)}")
        if out.grad_fn is None:
            return [None for _ in leaves]
        grads = torch.autograd.grad(out.reshape(()), leaves, allow_unused=True)
    return list(grads)


class Triangulation(dict):  # type: ignore[type-arg]
    """What `triangulate` returns: a plain dict whose type name tells the UI to draw it as a gradient check.

    A lesson that keeps the result in a variable (``check = triangulate(...)``) gets the check
    shown in the inspector's gradient-check view after the cell runs.
    """


def triangulate(
    f: Callable[..., Any],
    params: Mapping[str, torch.Tensor | float],
    manual: Mapping[str, Any] | None = None,
    eps: float = DEFAULT_EPS,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
    manual_rtol: float = MANUAL_RTOL,
) -> dict[str, Any]:
    """Manual, numerical and autograd gradients of the scalar `f`, one row per parameter element.

    Returns ``{"rows": [...], "value": f(params), "numeric_dtype": "float64", "eps", "rtol", "atol",
    "manual_rtol", "ok", "note"}``; each row is ``{"param", "manual", "numeric", "autograd",
    "rel_err", "rel_err_numeric", "rel_err_manual", "ok"}``. ``rel_err`` is the worst relative error
    against autograd (against the numeric value when autograd is unavailable); a row is ok when the
    numeric value is within ``atol + rtol * |g|`` of autograd and the manual one within `manual_rtol`.
    """
    names = list(params)
    tensors = [_as_tensor(v, names[i]) for i, v in enumerate(params.values())]
    if not takes_params(f, len(tensors)):
        for name, value in params.items():
            if not isinstance(value, torch.Tensor):
                raise TypeError(f"{name} is a {type(value).__name__}; a closure can only be differentiated "
                                "with respect to tensors (pass a function of the parameters instead)")
    note = ""
    try:
        numeric, out_dtype = numeric_grad(f, tensors, eps, torch.float64)
    except Exception as exc:  # noqa: BLE001 - fall back to the parameters' own precision
        low_eps = max(eps, _cbrt_eps(tensors))
        numeric, out_dtype = numeric_grad(f, tensors, low_eps, None)
        note = (f"float64 evaluation failed ({type(exc).__name__}: {exc}); "
                f"differences taken in {_dtype_name(out_dtype)}")
        eps = low_eps
    if not note and out_dtype.is_floating_point and out_dtype != torch.float64:
        # the output was cast down (torch.tensor(x.item()), .float()): a step sized for its precision
        eps = max(eps, float(torch.finfo(out_dtype).eps ** (1 / 3)))
        numeric, out_dtype = numeric_grad(f, tensors, eps, torch.float64)
    if out_dtype != torch.float64:
        rtol = max(rtol, LOW_PRECISION_RTOL)
        atol = max(atol, 1e-5)
        note = note or f"the function returned {_dtype_name(out_dtype)}: differences are only that precise"
    auto: list[torch.Tensor | None] | None
    try:
        auto = autograd_grad(f, tensors)
        if all(a is None for a in auto):
            note = _join(note, "autograd sees no path from the parameters to the result "
                               "(an .item() or torch.tensor(...) in between?)")
    except Exception as exc:  # noqa: BLE001 - show the other two columns anyway
        auto = None
        note = _join(note, f"autograd failed: {type(exc).__name__}: {exc}")
    result_value = _value(f, tensors)

    rows: list[dict[str, Any]] = []
    for j, (name, t, num) in enumerate(zip(names, tensors, numeric)):
        man = _manual_values(manual, name, t)
        ag = auto[j] if auto is not None else None
        ag_flat: list[float | None]
        if auto is None:
            ag_flat = [None] * t.numel()
        elif ag is None:
            ag_flat = [0.0] * t.numel()  # unused parameter: autograd's gradient is zero
        else:
            ag_flat = ag.detach().double().cpu().reshape(-1).tolist()
        for i, n in enumerate(num.reshape(-1).tolist()):
            label = name if t.numel() == 1 else f"{name}[{', '.join(str(j) for j in _unravel(i, t.shape))}]"
            rows.append(_row(label, man[i] if man else None, n, ag_flat[i], rtol, atol, manual_rtol))
    return Triangulation({
        "rows": rows,
        "value": result_value,
        "numeric_dtype": _dtype_name(out_dtype),
        "eps": eps,
        "rtol": rtol,
        "atol": atol,
        "manual_rtol": manual_rtol,
        "ok": all(r["ok"] for r in rows),
        "note": note,
        **({"fn": f.__name__} if getattr(f, "__name__", "").isidentifier() else {}),
    })


def _row(label: str, manual: float | None, numeric: float, auto: float | None, rtol: float, atol: float,
         manual_rtol: float) -> dict[str, Any]:
    reference = auto if auto is not None else numeric
    ok = True
    err_numeric = err_manual = None
    if auto is not None:
        err_numeric = relative_error(numeric, auto)
        ok = close(numeric, auto, rtol, atol)
    if manual is not None:
        err_manual = relative_error(manual, reference)
        ok = ok and close(manual, reference, manual_rtol, atol)
    errors = [e for e in (err_numeric, err_manual) if e is not None]
    return {
        "param": label,
        "manual": manual,
        "numeric": numeric,
        "autograd": auto,
        "rel_err": max(errors) if errors else None,
        "rel_err_numeric": err_numeric,
        "rel_err_manual": err_manual,
        "ok": ok,
    }


def _join(*notes: str) -> str:
    return "; ".join(n for n in notes if n)


def _manual_values(manual: Mapping[str, Any] | None, name: str, t: torch.Tensor) -> list[float] | None:
    if not manual or manual.get(name) is None:
        return None
    given = manual[name]
    flat = (given.detach().double().cpu().reshape(-1).tolist() if isinstance(given, torch.Tensor)
            else _flatten(given))
    if len(flat) != t.numel():
        raise ValueError(f"manual gradient of {name} has {len(flat)} value(s), {name} has {t.numel()}")
    return [float(v) for v in flat]


def _flatten(value: Any) -> list[float]:
    if isinstance(value, (list, tuple)):
        return [x for v in value for x in _flatten(v)]
    return [float(value)]


def _as_tensor(value: Any, name: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        if not (value.is_floating_point()):
            raise TypeError(f"{name} has dtype {_dtype_name(value.dtype)}; gradients need a floating-point tensor")
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return torch.tensor(float(value), dtype=torch.float64)
    raise TypeError(f"{name} is a {type(value).__name__}, not a tensor or a number")


def _value(f: Callable[..., Any], params: Sequence[torch.Tensor]) -> float | None:
    try:
        with torch.no_grad():
            out = f(*params) if takes_params(f, len(params)) else f()
        return _as_float(out)[0]
    except Exception:  # noqa: BLE001
        return None


def _as_float(out: Any) -> tuple[float, torch.dtype]:
    if isinstance(out, torch.Tensor):
        if out.numel() != 1:
            raise ValueError(f"the function must return a single number, got a tensor of shape {list(out.shape)}")
        return float(out.detach().reshape(()).cpu().double()), out.dtype
    if isinstance(out, (int, float)) and not isinstance(out, bool):
        return float(out), torch.float64
    raise ValueError(f"the function must return a single number, got {_describe(out)}")


def _describe(out: Any) -> str:
    if isinstance(out, torch.Tensor):
        return f"a tensor of shape {list(out.shape)}"
    return f"a {type(out).__name__}"


def _unravel(i: int, shape: Sequence[int]) -> tuple[int, ...]:
    idx = []
    for size in reversed(list(shape)):
        idx.append(i % size)
        i //= size
    return tuple(reversed(idx))


def _cbrt_eps(tensors: Sequence[torch.Tensor]) -> float:
    worst = max((torch.finfo(t.dtype).eps for t in tensors if t.is_floating_point()), default=2.0**-52)
    return float(worst ** (1 / 3))


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


class _Promote(TorchFunctionMode):
    """Swap parameters for their perturbed copies and promote every other floating tensor to `dtype` (if set)."""

    def __init__(self, subs: dict[int, torch.Tensor], dtype: torch.dtype | None) -> None:
        super().__init__()
        self.subs = subs
        self.dtype = dtype

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        return func(*self._conv(args), **self._conv(kwargs or {}))

    def _conv(self, value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            swapped = self.subs.get(id(value))
            if swapped is not None:
                return swapped
            if self.dtype is not None and value.is_floating_point() and value.dtype != self.dtype:
                return value.to(self.dtype)
            return value
        if type(value) is tuple or type(value) is list:
            return type(value)(self._conv(v) for v in value)
        if type(value) is dict:
            return {k: self._conv(v) for k, v in value.items()}
        return value

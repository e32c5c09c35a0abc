"""Provides `expect`, the helpers that exercise check blocks call, and `run_checks`, which runs a block.

Runs inside the kernel. Every statement of a check block runs even when an earlier one failed, so
the learner sees every failed expectation, each as expected vs got with a diagnosis of what is wrong
(`engine.grading.feedback`: the UI shows the diagnosis first and the expected value only later). Errors in a
check statement (a name the learner never defined, say) become failed expectations, never a bare
traceback.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable
from typing import Any

from llm_tutor.engine.grading.feedback import FACTORS, diagnose_numbers, format_number, format_pair, tolerance
from llm_tutor.engine.kernel.protocol import Expectation

_MAX_TEXT = 300


def _short(value: Any) -> str:
    try:
        text = repr(value)
    except Exception as exc:  # noqa: BLE001 - a learner object's repr may raise anything
        text = f"<{type(value).__name__}: repr failed ({type(exc).__name__})>"
    text = " ".join(text.split())
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 1] + "…"


def _is_tensor(value: Any) -> bool:
    return type(value).__module__.startswith("torch") and hasattr(value, "shape") and hasattr(value, "dtype")


def _describe_tensor(t: Any) -> str:
    return f"tensor shape {tuple(t.shape)}, {str(t.dtype).replace('torch.', '')}, on {t.device}"


class Expect:
    """Collects expectations; each method returns whether it passed."""

    def __init__(self) -> None:
        self.results: list[Expectation] = []
        self.default_label = ""

    def _record(self, passed: bool, label: str | None, expected: str, got: str, detail: str = "",
                diagnosis: str = "", args: dict[str, str] | None = None) -> bool:
        self.results.append(
            Expectation(label=label or self.default_label or "check", passed=passed, expected=expected, got=got,
                        detail=detail, diagnosis="" if passed else diagnosis, args=dict(args or {}))
        )
        return passed

    # -- values ------------------------------------------------------------------------------

    def close(self, got: Any, expected: Any, atol: float = 1e-6, rtol: float = 1e-5, label: str | None = None) -> bool:
        """Numbers or tensors equal within ``|got - expected| <= atol + rtol * |expected|``."""
        tol = f"atol={atol:g}, rtol={rtol:g}"
        if _is_tensor(got) or _is_tensor(expected):
            import torch

            try:
                g = got if _is_tensor(got) else torch.as_tensor(got)
                e = expected if _is_tensor(expected) else torch.as_tensor(expected)
            except Exception as exc:  # noqa: BLE001
                return self._record(False, label, _short(expected), _short(got), f"cannot compare as tensors: {exc}",
                                    "not_tensor")
            if tuple(g.shape) != tuple(e.shape):
                return self._record(False, label, _describe_tensor(e), _describe_tensor(g), "shapes differ", "shape")
            if g.is_complex() or e.is_complex():
                gd, ed = g.detach().cpu().to(torch.complex128), e.detach().cpu().to(torch.complex128)
            else:
                gd, ed = g.detach().cpu().to(torch.float64), e.detach().cpu().to(torch.float64)
            ok = bool(torch.allclose(gd, ed, atol=atol, rtol=rtol, equal_nan=False))
            if ok:
                return self._record(True, label, _short(e), _short(g))
            diff = (gd - ed).abs()
            worst = int(diff.argmax()) if diff.numel() else 0
            detail = f"{tol}; largest difference {float(diff.max()):.6g}" if diff.numel() else tol
            if gd.numel() > 1:
                detail += f" at flat index {worst}"
            if g.dtype != e.dtype:
                detail += f"; dtypes {str(g.dtype).replace('torch.', '')} vs {str(e.dtype).replace('torch.', '')}"
            diagnosis, args = _diagnose_tensors(gd, ed, atol, rtol)
            return self._record(False, label, _short(e), _short(g), detail, diagnosis, args)
        try:
            gf, ef = float(got), float(expected)
        except (TypeError, ValueError):
            return self._record(False, label, _short(expected), _short(got), "expected a number", "not_number")
        ok = math.isclose(gf, ef, rel_tol=rtol, abs_tol=atol)
        within = max(tolerance(ef, atol, rtol), abs(gf) * rtol)
        got_text, expected_text = format_pair(gf, ef, within)
        if ok:
            return self._record(True, label, expected_text, got_text)
        diagnosis, args = diagnose_numbers(gf, ef, within)
        detail = f"{tol}; difference {format_number(abs(gf - ef), within)}"
        return self._record(False, label, expected_text, got_text, detail, diagnosis, args)

    def equal(self, got: Any, expected: Any, label: str | None = None) -> bool:
        """`got == expected`; for tensors the same shape and every element equal."""
        if _is_tensor(got) or _is_tensor(expected):
            import torch

            if not (_is_tensor(got) and _is_tensor(expected)):
                try:
                    other = torch.as_tensor(expected if _is_tensor(got) else got)
                except Exception:  # noqa: BLE001
                    return self._record(False, label, _short(expected), _short(got), "expected a tensor", "not_tensor")
                got, expected = (got, other) if _is_tensor(got) else (other, expected)
            if tuple(got.shape) != tuple(expected.shape):
                return self._record(False, label, _describe_tensor(expected), _describe_tensor(got), "shapes differ",
                                    "shape")
            g, e = got.detach().cpu(), expected.detach().cpu().to(got.dtype)
            ok = bool(torch.equal(g, e))
            if ok or g.numel() <= 1:
                return self._record(ok, label, _short(expected), _short(got), diagnosis="not_equal")
            wrong = int((g != e).sum())
            return self._record(False, label, _short(expected), _short(got), diagnosis="elements",
                                args={"n": str(wrong), "total": str(g.numel())})
        try:
            ok = bool(got == expected)
        except Exception as exc:  # noqa: BLE001
            return self._record(False, label, _short(expected), _short(got), f"cannot compare: {exc}", "not_equal")
        if not ok and _is_number(got) and _is_number(expected):
            return self._record(False, label, *reversed(format_pair(got, expected)), "",
                                *_diagnose_unequal(float(got), float(expected)))
        return self._record(ok, label, _short(expected), _short(got), diagnosis="not_equal")

    def shape(self, got: Any, shape: Any, label: str | None = None) -> bool:
        """A tensor (or anything with `.shape`) has exactly this shape."""
        want = tuple(int(s) for s in shape)
        if not hasattr(got, "shape"):
            return self._record(False, label, f"shape {want}", f"{type(got).__name__} {_short(got)} (no shape)",
                                diagnosis="shape")
        have = tuple(int(s) for s in got.shape)
        return self._record(have == want, label, f"shape {want}", f"shape {have}", diagnosis="shape")

    def dtype(self, got: Any, dtype: Any, label: str | None = None) -> bool:
        """The dtype matches a `torch.dtype` or a name such as ``"float32"``."""
        want = str(dtype).replace("torch.", "")
        if not hasattr(got, "dtype"):
            return self._record(False, label, f"dtype {want}", f"{type(got).__name__} {_short(got)} (no dtype)",
                                diagnosis="dtype")
        have = str(got.dtype).replace("torch.", "")
        return self._record(have == want, label, f"dtype {want}", f"dtype {have}", diagnosis="dtype")

    def device(self, got: Any, device: Any, label: str | None = None) -> bool:
        """The tensor lives on this device type ("cpu", "cuda", "mps")."""
        want = str(device).split(":")[0]
        if not hasattr(got, "device"):
            return self._record(False, label, f"device {want}", f"{type(got).__name__} (no device)", diagnosis="device")
        have = str(got.device.type)
        return self._record(have == want, label, f"device {want}", f"device {have}", diagnosis="device")

    def true(self, condition: Any, label: str | None = None, got: Any = None, expected: str = "true") -> bool:
        """A condition holds; `got` is shown when it does not."""
        try:
            ok = bool(condition)
        except Exception as exc:  # noqa: BLE001
            return self._record(False, label, expected, f"cannot be read as true/false: {exc}", diagnosis="check_error")
        return self._record(ok, label, expected, _short(got) if got is not None else _short(condition),
                            diagnosis="not_true")

    def raises(self, exc_type: type[BaseException], fn: Callable[..., Any], *args: Any, label: str | None = None, **kwargs: Any) -> bool:
        """Calling `fn(*args, **kwargs)` raises `exc_type`."""
        try:
            fn(*args, **kwargs)
        except exc_type:
            return self._record(True, label, f"raises {exc_type.__name__}", f"raised {exc_type.__name__}")
        except Exception as exc:  # noqa: BLE001
            return self._record(False, label, f"raises {exc_type.__name__}", f"raised {type(exc).__name__}: {exc}",
                                diagnosis="other_raise")
        return self._record(False, label, f"raises {exc_type.__name__}", "returned normally", diagnosis="no_raise")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _diagnose_unequal(got: float, expected: float) -> tuple[str, dict[str, str]]:
    """Two numbers that should be equal: a float rounding apart, or the usual number diagnoses."""
    diff = abs(got - expected)
    if math.isfinite(diff) and diff <= 1e-9 * max(1.0, abs(expected)):
        return "rounding", {"diff": f"{diff:.1g}"}
    return diagnose_numbers(got, expected, 0.0)


def _diagnose_tensors(g: Any, e: Any, atol: float, rtol: float) -> tuple[str, dict[str, str]]:
    """What is wrong with a tensor that is not close to the expected one (both float64 or complex128, same shape)."""
    import torch

    if not bool(torch.isfinite(g).all()):
        return "not_finite", {}
    nonzero = bool((e != 0).any())
    if nonzero and bool(torch.allclose(g, -e, atol=atol, rtol=rtol)):
        return "sign", {}
    if nonzero:
        for factor in FACTORS:
            if bool(torch.allclose(g, e * factor, atol=atol, rtol=max(rtol, 0.02))):
                return "factor", {"factor": format_number(factor)}
    if g.numel() == 1:
        return diagnose_numbers(complex(g.item()).real, complex(e.item()).real, tolerance(float(e.abs().item()), atol, rtol))
    if bool(torch.allclose(g, e, atol=10 * atol, rtol=10 * rtol)):
        tol = atol + rtol * float(e.abs().max())
        return "close", {"tol": format_number(tol, tol)}
    wrong = int((~torch.isclose(g, e, atol=atol, rtol=rtol)).sum())
    return "elements", {"n": str(wrong), "total": str(g.numel())}


def _first_arg_source(stmt: ast.stmt, source: str) -> str:
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call) and stmt.value.args:
        segment = ast.get_source_segment(source, stmt.value.args[0]) or ""
        return " ".join(segment.split())[:80]
    return (ast.get_source_segment(source, stmt) or "").strip()[:80]


def run_checks(checks: str, namespace: dict[str, Any], filename: str = "<checks>") -> list[Expectation]:
    """Run a check block statement by statement in `namespace`; return every expectation."""
    expect = Expect()
    namespace["expect"] = expect
    try:
        tree = ast.parse(checks, filename=filename)
    except SyntaxError as exc:
        return [Expectation("checks", False, "valid check code", f"SyntaxError: {exc.msg} (line {exc.lineno})")]
    for stmt in tree.body:
        expect.default_label = _first_arg_source(stmt, checks)
        try:
            code = compile(ast.Module(body=[stmt], type_ignores=[]), filename, "exec")
            exec(code, namespace)  # noqa: S102 - checks are the lesson author's code
        except NameError as exc:
            missing = getattr(exc, "name", None) or str(exc)
            expect._record(False, None, f"a variable named `{missing}`", f"`{missing}` is not defined",
                           "your code should define it", "missing", {"name": str(missing)})
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - report, never crash the checker
            expect._record(False, None, "the check to run", f"{type(exc).__name__}: {exc}", diagnosis="check_error")
    namespace.pop("expect", None)
    return expect.results

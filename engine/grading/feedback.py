"""Provides what a failed check tells the learner without giving the answer away, and the one number rule.

A check knows the expected value, but printing it on the first try lets the learner paste it. So each
failed expectation also carries a *diagnosis*, a code with a few arguments that says what is wrong
(the sign is flipped, off by a factor of about 2, close but outside the tolerance, the wrong shape)
and that the UI words in the learner's language; the expected value itself is shown only after
several attempts or as the last step of help (`REVEAL_AFTER_ATTEMPTS`).

Numbers are written by one rule everywhere a check shows them (`format_number`, `format_pair`): as
many digits as the tolerance can tell apart, no more (never ``50257.00000000002``), and two numbers
that differ are never written the same (never ``expected 12, got 12``).
"""

from __future__ import annotations

import math
from typing import Any

REVEAL_AFTER_ATTEMPTS = 3
"""Attempts after which a failed check shows the exact expected value (all hints shown does too)."""

FACTORS = (2.0, 0.5, 10.0, 0.1, 4.0, 0.25)
"""Ratios got/expected named as "off by a factor of about N" (a missing or extra 2, a power of ten)."""

ENGLISH: dict[str, str] = {
    "sign": "the sign is flipped",
    "factor": "off by a factor of about {factor}",
    "close": "close, but not within the tolerance (±{tol})",
    "too_large": "too large",
    "too_small": "too small",
    "elements": "{n} of {total} elements differ",
    "rounding": "differs only by float rounding ({diff}): compare with a tolerance",
    "shape": "wrong shape",
    "dtype": "wrong dtype",
    "device": "wrong device",
    "not_number": "not a number",
    "not_finite": "not a finite number",
    "not_equal": "not equal",
    "not_true": "not true",
    "no_raise": "returned normally instead of raising",
    "other_raise": "raised another error",
    "missing": "`{name}` is not defined: your code should define it",
    "check_error": "the check could not run",
    "not_tensor": "cannot be compared as a tensor",
}
"""The diagnoses in English (the CLI's words; the UI has its own table, key by key)."""

STRUCTURAL = frozenset({"shape", "dtype", "device", "missing", "check_error", "no_raise", "other_raise"})
"""Diagnoses whose expected side is part of the task, not its answer: shown from the first attempt."""


def tolerance(expected: float, atol: float, rtol: float) -> float:
    """The largest difference `expect.close` accepts around `expected`."""
    return atol + rtol * abs(expected) if math.isfinite(expected) else atol


def decimals_for(tol: float) -> int:
    """Decimals that resolve a tenth of `tol` (0 for a tolerance of 10 or more)."""
    if not (tol > 0 and math.isfinite(tol)):
        return 6
    return max(0, math.ceil(-math.log10(tol / 10)))


def format_number(value: Any, tol: float | None = None) -> str:
    """`value` with the digits a tolerance `tol` can tell apart (six significant digits without one).

    Integers stay integers; trailing zeros are dropped; very large or very small magnitudes use
    scientific notation with the same number of significant digits.
    """
    if isinstance(value, bool) or isinstance(value, int):
        return str(value)
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(x):
        return str(x)
    if tol is None:
        text = f"{x:.6g}"
        return text if "e" in text else _trim(text)
    decimals = decimals_for(tol)
    if x != 0 and (abs(x) >= 1e12 or (abs(x) < 1e-4 and decimals > 8)):
        digits = max(1, decimals + math.floor(math.log10(abs(x))) + 1)
        return f"{x:.{min(digits, 17)}g}"
    text = _trim(f"{x:.{decimals}f}")
    return "0" if text in ("-0", "") else text


def format_pair(got: Any, expected: Any, tol: float | None = None) -> tuple[str, str]:
    """`got` and `expected` by `format_number`, with digits added until two different numbers differ."""
    g, e = format_number(got, tol), format_number(expected, tol)
    try:
        gf, ef = float(got), float(expected)
    except (TypeError, ValueError):
        return g, e
    step = tol if tol and tol > 0 else None
    while g == e and gf != ef and math.isfinite(gf) and math.isfinite(ef):
        step = (step or abs(ef) or 1.0) / 10
        if step < 1e-17 * max(abs(gf), abs(ef), 1e-300):
            return repr(gf), repr(ef)
        g, e = format_number(gf, step), format_number(ef, step)
    return g, e


def _trim(text: str) -> str:
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def diagnose_numbers(got: float, expected: float, tol: float) -> tuple[str, dict[str, str]]:
    """What is wrong with one number that is not within `tol` of `expected`: a diagnosis code and its args."""
    if not math.isfinite(got):
        return "not_finite", {}
    if expected != 0 and abs(got + expected) <= tol:
        return "sign", {}
    if expected != 0 and got != 0:
        ratio = got / expected
        for factor in FACTORS:
            if abs(ratio - factor) <= 0.02 * factor:
                return "factor", {"factor": format_number(factor)}
    if abs(got - expected) <= 10 * tol:
        return "close", {"tol": format_number(tol, tol)}
    return ("too_large" if got > expected else "too_small"), {}


def describe(diagnosis: str, args: dict[str, str], table: dict[str, str] | None = None) -> str:
    """The diagnosis as words (English, or the `table` given), with its arguments filled in."""
    template = (table or {}).get(diagnosis) or ENGLISH.get(diagnosis, diagnosis)
    try:
        return template.format(**args)
    except (KeyError, IndexError):
        return template


def reveals_answer(diagnosis: str) -> bool:
    """Whether the expected side of this expectation is the answer (hidden for the first attempts)."""
    return diagnosis not in STRUCTURAL

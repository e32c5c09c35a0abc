"""The `expect` helpers: every failed expectation is reported as expected vs got, never a traceback."""

from __future__ import annotations

import torch

from llm_tutor.engine.kernel.child.checks import run_checks


def test_every_failed_expectation_is_reported() -> None:
    ns = {"torch": torch, "t": torch.zeros(2, 3), "g": torch.tensor([-0.09])}
    results = run_checks(
        "expect.shape(t, (2, 3, 4))\n"
        "expect.dtype(t, torch.int64)\n"
        "expect.close(g, torch.tensor([-0.0898]), atol=1e-4)\n"
        "expect.close(missing, 1.0)\n"
        "expect.equal(t.sum().item(), 0.0)\n",
        ns,
    )
    assert [r.passed for r in results] == [False, False, False, False, True]
    shape, dtype, close, missing, _ = results
    assert (shape.label, shape.expected, shape.got) == ("t", "shape (2, 3, 4)", "shape (2, 3)")
    assert (dtype.expected, dtype.got) == ("dtype int64", "dtype float32")
    assert close.label == "g" and "atol=0.0001" in close.detail and "-0.0898" in close.expected
    assert "missing" in missing.got and "not defined" in missing.got
    assert "expect" not in ns


def test_close_on_numbers_and_tolerance() -> None:
    results = run_checks("expect.close(0.10001, 0.1, atol=1e-3)\nexpect.close(0.2, 0.1, atol=1e-3)", {})
    assert [r.passed for r in results] == [True, False]
    assert results[1].expected == "0.1" and results[1].got == "0.2"


def test_close_reports_shape_mismatch_with_dtype_and_device() -> None:
    results = run_checks("expect.close(a, b)", {"a": torch.zeros(3), "b": torch.zeros(2, 2)})
    assert not results[0].passed
    assert "shape (2, 2)" in results[0].expected and "float32" in results[0].got and "cpu" in results[0].got


def test_raises_true_device_and_errors_in_checks() -> None:
    ns = {"torch": torch, "t": torch.ones(2, 2)}
    results = run_checks(
        "expect.raises(RuntimeError, lambda: t.T.view(4))\n"
        "expect.true(t.is_contiguous(), 't is contiguous')\n"
        "expect.device(t, 'cpu')\n"
        "1 / 0\n"
        "assert False, 'plain asserts are reported too'\n",
        ns,
    )
    assert [r.passed for r in results] == [True, True, True, False, False]
    assert "ZeroDivisionError" in results[3].got
    assert "plain asserts" in results[4].got


def test_a_check_block_with_a_syntax_error_is_one_clear_failure() -> None:
    results = run_checks("expect.equal(x, 1", {"x": 1})
    assert len(results) == 1 and not results[0].passed and "SyntaxError" in results[0].got

"""A failed check says what is wrong without giving the answer away, and writes numbers by one rule."""

from __future__ import annotations

import torch

from llm_tutor.engine.kernel.child.checks import run_checks
from llm_tutor.engine.grading.feedback import describe, format_number, format_pair, reveals_answer


def test_numbers_carry_the_digits_the_tolerance_can_tell_apart() -> None:
    assert format_number(50257.00000000002, 0.5) == "50257"
    assert format_number(-0.08982631, 1.9e-6) == "-0.0898263"
    assert format_number(0.1, 1e-3) == "0.1"
    assert format_number(12) == "12" and format_number(2.5) == "2.5"
    assert format_number(float("nan")) == "nan"


def test_two_different_numbers_are_never_written_the_same() -> None:
    got, expected = format_pair(12.000000001, 12)
    assert got != expected and expected == "12"
    got, expected = format_pair(1.00000049, 1.0000004, 1e-9)
    assert got != expected


def test_a_flipped_sign_a_factor_of_two_and_a_near_miss_are_named() -> None:
    ns = {"torch": torch}
    results = run_checks(
        "expect.close(0.0898263, -0.0898263)\n"
        "expect.close(-0.1796526, -0.0898263)\n"
        "expect.close(-0.089830, -0.0898263, atol=1e-6)\n"
        "expect.close(3.0, -0.0898263)\n"
        "expect.close(torch.tensor([1.0, -2.0]), torch.tensor([-1.0, 2.0]))\n"
        "expect.close(torch.ones(2, 3) * 0.5, torch.ones(2, 3))\n"
        "expect.close(torch.tensor([1.0, 2.0, 9.0]), torch.tensor([1.0, 2.0, 3.0]))\n"
        "expect.shape(torch.zeros(3), (2, 3))\n",
        ns,
    )
    assert [r.diagnosis for r in results] == ["sign", "factor", "close", "too_large", "sign", "factor", "elements",
                                             "shape"]
    assert results[1].args == {"factor": "2"} and results[5].args == {"factor": "0.5"}
    assert describe("elements", results[6].args) == "1 of 3 elements differ"
    assert "±" in describe("close", results[2].args)
    # the value hides the answer for the first attempts; a shape is part of the task, not its answer
    assert reveals_answer("sign") and not reveals_answer("shape")
    assert results[0].expected == "-0.0898263" and results[0].got == "0.0898263"


def test_equal_numbers_apart_by_rounding_say_so() -> None:
    results = run_checks("expect.equal(0.1 + 0.2, 0.3)\nexpect.equal(12, 13)", {})
    assert results[0].diagnosis == "rounding" and results[0].got != results[0].expected
    assert (results[1].diagnosis, results[1].expected, results[1].got) == ("too_small", "13", "12")

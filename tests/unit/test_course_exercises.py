"""The bundled course's checks judge real answers rightly: a learner's answer runs against the lesson's own check
block in a real kernel, after the lesson's cells, as `llm-tutor grade` runs it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from llm_tutor.engine.course.catalog import load_course
from llm_tutor.engine.kernel import BlockingKernel
from llm_tutor.engine.course.lesson import Cell, Lesson, Predict
from llm_tutor.engine.kernel.protocol import CheckResult


# the module-scoped fixture below is built once: these tests stay on one xdist worker
pytestmark = pytest.mark.xdist_group("course-exercises-kernel")


@pytest.fixture(scope="module")
def kernel() -> Iterator[BlockingKernel]:
    k = BlockingKernel(device="cpu", threads=1)
    k.start()
    yield k
    k.shutdown()


def lesson(lesson_id: str, lang: str = "en") -> Lesson:
    (found,) = [item for item in load_course(lang=lang) if item.id == lesson_id and isinstance(item, Lesson)]
    return found


def run_cells(kernel: BlockingKernel, les: Lesson, upto: str, skip: tuple[str, ...] = ()) -> tuple[str, dict[str, str]]:
    """Run the lesson's cells above block `upto` (leaving out `skip` and cells meant to raise) in a fresh
    namespace; returns the namespace and every cell's printed output."""
    ns = f"test:{les.lang}:{les.id}:{upto}"
    kernel.reset_namespace(ns)
    printed = {}
    for seg in les.segments:
        if getattr(seg, "id", None) == upto:
            break
        if isinstance(seg, (Cell, Predict)) and seg.id not in skip and not getattr(seg, "raises", ""):
            reply = kernel.execute(seg.code, seg.id, ns, timeout=120)
            assert reply.status == "ok", f"{les.path}:{seg.line}: {reply.error}"
            printed[seg.id] = reply.stdout
    return ns, printed


def grade(kernel: BlockingKernel, lesson_id: str, exercise_id: str, code: str, skip: tuple[str, ...] = ()) -> CheckResult:
    les = lesson(lesson_id)
    ns, _ = run_cells(kernel, les, exercise_id, skip)
    reply = kernel.check_exercise(code, les.exercise(exercise_id).checks, exercise_id, ns, timeout=120)
    assert reply.check is not None, reply.error
    return reply.check


def failed(check: CheckResult) -> list[str]:
    return [e.label for e in check.expectations if not e.passed]


TRANSPOSED_FLATTEN = """
torch.manual_seed(0)
B, T, C = 3, 4, 5
logits = torch.randn(B, T, C)
targets = torch.randint(0, C, (B, T))
logits2d = logits.transpose(0, 1).reshape(-1, C)   # (B*T, C), but in the wrong order
targets1d = targets.transpose(0, 1).reshape(-1)
"""


def test_a_transposed_flatten_of_the_logits_is_rejected(kernel: BlockingKernel) -> None:
    check = grade(kernel, "tensor-ops", "flatten-logits", TRANSPOSED_FLATTEN)
    assert not check.passed
    assert any("every row" in label for label in failed(check)), failed(check)


FLOAT32_AUTOGRAD = """
import torch
import torch.nn.functional as F

def neuron_grads(x, w, b, y):
    w_t = torch.tensor(w, requires_grad=True)          # float32, as tensors are by default
    b_t = torch.tensor(b, requires_grad=True)
    loss = F.binary_cross_entropy(torch.sigmoid(x * w_t + b_t), torch.tensor(y))
    gw, gb = torch.autograd.grad(loss, (w_t, b_t))
    return gw.item(), gb.item()
"""


def test_a_correct_float32_autograd_answer_is_accepted(kernel: BlockingKernel) -> None:
    check = grade(kernel, "autograd", "neuron-grads", FLOAT32_AUTOGRAD)
    assert check.passed, [(e.label, e.expected, e.got, e.detail) for e in check.expectations if not e.passed]


def test_a_sigmoid_rounded_to_four_decimals_is_rejected(kernel: BlockingKernel) -> None:
    code = "x_, w_, b_, y_ = 1.1, 2.2, 0.0, 1.0\na_ = 0.9183\ngrad_w = -(1 - a_) * x_\ngrad_b = -(1 - a_)\n"
    check = grade(kernel, "autograd", "grads-by-hand", code)
    assert not check.passed and len(failed(check)) == 2, failed(check)


def test_counting_gpt_parameters_by_building_the_model_is_rejected(kernel: BlockingKernel) -> None:
    code = (
        "def gpt_params(cfg):\n"
        "    with torch.device('meta'):\n"
        "        return sum(p.numel() for p in GPT(cfg).parameters())\n"
    )
    skip = ("initial-loss", "generate", "train", "sample-after")
    check = grade(kernel, "train-a-gpt", "count-gpt-params", code, skip=skip)
    assert not check.passed
    assert failed(check) == ["gpt_params builds no module: it counts from the configuration alone"], failed(check)
    counts = [e for e in check.expectations if e.label.startswith("gpt_params: ")]
    assert len(counts) == 4 and all(e.passed for e in counts)  # right numbers, by the forbidden route


def test_data_loader_workers_really_run_inside_the_kernel(kernel: BlockingKernel) -> None:
    _, printed = run_cells(kernel, lesson("datasets"), "count-batches")
    lines = printed["workers"].splitlines()
    assert lines[0].startswith("num_workers=0:") and "fetched by [[-1, -1], [-1, -1], [-1]]" in lines[0]
    assert lines[1].startswith("num_workers=2:") and "fetched by [[0, 0], [1, 1], [0]]" in lines[1], lines


def test_the_training_loop_lesson_counts_2213_parameters_live(kernel: BlockingKernel) -> None:
    les = lesson("training-loop")
    ns, printed = run_cells(kernel, les, "forward")
    assert "total                        2213" in printed["param-table"] and "by formula: 2213" in printed["param-table"]
    reply = kernel.execute(next(p.code for p in les.predicts if p.id == "n-params"), "n-params", ns, timeout=60)
    assert reply.result is not None and reply.result.text == "2213"

"""Gradients beside values, and triangulation: manual, float64 central differences and autograd agree."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from llm_tutor.engine.kernel.child.inspect import inspect_object, numeric_grad, relative_error, triangulate


def _neuron_ns() -> dict[str, object]:
    x = torch.tensor([1.1])
    w = torch.tensor([2.2], requires_grad=True)
    b = torch.tensor([0.0], requires_grad=True)
    y = torch.tensor([1.0])
    ns: dict[str, object] = {"x": x, "w": w, "b": b, "y": y, "torch": torch, "F": F}

    def forward() -> torch.Tensor:
        return F.binary_cross_entropy(torch.sigmoid(x * w + b), y)

    def loss_of(w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy(torch.sigmoid(x * w + b), y)

    ns["forward"], ns["loss_of"] = forward, loss_of
    return ns


def test_grad_of_a_leaf_shows_value_beside_gradient() -> None:
    ns = _neuron_ns()
    ns["forward"]().backward()  # type: ignore[operator]
    r = inspect_object("p", "w", ns, "grad", {})
    assert r.error == "" and r.tensor is not None and r.tensor.grad is not None
    row = r.data["rows"][0]
    assert row["value"] == pytest.approx(2.2) and round(row["grad"], 4) == -0.0898
    assert row["grad_norm"] == pytest.approx(abs(row["grad"])) and row["grad_nan"] == 0 and r.data["note"] == ""
    grad_itself = inspect_object("p", "w.grad", ns, "tensor", {})
    assert grad_itself.tensor is not None and round(grad_itself.tensor.values[0], 4) == -0.0898


def test_grad_explains_why_there_is_none() -> None:
    w = torch.ones(2, requires_grad=True)
    z = w * 3
    ns = {"w": w, "z": z, "c": torch.ones(2)}
    assert "backward" in inspect_object("p", "w", ns, "grad", {}).data["note"]
    assert "retain_grad" in inspect_object("p", "z", ns, "grad", {}).data["note"]
    assert "requires_grad=True" in inspect_object("p", "c", ns, "grad", {}).data["note"]
    assert "gradients belong to" in inspect_object("p", "w.shape", ns, "grad", {}).error


def test_grad_of_a_module_and_an_optimizer_lists_every_parameter() -> None:
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    ns = {"model": model, "opt": opt}
    empty = inspect_object("p", "model", ns, "grad", {})
    assert [r["name"] for r in empty.data["rows"]] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert not any(r["has_grad"] for r in empty.data["rows"]) and "backward" in empty.data["note"]
    model(torch.randn(4, 3)).pow(2).mean().backward()
    full = inspect_object("p", "model", ns, "grad", {})
    norms = [r["grad_norm"] for r in full.data["rows"]]
    expected = [float(p.grad.norm()) for p in model.parameters()]  # type: ignore[union-attr]
    assert norms == pytest.approx(expected, rel=1e-6)
    assert full.data["rows"][3]["grad"] == pytest.approx(float(model[2].bias.grad))  # type: ignore[arg-type]
    via_opt = inspect_object("p", "opt", ns, "grad", {})
    assert [r["name"] for r in via_opt.data["rows"]] == ["model.0.weight", "model.0.bias", "model.2.weight", "model.2.bias"]


def test_triangulating_the_neuron_closure_and_function() -> None:
    ns = _neuron_ns()
    a = torch.sigmoid(torch.tensor(1.1 * 2.2)).item()
    manual = {"w": -(1 - a) * 1.1, "b": -(1 - a)}
    for fn in ("forward", "loss_of"):
        r = inspect_object("p", fn, ns, "triangulate", {"params": ["w", "b"], "manual": manual})
        assert r.error == "", r.error
        d = r.data
        assert d["numeric_dtype"] == "float64" and d["ok"] and d["fn"] == fn
        rows = {row["param"]: row for row in d["rows"]}
        assert round(rows["w"]["autograd"], 4) == -0.0898 and round(rows["b"]["numeric"], 4) == -0.0817
        assert rows["w"]["rel_err_numeric"] < 1e-5 and rows["b"]["rel_err_manual"] < 1e-5
        assert set(rows["w"]) >= {"param", "manual", "numeric", "autograd", "rel_err", "ok"}
    assert ns["w"].grad is None, "triangulation must not touch the learner's .grad"  # type: ignore[attr-defined]


def test_a_check_the_lesson_kept_in_a_variable_is_listed_and_served_as_it_is() -> None:
    """`check = triangulate(...)` in a cell: the variables panel sees a Triangulation, the inspector returns it."""
    from llm_tutor.engine.kernel.child.inspect import Triangulation, summarize_variables

    ns = _neuron_ns()
    check = triangulate(ns["loss_of"], {"w": ns["w"], "b": ns["b"]})  # type: ignore[arg-type]
    ns["check"] = check
    assert isinstance(check, Triangulation) and isinstance(check, dict) and check["fn"] == "loss_of"
    row = next(v for v in summarize_variables(ns) if v.name == "check")
    assert row.type_name == "Triangulation" and row.kind == "other"
    r = inspect_object("p", "check", ns, "triangulate", {})
    assert r.error == "" and r.data["fn"] == "loss_of" and r.data["ok"]
    assert [row["param"] for row in r.data["rows"]] == ["w", "b"]
    assert round(r.data["rows"][0]["autograd"], 4) == -0.0898


def test_a_wrong_manual_gradient_is_flagged() -> None:
    ns = _neuron_ns()
    ns["dw"] = torch.tensor([-0.5])
    r = inspect_object("p", "forward", ns, "triangulate", {"params": "w", "manual": {"w": "dw"}})
    assert r.error == "" and not r.data["ok"]
    row = r.data["rows"][0]
    assert row["manual"] == -0.5 and not row["ok"] and row["rel_err"] > 0.8 and row["rel_err_numeric"] < 1e-5


def test_float64_differences_are_exact_for_a_float64_function() -> None:
    w = torch.tensor([0.3, -1.2], dtype=torch.float64)
    result = triangulate(lambda w: (w.sin() * w).sum(), {"w": w})
    expected = (w.sin() + w * w.cos()).tolist()
    assert [r["param"] for r in result["rows"]] == ["w[0]", "w[1]"]
    for row, exact in zip(result["rows"], expected):
        assert row["numeric"] == pytest.approx(exact, abs=1e-9) and row["autograd"] == pytest.approx(exact, abs=1e-12)
        assert row["ok"] and row["manual"] is None


def test_module_parameters_are_differentiated_in_float64() -> None:
    torch.manual_seed(2)
    model = nn.Linear(3, 1)
    x = torch.randn(5, 3)
    ns = {"model": model, "x": x, "loss": lambda: model(x).pow(2).mean()}
    r = inspect_object("p", "loss", ns, "triangulate", {"params": ["model.bias", "model.weight"]})
    assert r.error == "" and r.data["numeric_dtype"] == "float64" and r.data["ok"], r.data
    assert [row["param"] for row in r.data["rows"]] == ["model.bias", "model.weight[0, 0]", "model.weight[0, 1]",
                                                       "model.weight[0, 2]"]
    assert model.weight.dtype == torch.float32 and model.weight.grad is None


def test_functions_that_refuse_float64_fall_back_to_their_own_precision() -> None:
    w = torch.tensor([0.7], requires_grad=True)

    def picky() -> torch.Tensor:
        if w.dtype != torch.float32:
            raise TypeError("float32 only")
        return (w * w).sum()

    before, version = w.detach().clone(), w._version
    learners_loss = (w * w).sum()  # a graph that saved w
    r = triangulate(picky, {"w": w})
    assert r["numeric_dtype"] == "float32" and "float64 evaluation failed" in r["note"]
    assert r["rows"][0]["numeric"] == pytest.approx(1.4, rel=1e-3) and r["ok"]
    assert torch.equal(w.detach(), before) and w._version == version, "the parameter is never written to"
    learners_loss.backward()  # still valid: no in-place change to w
    assert w.grad is not None and w.grad.item() == pytest.approx(1.4)


def test_triangulation_reports_broken_autograd_and_limits() -> None:
    w = torch.tensor([1.5], requires_grad=True)
    broken = triangulate(lambda: torch.tensor(w.item() ** 2, requires_grad=True), {"w": w})
    assert "no path" in broken["note"] and not broken["ok"]
    assert broken["rows"][0]["autograd"] == 0.0 and broken["rows"][0]["numeric"] == pytest.approx(3.0, rel=1e-4)
    assert broken["numeric_dtype"] == "float32" and broken["rtol"] == 1e-2
    ns = {"big": torch.zeros(100, requires_grad=True), "f": lambda: ns["big"].sum()}  # type: ignore[index]
    assert "limit 64" in inspect_object("p", "f", ns, "triangulate", {"params": ["big"]}).error
    assert "must name the parameters" in inspect_object("p", "f", ns, "triangulate", {}).error
    with pytest.raises(ValueError, match="single number"):
        triangulate(lambda w: w * 2, {"w": torch.ones(2)})
    with pytest.raises(ValueError, match="2 value"):
        triangulate(lambda w: w.sum(), {"w": torch.ones(3)}, manual={"w": [1.0, 2.0]})


def test_numeric_grad_and_relative_error_for_lessons() -> None:
    (g,), dtype = numeric_grad(lambda p: (p**3).sum(), [torch.tensor([2.0])])
    assert dtype == torch.float64 and g.item() == pytest.approx(12.0, abs=1e-8)
    assert relative_error(1.0, 1.0) == 0.0 and relative_error(0.0, 0.0) == 0.0
    assert relative_error(-0.0898, -0.0899) == pytest.approx(0.0001 / 0.0899)
    assert relative_error(math.nan, 1.0) == math.inf

"""The variables panel and the module table: what is listed, what is skipped, what is counted."""

from __future__ import annotations

import functools
import math
import os

import pytest
import torch
from torch import nn

from llm_tutor.engine.kernel import protocol
from llm_tutor.engine.kernel.child.inspect import inspect_object, summarize_variables
from llm_tutor.engine.kernel.child.inspect.paths import PathError, resolve


class _BadRepr:
    def __repr__(self) -> str:
        raise ValueError("no repr for you")


class _Config:
    pass


def _backprop_net() -> nn.Sequential:
    torch.manual_seed(123)
    return nn.Sequential(nn.Linear(10, 5), nn.ReLU(), nn.Linear(5, 1), nn.Sigmoid())


def test_learner_values_are_listed_and_helpers_skipped() -> None:
    model = _backprop_net()
    ns: dict[str, object] = {
        "__builtins__": {}, "_hidden": 1, "os": os, "math": math, "torch": torch, "nn": nn,
        "device": "cpu", "track": lambda **kw: None, "expect": object(),
        "helper": lambda x: x, "partial": functools.partial(print), "Config": _Config, "sqrt": math.sqrt,
        "w": torch.tensor([2.2], requires_grad=True),
        "model": model,
        "opt": torch.optim.SGD(model.parameters(), lr=0.01),
        "n": 3, "lr": 0.5, "flag": True,
        "cfg": {"emb_dim": 768, "n_heads": 12},
        "bad": _BadRepr(),
    }
    rows = {v.name: v for v in summarize_variables(ns)}
    assert list(rows) == ["w", "model", "opt", "n", "lr", "flag", "cfg", "bad"]
    w = rows["w"]
    assert (w.kind, w.shape, w.dtype, w.device, w.requires_grad, w.has_grad, w.text) == (
        "tensor", [1], "float32", "cpu", True, False, "[2.2]")
    m = rows["model"]
    assert (m.kind, m.type_name, m.params, m.info["trainable"]) == ("module", "Sequential", 61, 61)
    o = rows["opt"]
    assert (o.kind, o.type_name, o.info["lr"], o.info["param_groups"], o.info["params"]) == ("optimizer", "SGD", 0.01, 1, 4)
    assert o.text == "lr=0.01, 1 param group"
    assert (rows["n"].kind, rows["n"].text, rows["lr"].text) == ("number", "3", "0.5")
    assert rows["cfg"].kind == "other" and "768" in rows["cfg"].text
    assert rows["bad"].text == "<_BadRepr: repr failed: ValueError>"


def test_tensor_rows_never_read_big_or_odd_tensors() -> None:
    ns = {
        "big": torch.zeros(1000, 1000),
        "meta": torch.empty(3, device="meta"),
        "loss": (torch.tensor([1.0], requires_grad=True) * 2).sum(),
        "box": [torch.zeros(10**6)] * 100,
    }
    rows = {v.name: v for v in summarize_variables(ns)}
    assert rows["big"].text == "" and rows["big"].shape == [1000, 1000]
    assert rows["meta"].text == "(no data)" and rows["meta"].device == "meta"
    assert rows["loss"].info["grad_fn"] == "SumBackward0" and rows["loss"].text == "2"
    assert len(rows["box"].text) <= 80 and "tensor[1000000]" in rows["box"].text


def test_variables_cross_the_wire_as_plain_data() -> None:
    model = _backprop_net()
    ns = {"model": model, "opt": torch.optim.Adam(model.parameters(), lr=1e-3), "x": torch.randn(2, 3)}
    variables = protocol.Variables("r1", "main", summarize_variables(ns))
    assert protocol.decode(protocol.encode(variables)) == variables


def test_module_table_counts_parameters_once_even_when_tied() -> None:
    model = _backprop_net()
    model[0].bias.requires_grad_(False)
    r = inspect_object("p", "model", {"model": model}, "module", {})
    assert r.error == ""
    assert r.data["total"] == 61 and r.data["trainable"] == 56
    first = r.data["params"][0]
    assert first == {"name": "0.weight", "path": "model.0.weight", "shape": [5, 10], "count": 50, "trainable": True,
                     "dtype": "float32", "device": "cpu"}
    assert [c["params"] for c in r.data["children"]] == [55, 0, 6, 0]

    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(50, 8)
            self.head = nn.Linear(8, 50, bias=False)
            self.head.weight = self.emb.weight

    tied = inspect_object("p", "m", {"m": Tied()}, "module", {})
    assert tied.data["total"] == 400 and len(tied.data["params"]) == 1
    assert protocol.decode(protocol.encode(r)) == r


def test_module_inspector_on_sub_paths_and_optimizers() -> None:
    model = _backprop_net()
    ns = {"model": model, "opt": torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)}
    sub = inspect_object("p", "model.2", ns, "module", {})
    assert sub.data["total"] == 6 and sub.data["params"][0]["path"] == "model.2.weight"
    opt = inspect_object("p", "opt", ns, "module", {})
    assert opt.data["type_name"] == "SGD" and opt.data["lr"] == 0.1 and opt.data["momentum"] == 0.9
    assert "not an nn.Module" in inspect_object("p", "model.0.weight", ns, "module", {}).error


def test_paths_are_walked_not_evaluated() -> None:
    model = _backprop_net()
    ns = {"model": model, "layers": [model[0]], "cfg": {"k": torch.ones(2)}, "t": torch.arange(6).reshape(2, 3)}
    assert resolve("model.0.weight", ns) is model[0].weight
    assert resolve("model[2].bias", ns) is model[2].bias
    assert resolve("layers[0].weight", ns) is model[0].weight
    assert resolve("cfg['k']", ns) is ns["cfg"]["k"]  # type: ignore[index]
    assert resolve('cfg["k"]', ns) is ns["cfg"]["k"]  # type: ignore[index]
    assert int(resolve("t[1, 2]", ns)) == 5 and int(resolve("t[-1][0]", ns)) == 3
    for bad, words in [
        ("nope", "not defined"), ("model.fc9", "has no attribute 'fc9'"), ("layers[3]", "IndexError"),
        ("__import__('os')", "not defined"), ("model.__class__", "dunder"), ("model.0.weight + 1", "expected"),
        ("1 + 1", "not a variable name"),
    ]:
        with pytest.raises(PathError, match=words):
            resolve(bad, ns)


def test_inspect_object_never_raises() -> None:
    ns = {"x": torch.ones(2), "n": 3}
    cases = [
        ("x", "sideways", {}, "unknown inspector"),
        ("n", "tensor", {}, "int, not a tensor"),
        ("x", "tensor", {"slice": "a"}, "list of integers"),
        ("x", "tensor", {"max_rows": "many"}, "must be an integer"),
        ("x", "graph", {}, "no autograd graph"),
        ("x.grad", "tensor", {}, "no gradient has been computed"),
        ("x", "module", {}, "not an nn.Module"),
        ("", "tensor", {}, "not a variable name"),
    ]
    for name, what, options, words in cases:
        r = inspect_object("p9", name, ns, what, options)
        assert r.parent == "p9" and r.what == what and words in r.error, (name, what, r.error)

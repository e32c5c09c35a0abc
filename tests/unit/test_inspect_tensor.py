"""The tensor inspector: exact values and stats for small tensors, bounded reads for big ones, labels for odd ones."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
import warnings
from typing import Any

import pytest
import torch
from torch.overrides import TorchFunctionMode

from llm_tutor.engine.kernel.child.inspect import inspect_object, summarize_tensor, tensor_stats
from llm_tutor.engine.kernel.child.inspect.stats import CHUNK_CPU


def test_small_tensors_show_every_value_and_exact_stats() -> None:
    t = torch.tensor([[1.0, 3.0], [5.0, 2.0]])
    s = summarize_tensor(t, "m")
    assert (s.name, s.shape, s.dtype, s.device, s.numel) == ("m", [2, 2], "float32", "cpu", 4)
    assert s.values == [[1.0, 3.0], [5.0, 2.0]]
    assert not s.elided and s.contiguous and s.strides == [2, 1] and s.layout == "strided"
    assert s.stats["min"] == 1.0 and s.stats["max"] == 5.0
    assert s.stats["mean"] == pytest.approx(2.75)
    assert s.stats["std"] == pytest.approx(float(t.std()), rel=1e-6)
    assert s.stats["nan"] == 0 and s.stats["inf"] == 0
    assert summarize_tensor(torch.tensor(2.5)).values == 2.5
    assert summarize_tensor(torch.tensor([1, 2, 3])).values == [1, 2, 3]


def test_autograd_facts_and_the_gradient_come_with_its_norm() -> None:
    w = torch.tensor([3.0, 4.0], requires_grad=True)
    y = (w * w).sum()
    y.backward()
    s = summarize_tensor(w, "w")
    assert s.requires_grad and s.is_leaf and s.grad_fn == ""
    assert s.grad is not None and s.grad.name == "w.grad"
    assert s.grad.values == [6.0, 8.0]
    assert s.grad.stats["norm"] == pytest.approx(10.0)
    assert s.grad.grad is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # reading .grad of a non-leaf must not warn
        ys = summarize_tensor(y, "y")
    assert not ys.is_leaf and ys.grad_fn == "SumBackward0" and ys.grad is None


def test_rank_three_shows_the_slice_asked_for() -> None:
    t = torch.arange(60).reshape(3, 4, 5)
    s = summarize_tensor(t, slice_index=[2])
    assert s.slice_index == [2] and s.values == t[2].tolist()
    r = inspect_object("p", "t", {"t": t}, "tensor", {"slice": [-1]})
    assert r.tensor is not None and r.tensor.slice_index == [2]
    clamped = summarize_tensor(t, slice_index=[7])
    assert clamped.slice_index == [2] and "out of range" in clamped.label
    four = summarize_tensor(torch.zeros(2, 3, 4, 5))
    assert four.slice_index == [0, 0] and len(four.values) == 4 and len(four.values[0]) == 5


def test_large_tensors_are_elided_to_corners() -> None:
    v = summarize_tensor(torch.arange(1000.0))
    assert v.elided and len(v.values) == 13 and v.values[6] is None
    assert v.values[:6] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0] and v.values[-1] == 999.0
    m = torch.arange(100 * 100).reshape(100, 100)
    s = summarize_tensor(m, max_rows=4, max_cols=6)
    assert len(s.values) == 5 and s.values[2] == [None] * 7
    assert s.values[0] == [0, 1, 2, None, 97, 98, 99]
    assert s.values[-1] == [9900, 9901, 9902, None, 9997, 9998, 9999]


class _ReadRecorder(TorchFunctionMode):
    """Records the size of every tensor read to Python or converted, to prove reads stay bounded."""

    def __init__(self) -> None:
        super().__init__()
        self.host_reads: list[int] = []
        self.conversions: list[int] = []

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        name = getattr(func, "__name__", "")
        if args and isinstance(args[0], torch.Tensor):
            if name in ("tolist", "cpu", "item", "numpy"):
                self.host_reads.append(args[0].numel())
            if name in ("to", "double", "float", "clone", "contiguous"):
                self.conversions.append(args[0].numel())
        return func(*args, **(kwargs or {}))


def test_ten_million_elements_come_back_as_a_bounded_summary() -> None:
    t = torch.randn(10_000_000, generator=torch.Generator().manual_seed(0))
    t[123_456] = float("nan")
    t[9_999_999] = float("inf")
    with _ReadRecorder() as rec:
        s = summarize_tensor(t.view(1000, 10_000), "big")
    assert len(s.values) == 13 and all(len(row) == 13 for row in s.values)
    assert sum(v is not None for row in s.values for v in row) == 144
    assert max(rec.host_reads) <= 36, "only the displayed corners may be read to the host"
    assert max(rec.conversions, default=0) <= CHUNK_CPU, "conversions happen a chunk at a time"
    assert s.stats["nan"] == 1 and s.stats["inf"] == 1
    finite = t[torch.isfinite(t)].double()
    assert s.stats["mean"] == pytest.approx(float(finite.mean()), abs=1e-6)
    assert s.stats["std"] == pytest.approx(float(finite.std()), rel=1e-6)
    assert s.stats["min"] == float(finite.min()) and s.stats["max"] == float(finite.max())


def test_non_contiguous_and_expanded_views() -> None:
    base = torch.arange(12.0).reshape(3, 4)
    s = summarize_tensor(base.T)
    assert not s.contiguous and s.strides == [1, 4] and s.values == base.T.tolist()
    assert s.stats["mean"] == pytest.approx(5.5)
    e = summarize_tensor(torch.tensor([2.0]).expand(5, 40))
    assert e.strides == [0, 0] and e.stats["min"] == 2.0 and e.stats["std"] == 0.0
    empty = summarize_tensor(torch.zeros(0, 3))
    assert empty.numel == 0 and empty.values == [] and empty.stats["min"] is None and empty.label == ""


def test_nan_and_inf_are_counted_and_stats_are_of_finite_values() -> None:
    s = tensor_stats(torch.tensor([1.0, float("nan"), 3.0, float("inf"), -float("inf")]), norm=True)
    assert (s["nan"], s["inf"], s["min"], s["max"], s["mean"]) == (1, 2, 1.0, 3.0, 2.0)
    assert math.isnan(s["norm"])  # type: ignore[arg-type]
    all_nan = summarize_tensor(torch.full((3,), float("nan")))
    assert all_nan.stats["nan"] == 3 and all_nan.stats["min"] is None
    assert all(math.isnan(v) for v in all_nan.values)


def test_bool_and_integer_dtypes_get_the_stats_that_exist() -> None:
    b = summarize_tensor(torch.tensor([True, False, True, True]))
    assert b.values == [True, False, True, True]
    assert (b.stats["min"], b.stats["max"], b.stats["true"], b.stats["std"]) == (False, True, 3, None)
    assert b.stats["mean"] == pytest.approx(0.75)
    big = 2**62 + 1
    i = summarize_tensor(torch.tensor([big, -5], dtype=torch.int64))
    assert i.stats["max"] == big and i.stats["min"] == -5, "integer extremes stay exact"
    u = summarize_tensor(torch.tensor([1, 2, 3], dtype=torch.uint16))
    assert u.values == [1, 2, 3] and u.stats["max"] == 3 and u.stats["mean"] == pytest.approx(2.0)


def test_half_precision_values_read_as_floats() -> None:
    s = summarize_tensor(torch.tensor([1.5, -2.25], dtype=torch.bfloat16))
    assert s.dtype == "bfloat16" and s.values == [1.5, -2.25] and s.stats["mean"] == pytest.approx(-0.375)


def test_complex_tensors_show_text_and_magnitude_stats() -> None:
    s = summarize_tensor(torch.tensor([3 + 4j, 1 - 1j], dtype=torch.complex64))
    assert "complex" in s.label and s.values == ["3+4j", "1-1j"]
    assert s.stats["max"] == pytest.approx(5.0)


def test_quantized_tensors_are_dequantized() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch deprecates quantize_per_tensor
        q = torch.quantize_per_tensor(torch.tensor([[0.5, -1.0], [2.0, 0.0]]), 0.5, 0, torch.qint8)
    s = summarize_tensor(q)
    assert "quantized" in s.label and "scale=0.5" in s.label
    assert s.values == [[0.5, -1.0], [2.0, 0.0]] and s.stats["max"] == 2.0


def test_meta_tensors_keep_their_metadata_only() -> None:
    s = summarize_tensor(torch.empty(50257, 768, device="meta"), "wte")
    assert s.shape == [50257, 768] and s.device == "meta" and s.numel == 50257 * 768
    assert "meta" in s.label and s.values == [] and s.stats == {}


def test_sparse_tensors_report_stored_values() -> None:
    dense = torch.zeros(100, 100)
    dense[3, 4], dense[50, 60] = 2.0, -1.0
    coo = summarize_tensor(dense.to_sparse())
    assert "sparse" in coo.label and "2 stored values" in coo.label
    assert coo.stats["min"] == -1.0 and coo.stats["max"] == 2.0 and coo.values == []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # CSR support is "beta"
        csr = summarize_tensor(torch.tensor([[0.0, 1.0], [2.0, 0.0]]).to_sparse_csr())
    assert "sparse_csr" in csr.label and csr.values == [[0.0, 1.0], [2.0, 0.0]]


def test_nested_tensors_get_a_label() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nt = torch.nested.nested_tensor([torch.zeros(2), torch.zeros(3)])
    s = summarize_tensor(nt, "nt")
    assert "nested" in s.label and s.values == [] and s.shape == []


class _Hostile(torch.Tensor):
    """A tensor subclass every operation of which raises, as a broken extension might."""

    @classmethod
    def __torch_function__(cls, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        raise RuntimeError("this backend is broken")


def test_a_tensor_whose_every_operation_raises_still_summarises() -> None:
    t = torch.zeros(3).as_subclass(_Hostile)
    s = summarize_tensor(t, "h")
    assert s.name == "h" and "this backend is broken" in s.label and s.values == []
    r = inspect_object("p", "h", {"h": t}, "tensor", {})
    assert r.error == "" and r.tensor is not None and "broken" in r.tensor.label


def test_views_of_freed_storage_are_labelled_not_read() -> None:
    """Reading such a view segfaults in torch, so the check runs in a child process."""
    script = textwrap.dedent(
        """
        import torch
        from llm_tutor.engine.kernel.child.inspect import summarize_tensor, summarize_variables, inspect_object
        a = torch.randn(10)
        v = a[2:5]
        a.untyped_storage().resize_(0)
        s = summarize_tensor(v, "v")
        assert "storage freed" in s.label and s.values == [] and s.stats == {}, s
        assert s.shape == [3] and s.strides == [1]
        rows = summarize_variables({"v": v, "a": a})
        assert rows[0].shape == [3] and rows[0].text == "(unreadable)", rows
        g = torch.randn(4, requires_grad=True)
        (g * 2).sum().backward()
        g.grad.untyped_storage().resize_(0)
        r = inspect_object("p", "g", {"g": g}, "grad", {})
        assert r.error == "" and "storage freed" in r.tensor.grad.label and r.data["rows"][0]["grad_norm"] is None
        print("ok")
        """
    )
    proc = subprocess.run([sys.executable, "-W", "ignore", "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stdout + proc.stderr


def test_chunked_stats_cover_every_element_of_any_view(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tiny chunks force every chunking path: flat, permuted, sliced, expanded, per-row recursion."""
    import llm_tutor.engine.kernel.child.inspect.stats as stats_mod

    monkeypatch.setattr(stats_mod, "CHUNK_CPU", 7)
    g = torch.Generator().manual_seed(3)
    base = torch.randn(6, 5, 4, generator=g, dtype=torch.float64)
    views = {
        "contiguous": base,
        "permuted": base.permute(2, 0, 1),
        "transposed": base[0].T,
        "sliced": base[:, 1:4, ::2],
        "expanded": base[:, :1, :].expand(6, 9, 4),
        "row larger than a chunk": torch.randn(2, 50, generator=g, dtype=torch.float64)[:, ::3],
        "integers": torch.arange(-40, 80).reshape(12, 10)[::2, 1:],
    }
    for label, v in views.items():
        s = tensor_stats(v, norm=True)
        ref = v.double()
        assert s["min"] == ref.min().item() and s["max"] == ref.max().item(), label
        assert s["mean"] == pytest.approx(ref.mean().item(), abs=1e-12), label
        assert s["std"] == pytest.approx(ref.std().item(), rel=1e-10), label
        assert s["norm"] == pytest.approx(ref.norm().item(), rel=1e-10), label

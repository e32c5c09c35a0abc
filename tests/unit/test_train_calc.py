"""Closed-form parameter counts agree with real models; the torch-free modules stay torch-free."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest
import torch

from llm_tutor.engine.train import calc
from llm_tutor.engine.train.config import GPT2_SMALL, GPTConfig, MLPConfig
from llm_tutor.engine.train.child.models.gpt import GPTModel
from llm_tutor.engine.train.child.models.mlp import MLP


def real_counts(model: torch.nn.Module) -> dict[str, int]:
    """Parameters per top-level module, counting a shared tensor once (where it first appears)."""
    counts: dict[str, int] = {}
    for name, param in model.named_parameters():  # named_parameters skips repeats of a tied tensor
        top = name.split(".")[0]
        counts[top] = counts.get(top, 0) + param.numel()
    return counts


@pytest.mark.parametrize(
    "cfg",
    [
        GPTConfig(),
        GPTConfig(vocab_size=65, context_length=64, emb_dim=128, n_heads=4, n_layers=4, tie_weights=True),
        GPTConfig(vocab_size=100, context_length=16, emb_dim=48, n_heads=6, n_layers=3, qkv_bias=True),
        GPTConfig(vocab_size=10, context_length=8, emb_dim=8, n_heads=1, n_layers=0, qkv_bias=True, tie_weights=True),
        GPTConfig(vocab_size=300, context_length=32, emb_dim=36, n_heads=3, n_layers=2, drop_rate=0.2),
    ],
    ids=["default", "toy-tied", "qkv-bias", "no-blocks", "dropout"],
)
def test_closed_form_matches_real_gpt(cfg: GPTConfig) -> None:
    model = GPTModel(cfg)
    count = calc.gpt_params(cfg)
    assert count.total == sum(p.numel() for p in model.parameters())
    real = real_counts(model)
    assert {k: v for k, v in count.modules.items() if v} == real
    block = calc.gpt_block_params(cfg)
    if cfg.n_layers:
        assert sum(block.values()) == sum(p.numel() for p in model.blocks[0].parameters())
        assert block["att.qkv"] == sum(p.numel() for p in model.blocks[0].att.qkv.parameters())


def test_gpt2_small_on_meta_has_163_million_parameters_untied() -> None:
    with torch.device("meta"):
        model = GPTModel(dataclasses.replace(GPT2_SMALL))
    assert next(model.parameters()).device.type == "meta"  # no memory was used
    assert sum(p.numel() for p in model.parameters()) == 163_009_536
    assert calc.gpt_params(GPT2_SMALL).total == 163_009_536
    summary = calc.gpt_summary(GPT2_SMALL)
    assert summary["params_tied"] == 124_412_160  # the "124M" of GPT-2 small
    assert summary["params_untied"] - summary["params_tied"] == 50257 * 768
    assert summary["bytes_float32"] == 163_009_536 * 4
    assert summary["bytes_bfloat16"] == 163_009_536 * 2
    assert summary["head_dim"] == 64


def test_tied_gpt2_small_on_meta_matches_the_tied_count() -> None:
    with torch.device("meta"):
        model = GPTModel(dataclasses.replace(GPT2_SMALL, tie_weights=True))
    assert model.out_head.weight is model.tok_emb.weight
    assert sum(p.numel() for p in model.parameters()) == 124_412_160


@pytest.mark.parametrize("cfg", [MLPConfig(), MLPConfig(hidden_width=5, hidden_layers=1), MLPConfig(hidden_layers=0)])
def test_closed_form_matches_real_mlp(cfg: MLPConfig) -> None:
    model = MLP(cfg)
    count = calc.mlp_params(cfg)
    assert count.total == sum(p.numel() for p in model.parameters())
    assert count.modules == {
        f"layers.{i}": sum(p.numel() for p in layer.parameters()) for i, layer in enumerate(model.layers)
    }


def test_formatting_helpers() -> None:
    assert calc.format_count(163_009_536) == "163.0 M"
    assert calc.format_count(817) == "817"
    assert calc.format_bytes(163_009_536 * 4) == "621.8 MiB"
    assert calc.format_bytes(512) == "512 B"


def test_ui_side_training_modules_never_import_torch() -> None:
    code = (
        "import llm_tutor.engine.train, llm_tutor.engine.train.calc, llm_tutor.engine.train.config, "
        "llm_tutor.engine.train.events, llm_tutor.engine.train.series, llm_tutor.engine.cli.train\n"
        "from llm_tutor.engine.train.config import GPTConfig\n"
        "from llm_tutor.engine.train.calc import gpt_summary\n"
        "gpt_summary(GPTConfig())\n"
        "import sys, json; print(json.dumps(sorted(sys.modules)))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    modules = set(json.loads(proc.stdout))
    assert "torch" not in modules
    assert not any(m == "textual" or m.startswith("llm_tutor.tui") for m in modules)

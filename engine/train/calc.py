"""Provides closed-form parameter counts and memory sizes for the lab's models, without torch.

The UI calls these on every keystroke while a learner edits a GPT configuration, so they are plain
arithmetic. They mirror `llm_tutor.engine.train.child.models.gpt.GPTModel` exactly (a unit test builds real
models and compares): per block, LayerNorm (2·d), fused query/key/value (3·d·d, + 3·d with
`qkv_bias`), output projection (d·d + d), LayerNorm (2·d), feed-forward d → 4d → d with biases.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from llm_tutor.engine.train.config import GPTConfig, MLPConfig

BYTES_PER_PARAM = {"float32": 4, "bfloat16": 2, "float16": 2, "float64": 8, "int8": 1}


@dataclass(frozen=True)
class ParamCount:
    """A model's parameters: the total, and per module in the model's own order."""

    total: int
    modules: dict[str, int] = field(default_factory=dict)
    per_block: dict[str, int] = field(default_factory=dict)
    """For a GPT: one transformer block's parameters by sub-module."""

    def bytes(self, dtype: str = "float32") -> int:
        """Memory for the weights alone in `dtype` (no gradients, optimizer state or activations)."""
        return self.total * BYTES_PER_PARAM[dtype]

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON and the UI."""
        return {
            "total": self.total,
            "modules": dict(self.modules),
            "per_block": dict(self.per_block),
            "bytes_float32": self.bytes("float32"),
            "bytes_bfloat16": self.bytes("bfloat16"),
        }


def gpt_block_params(cfg: GPTConfig) -> dict[str, int]:
    """One transformer block's parameters by sub-module."""
    d = cfg.emb_dim
    return {
        "norm1": 2 * d,  # LayerNorm scale + shift
        "att.qkv": 3 * d * d + (3 * d if cfg.qkv_bias else 0),  # W_query, W_key, W_value
        "att.out_proj": d * d + d,
        "norm2": 2 * d,
        "ff.fc": d * 4 * d + 4 * d,  # expand to 4·d
        "ff.proj": 4 * d * d + d,  # back to d
    }


def gpt_params(cfg: GPTConfig, tie_weights: bool | None = None) -> ParamCount:
    """Closed-form parameter count of `GPTModel(cfg)`; `tie_weights` overrides the config's."""
    tied = cfg.tie_weights if tie_weights is None else tie_weights
    d, v = cfg.emb_dim, cfg.vocab_size
    block = gpt_block_params(cfg)
    modules = {
        "tok_emb": v * d,
        "pos_emb": cfg.context_length * d,
        "blocks": cfg.n_layers * sum(block.values()),
        "final_norm": 2 * d,
        "out_head": 0 if tied else v * d,  # no bias; shares tok_emb's matrix when tied
    }
    return ParamCount(total=sum(modules.values()), modules=modules, per_block=block)


def gpt_summary(cfg: GPTConfig) -> dict[str, Any]:
    """Everything the configuration calculator shows: counts with and without tying, memory."""
    untied = gpt_params(cfg, tie_weights=False)
    tied = gpt_params(cfg, tie_weights=True)
    chosen = tied if cfg.tie_weights else untied
    return {
        "params": chosen.total,
        "params_untied": untied.total,
        "params_tied": tied.total,
        "modules": chosen.modules,
        "per_block": chosen.per_block,
        "bytes_float32": chosen.bytes("float32"),
        "bytes_bfloat16": chosen.bytes("bfloat16"),
        "head_dim": cfg.emb_dim // cfg.n_heads if cfg.n_heads else 0,
    }


def mlp_params(cfg: MLPConfig) -> ParamCount:
    """Parameters of the toy-data network: Linear layers 2 → width (× layers) → 1."""
    widths = [2] + [cfg.hidden_width] * cfg.hidden_layers + [1]
    modules = {
        f"layers.{i}": fan_in * fan_out + fan_out
        for i, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:]))
    }
    return ParamCount(total=sum(modules.values()), modules=modules)


def neuron_params() -> ParamCount:
    """The single neuron: one weight and one bias."""
    return ParamCount(total=2, modules={"w": 1, "b": 1})


def format_count(n: int) -> str:
    """123456789 → '123.5 M': how the lessons print parameter counts."""
    for unit, size in (("B", 10**9), ("M", 10**6), ("K", 10**3)):
        if abs(n) >= size:
            return f"{n / size:.1f} {unit}"
    return str(n)


def format_bytes(n: int) -> str:
    """652038144 → '621.8 MiB'."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{int(value)} B"
        value /= 1024
    return f"{value:.1f} GiB"

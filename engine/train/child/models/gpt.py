"""Provides a tiny decoder-only GPT (nanoGPT-style) and its character-level training task.

    tokens (B, T) → token + position embeddings (B, T, C) → n_layers × Block → LayerNorm → head (B, T, V)
    Block: x = x + attention(LayerNorm(x));  x = x + feed_forward(LayerNorm(x))   (pre-LayerNorm)

The configuration uses the lessons' GPT-2 key names (`GPTConfig`). With GPT-2 small's numbers and
a separate output head this model has 163,009,536 parameters, 124,412,160 with weight tying;
`llm_tutor.engine.train.calc` gives the same counts in closed form.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from llm_tutor.engine.train.config import ConfigError, GPTConfig
from llm_tutor.engine.train.child.task import Task

def default_text_path() -> Path:
    """The bundled public-domain corpus (Shakespeare's sonnets and Macbeth), shipped with `llm_tutor.lessons`."""
    from importlib.resources import files

    return Path(str(files("llm_tutor.lessons") / "data" / "shakespeare.txt"))


class CausalSelfAttention(nn.Module):
    """Multi-head attention where each position sees only itself and earlier positions."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.n_heads = cfg.n_heads
        self.qkv = nn.Linear(cfg.emb_dim, 3 * cfg.emb_dim, bias=cfg.qkv_bias)  # W_query, W_key, W_value
        self.out_proj = nn.Linear(cfg.emb_dim, cfg.emb_dim)
        self.attn_drop = nn.Dropout(cfg.drop_rate)  # its p is read at each forward (see set_dropout)
        self.resid_drop = nn.Dropout(cfg.drop_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        hs = C // self.n_heads
        q, k, v = self.qkv(x).split(C, dim=2)  # 3 × (B, T, C)
        q = q.view(B, T, self.n_heads, hs).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, self.n_heads, hs).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, self.n_heads, hs).transpose(1, 2)  # (B, nh, T, hs)
        # softmax(q·kᵀ / √hs + causal mask) · v, with dropout on the attention weights;
        # scaled_dot_product_attention computes exactly this, in fused kernels where available.
        y = F.scaled_dot_product_attention(
            q, k, v, is_causal=True, dropout_p=self.attn_drop.p if self.training else 0.0
        )  # (B, nh, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, C): heads side by side again
        return self.resid_drop(self.out_proj(y))


class FeedForward(nn.Module):
    """Position-wise MLP: C → 4C → C with GELU (GPT-2's tanh approximation)."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.fc = nn.Linear(cfg.emb_dim, 4 * cfg.emb_dim)
        self.gelu = nn.GELU(approximate="tanh")
        self.proj = nn.Linear(4 * cfg.emb_dim, cfg.emb_dim)
        self.drop = nn.Dropout(cfg.drop_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.proj(self.gelu(self.fc(x))))  # (B, T, C) → (B, T, 4C) → (B, T, C)


class Block(nn.Module):
    """One transformer block, pre-LayerNorm, with residual connections."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.emb_dim)
        self.att = CausalSelfAttention(cfg)
        self.norm2 = nn.LayerNorm(cfg.emb_dim)
        self.ff = FeedForward(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.att(self.norm1(x))  # (B, T, C)
        x = x + self.ff(self.norm2(x))  # (B, T, C)
        return x


class GPTModel(nn.Module):
    """Token ids (B, T) in, next-token logits (B, T, vocab_size) out."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.emb_dim)
        self.pos_emb = nn.Embedding(cfg.context_length, cfg.emb_dim)
        self.drop_emb = nn.Dropout(cfg.drop_rate)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.final_norm = nn.LayerNorm(cfg.emb_dim)
        self.out_head = nn.Linear(cfg.emb_dim, cfg.vocab_size, bias=False)
        if cfg.tie_weights:
            self.out_head.weight = self.tok_emb.weight  # one matrix read both ways
        self.apply(self._init_weights)
        for name, param in self.named_parameters():
            if name.endswith("out_proj.weight") or name.endswith("ff.proj.weight"):
                # GPT-2: scale the residual projections so the residual stream's variance stays put
                nn.init.normal_(param, mean=0.0, std=0.02 / math.sqrt(2 * max(1, cfg.n_layers)))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            if module.weight.device.type != "meta":
                nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None and module.bias.device.type != "meta":
                nn.init.zeros_(module.bias)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        B, T = idx.shape
        if T > self.cfg.context_length:
            raise ValueError(f"sequence of {T} tokens is longer than context_length {self.cfg.context_length}")
        pos = torch.arange(T, device=idx.device)  # (T,)
        x = self.tok_emb(idx) + self.pos_emb(pos)  # (B, T, C) + (T, C) → (B, T, C)
        x = self.drop_emb(x)
        for block in self.blocks:
            x = block(x)  # (B, T, C)
        x = self.final_norm(x)
        return self.out_head(x)  # (B, T, V)

    @torch.no_grad()
    def generate(
        self,
        idx: torch.Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
        top_k: int | None = None,
    ) -> torch.Tensor:
        """Append `max_new_tokens` sampled tokens to `idx` (B, T); temperature 0 picks the likeliest."""
        for _ in range(max_new_tokens):
            idx_cond = idx[:, -self.cfg.context_length :]  # (B, ≤ context_length)
            logits = self(idx_cond)[:, -1, :]  # (B, V): the prediction for the next token
            if temperature <= 0:
                next_id = logits.argmax(dim=-1, keepdim=True)  # (B, 1)
            else:
                logits = logits / temperature
                if top_k is not None:
                    kth = torch.topk(logits, min(top_k, logits.size(-1))).values[:, [-1]]
                    logits = logits.masked_fill(logits < kth, float("-inf"))
                probs = F.softmax(logits, dim=-1)  # (B, V)
                next_id = torch.multinomial(probs, 1, generator=generator)  # (B, 1)
            idx = torch.cat([idx, next_id], dim=1)  # (B, T + 1)
        return idx


class CharTokenizer:
    """One token per character; ids follow the sorted character set of the text."""

    def __init__(self, chars: list[str]) -> None:
        self.chars = chars
        self.stoi = {ch: i for i, ch in enumerate(chars)}

    @classmethod
    def from_text(cls, text: str) -> CharTokenizer:
        return cls(sorted(set(text)))

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        return [self.stoi[ch] for ch in text]

    def decode(self, ids: list[int]) -> str:
        return "".join(self.chars[i] if i < len(self.chars) else "?" for i in ids)


class GPTTask(Task):
    """The GPT on a character-level text, split 90 % training / 10 % validation."""

    kind = "gpt"
    model: GPTModel
    config: GPTConfig

    def __init__(
        self,
        config: GPTConfig,
        device: torch.device,
        seed: int = 0,
        text: str | None = None,
        val_fraction: float = 0.1,
    ) -> None:
        config.validate()
        if text is None:
            text = default_text_path().read_text(encoding="utf-8")
        self.tokenizer = CharTokenizer.from_text(text)
        if config.vocab_size < self.tokenizer.vocab_size:
            raise ConfigError(
                f"vocab_size ({config.vocab_size}) is smaller than the {self.tokenizer.vocab_size} "
                f"distinct characters of the text"
            )
        self.config = config
        self.device = device
        data = torch.tensor(self.tokenizer.encode(text), dtype=torch.long)  # (N,)
        n_train = int(len(data) * (1 - val_fraction))
        T = config.context_length
        if n_train <= T + 1 or len(data) - n_train <= T + 1:
            raise ConfigError(f"context_length ({T}) is too long for a text of {len(data)} characters")
        self.train_data = data[:n_train].to(device)
        self.val_data = data[n_train:].to(device)
        # every window of T + 1 tokens, as a view: (N - T, T + 1)
        self.train_windows = self.train_data.unfold(0, T + 1, 1)
        self.val_windows = self.val_data.unfold(0, T + 1, 1)
        self.model = GPTModel(config).to(device)

    def batch(self, batch_size: int, generator: torch.Generator) -> Any:
        return self._batch(self.train_windows, batch_size, generator)

    def _batch(self, windows: torch.Tensor, batch_size: int, generator: torch.Generator) -> Any:
        ix = torch.randint(len(windows), (batch_size,), generator=generator)  # (B,): the global batch
        ix = ix[self.local_rows(batch_size)].to(self.device)  # (B_rank,): this rank's rows of it
        chunk = windows[ix]  # (B_rank, T + 1)
        return chunk[:, :-1], chunk[:, 1:]  # inputs (B, T), targets (B, T): shifted by one

    def loss(self, batch: Any) -> torch.Tensor:
        return self._loss(self.net, batch)

    @staticmethod
    def _loss(net: nn.Module, batch: Any) -> torch.Tensor:
        x, y = batch
        logits = net(x)  # (B, T, V)
        return F.cross_entropy(logits.flatten(0, 1), y.flatten())  # (B·T, V) vs (B·T,)

    def tokens_per_step(self, batch_size: int) -> int:
        return batch_size * self.config.context_length

    @torch.no_grad()
    def evaluate(self, generator: torch.Generator, batches: int = 4, batch_size: int = 32) -> dict[str, float]:
        # the model itself, not its DDP wrapper: evaluation is no training step and syncs nothing
        losses = [float(self._loss(self.model, self._batch(self.val_windows, batch_size, generator))) for _ in range(batches)]
        return {"val_loss": sum(losses) / len(losses)}

    @torch.no_grad()
    def sample(self, generator: torch.Generator, chars: int, temperature: float, prompt: str = "\n") -> str:
        was_training = self.model.training
        self.model.eval()
        ids = torch.tensor([self.tokenizer.encode(prompt)], dtype=torch.long, device=self.device)  # (1, P)
        out = self.model.generate(ids, chars, temperature=temperature, generator=generator)
        self.model.train(was_training)
        return self.tokenizer.decode(out[0, len(prompt) :].tolist())

    def describe(self) -> dict[str, Any]:
        return {
            "text_chars": len(self.train_data) + len(self.val_data),
            "train_tokens": len(self.train_data),
            "val_tokens": len(self.val_data),
            "text_vocab": self.tokenizer.vocab_size,
            "uniform_loss": math.log(self.config.vocab_size),
        }

    def data_state(self) -> dict[str, Any]:
        return {"chars": "".join(self.tokenizer.chars)}

"""Provides the training lab's configurations as plain dataclasses, with `KEY=VALUE` overrides.

Torch-free: the UI imports these to show and edit a configuration (and `calc` to count its
parameters live) before anything is sent to the trainer process. `validate()` returns the first
problem as one sentence a learner can act on, so the CLI and the UI say the same thing.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any

MODELS = ("neuron", "mlp", "gpt")
OPTIMIZERS = ("sgd", "adam", "adamw")
DATASETS = ("circles", "moons", "spirals", "xor")
ACTIVATIONS = ("relu", "tanh")


class ConfigError(ValueError):
    """A configuration value that cannot work; the message is one line for the learner."""


@dataclass
class NeuronConfig:
    """The autograd lesson's single neuron: a = σ(x·w + b), loss = BCE(a, y)."""

    x: float = 1.1  # the one input
    w: float = 2.2  # initial weight
    b: float = 0.0  # initial bias
    y: float = 1.0  # target, 0 or 1 (any value in [0, 1] works for BCE)

    def validate(self) -> None:
        if not 0.0 <= self.y <= 1.0:
            raise ConfigError(f"y must lie in [0, 1] for binary cross-entropy, got {self.y}")


@dataclass
class MLPConfig:
    """A 2 → hidden → 1 network (sigmoid + BCE) on a 2-D toy dataset, TensorFlow-Playground style."""

    dataset: str = "circles"  # circles, moons, spirals or xor
    n_samples: int = 1000  # points generated (train + validation)
    noise: float = 0.1  # std of Gaussian noise added to the points
    val_fraction: float = 0.2  # share of the points held out for validation
    hidden_width: int = 16  # units per hidden layer
    hidden_layers: int = 2  # number of hidden layers
    activation: str = "relu"  # relu or tanh
    drop_rate: float = 0.0  # dropout after each hidden activation

    def validate(self) -> None:
        if self.dataset not in DATASETS:
            raise ConfigError(f"unknown dataset {self.dataset!r}: expected one of {', '.join(DATASETS)}")
        if self.activation not in ACTIVATIONS:
            raise ConfigError(
                f"unknown activation {self.activation!r}: expected one of {', '.join(ACTIVATIONS)}"
            )
        _positive("n_samples", self.n_samples, minimum=10)
        _positive("hidden_width", self.hidden_width)
        _positive("hidden_layers", self.hidden_layers, minimum=0)
        if self.noise < 0:
            raise ConfigError(f"noise must be >= 0, got {self.noise}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ConfigError(f"val_fraction must lie strictly between 0 and 1, got {self.val_fraction}")
        _dropout(self.drop_rate)


@dataclass
class GPTConfig:
    """A decoder-only transformer; the key names are those of the lessons' GPT-2 configuration.

    The defaults are the course's toy model: vocabulary of the bundled text (67 characters),
    context 64, embedding 128, 4 heads, 4 layers (about 0.8 M parameters).
    """

    vocab_size: int = 67  # tokens the model can read and predict (characters of the text)
    context_length: int = 64  # most tokens in one input sequence
    emb_dim: int = 128  # width of every token's vector
    n_heads: int = 4  # attention heads per layer (must divide emb_dim)
    n_layers: int = 4  # transformer blocks
    drop_rate: float = 0.0  # dropout probability on embeddings, attention and residual paths
    qkv_bias: bool = False  # bias in the query/key/value projections (GPT-2 used none)
    tie_weights: bool = False  # share the token embedding with the output head

    def validate(self) -> None:
        _positive("vocab_size", self.vocab_size, minimum=2)
        _positive("context_length", self.context_length)
        _positive("emb_dim", self.emb_dim)
        _positive("n_heads", self.n_heads)
        _positive("n_layers", self.n_layers, minimum=0)
        if self.emb_dim % self.n_heads:
            raise ConfigError(
                f"n_heads ({self.n_heads}) must divide emb_dim ({self.emb_dim}): each head gets "
                f"emb_dim / n_heads dimensions"
            )
        _dropout(self.drop_rate)

    def gpt2_dict(self) -> dict[str, Any]:
        """The configuration under the lessons' GPT-2 key names (plus `tie_weights`)."""
        return dataclasses.asdict(self)


GPT2_SMALL = GPTConfig(
    vocab_size=50257,
    context_length=1024,
    emb_dim=768,
    n_heads=12,
    n_layers=12,
    drop_rate=0.1,
    qkv_bias=False,
    tie_weights=False,
)
"""GPT-2 small (124 M with tied weights, 163,009,536 with a separate output head)."""


@dataclass
class TrainConfig:
    """How the trainer runs: optimizer, budget, reporting cadence, device and seed."""

    steps: int = 1000  # step budget (the run finishes there; 0 means no budget)
    lr: float = 1e-3  # learning rate (can change mid-run)
    batch_size: int = 32  # examples per step (can change mid-run)
    optimizer: str = "adamw"  # sgd, adam or adamw
    weight_decay: float = 0.0  # AdamW's decoupled weight decay (SGD/Adam: L2 penalty)
    momentum: float = 0.0  # SGD momentum
    grad_clip: float = 0.0  # clip the global gradient norm to this (0: no clipping)
    seed: int = 1337  # seeds model init, data and sampling
    device: str = "cpu"  # cpu, cuda, cuda:N, mps or auto
    deterministic: bool = False  # torch.use_deterministic_algorithms (slower on GPUs)
    report_interval_s: float = 0.05  # metrics at most this often (20 Hz)
    report_every: int = 0  # also report every N steps (0: time-based only)
    eval_interval_s: float = 5.0  # validation loss / accuracy this often (0: never)
    eval_batches: int = 4  # batches averaged for a validation loss (gpt)
    sample_interval_s: float = 10.0  # generated text this often (gpt; 0: never)
    sample_chars: int = 100  # characters per sample (gpt)
    temperature: float = 0.8  # sampling temperature (gpt; 0: always the likeliest)
    picture_interval_s: float = 0.25  # decision-boundary grid this often (mlp; 0: never)
    extras_budget: float = 0.01  # each of validation, samples, picture uses at most this share of time

    def validate(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(
                f"unknown optimizer {self.optimizer!r}: expected one of {', '.join(OPTIMIZERS)}"
            )
        _positive("steps", self.steps, minimum=0)
        _positive("batch_size", self.batch_size)
        if not self.lr > 0:
            raise ConfigError(f"lr must be > 0, got {self.lr}")
        if self.temperature < 0:
            raise ConfigError(f"temperature must be >= 0, got {self.temperature}")
        if self.weight_decay < 0 or self.momentum < 0 or self.grad_clip < 0:
            raise ConfigError("weight_decay, momentum and grad_clip must be >= 0")
        _positive("eval_batches", self.eval_batches)
        _positive("sample_chars", self.sample_chars, minimum=0)
        if not 0 < self.extras_budget <= 1:
            raise ConfigError(f"extras_budget must lie in (0, 1], got {self.extras_budget}")


MODEL_CONFIGS: dict[str, type] = {"neuron": NeuronConfig, "mlp": MLPConfig, "gpt": GPTConfig}

TRAIN_DEFAULTS: dict[str, dict[str, Any]] = {
    "neuron": {"steps": 100, "lr": 1.0, "batch_size": 1, "optimizer": "sgd"},
    "mlp": {"steps": 1000, "lr": 0.01, "batch_size": 64, "optimizer": "adam", "eval_interval_s": 1.0},
    "gpt": {"steps": 2000, "lr": 3e-3, "batch_size": 32, "optimizer": "adamw", "grad_clip": 1.0},
}
"""Per-model trainer defaults: each model's first run should visibly learn."""


def default_configs(model: str) -> tuple[Any, TrainConfig]:
    """Fresh (model config, trainer config) with the model's defaults."""
    if model not in MODEL_CONFIGS:
        raise ConfigError(f"unknown model {model!r}: expected one of {', '.join(MODELS)}")
    return MODEL_CONFIGS[model](), TrainConfig(**TRAIN_DEFAULTS[model])


def parse_value(config: Any, key: str, text: str) -> Any:
    """Convert `text` to the type of field `key` of `config` (a dataclass instance)."""
    hints = typing.get_type_hints(type(config))
    kind = hints[key]
    try:
        if kind is bool:
            lowered = text.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if kind is int:
            return int(text)
        if kind is float:
            return float(text)
    except ValueError:
        name = {bool: "true or false", int: "an integer", float: "a number"}[kind]
        raise ConfigError(f"{key} must be {name}, got {text!r}") from None
    return text


def coerce(config: Any, key: str, value: Any) -> Any:
    """`value` (from JSON or a widget: str, int, float, bool) as the type of field `key`."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float) and value.is_integer() and typing.get_type_hints(type(config))[key] is int:
        text = str(int(value))
    else:
        text = str(value)
    return parse_value(config, key, text)


def field_names(config: Any) -> list[str]:
    """The settable keys of a configuration dataclass, in declaration order."""
    return [f.name for f in dataclasses.fields(config)]


def apply_overrides(model_config: Any, train_config: TrainConfig, pairs: list[str]) -> None:
    """Apply `KEY=VALUE` strings (the CLI's `--set`): model keys first, then trainer keys."""
    settings: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects KEY=VALUE, got {pair!r}")
        settings[key.strip()] = text
    apply_settings(model_config, train_config, settings)


def apply_settings(model_config: Any, train_config: TrainConfig, settings: dict[str, Any]) -> None:
    """Apply a {key: value} mapping (values as text or JSON scalars), then validate both configs."""
    for key, value in settings.items():
        for config in (model_config, train_config):
            if key in field_names(config):
                setattr(config, key, coerce(config, key, value))
                break
        else:
            known = ", ".join(field_names(model_config) + field_names(train_config))
            raise ConfigError(f"unknown key {key!r} for this model: expected one of {known}")
    model_config.validate()
    train_config.validate()


def _positive(name: str, value: int, minimum: int = 1) -> None:
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")


def _dropout(value: float) -> None:
    if not 0.0 <= value < 1.0:
        raise ConfigError(f"drop_rate must lie in [0, 1), got {value}")

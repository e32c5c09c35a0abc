"""The lab's models: the neuron against hand-computed SGD, the MLP on circles, the GPT's shapes."""

from __future__ import annotations

import math

import pytest
import torch

from llm_tutor.engine.train.config import GPTConfig, MLPConfig, NeuronConfig, TrainConfig, default_configs
from llm_tutor.engine.train.events import TrainMetrics, TrainPicture
from llm_tutor.engine.train.child.models.gpt import CharTokenizer, GPTModel, GPTTask, default_text_path
from llm_tutor.engine.train.child.models.neuron import NeuronTask
from llm_tutor.engine.train.child.toydata import GENERATORS, make_dataset
from llm_tutor.engine.train.child.trainer import Trainer

CPU = torch.device("cpu")


def sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-z))


def hand_sgd(x: float, w: float, b: float, y: float, lr: float, steps: int) -> list[float]:
    """The neuron's losses by the chain rule alone: dL/dw = (a - y)·x, dL/db = a - y."""
    losses = []
    for _ in range(steps):
        a = sigmoid(x * w + b)
        losses.append(-(y * math.log(a) + (1 - y) * math.log(1 - a)))
        w, b = w - lr * (a - y) * x, b - lr * (a - y)
    return losses


def test_neuron_first_gradients_match_the_lesson() -> None:
    task = NeuronTask(NeuronConfig(), CPU)
    loss = task.loss(task.batch(1, torch.Generator()))
    loss.backward()
    a = sigmoid(1.1 * 2.2)
    assert loss.item() == pytest.approx(-math.log(a), rel=1e-6)
    assert task.model.w.grad.item() == pytest.approx(-(1 - a) * 1.1, rel=1e-5)  # ≈ -0.0898
    assert task.model.b.grad.item() == pytest.approx(-(1 - a), rel=1e-5)  # ≈ -0.0817
    assert round(task.model.w.grad.item(), 4) == -0.0898
    assert round(task.model.b.grad.item(), 4) == -0.0817


@pytest.mark.parametrize("y, b, lr", [(1.0, 0.0, 1.0), (0.0, 0.0, 0.5), (1.0, -2.42, 2.0)])
def test_neuron_trainer_losses_follow_hand_computed_sgd(y: float, b: float, lr: float) -> None:
    events: list[object] = []
    trainer = Trainer(
        "neuron", NeuronConfig(y=y, b=b), TrainConfig(steps=100, lr=lr, optimizer="sgd", batch_size=1), emit=events.append
    )
    assert trainer.run(play=True) == "finished"
    losses = [v for e in events if isinstance(e, TrainMetrics) for v in e.losses]
    want = hand_sgd(1.1, 2.2, b, y, lr, 100)
    assert len(losses) == 100
    assert losses == pytest.approx(want, rel=1e-4, abs=1e-7)
    assert list(trainer.history.values) == pytest.approx(want, rel=1e-4, abs=1e-7)
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_toy_datasets_are_seeded_balanced_and_two_dimensional(name: str) -> None:
    X, y = make_dataset(name, 400, 0.1, seed=3)
    X2, y2 = make_dataset(name, 400, 0.1, seed=3)
    X3, _ = make_dataset(name, 400, 0.1, seed=4)
    assert X.shape == (400, 2) and y.shape == (400,) and X.dtype == torch.float32
    assert torch.equal(X, X2) and torch.equal(y, y2)
    assert not torch.equal(X, X3)
    assert set(y.unique().tolist()) == {0.0, 1.0}
    assert 0.35 < y.mean().item() < 0.65
    assert X.abs().max() < 2.5


def test_mlp_learns_circles_quickly_and_draws_its_boundary() -> None:
    model_config, train_config = default_configs("mlp")
    train_config.steps = 400
    train_config.eval_interval_s = 0
    events: list[object] = []
    trainer = Trainer("mlp", model_config, train_config, emit=events.append)
    trainer.run(play=True)
    final = [e for e in events if isinstance(e, TrainMetrics)][-1]
    assert final.step == 400 and final.accuracy is None  # eval_interval_s=0: never evaluated
    assert trainer.evaluate()["accuracy"] >= 0.95
    picture = [e for e in events if isinstance(e, TrainPicture)][-1]
    assert (picture.height, picture.width) == (20, 40)
    assert len(picture.probs) == 20 and all(len(row) == 40 for row in picture.probs)
    centre, corner = picture.probs[10][20], picture.probs[0][0]
    assert centre > 0.9 and corner < 0.1  # inner circle is label 1, the outside label 0
    boundary = trainer.task.boundary(width=8, height=4)  # type: ignore[attr-defined]
    assert len(boundary["probs"]) == 4 and len(boundary["probs"][0]) == 8


@pytest.mark.parametrize("dataset", ["moons", "xor"])
def test_mlp_fits_other_datasets_with_tanh(dataset: str) -> None:
    trainer = Trainer(
        "mlp",
        MLPConfig(dataset=dataset, activation="tanh", noise=0.05),
        TrainConfig(steps=600, lr=0.02, batch_size=64, optimizer="adam", eval_interval_s=0),
    )
    trainer.run(play=True)
    assert trainer.evaluate()["accuracy"] >= 0.9


def test_gpt_shapes_causality_and_seeded_generation() -> None:
    torch.manual_seed(0)
    cfg = GPTConfig(vocab_size=11, context_length=8, emb_dim=16, n_heads=2, n_layers=2)
    model = GPTModel(cfg).eval()
    idx = torch.randint(0, 11, (3, 8))
    logits = model(idx)
    assert logits.shape == (3, 8, 11)  # (B, T, V)
    changed = idx.clone()
    changed[:, 5:] = (changed[:, 5:] + 1) % 11
    assert torch.allclose(model(changed)[:, :5], logits[:, :5], atol=1e-5)  # the future is not seen
    assert not torch.allclose(model(changed)[:, 5:], logits[:, 5:])
    out1 = model.generate(idx[:1, :2], 20, temperature=1.0, generator=torch.Generator().manual_seed(5))
    out2 = model.generate(idx[:1, :2], 20, temperature=1.0, generator=torch.Generator().manual_seed(5))
    assert out1.shape == (1, 22) and torch.equal(out1, out2)  # longer than the context: it slides
    greedy = model.generate(idx[:1, :2], 5, temperature=0.0)
    assert torch.equal(greedy, model.generate(idx[:1, :2], 5, temperature=0.0))
    with pytest.raises(ValueError, match="longer than context_length"):
        model(torch.zeros(1, 9, dtype=torch.long))


def test_gpt_task_reads_the_bundled_text_and_splits_it() -> None:
    text = default_text_path().read_text(encoding="utf-8")
    assert len(text) > 50_000
    tok = CharTokenizer.from_text(text)
    assert tok.decode(tok.encode("Fair is foul")) == "Fair is foul"
    task = GPTTask(GPTConfig(context_length=16, emb_dim=16, n_heads=2, n_layers=1), CPU)
    info = task.describe()
    assert info["text_vocab"] == 67 and info["train_tokens"] > 8 * info["val_tokens"]
    x, y = task.batch(4, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (4, 16)
    assert torch.equal(x[:, 1:], y[:, :-1])  # targets are the inputs shifted by one
    loss = task.loss((x, y))
    assert loss.item() == pytest.approx(math.log(67), abs=0.3)  # an untrained model guesses uniformly
    assert len(task.sample(torch.Generator().manual_seed(1), 30, 0.8)) == 30


def test_gpt_vocab_too_small_for_the_text_is_a_clear_error() -> None:
    from llm_tutor.engine.train.config import ConfigError

    with pytest.raises(ConfigError, match="smaller than the 67 distinct characters"):
        GPTTask(GPTConfig(vocab_size=30), CPU)


def test_dropout_changes_in_place() -> None:
    task = GPTTask(GPTConfig(context_length=8, emb_dim=16, n_heads=2, n_layers=1, drop_rate=0.1), CPU, text="abcdefgh" * 50)
    before = [p.clone() for p in task.model.parameters()]
    assert task.set_dropout(0.5)
    assert task.config.drop_rate == 0.5
    assert all(m.p == 0.5 for m in task.model.modules() if isinstance(m, torch.nn.Dropout))
    assert all(torch.equal(a, b) for a, b in zip(before, task.model.parameters()))
    assert not NeuronTask(NeuronConfig(), CPU).set_dropout(0.1)

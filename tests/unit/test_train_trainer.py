"""The Trainer: controls from another thread, NaN stop, out-of-memory recovery, checkpoints."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import torch

from llm_tutor.engine.train import events as ev
from llm_tutor.engine.train.child.checkpoint import CheckpointError, load_checkpoint
from llm_tutor.engine.train.config import GPTConfig, MLPConfig, TrainConfig
from llm_tutor.engine.train.child.trainer import Trainer

WAIT = 60.0  # seconds a test waits for the trainer thread before giving up (never a timing assertion)


class Recorder:
    """Collects events and lets a test wait for one that matches."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.cond = threading.Condition()

    def __call__(self, event: Any) -> None:
        with self.cond:
            self.events.append(event)
            self.cond.notify_all()

    def wait_for(self, predicate: Any) -> Any:
        with self.cond:
            ok = self.cond.wait_for(lambda: any(predicate(e) for e in self.events), timeout=WAIT)
            assert ok, f"no matching event; got {[type(e).__name__ for e in self.events][-10:]}"
            return next(e for e in self.events if predicate(e))

    def of(self, kind: type) -> list[Any]:
        with self.cond:
            return [e for e in self.events if isinstance(e, kind)]


def tiny_gpt(**overrides: Any) -> GPTConfig:
    settings = dict(context_length=16, emb_dim=32, n_heads=2, n_layers=1)
    settings.update(overrides)
    return GPTConfig(**settings)


def tiny_train(**overrides: Any) -> TrainConfig:
    settings: dict[str, Any] = dict(steps=10, lr=3e-3, batch_size=8, optimizer="adamw", sample_chars=20)
    settings.update(overrides)
    return TrainConfig(**settings)


def params_of(trainer: Trainer) -> list[torch.Tensor]:
    return [p.detach().clone() for p in trainer.task.model.parameters()]


def test_nan_loss_stops_the_run_naming_the_step_and_keeps_finite_weights() -> None:
    rec = Recorder()
    trainer = Trainer("mlp", MLPConfig(), TrainConfig(steps=300, lr=1e6, optimizer="sgd", batch_size=64), emit=rec)
    assert trainer.run(play=True) == "failed"
    error = trainer.last_error
    assert error is not None and error.kind == "nan"
    bad_step = trainer.step + 1  # the step whose loss was not finite never updated the weights
    assert f"at step {bad_step} " in error.message
    assert "lower learning rate" in error.message and "1e+06" in error.message
    assert len(trainer.history) == trainer.step  # every finite step is in the curve, nothing else
    assert all(torch.isfinite(p).all() for p in trainer.task.model.parameters())
    assert rec.of(ev.TrainState)[-1].state == "failed"
    trainer.handle("play")  # playing a failed run is refused with a reason
    assert "reset" in trainer.last_error.message and trainer.state == "failed"


def test_mid_run_changes_keep_the_model_and_its_optimizer() -> None:
    rec = Recorder()
    trainer = Trainer("mlp", MLPConfig(drop_rate=0.1), TrainConfig(steps=20, lr=0.01, batch_size=32, optimizer="adam"), emit=rec)
    trainer.run(play=True)
    before = params_of(trainer)
    adam_steps = [s["step"].item() for s in trainer.optimizer.state.values()]
    trainer.handle("set_lr", 0.05)
    trainer.handle("set_batch_size", 16)
    trainer.handle("set_dropout", 0.3)
    assert all(torch.equal(a, b) for a, b in zip(before, trainer.task.model.parameters()))
    assert [s["step"].item() for s in trainer.optimizer.state.values()] == adam_steps == [20.0] * len(adam_steps)
    assert trainer.optimizer.param_groups[0]["lr"] == 0.05
    assert trainer.task.model.drop.p == 0.3  # type: ignore[union-attr]
    trainer.handle("set_steps", 40)
    assert trainer.state == "paused"
    trainer.run(play=True)
    assert trainer.step == 40
    assert list(trainer.history.steps) == [float(s) for s in range(1, 41)]  # one unbroken curve
    later = [m for m in rec.of(ev.TrainMetrics) if m.first_step > 20]
    assert later and all(m.lr == 0.05 and m.batch_size == 16 for m in later)
    assert trainer.history.values[20] < trainer.history.values[0]  # step 21 went on from step 20's weights


def test_controls_from_another_thread_play_pause_step_and_change_lr() -> None:
    rec = Recorder()
    trainer = Trainer("mlp", MLPConfig(), TrainConfig(steps=0, lr=0.01, batch_size=32, optimizer="adam", report_interval_s=0.01), emit=rec)
    thread = trainer.start()
    trainer.single_step(3)
    rec.wait_for(lambda e: isinstance(e, ev.TrainMetrics) and e.step == 3)
    assert trainer.state == "paused"
    trainer.play()
    rec.wait_for(lambda e: isinstance(e, ev.TrainMetrics) and e.step >= 30)
    trainer.set_lr(0.001)
    rec.wait_for(lambda e: isinstance(e, ev.TrainMetrics) and e.lr == 0.001)
    trainer.pause()
    rec.wait_for(lambda e: isinstance(e, ev.TrainState) and e.state == "paused" and e.step > 3)
    trainer.stop()
    thread.join(WAIT)
    assert not thread.is_alive() and trainer.state == "stopped"
    n = trainer.step
    assert list(trainer.history.steps) == [float(s) for s in range(1, n + 1)]  # no step lost or repeated
    metrics = rec.of(ev.TrainMetrics)
    assert sum(len(m.losses) for m in metrics) == n
    assert [m.first_step for m in metrics] == [1] + [m.step + 1 for m in metrics[:-1]]


def test_controls_after_queued_steps_keep_their_order_but_stop_interrupts() -> None:
    rec = Recorder()
    trainer = Trainer("neuron", emit=rec)
    for message in (ev.TrainControl("a", "step", 3), ev.TrainControl("b", "set_lr", 0.5), ev.TrainControl("c", "step", 1)):
        trainer.control(message)
    trainer.run(exit_when_done=True)
    lrs = {m.step: m.lr for m in rec.of(ev.TrainMetrics)}
    assert trainer.step == 4 and lrs[3] == 1.0 and lrs[4] == 0.5  # the lr changed after the 3 steps
    trainer.single_step(50)
    trainer.stop()  # stop does not wait for queued steps
    assert trainer.run(exit_when_done=False) == "stopped" and trainer.step == 4


def test_out_of_memory_pauses_keeps_the_weights_and_recovers() -> None:
    rec = Recorder()
    trainer = Trainer("mlp", MLPConfig(), TrainConfig(steps=30, lr=0.01, batch_size=32, optimizer="adam"), emit=rec)
    trainer.single_step(5)
    trainer.run(exit_when_done=True)
    before = params_of(trainer)
    trainer.handle("set_batch_size", 10**12)  # 8 TB of indices: the allocator refuses at once
    assert trainer.run(play=True) == "paused"
    error = trainer.last_error
    assert error is not None and error.kind == "oom"
    assert "batch size 1000000000000" in error.message and "lower the batch size" in error.message
    assert trainer.step == 5 and all(torch.equal(a, b) for a, b in zip(before, trainer.task.model.parameters()))
    trainer.handle("set_batch_size", 32)
    assert trainer.run(play=True) == "finished" and trainer.step == 30


def test_reset_with_overrides_rebuilds_and_bad_overrides_keep_the_run() -> None:
    rec = Recorder()
    trainer = Trainer("mlp", MLPConfig(), TrainConfig(steps=5, optimizer="adam", lr=0.01, batch_size=8), emit=rec)
    trainer.run(play=True)
    trainer.handle("reset", {"hidden_width": 4, "seed": 7})
    assert trainer.step == 0 and len(trainer.history) == 0
    assert trainer.params == (2 * 4 + 4) + (4 * 4 + 4) + (4 + 1)
    started = rec.of(ev.TrainStarted)[-1]
    assert started.config["hidden_width"] == 4 and started.card["seed"] == 7
    trainer.handle("reset", {"n_heads": 3})
    assert rec.of(ev.TrainError)[-1].kind == "control" and "n_heads" in rec.of(ev.TrainError)[-1].message
    assert trainer.model_config.hidden_width == 4
    trainer.handle("fly")
    assert "unknown control 'fly'" in rec.of(ev.TrainError)[-1].message
    trainer.handle("set_lr", -1)
    assert "lr must be a positive number" in rec.of(ev.TrainError)[-1].message


def test_gpt_run_reports_tokens_samples_and_the_reproducibility_card() -> None:
    rec = Recorder()
    trainer = Trainer("gpt", tiny_gpt(), tiny_train(steps=6, report_every=3, report_interval_s=1e9), emit=rec)
    trainer.run(play=True)
    started = rec.of(ev.TrainStarted)[0]
    assert started.config == {
        "vocab_size": 67, "context_length": 16, "emb_dim": 32, "n_heads": 2, "n_layers": 1,
        "drop_rate": 0.0, "qkv_bias": False, "tie_weights": False,
    }
    assert started.params == started.param_counts["params"] == trainer.params
    card = started.card
    assert card["seed"] == 1337 and card["device"] == "cpu" and card["torch"] == torch.__version__
    assert card["deterministic"] is False
    metrics = rec.of(ev.TrainMetrics)
    assert [m.step for m in metrics] == [1, 3, 6]
    assert all(m.tokens_per_s and m.tokens_per_s > 0 for m in metrics)
    assert metrics[-1].val_loss is not None and metrics[-1].progress == 1.0
    assert set(metrics[-1].grad_norms) == {"tok_emb", "pos_emb", "blocks.0", "final_norm", "out_head"}
    samples = rec.of(ev.TrainSample)
    assert samples and len(samples[-1].text) == 20


def test_checkpoint_resume_continues_exactly_like_an_uninterrupted_run(tmp_path: Path) -> None:
    path = tmp_path / "run.ckpt"
    a = Trainer("gpt", tiny_gpt(drop_rate=0.1), tiny_train(steps=10))
    a.run(play=True)
    a.save_checkpoint(path)
    assert [p.name for p in tmp_path.iterdir()] == ["run.ckpt"]  # the temporary file was renamed away
    a.handle("set_steps", 20)
    a.run(play=True)
    b = Trainer.from_checkpoint(path, train_overrides={"steps": 20})
    assert b.step == 10 and len(b.history) == 10
    assert b.started_event().history["loss"] == [list(a.history.steps[:10]), list(a.history.values[:10])]
    b.run(play=True)
    assert b.step == 20
    assert list(b.history.values) == list(a.history.values)  # dropout, data and Adam state all resumed
    data = load_checkpoint(path)
    assert data["model"] == "gpt" and data["step"] == 10 and data["model_config"]["drop_rate"] == 0.1


def test_a_truncated_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "run.ckpt"
    trainer = Trainer("mlp", MLPConfig(), TrainConfig(steps=3, optimizer="adam", lr=0.01, batch_size=8))
    trainer.run(play=True)
    trainer.save_checkpoint(path)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt") as info:
        Trainer.from_checkpoint(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)
    path.write_bytes(b"")
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="no checkpoint file"):
        load_checkpoint(tmp_path / "missing.ckpt")
    with pytest.raises(CheckpointError, match="does not exist"):
        trainer.save_checkpoint(tmp_path / "no" / "such" / "dir.ckpt")
    rec = Recorder()
    trainer.emit = rec
    trainer.handle("load", str(path))
    assert rec.of(ev.TrainError)[-1].kind == "checkpoint" and trainer.step == 3  # the run is untouched


def test_save_and_load_controls_switch_runs(tmp_path: Path) -> None:
    path = str(tmp_path / "mlp.ckpt")
    rec = Recorder()
    trainer = Trainer("mlp", MLPConfig(hidden_width=8), TrainConfig(steps=7, optimizer="adam", lr=0.01, batch_size=8), emit=rec)
    trainer.run(play=True)
    trainer.handle("save", path)
    saved = rec.of(ev.TrainCheckpointSaved)[-1]
    assert saved.path == path and saved.step == 7 and not saved.loaded
    trainer.handle("reset", {"hidden_width": 3})
    trainer.handle("load", path)
    assert trainer.step == 7 and trainer.model_config.hidden_width == 8 and trainer.state == "paused"
    assert rec.of(ev.TrainCheckpointSaved)[-1].loaded


def test_worker_process_speaks_json_lines() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "llm_tutor.engine.train.child.worker", "--model", "neuron", "--parent", "w1",
         "--train", '{"steps": 0, "report_interval_s": 0}'],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None

    def send(action: str, value: Any = None) -> None:
        proc.stdin.write(ev.encode(ev.TrainControl("c", action, value)))  # type: ignore[union-attr]
        proc.stdin.flush()  # type: ignore[union-attr]

    def read_until(predicate: Any) -> list[Any]:
        seen = []
        for line in proc.stdout:  # type: ignore[union-attr]
            seen.append(ev.decode(line))
            if predicate(seen[-1]):
                return seen
        raise AssertionError(f"worker ended early: {proc.stderr.read().decode()[-500:]}")  # type: ignore[union-attr]

    try:
        first = read_until(lambda e: isinstance(e, ev.TrainStarted))[0]
        assert first.model == "neuron" and first.parent == "w1" and first.params == 2
        send("step", 4)
        seen = read_until(lambda e: isinstance(e, ev.TrainMetrics) and e.step == 4)
        losses = [v for e in seen if isinstance(e, ev.TrainMetrics) for v in e.losses]
        assert len(losses) == 4 and losses == sorted(losses, reverse=True)
        send("set_lr", 0.25)
        send("step")
        last = read_until(lambda e: isinstance(e, ev.TrainMetrics) and e.step == 5)[-1]
        assert last.lr == 0.25 and math.isfinite(last.loss)
        send("stop")
        states = read_until(lambda e: isinstance(e, ev.TrainState) and e.state == "stopped")
        assert states[-1].step == 5
        assert proc.wait(WAIT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_reset_that_cannot_be_built_rolls_back_to_the_old_run() -> None:
    rec = Recorder()
    trainer = Trainer("mlp", MLPConfig(), TrainConfig(steps=5, optimizer="adam", lr=0.01, batch_size=8), emit=rec)
    trainer.run(play=True)
    before = params_of(trainer)
    trainer.handle("reset", {"hidden_width": 10**7})  # 10¹⁴ weights: the allocator refuses
    error = rec.of(ev.TrainError)[-1]
    assert error.kind == "oom" and "allocate" in error.message
    assert trainer.model_config.hidden_width == 16 and trainer.step == 5 and len(trainer.history) == 5
    assert all(torch.equal(a, b) for a, b in zip(before, trainer.task.model.parameters()))
    trainer.handle("reset", {"hidden_width": "8", "activation": "tanh", "lr": "0.02"})  # values as a UI sends text
    assert trainer.model_config.hidden_width == 8 and trainer.train_config.lr == 0.02 and trainer.step == 0


def test_worker_rejects_a_bad_configuration_with_one_event() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "llm_tutor.engine.train.child.worker", "--model", "gpt", "--config", '{"n_heads": 3}'],
        capture_output=True, timeout=120, stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 2
    lines = proc.stdout.decode().splitlines()
    assert len(lines) == 1
    error = ev.decode(lines[0])
    assert isinstance(error, ev.TrainError) and error.kind == "config" and "n_heads (3) must divide" in error.message

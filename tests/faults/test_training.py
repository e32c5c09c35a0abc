"""Training that goes wrong: inf and NaN losses, a learning rate of 1e9, the run stopped in the middle of a step,
and a run that blows up after resuming. The run stops, says why, and keeps what was saved. (Losses that
are not numbers streamed from a lesson cell with `track()` are in test_kernel_cells.py.)

Already covered in tests/unit/test_train_trainer.py and test_train_command.py, and not repeated: a NaN loss
(the MLP at lr 1e6), Ctrl+C between steps with a checkpoint, a truncated checkpoint given to --resume, and
an out-of-memory step.
"""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest
import torch

from llm_tutor.engine.train.child.checkpoint import load_checkpoint
from llm_tutor.engine.train.config import MLPConfig, TrainConfig
from llm_tutor.engine.train.child.trainer import Trainer
from tests.conftest import llm_tutor_cmd

pytestmark = pytest.mark.slow

TINY_GPT = ["--set", "emb_dim=32", "--set", "n_layers=1", "--set", "n_heads=2", "--set", "context_length=16"]


def train(*args: str, timeout: float = 120) -> tuple[int, list[dict], str]:
    proc = subprocess.run([*llm_tutor_cmd(), "train", *args, "--headless", "--json"], capture_output=True, text=True,
                          timeout=timeout)
    return proc.returncode, [json.loads(line) for line in proc.stdout.splitlines() if line.strip()], proc.stderr


def test_an_inf_loss_stops_the_run_before_the_weights_change() -> None:
    trainer = Trainer("mlp", MLPConfig(), TrainConfig(steps=50, lr=0.1, batch_size=16, eval_interval_s=0))
    real_loss = trainer.task.loss
    calls = [0]

    def loss_that_overflows(batch: object) -> torch.Tensor:
        calls[0] += 1
        loss = real_loss(batch)
        return loss * float("inf") if calls[0] == 4 else loss

    trainer.task.loss = loss_that_overflows  # type: ignore[method-assign]
    assert trainer.run(play=True) == "failed"
    error = trainer.last_error
    assert error is not None and error.kind == "nan"
    assert "the loss became inf at step 4" in error.message and "lower learning rate" in error.message
    assert trainer.step == 3 and all(torch.isfinite(p).all() for p in trainer.task.model.parameters())


def test_a_learning_rate_of_1e9_ends_the_gpt_run_with_one_clear_line() -> None:
    code, lines, err = train("gpt", "--lr", "1e9", "--steps", "50", "--batch-size", "4", *TINY_GPT)
    assert code == 1
    assert err.count("\n") == 1 and "learning rate 1e+09" in err and "lower learning rate" in err, err
    final = lines[-1]
    assert final["status"] == "failed" and final["step"] < 50


def test_a_run_that_blows_up_after_resuming_leaves_the_checkpoint_it_came_from(tmp_path: Path) -> None:
    ckpt = tmp_path / "good.ckpt"
    code, lines, err = train("mlp", "--steps", "5", "--checkpoint", str(ckpt))
    assert code == 0, err
    before = ckpt.read_bytes()
    code, lines, err = train("mlp", "--resume", str(ckpt), "--steps", "200", "--lr", "1e9", "--optimizer", "sgd",
                             "--checkpoint", str(ckpt))
    assert code == 1 and lines[-1]["status"] == "failed" and "lower learning rate" in err
    assert ckpt.read_bytes() == before, "the good checkpoint is not overwritten by the failed run"
    assert load_checkpoint(ckpt)["step"] == 5


def test_a_dropped_session_stops_the_run_mid_step_with_a_consistent_checkpoint(tmp_path: Path) -> None:
    """SIGHUP (the SSH link dropped) lands inside a GPT step; the step finishes, then the run stops and saves."""
    ckpt = tmp_path / "run.ckpt"
    proc = subprocess.Popen(
        [*llm_tutor_cmd(), "train", "gpt", "--headless", "--json", "--steps", "0", "--batch-size", "32",
         "--report-every", "1", *TINY_GPT, "--set", "context_length=32", "--checkpoint", str(ckpt)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    try:
        proc.stdout.readline()  # the configuration
        first = json.loads(proc.stdout.readline())
        assert first["step"] >= 1
        proc.send_signal(signal.SIGHUP)  # the next step is already running
        rest, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    final = json.loads(rest.splitlines()[-1])
    assert final["status"] == "stopped" and final["checkpoint"] == str(ckpt)
    data = load_checkpoint(ckpt)
    assert data["step"] == final["step"] >= first["step"]
    # and it goes on from there
    code, lines, err = train("gpt", "--resume", str(ckpt), "--steps", str(final["step"] + 1), "--report-every", "1")
    assert code == 0, err
    assert lines[0]["step"] == final["step"] and lines[-1]["step"] == final["step"] + 1

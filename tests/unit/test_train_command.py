"""`llm-tutor train ... --headless --json`: the line contract, exit statuses, checkpoints, Ctrl-C."""

from __future__ import annotations

import argparse
import io
import json
import math
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from llm_tutor.engine.cli import train as train_command
from llm_tutor.engine.cli.main import build_parser
from tests.conftest import llm_tutor_cmd

TINY_GPT = ["--set", "n_layers=1", "--set", "emb_dim=32", "--set", "n_heads=2", "--set", "context_length=16"]


def parse(argv: list[str]) -> argparse.Namespace:
    return build_parser(["train"]).parse_args(["train", *argv])


def run_json(argv: list[str]) -> tuple[int, list[dict[str, Any]]]:
    """Run in-process; reports come only from --report-every (never from the clock)."""
    out = io.StringIO()
    code = train_command.run(parse([*argv, "--headless", "--json", "--report-interval", "1e9"]), out=out)
    return code, [json.loads(line) for line in out.getvalue().splitlines()]


def test_gpt_json_lines_follow_the_contract() -> None:
    code, lines = run_json(["gpt", "--steps", "8", "--batch-size", "4", "--report-every", "4", "--seed", "3", *TINY_GPT])
    assert code == 0
    head, steps, final = lines[0], lines[1:-1], lines[-1]
    assert head["config"] == {
        "vocab_size": 67, "context_length": 16, "emb_dim": 32, "n_heads": 2, "n_layers": 1,
        "drop_rate": 0.0, "qkv_bias": False, "tie_weights": False, "world_size": 1, "backend": None,
    }
    assert head["world_size"] == 1 and head["backend"] is None  # one process: no process group
    assert isinstance(head["params"], int) and head["params"] == head["param_counts"]["params"]
    assert head["card"]["seed"] == 3 and head["card"]["device"] == "cpu"
    assert [s["step"] for s in steps] == [1, 4]  # step 8, the last, is printed once: as the final line
    for s in steps:
        assert math.isfinite(s["loss"]) and s["steps_per_s"] > 0 and s["tokens_per_s"] > 0
    assert "val_loss" in steps[0]
    assert final["final"] is True and final["status"] == "finished" and final["step"] == 8
    assert "val_loss" in final and "sample" in final and final["tokens_per_s"] > 0
    assert not any("final" in s for s in steps)


def test_neuron_and_mlp_lines_carry_their_own_figures() -> None:
    code, lines = run_json(["neuron", "--report-every", "50"])
    assert code == 0
    assert lines[0]["config"] == {"x": 1.1, "w": 2.2, "b": 0.0, "y": 1.0} and lines[0]["params"] == 2
    assert [line["step"] for line in lines[1:]] == [1, 50, 100]
    assert lines[1]["loss"] == pytest.approx(-math.log(1 / (1 + math.exp(-2.42))), rel=1e-6)
    assert "tokens_per_s" not in lines[1] and "w" in lines[1]
    code, lines = run_json(["mlp", "--steps", "300", "--set", "dataset=circles"])
    assert code == 0
    assert lines[0]["config"]["dataset"] == "circles" and "points" not in lines[0]["data"]
    assert lines[-1]["accuracy"] >= 0.95


def test_loss_is_the_last_steps_and_loss_mean_the_windows_in_json_and_text() -> None:
    """`loss`: the loss of the line's step; `loss_mean`: the mean over the steps since the previous line."""
    code, lines = run_json(["neuron", "--report-every", "50"])
    assert code == 0
    from llm_tutor.engine.train.config import default_configs
    from llm_tutor.engine.train.child.trainer import Trainer

    model_config, train_config = default_configs("neuron")  # the same seeded run, for its per-step losses
    trainer = Trainer("neuron", model_config, train_config, emit=lambda event: None)
    trainer.run(exit_when_done=True, play=True)
    losses = list(trainer.history.values)  # losses[i]: the loss of step i + 1
    step50, final = lines[2], lines[-1]
    assert {"step", "loss", "loss_mean", "steps_per_s"} <= set(step50) and "last_loss" not in final
    assert step50["loss"] == pytest.approx(losses[49]) and step50["loss_mean"] == pytest.approx(sum(losses[1:50]) / 49)
    assert final["loss"] == pytest.approx(losses[99]) and final["loss_mean"] == pytest.approx(sum(losses[50:100]) / 50)
    out = io.StringIO()
    assert train_command.run(parse(["neuron", "--headless", "--report-every", "50", "--report-interval", "1e9"]), out=out) == 0
    text = out.getvalue().splitlines()
    assert text[-1].startswith(f"finished at step 100: loss {losses[99]:.4f}  loss_mean {sum(losses[50:100]) / 50:.4f}")
    assert sum(line.startswith("step ") for line in text) == 2  # 1 and 50; 100 is the final line
    assert f"step     50  loss {losses[49]:.4f}  loss_mean {sum(losses[1:50]) / 49:.4f}" in text[-2]


def test_a_step_reported_twice_prints_once() -> None:
    from llm_tutor.engine.train.events import TrainMetrics

    out = io.StringIO()
    printer = train_command.Printer(out, as_json=True)
    for loss in (0.5, 0.4):  # a stop right after a report, say: the same step again
        printer(TrainMetrics("", step=7, loss=loss, first_step=7, losses=[loss], steps_per_s=1.0))
    printer(TrainMetrics("", step=9, loss=0.3, first_step=8, losses=[0.3, 0.3], steps_per_s=1.0))
    printer.flush()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(line["step"], line["loss"]) for line in lines] == [(7, 0.4), (9, 0.3)]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["transformer", "--headless"], "unknown model 'transformer'"),
        (["gpt", "--headless", "--set", "n_heads=3"], "n_heads (3) must divide emb_dim (128)"),
        (["gpt", "--headless", "--set", "colour=blue"], "unknown key 'colour'"),
        (["gpt", "--headless", "--set", "n_layers=two"], "n_layers must be an integer"),
        (["gpt", "--headless", "--set", "emb_dim"], "--set expects KEY=VALUE"),
        (["mlp", "--headless", "--set", "dataset=spiral"], "unknown dataset 'spiral'"),
        (["mlp", "--headless", "--optimizer", "rmsprop"], "unknown optimizer 'rmsprop'"),
        (["mlp", "--headless", "--device", "tpu"], "unknown device 'tpu'"),
        (["gpt", "--headless", "--set", "vocab_size=20"], "smaller than the 67 distinct characters"),
        (["neuron", "--headless", "--json", "--plot"], "leave out --json"),
    ],
)
def test_bad_input_exits_2_with_one_line(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    out = io.StringIO()
    assert train_command.run(parse(argv), out=out) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and err.startswith("llm-tutor: error: ")
    assert out.getvalue() == ""


def test_nan_exits_1_naming_the_step(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = run_json(["mlp", "--lr", "1e6", "--optimizer", "sgd", "--steps", "100"])
    assert code == 1
    final = lines[-1]
    assert final["status"] == "failed" and f"at step {final['step'] + 1} " in final["error"]
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "lower learning rate" in err


def test_checkpoint_then_resume_goes_on_and_rejects_bad_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ckpt = tmp_path / "gpt.ckpt"
    code, lines = run_json(["gpt", "--steps", "4", "--batch-size", "4", *TINY_GPT, "--checkpoint", str(ckpt)])
    assert code == 0 and lines[-1]["checkpoint"] == str(ckpt) and ckpt.is_file()
    code, lines = run_json(["gpt", "--steps", "7", "--report-every", "1", "--resume", str(ckpt)])
    assert code == 0
    assert lines[0]["step"] == 4 and lines[0]["config"]["emb_dim"] == 32
    assert [line["step"] for line in lines[1:-1]] == [5, 6] and lines[-1]["step"] == 7
    capsys.readouterr()
    assert train_command.run(parse(["mlp", "--headless", "--resume", str(ckpt)]), out=io.StringIO()) == 2
    assert "holds a gpt model, not mlp" in capsys.readouterr().err
    assert train_command.run(parse(["gpt", "--headless", "--resume", str(ckpt), "--set", "emb_dim=64"]), out=io.StringIO()) == 2
    assert "cannot change emb_dim when resuming" in capsys.readouterr().err
    ckpt.write_bytes(ckpt.read_bytes()[:1000])
    assert train_command.run(parse(["gpt", "--headless", "--resume", str(ckpt)]), out=io.StringIO()) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "truncated or corrupt" in err


def test_installed_command_prints_json_lines() -> None:
    proc = subprocess.run(
        [*llm_tutor_cmd(), "train", "gpt", "--headless", "--json", "--steps", "3", "--batch-size", "2", *TINY_GPT],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert lines[0]["params"] > 0 and lines[0]["config"]["n_layers"] == 1
    assert all({"step", "loss", "steps_per_s"} <= set(line) for line in lines[1:])
    assert lines[-1]["final"] is True and lines[-1]["step"] == 3


def test_ctrl_c_stops_between_steps_and_saves_a_loadable_checkpoint(tmp_path: Path) -> None:
    ckpt = tmp_path / "run.ckpt"
    proc = subprocess.Popen(
        [*llm_tutor_cmd(), "train", "mlp", "--headless", "--json", "--steps", "0", "--checkpoint", str(ckpt)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    try:
        proc.stdout.readline()  # the config line
        first = json.loads(proc.stdout.readline())
        assert first["step"] >= 1
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    final = json.loads(rest.splitlines()[-1])
    assert final["status"] == "stopped" and final["checkpoint"] == str(ckpt)
    from llm_tutor.engine.train.child.checkpoint import load_checkpoint

    data = load_checkpoint(ckpt)
    assert data["step"] == final["step"] and len(data["history"]["values"]) == 8 * final["step"]

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

from llm_tutor.engine.commands import train as train_command
from tests.conftest import llm_tutor_cmd

TINY_GPT = ["--set", "n_layers=1", "--set", "emb_dim=32", "--set", "n_heads=2", "--set", "context_length=16"]


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="llm-tutor")
    train_command.register(parser.add_subparsers())
    return parser.parse_args(["train", *argv])


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
    assert [s["step"] for s in steps] == [1, 4, 8]
    for s in steps:
        assert math.isfinite(s["loss"]) and s["steps_per_s"] > 0 and s["tokens_per_s"] > 0
    assert "val_loss" in steps[0] and "val_loss" in steps[-1]
    assert final["final"] is True and final["status"] == "finished" and final["step"] == 8
    assert final["loss"] == steps[-1]["loss"] and "val_loss" in final and "sample" in final
    assert not any("final" in s for s in steps)


def test_neuron_and_mlp_lines_carry_their_own_figures() -> None:
    code, lines = run_json(["neuron", "--report-every", "50"])
    assert code == 0
    assert lines[0]["config"] == {"x": 1.1, "w": 2.2, "b": 0.0, "y": 1.0} and lines[0]["params"] == 2
    assert [line["step"] for line in lines[1:-1]] == [1, 50, 100]
    assert lines[1]["loss"] == pytest.approx(-math.log(1 / (1 + math.exp(-2.42))), rel=1e-6)
    assert "tokens_per_s" not in lines[1] and "w" in lines[1]
    code, lines = run_json(["mlp", "--steps", "300", "--set", "dataset=circles"])
    assert code == 0
    assert lines[0]["config"]["dataset"] == "circles" and "points" not in lines[0]["data"]
    assert lines[-1]["accuracy"] >= 0.95


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
        (["gpt"], "add --headless"),
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
    assert [line["step"] for line in lines[1:-1]] == [5, 6, 7] and lines[-1]["step"] == 7
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
    from llm_tutor.engine.train.checkpoint import load_checkpoint

    data = load_checkpoint(ckpt)
    assert data["step"] == final["step"] and len(data["history"]["values"]) == 8 * final["step"]

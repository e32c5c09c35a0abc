"""Data-parallel training through torch.distributed.run, with real processes on the CPU (gloo).

One process's run, in this test process, is the reference: a run on two ranks must follow it step
for step (the global batch is the same examples whatever the number of processes), its checkpoint
must resume on one process, two launchers must meet at a c10d rendezvous on 127.0.0.1, and a rank
killed mid-run must end the run with its rank and reason and leave no process behind.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from llm_tutor.engine.train import events
from llm_tutor.engine.train.config import GPTConfig, TrainConfig
from llm_tutor.engine.train.process import TrainerProcess

pytestmark = pytest.mark.slow

TINY = {"emb_dim": 32, "n_layers": 1, "n_heads": 2, "context_length": 32}
QUIET = {"eval_interval_s": 0, "sample_interval_s": 0}
SEED = 7
BATCH = 8
LIMIT = 120.0  # seconds: each process imports torch, on a busy 2-core machine


def tiny_args(steps: int, *extra: str, device: str = "cpu") -> list[str]:
    sets = [arg for key, value in {**TINY, **QUIET}.items() for arg in ("--set", f"{key}={value}")]
    return [
        sys.executable, "-m", "llm_tutor.tui", "train", "gpt", "--headless", "--json", "--device", device,
        "--steps", str(steps), "--batch-size", str(BATCH), "--seed", str(SEED), "--report-every", "1", *sets, *extra,
    ]


def env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def reference_losses(steps: int, resume: Path | None = None) -> dict[int, float]:
    """Per-step losses of a one-process run in this process (from `resume` when given)."""
    from llm_tutor.engine.train.child.trainer import Trainer

    seen: list[Any] = []
    if resume is not None:
        trainer = Trainer.from_checkpoint(resume, emit=seen.append, train_overrides={"steps": steps})
    else:
        train = TrainConfig(steps=steps, lr=3e-3, batch_size=BATCH, seed=SEED, grad_clip=1.0, **QUIET)
        trainer = Trainer("gpt", GPTConfig(**TINY), train, emit=seen.append)
    trainer.run(exit_when_done=True, play=True)
    losses: dict[int, float] = {}
    for event in seen:
        if isinstance(event, events.TrainMetrics):
            losses.update(zip(range(event.first_step, event.first_step + len(event.losses)), event.losses))
    return losses


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def step_losses(lines: list[dict[str, Any]]) -> dict[int, float]:
    """Each reported step's loss (the last step's comes with the final line)."""
    return {line["step"]: line["loss"] for line in lines if "loss" in line and "config" not in line}


def close(a: dict[int, float], b: dict[int, float], steps: range) -> None:
    for step in steps:
        assert a[step] == pytest.approx(b[step], rel=1e-3), f"step {step}: {a[step]} vs {b[step]}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_two_ranks_follow_one_process_and_their_checkpoint_resumes_on_one(tmp_path: Path) -> None:
    checkpoint = tmp_path / "two.pt"
    done = subprocess.run(
        tiny_args(5, "--nproc-per-node", "2", "--checkpoint", str(checkpoint)),
        capture_output=True, text=True, env=env(), timeout=LIMIT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = json_lines(done.stdout)
    head, final = lines[0], lines[-1]
    assert head["world_size"] == 2 and head["config"]["world_size"] == 2 and head["backend"] == "gloo"
    assert len([line for line in lines if "model" in line and "config" in line]) == 1  # rank 0 alone prints
    assert final["final"] and final["world_size"] == 2 and len(final["per_rank_tokens_per_s"]) == 2
    assert all(rate > 0 for rate in final["per_rank_tokens_per_s"])
    two = step_losses(lines)
    close(two, reference_losses(8), range(1, 6))  # the same global batches, split across two ranks
    # the two-rank checkpoint goes on in one process exactly as an uninterrupted one-process run
    close(reference_losses(8, resume=checkpoint), reference_losses(8), range(6, 9))


def test_two_launchers_meet_at_a_c10d_rendezvous_on_localhost(tmp_path: Path) -> None:
    endpoint = f"127.0.0.1:{free_port()}"
    nodes = [
        subprocess.Popen(
            tiny_args(3, "--nnodes", "2", "--node-rank", str(rank), "--rdzv-endpoint", endpoint),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(),
        )
        for rank in (0, 1)
    ]
    outputs = []
    try:
        for node in nodes:
            out, err = node.communicate(timeout=LIMIT)
            assert node.returncode == 0, err[-2000:]
            outputs.append(out)
    finally:
        for node in nodes:
            if node.poll() is None:
                node.kill()
    printed = [json_lines(out) for out in outputs if out.strip()]
    assert len(printed) == 1  # global rank 0 prints, on whichever node it landed
    lines = printed[0]
    assert lines[0]["world_size"] == 2 and lines[-1]["final"] and lines[-1]["step"] == 3
    assert lines[-1]["world_size"] == 2 and len(lines[-1]["per_rank_tokens_per_s"]) == 2


def gpus() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


@pytest.mark.skipif(gpus() < 2, reason="NCCL needs at least 2 CUDA GPUs; none or one here")
def test_nccl_ranks_one_per_gpu_follow_one_process() -> None:
    done = subprocess.run(tiny_args(5, "--nproc-per-node", str(gpus()), device="cuda"),
                          capture_output=True, text=True, env=env(), timeout=LIMIT)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = json_lines(done.stdout)
    assert lines[0]["world_size"] == gpus() and lines[0]["backend"] == "nccl"
    one = subprocess.run(tiny_args(5, device="cuda"), capture_output=True, text=True, env=env(), timeout=LIMIT)
    assert one.returncode == 0, one.stderr[-2000:]
    close(step_losses(lines), step_losses(json_lines(one.stdout)), range(1, 6))


def children(pid: int) -> list[int]:
    """Direct children of `pid` (Linux /proc)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(p) for p in (task / "children").read_text().split()]
    return found


def rank_of(pid: int) -> int:
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return next(int(item[5:]) for item in environ if item.startswith(b"RANK="))


def wait(condition: Any, timeout: float = LIMIT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the ranks through /proc")
def test_controls_reach_every_rank_and_a_killed_rank_ends_the_run_with_no_process_left() -> None:
    seen: list[Any] = []
    exits: list[tuple[int | None, str]] = []
    trainer = TrainerProcess(seen.append, lambda code, reason: exits.append((code, reason)), threads=1)
    trainer.start("gpt", TINY, {"batch_size": BATCH, "steps": 0, **QUIET}, processes=2)
    try:
        assert wait(lambda: any(isinstance(e, events.TrainStarted) for e in seen))
        started = next(e for e in seen if isinstance(e, events.TrainStarted))
        assert started.card["world_size"] == 2 and started.card["backend"] == "gloo"
        ranks = {rank_of(pid): pid for pid in children(trainer.pid or 0)}
        assert sorted(ranks) == [0, 1]

        def metrics() -> list[events.TrainMetrics]:
            return [e for e in seen if isinstance(e, events.TrainMetrics)]

        # a step needs every rank's gradients: it completes only if rank 1 got the control too
        trainer.send("step", 2)
        assert wait(lambda: bool(metrics()) and metrics()[-1].step == 2)
        trainer.send("set_lr", 0.01)
        trainer.send("step", 1)
        assert wait(lambda: metrics()[-1].step == 3)
        assert metrics()[-1].lr == 0.01
        trainer.send("play")
        assert wait(lambda: metrics()[-1].step >= 6)
        os.kill(ranks[1], signal.SIGKILL)
        assert wait(lambda: bool(exits), timeout=30)
        code, reason = exits[0]
        assert code == 1
        assert f"rank 1 (pid {ranks[1]}) was killed by SIGKILL" in reason and "other ranks were stopped" in reason
        assert wait(lambda: not any(Path(f"/proc/{pid}").exists() for pid in ranks.values()), timeout=10)
        assert not trainer.is_alive()
    finally:
        trainer.stop()

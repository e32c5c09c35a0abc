"""Distributed flags, the global batch's split across ranks, and which failed rank a run reports."""

from __future__ import annotations

import argparse
import io
import json
import signal
from pathlib import Path

import pytest

from llm_tutor.engine.cli import train as train_command
from llm_tutor.engine.cli.main import build_parser
from llm_tutor.engine.train import launch
from llm_tutor.engine.train.child import ranks


def parse(argv: list[str]) -> argparse.Namespace:
    return build_parser(["train"]).parse_args(["train", *argv])


@pytest.mark.parametrize(
    ("scale", "message"),
    [
        (launch.Scale(nproc_per_node=0), "--nproc-per-node must be >= 1"),
        (launch.Scale(nnodes=2), "needs --rdzv-endpoint"),
        (launch.Scale(nnodes=2, rdzv_endpoint="host"), "expects HOST:PORT"),
        (launch.Scale(nnodes=2, node_rank=2, rdzv_endpoint="h:29500"), "--node-rank must lie in 0..1"),
    ],
)
def test_scales_that_cannot_work_say_why(scale: launch.Scale, message: str) -> None:
    with pytest.raises(launch.ScaleError, match=message):
        scale.validate()


def test_one_process_is_the_ordinary_path_and_the_flags_round_trip() -> None:
    assert not launch.from_args(parse(["gpt"])).distributed
    scale = launch.from_args(parse(["gpt", "--nnodes", "2", "--node-rank", "1", "--rdzv-endpoint", "10.0.0.1:29400"]))
    assert scale.distributed and scale.nproc_per_node == 1
    assert launch.from_args(parse(["gpt", *scale.to_args()])) == scale


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["mlp", "--nproc-per-node", "2"], "train the gpt model, not mlp"),
        (["gpt", "--nproc-per-node", "4", "--batch-size", "3"], "--batch-size (3) is the global batch"),
        (["gpt", "--nnodes", "2"], "needs --rdzv-endpoint"),
    ],
)
def test_bad_distributed_input_is_one_line_before_any_process_starts(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = io.StringIO()
    assert train_command.run(parse([*argv, "--headless", "--json"]), out=out) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert out.getvalue() == ""


@pytest.mark.parametrize(("batch", "world"), [(8, 2), (7, 3), (4, 4), (33, 2)])
def test_the_ranks_rows_cover_the_global_batch_once_in_order(batch: int, world: int) -> None:
    from llm_tutor.engine.train.child.task import Task

    class Rows(Task):
        def batch(self, batch_size, generator):  # type: ignore[no-untyped-def]
            return None

        def loss(self, batch):  # type: ignore[no-untyped-def]
            return None

    rows: list[int] = []
    for rank in range(world):
        task = Rows()
        task.shard = (rank, world)
        part = task.local_rows(batch)
        rows += list(range(batch))[part]
        assert part.stop - part.start in (batch // world, batch // world + 1)
    assert rows == list(range(batch))


def failure(tmp_path: Path, rank: int, exitcode: int, message: str = "", timestamp: int = 100) -> object:
    from torch.distributed.elastic.multiprocessing.errors import ProcessFailure

    error_file = tmp_path / f"error-{rank}.json"
    if message:
        error_file.write_text(json.dumps({"message": {"message": message, "extraInfo": {"timestamp": str(timestamp)}}}))
    return ProcessFailure(local_rank=rank, pid=1000 + rank, exitcode=exitcode, error_file=str(error_file))


def test_a_killed_rank_is_the_cause_not_the_peer_that_lost_it(tmp_path: Path) -> None:
    failures = {
        0: failure(tmp_path, 0, -signal.SIGTERM, "RuntimeError: [pair.cc:553] Connection closed by peer", timestamp=1),
        1: failure(tmp_path, 1, -signal.SIGKILL),
    }
    rank, text = ranks.first_failure(failures)
    assert rank == 1
    assert text == "rank 1 (pid 1001) was killed by SIGKILL; the other ranks were stopped"


def test_a_rank_that_raised_is_named_with_its_error(tmp_path: Path) -> None:
    failures = {
        0: failure(tmp_path, 0, -signal.SIGTERM),  # stopped by its agent afterwards
        1: failure(tmp_path, 1, 1, "ValueError: the batch is empty"),
    }
    assert ranks.first_failure(failures) == (
        1, "rank 1 (pid 1001) exited with status 1: ValueError: the batch is empty; the other ranks were stopped"
    )

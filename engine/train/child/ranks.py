"""Provides the ranks of a distributed run: `launch` starts them through `torch.distributed.run`; `main` is
the entry point of a rank of `llm-tutor train` (`python -m llm_tutor.engine.train.child.ranks`).

PyTorch's own launcher does the work: `elastic_launch` (the API behind `torchrun`) runs one elastic
agent per node, the agents meet at a c10d rendezvous, and each agent starts `nproc_per_node`
copies of a command with RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT set. When a
rank fails, its agent stops the node's other ranks; `launch` then names the rank that failed first
and why, in one sentence. The flags and `Scale` are torch-free, in `llm_tutor.engine.train.launch`.

Imports torch: load it only in a trainer process.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import uuid
from typing import Any

from llm_tutor.engine.train.launch import RANK_ARGS_ENV, RANK_ENV, LaunchResult, Scale

def launch(scale: Scale, module: str = __name__, argv: list[str] | None = None, *, threads: int | None = None) -> LaunchResult:
    """Run `python -m module *argv` as every local rank of a run of `scale`, and wait for all of them.

    Each rank finds RANK_ENV=1 in its environment (so it joins the process group instead of
    launching again) and inherits this process's stdin, stdout and stderr. The default module is
    this one: every rank runs `llm-tutor train` with the arguments in RANK_ARGS_ENV (`main`).
    """
    os.environ.setdefault("LOGLEVEL", "ERROR")  # torch.distributed.elastic's loggers read it when first imported
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.elastic.rendezvous.api import RendezvousError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    os.environ[RANK_ENV] = "1"
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    if threads:
        os.environ["OMP_NUM_THREADS"] = str(threads)
    single = scale.nnodes == 1
    endpoint = scale.rdzv_endpoint or "127.0.0.1:0"  # one node: its own store on a free port (torchrun --standalone)
    host = endpoint.rpartition(":")[0]
    config = LaunchConfig(
        min_nodes=scale.nnodes,
        max_nodes=scale.nnodes,
        nproc_per_node=scale.nproc_per_node,
        run_id=str(uuid.uuid4()) if single else "llm-tutor",
        rdzv_backend="c10d",
        rdzv_endpoint=endpoint,
        rdzv_configs={"is_host": scale.node_rank == 0} if not single else {},
        max_restarts=0,  # a failed rank ends the run: the lab says which and why
        monitor_interval=0.1,
        local_addr="127.0.0.1" if host in ("127.0.0.1", "localhost") else None,
    )
    _quiet_torch_logs()
    try:
        elastic_launch(config, sys.executable)("-m", module, *(argv or []))
    except ChildFailedError as err:
        rank, text = first_failure(err.failures)
        return LaunchResult(1, text, rank)
    except RendezvousError as err:
        return LaunchResult(1, f"the nodes did not meet at {endpoint}: {str(err).splitlines()[0][:200]}")
    except Exception as err:  # noqa: BLE001 - the agent's own failures (signals, rendezvous stores)
        name = type(err).__name__
        if name == "SignalException":
            sigval = signal.Signals(int(getattr(err, "sigval", signal.SIGINT)))
            return LaunchResult(128 + int(sigval), f"stopped by {sigval.name}", interrupted=True)
        return LaunchResult(1, f"torch.distributed.run failed: {name}: {str(err).splitlines()[0][:200] if str(err) else ''}")
    return LaunchResult(0)


def first_failure(failures: dict[int, Any]) -> tuple[int, str]:
    """(rank, sentence) for the rank whose failure ended the run.

    The cause is a rank killed from outside (SIGKILL, a crash), or one that raised an error of its
    own, not its peers that then lost their connection to it or were ended by the launcher
    (SIGTERM); among equals the earliest failure wins, as torch.distributed.run reports it.
    """
    from llm_tutor.engine.procs.exits import classify_exit

    def text(rank: int) -> str:
        message = failures[rank].message
        return message if isinstance(message, str) else str((message or {}).get("message", ""))

    def wrote_error(rank: int) -> bool:
        return os.path.isfile(str(getattr(failures[rank], "error_file", "") or ""))

    def order(rank: int) -> tuple[int, float, int]:
        failure = failures[rank]
        if failure.exitcode < 0 and failure.exitcode != -signal.SIGTERM and not wrote_error(rank):
            kind = 0  # killed from outside
        elif any(mark in text(rank) for mark in PEER_LOST):
            kind = 2  # it only lost a peer
        elif failure.exitcode == -signal.SIGTERM and not wrote_error(rank):
            kind = 3  # stopped by its agent
        else:
            kind = 1
        return (kind, failure.timestamp, rank)

    rank = min(failures, key=order)
    failure = failures[rank]
    kind, name = classify_exit(failure.exitcode)
    if failure.exitcode < 0:
        why = f"was killed by {name}" if kind == "sigkill" else f"was ended by {name}"
    else:
        why = f"exited with status {failure.exitcode}"
    message = text(rank).strip()
    detail = ""
    if message and message != "<NONE>" and not message.startswith("Signal") and "exitcode" not in message.lower():
        detail = f": {message.splitlines()[-1][:160]}"
    return rank, f"rank {rank} (pid {failure.pid}) {why}{detail}; the other ranks were stopped"


PEER_LOST = ("Connection closed by peer", "Connection reset by peer", "Broken pipe", "NCCL communicator was aborted")
"""What a rank's error says when it only lost a peer that failed first."""


def _quiet_torch_logs() -> None:
    """torch.distributed.run explains every start and stop at WARNING; the learner needs only our sentence."""
    import logging

    for name in list(logging.root.manager.loggerDict):
        if name.startswith(("torch.distributed.elastic", "torch.distributed.launcher")):
            logging.getLogger(name).setLevel(logging.ERROR)


def main() -> int:
    """A rank of `llm-tutor train`: the launcher's parsed arguments, from the environment, run as that command.

    `record` writes the rank's error where the launcher reads it, so `first_failure` can say why.
    """
    from torch.distributed.elastic.multiprocessing.errors import record

    from llm_tutor.engine.cli import train

    args = argparse.Namespace(**json.loads(os.environ[RANK_ARGS_ENV]))
    return int(record(train.run)(args) or 0)


if __name__ == "__main__":
    sys.exit(main())

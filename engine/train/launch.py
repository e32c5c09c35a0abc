"""Provides `Scale` (how many processes and nodes) and `launch`, which starts the ranks through `torch.distributed.run`.

PyTorch's own launcher does the work: `elastic_launch` (the API behind `torchrun`) runs one elastic
agent per node, the agents meet at a c10d rendezvous, and each agent starts `nproc_per_node`
copies of a command with RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT set. When a
rank fails, its agent stops the node's other ranks; `launch` then names the rank that failed first
and why, in one sentence.

The module is torch-free until `launch` runs, so the command line can check its flags without
loading torch.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import uuid
from dataclasses import dataclass
from typing import Any

RANK_ENV = "LLM_TUTOR_RANK"
"""Set by `launch` in the environment of the ranks it starts: "this process is a rank, do not launch again"."""


def is_rank_process() -> bool:
    """Whether this process is a rank that `launch` started (torch.distributed.run set WORLD_SIZE)."""
    return os.environ.get(RANK_ENV) == "1" and "WORLD_SIZE" in os.environ


class ScaleError(ValueError):
    """A process or node count that cannot work; one line for the learner."""


@dataclass
class Scale:
    """Processes per node, nodes, this node's rank and where the nodes meet."""

    nproc_per_node: int = 1
    nnodes: int = 1
    node_rank: int = 0
    rdzv_endpoint: str = ""

    @property
    def distributed(self) -> bool:
        """More than one process in all: the ranks are started by torch.distributed.run."""
        return self.nproc_per_node > 1 or self.nnodes > 1

    def validate(self) -> None:
        if self.nproc_per_node < 1:
            raise ScaleError(f"--nproc-per-node must be >= 1, got {self.nproc_per_node}")
        if self.nnodes < 1:
            raise ScaleError(f"--nnodes must be >= 1, got {self.nnodes}")
        if not 0 <= self.node_rank < self.nnodes:
            raise ScaleError(f"--node-rank must lie in 0..{self.nnodes - 1}, got {self.node_rank}")
        if self.nnodes > 1 and not self.rdzv_endpoint:
            raise ScaleError("--nnodes above 1 needs --rdzv-endpoint HOST:PORT, the same on every node")
        if self.rdzv_endpoint:
            host, sep, port = self.rdzv_endpoint.rpartition(":")
            if not sep or not host or not port.isdigit():
                raise ScaleError(f"--rdzv-endpoint expects HOST:PORT, got {self.rdzv_endpoint!r}")

    def to_args(self) -> list[str]:
        """These settings as the command-line flags `add_arguments` reads."""
        args = ["--nproc-per-node", str(self.nproc_per_node), "--nnodes", str(self.nnodes),
                "--node-rank", str(self.node_rank)]
        return args + (["--rdzv-endpoint", self.rdzv_endpoint] if self.rdzv_endpoint else [])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The distributed flags, as torchrun spells them."""
    group = parser.add_argument_group("distributed (gpt; through torch.distributed.run)")
    group.add_argument("--nproc-per-node", type=int, default=1, metavar="N",
                       help="processes on this node: one per GPU with --device cuda (NCCL), else CPU processes (gloo)")
    group.add_argument("--nnodes", type=int, default=1, metavar="M", help="machines taking part (default 1)")
    group.add_argument("--node-rank", type=int, default=0, metavar="R",
                       help="this machine's number, 0..M-1; node 0 hosts the rendezvous")
    group.add_argument("--rdzv-endpoint", default="", metavar="HOST:PORT",
                       help="where the nodes meet (c10d rendezvous): node 0's address and a free port")


def from_args(args: argparse.Namespace) -> Scale:
    """The `Scale` of parsed arguments, checked (ScaleError)."""
    scale = Scale(
        nproc_per_node=getattr(args, "nproc_per_node", 1),
        nnodes=getattr(args, "nnodes", 1),
        node_rank=getattr(args, "node_rank", 0),
        rdzv_endpoint=getattr(args, "rdzv_endpoint", "") or "",
    )
    scale.validate()
    return scale


@dataclass
class LaunchResult:
    """How the ranks ended: exit status 0 when all succeeded, else the first failure in one sentence."""

    code: int
    message: str = ""
    failed_rank: int | None = None
    interrupted: bool = False
    """Ended by a signal to the launcher (Ctrl-C, SIGTERM): the ranks were asked to stop."""


def launch(scale: Scale, module: str, argv: list[str], *, threads: int | None = None) -> LaunchResult:
    """Run `python -m module *argv` as every local rank of a run of `scale`, and wait for all of them.

    Each rank finds RANK_ENV=1 in its environment (so it joins the process group instead of
    launching again) and inherits this process's stdin, stdout and stderr.
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
        elastic_launch(config, sys.executable)("-m", module, *argv)
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

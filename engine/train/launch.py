"""Provides `Scale` (how many processes and nodes), its command-line flags, and `LaunchResult`.

Torch-free, so the command line checks its flags without loading torch. Starting the ranks
(through `torch.distributed.run`) is the trainer's side: `llm_tutor.engine.train.child.ranks`.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass

RANK_ENV = "LLM_TUTOR_RANK"
"""Set by `ranks.launch` in the environment of the ranks it starts: "this process is a rank, do not launch again"."""

RANK_ARGS_ENV = "LLM_TUTOR_RANK_ARGS"
"""The parsed `llm-tutor train` arguments, as JSON, for the ranks `ranks.main` runs."""


def is_rank_process() -> bool:
    """Whether this process is a rank that `ranks.launch` started (torch.distributed.run set WORLD_SIZE)."""
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

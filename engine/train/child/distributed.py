"""Provides `Dist`: one rank of a data-parallel run, as `torch.distributed.run` started it.

Every rank builds the same model from the same seed and draws the same global batch from the same
generator; each takes its own slice of that batch (`shard`), and DistributedDataParallel averages
the gradients. The local loss is weighted by its share of the global batch, so the averaged
gradient is the gradient of the global batch's mean loss, whatever the number of ranks: a run on
two processes follows a run on one to float tolerance.

The ranks stay in lockstep through rank 0: after each step (and a few times a second while paused)
rank 0 broadcasts one small header, whether to report now and how many bytes of controls follow,
then the controls themselves. Every rank applies the same controls at the same step, so play,
pause, step, stop and learning-rate changes reach all of them. Only rank 0 reads controls, prints
and writes checkpoints.

While the run trains, the header is pipelined (`exchange`): a step starts its header's broadcast
without waiting and reads the previous one, which arrived long ago. A step therefore never waits on
one more round trip between processes (on 2 busy cores that wait cost the lab about a tenth of its
speed). Fast steps exchange a header only every `every` steps (rank 0 proposes it in the header, for
about 20 exchanges a second), so the exchange's own cost stays small; a control or a report lands at
the next exchange after rank 0 saw it, on every rank alike.

Imports torch: load it only in a rank process.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

@dataclass
class Dist:
    """This rank's place in the run and the few collectives the trainer needs."""

    rank: int
    world_size: int
    local_rank: int
    backend: str
    device: torch.device
    _pending: tuple[Any, torch.Tensor, bytes] | None = field(default=None, repr=False)
    """The header broadcast a step started and the next one reads (with rank 0's payload)."""
    every: int = 1
    """Steps between two header exchanges while training: rank 0's last proposal, the same on every rank."""

    @property
    def is_leader(self) -> bool:
        return self.rank == 0

    # -- batches -----------------------------------------------------------------------------------

    def shard(self, batch_size: int) -> tuple[int, int]:
        """This rank's rows `[lo, hi)` of a global batch of `batch_size` (sizes differ by one at most)."""
        base, extra = divmod(batch_size, self.world_size)
        lo = self.rank * base + min(self.rank, extra)
        return lo, lo + base + (1 if self.rank < extra else 0)

    def weight(self, batch_size: int) -> float:
        """This rank's share of the global batch: its rows / all rows."""
        lo, hi = self.shard(batch_size)
        return (hi - lo) / batch_size

    def wrap(self, model: nn.Module) -> nn.Module:
        """The model inside DistributedDataParallel (its constructor copies rank 0's weights to all)."""
        from torch.nn.parallel import DistributedDataParallel

        if self.device.type == "cuda":
            return DistributedDataParallel(model, device_ids=[self.device.index])
        return DistributedDataParallel(model)

    # -- lockstep ----------------------------------------------------------------------------------

    def sync(self, report: bool, commands: list[tuple[str, Any, str]]) -> tuple[bool, list[tuple[str, Any, str]]]:
        """Rank 0's (report, commands) on every rank, now (with any still in the pipeline first); the
        other ranks' arguments are ignored."""
        before, earlier = self.flush()
        payload = self._payload(commands)
        header = self._header(report, payload, 1)
        self._broadcast(header)
        report, received = self._receive(header, payload)
        return before or report, earlier + received

    def exchange(
        self, report: bool, commands: list[tuple[str, Any, str]], every: int = 1
    ) -> tuple[bool, list[tuple[str, Any, str]]]:
        """Start broadcasting rank 0's (report, commands, steps to the next exchange) and return the
        previous call's (report, commands); `self.every` then holds the previous call's `every`."""
        before, earlier = self.flush()
        payload = self._payload(commands)
        header = self._header(report, payload, every)
        work = dist.broadcast(header, src=0, async_op=True)
        self._pending = (work, header, payload)
        return before, earlier

    def flush(self) -> tuple[bool, list[tuple[str, Any, str]]]:
        """What the pipeline still holds: the last `exchange`'s (report, commands), or (False, [])."""
        if self._pending is None:
            return False, []
        work, header, payload = self._pending
        self._pending = None
        work.wait()
        return self._receive(header, payload)

    def _payload(self, commands: list[tuple[str, Any, str]]) -> bytes:
        return json.dumps(commands).encode() if self.is_leader and commands else b""

    def _header(self, report: bool, payload: bytes, every: int) -> torch.Tensor:
        header = torch.tensor([int(report), len(payload), max(1, every)], dtype=torch.int64)
        return header.to(self.device) if self.backend == "nccl" else header  # NCCL moves CUDA tensors only

    def _receive(self, header: torch.Tensor, payload: bytes) -> tuple[bool, list[tuple[str, Any, str]]]:
        report, size, self.every = (int(v) for v in header.cpu().tolist())
        if not size:
            return bool(report), []
        data = torch.frombuffer(bytearray(payload), dtype=torch.uint8) if self.is_leader else torch.empty(size, dtype=torch.uint8)
        self._broadcast(data)
        return bool(report), [tuple(c) for c in json.loads(bytes(data.tolist()))]  # type: ignore[misc]

    def _broadcast(self, tensor: torch.Tensor) -> None:
        if self.backend == "nccl" and tensor.device.type != "cuda":
            moved = tensor.to(self.device)
            dist.broadcast(moved, src=0)
            tensor.copy_(moved.cpu())
        else:
            dist.broadcast(tensor, src=0)

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        """The element-wise sum of `values` over all ranks (a new tensor on the values' device)."""
        out = values.detach().clone()
        if self.backend == "nccl" and out.device.type != "cuda":
            out = out.to(self.device)
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        return out

    def sum_async(self, values: torch.Tensor) -> tuple[Any, torch.Tensor]:
        """Start summing `values` over all ranks: (work, tensor); the tensor holds the sum after `work.wait()`."""
        out = values.detach().clone()
        if self.backend == "nccl" and out.device.type != "cuda":
            out = out.to(self.device)
        return dist.all_reduce(out, op=dist.ReduceOp.SUM, async_op=True), out

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's `obj` (plain data), in rank order."""
        found: list[Any] = [None] * self.world_size
        dist.all_gather_object(found, obj)
        return found

    def close(self) -> None:
        """Leave the group together: the control pipeline emptied, then a barrier (no rank destroys the group
        while another is still inside a collective), then the group destroyed."""
        self.flush()
        if dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()


def init_from_env(device_name: str) -> Dist:
    """Join the process group `torch.distributed.run` described in the environment.

    `device_name` "cuda" (or "auto" with GPUs) gives NCCL with one GPU per local rank; anything
    else gloo on the CPU.
    """
    _die_with_parent()
    rank = int(os.environ["RANK"])
    world_size = int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    wants_cuda = device_name.startswith("cuda") or (device_name == "auto" and torch.cuda.is_available())
    if wants_cuda:
        if not torch.cuda.is_available():
            raise RuntimeError("device cuda is not available here (no CUDA GPU or a CPU-only torch); use cpu")
        if local_rank >= torch.cuda.device_count():
            raise RuntimeError(
                f"local rank {local_rank} has no GPU: this node has {torch.cuda.device_count()}; "
                f"use --nproc-per-node {torch.cuda.device_count()} or fewer"
            )
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        device = torch.device("cpu")
        backend = "gloo"
    dist.init_process_group(backend=backend, timeout=timedelta(minutes=30))
    return Dist(rank, world_size, local_rank, backend, device)


def _die_with_parent() -> None:
    """Linux: end this rank when its launcher dies, even by SIGKILL, so no rank is left behind.

    torch.distributed.run starts each rank in a session of its own; when the launcher is ended
    normally it stops them itself, but a launcher killed outright could not."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the launcher is already gone
        os.kill(os.getpid(), signal.SIGTERM)

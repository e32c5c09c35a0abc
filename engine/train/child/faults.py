"""Provides `Faults`, the part of `Trainer` that turns what goes wrong in a step into something the learner can act on.

A loss that is NaN or inf stops the run and names the step and the learning rate to lower; running
out of memory pauses it and keeps the weights; any other error in a step fails the run with one
line. The loop itself never dies: `_guarded_step` catches what a step raises (except on a rank of a
data-parallel run, which cannot recover alone: torch.distributed.run ends the others).
"""

from __future__ import annotations

import gc
import re

import torch

from llm_tutor.engine.train.child.build import is_out_of_memory
from llm_tutor.engine.train.events import TrainError


class Faults:
    """The fault half of `Trainer` (a mixin)."""

    def _guarded_step(self) -> None:
        """One `train_step`; whatever it raises becomes a `TrainError` and a state, never the loop's end."""
        try:
            self.train_step()
        except Exception as err:  # the loop must survive anything a step can raise
            if self.dist is not None:
                # one rank cannot recover alone while the others wait for it: end this rank, and
                # torch.distributed.run ends the others and reports which rank failed and why
                raise
            if is_out_of_memory(err):
                self._recover_from_oom(err)
            elif not self._weights_finite() or re.search(r"\b(inf|nan)\b", str(err), re.IGNORECASE):
                # e.g. sampling from a model whose weights an enormous learning rate blew up: its
                # probabilities overflow to inf or NaN although the last loss was still finite
                lr = self.train_config.lr
                self._fail(
                    "nan",
                    f"the model's numbers overflowed to inf or NaN by step {self.step} with learning rate {lr:g} "
                    f"({type(err).__name__}: {err}); training stopped. "
                    f"Try a lower learning rate (for example {lr / 10:g}) and reset.",
                )
            else:
                self._fail("error", f"step {self.step + 1} failed: {type(err).__name__}: {err}")

    @torch.no_grad()
    def _weights_finite(self) -> bool:
        """Whether every parameter is finite (checked only after a failure: it reads every weight)."""
        try:
            return all(bool(torch.isfinite(p).all()) for p in self.task.model.parameters())
        except Exception:  # noqa: BLE001 - a broken model: report the original error
            return True

    def _error(self, kind: str, message: str) -> None:
        self.last_error = TrainError(self.parent, kind, message, self.step)
        self.emit(self.last_error)

    def _fail(self, kind: str, message: str) -> None:
        self._error(kind, message)
        self._pending_steps = 0
        self._set_state("failed", message)

    def _recover_from_oom(self, err: BaseException) -> None:
        """Free what the failed step held, pause, and say what to change; the weights are kept."""
        self.optimizer.zero_grad(set_to_none=True)
        self._window = []
        self._pending_steps = 0
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        self._error(
            "oom",
            f"out of memory at step {self.step + 1} with batch size {self.train_config.batch_size} "
            f"on {self.device} ({first_line[:160]}). The run is paused and the model is kept: lower the "
            f"batch size or the model's size, then press play.",
        )
        self._reset_window()
        self._set_state("paused", "out of memory")

    def _nan(self, value: float, step: int) -> None:
        lr = self.train_config.lr
        self._fail(
            "nan",
            f"the loss became {value} at step {step} with learning rate {lr:g}; training stopped. "
            f"Try a lower learning rate (for example {lr / 10:g}) and reset.",
        )

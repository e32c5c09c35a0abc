"""Provides `Reporting`, the part of `Trainer` that turns steps into events without slowing the loop down.

A step only keeps its loss in a window (`_after_step`: a float on the CPU, a 0-d tensor on a GPU).
At most every `report_interval_s` (20 Hz in the lab) the window is synced once, checked for NaN/inf,
appended to the compact `history` series and sent as one `TrainMetrics` carrying every per-step
loss. Validation, samples and the MLP's boundary picture run on their own, slower clocks, each
stretched when it costs more than `extras_budget` of the time (`_due`). In a data-parallel run the
window is summed over the ranks by one all-reduce that runs in the background until the next step.
"""

from __future__ import annotations

import gc
import math
import time
from typing import Any, Callable

import torch

from llm_tutor.engine.train.child.checkpoint import CheckpointError, save_checkpoint
from llm_tutor.engine.train.events import TrainCheckpointSaved, TrainMetrics, TrainPicture, TrainSample

MAX_STRETCH = 6.0
"""An extra (validation, sample, picture) never waits longer than this many of its intervals."""


class Reporting:
    """The reporting half of `Trainer` (a mixin)."""

    def _kept_loss(self, loss: torch.Tensor) -> tuple[torch.Tensor, Any]:
        """(the loss to differentiate, its value for the report), or (loss, None) when a CPU loss is not
        finite: the run then stopped before the update, so a NaN never reaches the weights."""
        if self.dist is not None:
            # this rank's mean loss, weighted by its share of the global batch: summed over ranks it
            # is the global batch's mean loss; DDP averages the gradients over ranks, so scaling by
            # share × ranks makes that average the gradient of the global mean (1 for equal shares)
            share = self.dist.weight(self.train_config.batch_size)
            value: Any = loss.detach() * share
            scale = share * self.dist.world_size
            return (loss * scale if scale != 1.0 else loss), value
        if self.device.type == "cpu":
            # on the CPU reading the value costs nothing: check it before the update. On a GPU that
            # read would stall the queue of kernels, so the losses stay on the device and are
            # checked at the next report.
            value = loss.item()
            if not math.isfinite(value):
                self._report(time.perf_counter())
                self._nan(value, self.step + 1)
                return loss, None
            return loss, value
        return loss, loss.detach()

    def _after_step(self, value: Any) -> None:
        """Keep the step's loss; report when one is due; finish the run at its step budget."""
        cfg = self.train_config
        self._window.append(value)
        self._window_tokens += self.task.tokens_per_step(cfg.batch_size)
        now = time.perf_counter()
        budget_done = cfg.steps > 0 and self.step >= cfg.steps
        timed = now - self._last_report >= cfg.report_interval_s
        if self.dist is not None:  # rank 0's clock decides for all (an exchange later); its controls come along
            timed = self._exchange(now, timed)
        if self._report_first or budget_done or timed or (cfg.report_every and self.step % cfg.report_every == 0):
            self._report(now, force=budget_done)
        if budget_done and self.state not in ("failed",):
            self._set_state("finished", f"reached the step budget ({cfg.steps})")

    def _reset_window(self) -> None:
        now = time.perf_counter()
        self._window: list[Any] = []  # per-step losses: floats (CPU) or 0-d tensors (GPU)
        self._window_first = self.step + 1
        self._window_start = now
        self._window_tokens = 0
        self._last_report = now
        self._pending_report: Any = None
        """A data-parallel report whose all-reduce runs in the background (see `_report`)."""

    def _report(self, now: float, force: bool = False, wait: bool = False) -> None:
        """Sync the window's losses once, check them, and emit the aggregated metrics.

        In a data-parallel run the window's losses are summed over the ranks by one all-reduce,
        which carries rank 0's decision to evaluate too. Unless `force`d (extras due at once) or
        told to `wait`, that all-reduce runs in the background and the report is finished at the
        next step (`_finish_report`), so a report never makes the ranks wait on each other."""
        self._finish_report()
        if not self._window:
            return
        cfg = self.train_config
        eval_due = cfg.eval_interval_s > 0 and (force or self._due("eval", now, self._last_eval, cfg.eval_interval_s))
        first, tokens = self._window_first, self._window_tokens
        window_s = max(now - self._window_start, 1e-9)
        window, self._window = self._window, []
        self._report_first = False
        self._window_first = self.step + 1
        self._window_tokens = 0
        self._window_start = now  # what follows (evaluation, samples) counts against the next window
        self._last_report = now
        self.elapsed_s += window_s
        if self.dist is not None:
            flag = torch.tensor([1.0 if eval_due and self.leads else 0.0], device=self.device)
            packed = torch.cat([torch.stack(window).float().reshape(-1), flag])  # the others add 0 to the flag
            if force or wait:
                summed = self.dist.sum(packed).cpu().tolist()
                self._emit_report(summed[:-1], summed[-1] > 0, first, window_s, tokens, now, force)
            else:
                self._pending_report = (self.dist.sum_async(packed), (first, window_s, tokens, now))
            return
        if isinstance(window[0], torch.Tensor):
            values = torch.stack(window).float().cpu().tolist()
        else:
            values = window
        self._emit_report(values, eval_due, first, window_s, tokens, now, force)

    def release_distributed(self) -> None:
        """Before the process group is destroyed: wait for a report still being summed and drop DDP's wrapper.

        An async all-reduce left pending, or a DDP reducer that outlives its process group, can end a rank
        with SIGABRT ("terminate called without an active exception") as the interpreter exits.
        """
        if self.dist is None:
            return
        self._finish_report()
        self.task.wrapped = None
        gc.collect()

    def _finish_report(self) -> None:
        """Emit the report whose all-reduce was started in the background (every rank calls it at the same point)."""
        pending, self._pending_report = self._pending_report, None
        if pending is None:
            return
        (work, packed), (first, window_s, tokens, now) = pending
        work.wait()
        summed = packed.cpu().tolist()
        self._emit_report(summed[:-1], summed[-1] > 0, first, window_s, tokens, now, False)

    def _emit_report(
        self, values: list[float], eval_due: bool, first: int, window_s: float, tokens: int, now: float, force: bool
    ) -> None:
        """Check the window's losses, keep them, then emit the metrics and whatever extras are due."""
        cfg = self.train_config
        bad = next((i for i, v in enumerate(values) if not math.isfinite(v)), None)
        losses = values if bad is None else values[:bad]
        self.history.extend(range(first, first + len(losses)), losses)
        steps_per_s = len(values) / window_s
        tokens_per_s = tokens / window_s if tokens else None
        self._rate_ema = steps_per_s if self._rate_ema is None else 0.7 * self._rate_ema + 0.3 * steps_per_s
        if bad is not None:
            if losses:
                self._emit_metrics(first, losses, steps_per_s, tokens_per_s, {})
            self._nan(values[bad], first + bad)
            return
        evaluated: dict[str, float] = {}
        if eval_due:
            evaluated = self._timed("eval", self.evaluate)
            self._last_eval = now
        self._emit_metrics(first, losses, steps_per_s, tokens_per_s, evaluated)
        if self.task.kind == "gpt" and cfg.sample_interval_s > 0 and cfg.sample_chars > 0 and self.leads:
            if force or self._due("sample", now, self._last_sample, cfg.sample_interval_s):
                self._timed("sample", self._emit_sample)
                self._last_sample = now
        if self.task.kind == "mlp" and cfg.picture_interval_s > 0:
            if force or self._due("picture", now, self._last_picture, cfg.picture_interval_s):
                self._timed("picture", self._emit_picture)
                self._last_picture = now
        if self.autosave_path and self.leads and now - self._last_autosave >= self.autosave_interval_s:
            self._last_autosave = now
            try:
                save_checkpoint(self.autosave_path, self.checkpoint_payload())
            except CheckpointError as err:
                self._error("checkpoint", str(err))
            else:
                self.emit(TrainCheckpointSaved(self.parent, self.autosave_path, self.step))

    def _due(self, extra: str, now: float, last: float, interval: float) -> bool:
        """Whether an extra (evaluation, sample, picture) should run now.

        Besides its own interval, an extra waits until its typical cost is at most
        `extras_budget` of the time since (but never more than MAX_STRETCH intervals), so a slow
        model evaluates less often instead of training more slowly.
        """
        stretched = self._cost[extra] / max(self.train_config.extras_budget, 1e-6)
        wait = max(interval, min(stretched, MAX_STRETCH * interval))
        return now - last >= wait

    def _timed(self, extra: str, fn: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        try:
            return fn()
        finally:
            cost = time.perf_counter() - start
            previous = self._cost[extra]
            # the first call pays for warm-up (allocations, caches): trust it only halfway
            self._cost[extra] = cost / 2 if previous == 0.0 else 0.5 * previous + 0.5 * cost

    def _emit_metrics(
        self,
        first: int,
        losses: list[float],
        steps_per_s: float,
        tokens_per_s: float | None,
        evaluated: dict[str, float],
    ) -> None:
        cfg = self.train_config
        total = cfg.steps
        last = first + len(losses) - 1
        progress = min(1.0, last / total) if total else None
        eta = (total - last) / self._rate_ema if total and self._rate_ema else None
        self.emit(
            TrainMetrics(
                parent=self.parent,
                step=last,
                loss=sum(losses) / len(losses),
                first_step=first,
                losses=list(losses),
                steps_per_s=steps_per_s,
                tokens_per_s=tokens_per_s,
                val_loss=evaluated.get("val_loss"),
                accuracy=evaluated.get("accuracy"),
                lr=cfg.lr,
                batch_size=cfg.batch_size,
                grad_norms=self.grad_norms() if self.leads else {},
                extras=self.task.extras(),
                elapsed_s=self.elapsed_s,
                total_steps=total,
                progress=progress,
                eta_s=max(0.0, eta) if eta is not None else None,
            )
        )

    def evaluate(self) -> dict[str, float]:
        """Validation figures in eval mode (dropout off) and without autograd, back to train mode after.

        Without `no_grad` each validation forward pass recorded a graph and kept its activations: the
        lab's MLP trained 3-4 % slower with validation on than off (paired slices), though the pass
        itself takes half a millisecond."""
        model = self.task.model
        model.eval()
        try:
            cfg = self.train_config
            with torch.no_grad():
                result = self.task.evaluate(self.eval_gen, batches=cfg.eval_batches, batch_size=cfg.batch_size)
        finally:
            model.train()
        if self.dist is not None and result:  # each rank measured its rows: weight and add them up
            keys = sorted(result)
            share = self.dist.weight(cfg.batch_size)
            summed = self.dist.sum(torch.tensor([result[k] * share for k in keys], dtype=torch.float64, device=self.device))
            result = dict(zip(keys, summed.cpu().tolist()))
        self.last_val = result
        if "val_loss" in result:
            self.val_history.append(self.step, result["val_loss"])
        return result

    @torch.no_grad()
    def grad_norms(self) -> dict[str, float]:
        """L2 norm of the gradient per layer group (from the last step's `.grad`)."""
        groups = self.task.layer_groups()
        norms: list[torch.Tensor] = []
        names: list[str] = []
        for name, params in groups.items():
            grads = [p.grad for p in params if p.grad is not None]
            if not grads:
                continue
            norms.append(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])))
            names.append(name)
        if not norms:
            return {}
        values = torch.stack(norms).float().cpu().tolist()
        return dict(zip(names, values))

    def _emit_sample(self) -> None:
        # one sequence, one token at a time: tensors this small gain nothing from more threads and,
        # on a busy machine, lose a lot to threads waiting on each other (measured: 0.4 s vs 2.6 s)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            text = self.task.sample(self.sample_gen, self.train_config.sample_chars, self.train_config.temperature)
        finally:
            torch.set_num_threads(threads)
        if text is not None:
            self.emit(TrainSample(self.parent, self.step, text, self.train_config.temperature))

    def _emit_picture(self) -> None:
        picture = self.task.picture()
        if picture is not None:
            self.emit(TrainPicture(parent=self.parent, step=self.step, **picture))

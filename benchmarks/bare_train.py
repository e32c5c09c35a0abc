"""Bare training loops for the MLP and the GPT, the peers of the training lab's throughput target.

The bare loop is the lab's own step (same task, batch sampler, optimizer, gradient clipping and
thread count) with nothing around it: no reporting, no NaN checks, no controls. With `--trainer`
the same model is also trained through `llm_tutor.engine.train.child.trainer.Trainer`, its events
encoded to JSON lines as the trainer process would send them, and the ratio is printed:

    python benchmarks/bare_train.py mlp gpt --seconds 10 --trainer --json out.json

Runs alternate (bare, trainer, bare, trainer...) and the median of `--repeats` is kept, so a
noisy neighbour hurts both sides alike. Each run first warms up for a few steps.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Any

import torch

from llm_tutor.engine.train import events
from llm_tutor.engine.train.config import default_configs
from llm_tutor.engine.train.child.build import build_task, make_optimizer
from llm_tutor.engine.train.child.trainer import Trainer

WARMUP_STEPS = 5


class BareLoop:
    """The lab's step for `model` with nothing around it; `run(seconds)` trains on from where it stopped."""

    def __init__(self, model: str, overrides: dict[str, Any]) -> None:
        self.model = model
        model_config, cfg = default_configs(model)
        for key, value in overrides.items():
            setattr(cfg, key, value)
        self.cfg = cfg
        # built as the lab's trainer builds them (same calls, same order): a loop's speed on this machine
        # moves by several per cent with where its tensors happen to lie, which is not what is compared
        built = Trainer(model, model_config, cfg)
        self.task, self.optimizer, self.g = built.task, built.optimizer, built.data_gen
        self.params = list(self.task.model.parameters())
        for _ in range(WARMUP_STEPS):
            self.step()

    def step(self) -> torch.Tensor:
        cfg, task, optimizer = self.cfg, self.task, self.optimizer
        batch = task.batch(cfg.batch_size, self.g)
        loss = task.loss(batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.params, cfg.grad_clip)
        optimizer.step()
        return loss

    def run(self, seconds: float) -> dict[str, Any]:
        """Steps per second over about `seconds`."""
        n = 0
        start = time.perf_counter()
        deadline = start + seconds
        while True:
            loss = self.step()
            n += 1
            if time.perf_counter() >= deadline:
                break
        elapsed = time.perf_counter() - start
        return _result(self.model, "bare", n, elapsed, self.task.tokens_per_step(self.cfg.batch_size), loss.item())


def bare(model: str, seconds: float, overrides: dict[str, Any]) -> dict[str, Any]:
    """Steps per second of the plain loop for about `seconds` (after a few warm-up steps)."""
    return BareLoop(model, overrides).run(seconds)


def serve(model: str, overrides: dict[str, Any]) -> None:
    """Build the loop, say "ready", then for each line of stdin (seconds) train that long and print the result:
    the peer of a benchmark that alternates slices with the lab in one session."""
    loop = BareLoop(model, overrides)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            break
        print(json.dumps(loop.run(float(line))), flush=True)


def with_trainer(model: str, seconds: float, overrides: dict[str, Any], lab_extras: bool) -> dict[str, Any]:
    """Steps per second through the Trainer, reporting at 20 Hz into JSON lines."""
    model_config, cfg = default_configs(model)
    for key, value in overrides.items():
        setattr(cfg, key, value)
    cfg.steps = 0
    if not lab_extras:
        cfg.eval_interval_s = 0
        cfg.sample_interval_s = 0
        cfg.picture_interval_s = 1e9
    sink = open(os.devnull, "wb")
    counted: dict[str, Any] = {"messages": 0}

    def emit(event: Any) -> None:
        sink.write(events.encode(event))
        counted["messages"] += 1

    trainer = Trainer(model, model_config, cfg, emit=emit)
    trainer.single_step(WARMUP_STEPS)
    trainer.run(exit_when_done=True)
    first = trainer.step
    start = time.perf_counter()
    trainer.train_config.steps = 0
    # stop from a timer thread, as the UI would: the loop applies it between two steps
    import threading

    timer = threading.Timer(seconds, trainer.stop)
    timer.start()
    trainer.run(exit_when_done=False, play=True)
    elapsed = time.perf_counter() - start
    timer.cancel()
    sink.close()
    n = trainer.step - first
    last = trainer.history.last
    result = _result(model, "trainer+lab" if lab_extras else "trainer", n, elapsed,
                     trainer.task.tokens_per_step(cfg.batch_size), last[1] if last else float("nan"))
    result["messages_per_s"] = counted["messages"] / elapsed
    return result


def _result(model: str, mode: str, n: int, elapsed: float, tokens: int, loss: float) -> dict[str, Any]:
    out = {"model": model, "mode": mode, "steps": n, "seconds": elapsed, "steps_per_s": n / elapsed, "loss": loss}
    if tokens:
        out["tokens_per_s"] = n * tokens / elapsed
    return out


def measure(
    models: tuple[str, ...] = ("mlp", "gpt"),
    seconds: float = 5.0,
    repeats: int = 3,
    lab_extras: bool = False,
    device: str = "cpu",
) -> list[dict[str, Any]]:
    """Benchmark records (`benchmarks/run.py` format): Trainer steps/s against the bare loop."""
    overrides = {"device": device}
    records = []
    for model in models:
        bare_runs, trainer_runs = [], []
        for _ in range(repeats):
            bare_runs.append(bare(model, seconds, overrides))
            trainer_runs.append(with_trainer(model, seconds, overrides, lab_extras))
        ours = statistics.median(r["steps_per_s"] for r in trainer_runs)
        peer = statistics.median(r["steps_per_s"] for r in bare_runs)
        ratio = ours / peer
        records.append(
            {
                "name": f"train_throughput_{model}",
                "value": round(ours, 2),
                "unit": "steps/s",
                "target": ">= 0.95x the bare loop",
                "peer": round(peer, 2),
                "ratio": round(ratio, 3),
                "ok": ratio >= 0.95,
                "runs": repeats,
                "threads": torch.get_num_threads(),
                "device": device,
                "messages_per_s": round(statistics.median(r["messages_per_s"] for r in trainer_runs), 1),
                "method": "same task, optimizer and threads; Trainer reporting at 20 Hz into JSON lines"
                + (" with validation, samples and pictures" if lab_extras else "")
                + "; alternating runs, median",
            }
        )
    return records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", default=["mlp", "gpt"], help="mlp and/or gpt (default both)")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per measured run (default 5)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per mode; the median is kept (default 3)")
    parser.add_argument("--trainer", action="store_true", help="also measure the Trainer and print the ratio")
    parser.add_argument("--lab-extras", action="store_true", help="the Trainer also evaluates, samples and draws")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", metavar="FILE", help="also write the records to FILE")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.trainer:
        records = measure(tuple(args.models), args.seconds, args.repeats, args.lab_extras, args.device)
        for r in records:
            print(f"{r['name']}: trainer {r['value']} steps/s, bare {r['peer']} steps/s, ratio {r['ratio']}", flush=True)
    else:
        records = []
        for model in args.models:
            runs = [bare(model, args.seconds, {"device": args.device}) for _ in range(args.repeats)]
            rate = statistics.median(r["steps_per_s"] for r in runs)
            record = {"name": f"bare_train_{model}", "value": round(rate, 2), "unit": "steps/s", "runs": args.repeats}
            if "tokens_per_s" in runs[0]:
                record["tokens_per_s"] = round(statistics.median(r["tokens_per_s"] for r in runs), 1)
            records.append(record)
            print(f"{model}: bare {rate:.2f} steps/s", flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(records, f, indent=2)
    else:
        json.dump(records, sys.stdout, indent=2)
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())

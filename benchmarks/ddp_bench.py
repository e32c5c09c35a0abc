"""Data-parallel GPT training on CPU processes (gloo): tokens/s at 1 and 2 processes, and the lab's overhead.

    python benchmarks/ddp_bench.py [--quick] [--json FILE]

1. **Scaling.** `llm-tutor train gpt --headless --json` on 1 process, then on 2 with `--baseline` set to
   the first run's tokens/s: the second run's final line gives the scaling efficiency,
   tokens/s(2) / (2 × tokens/s(1)). On a 2-core machine expect at most 1.0: each process needs a core,
   and the all-reduce of the gradients costs time of its own.
2. **The lab's overhead.** In the same two rank processes (started through torch.distributed.run),
   slices of a bare DDP loop (the trainer's own model, shards, optimizer and clipping, nothing
   around them) alternate with slices of the lab's `Trainer` (lockstep controls, reports at 20 Hz
   encoded to JSON lines, validation and samples on their clocks); the ratio of the medians is
   the lab's throughput against the bare loop: the target is at least 0.95.

A smaller GPT than the lab's default keeps the runs short (emb_dim 64, 2 layers, context 64,
global batch 32). The machine's load is recorded with the results.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

MODEL = {"emb_dim": 64, "n_layers": 2, "n_heads": 4, "context_length": 64}
BATCH = 32
RESULT = "DDP_BENCH_RESULT "


def cli(steps: int, processes: int, baseline: float | None = None) -> dict[str, Any]:
    """The final JSON line of one headless run."""
    sets = [arg for key, value in MODEL.items() for arg in ("--set", f"{key}={value}")]
    cmd = [sys.executable, "-m", "llm_tutor.tui.cli", "train", "gpt", "--headless", "--json", "--device", "cpu",
           "--steps", str(steps), "--batch-size", str(BATCH), "--report-interval", "0.5",
           "--nproc-per-node", str(processes), *sets]
    if baseline:
        cmd += ["--baseline", str(baseline)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[3:8])} failed: {done.stderr.strip()[-400:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def scaling(quick: bool) -> list[dict[str, Any]]:
    steps = 40 if quick else 150
    one = cli(steps, 1)
    two = cli(steps, 2, baseline=one["tokens_per_s"])
    efficiency = two["scaling_efficiency"]
    return [
        {"name": "ddp_tokens_per_s_1proc", "value": round(one["tokens_per_s"]), "unit": "tok/s",
         "target": "reported", "ok": True, "steps": steps},
        {"name": "ddp_tokens_per_s_2proc", "value": round(two["tokens_per_s"]), "unit": "tok/s",
         "target": "reported (2 cores: expect <= 2x)", "peer": round(one["tokens_per_s"]),
         "ratio": round(two["tokens_per_s"] / one["tokens_per_s"], 3), "ok": True, "steps": steps,
         "per_rank_tokens_per_s": [round(r) for r in two["per_rank_tokens_per_s"]]},
        {"name": "ddp_scaling_efficiency_2proc", "value": round(efficiency, 3), "unit": "x",
         "target": "reported (tok/s(2) / (2 x tok/s(1)))", "ok": True},
    ]


# -- the lab against a bare DDP loop, inside the rank processes --------------------------------------------


def rank_job(slice_s: float, pairs: int) -> None:
    """One rank: alternate bare and lab slices; rank 0 prints the medians."""
    import torch

    from llm_tutor.engine.train import events
    from llm_tutor.engine.train.config import GPTConfig, TrainConfig
    from llm_tutor.engine.train.distributed import init_from_env
    from llm_tutor.engine.train.trainer import Trainer

    dist = init_from_env("cpu")
    train = TrainConfig(steps=0, lr=3e-3, batch_size=BATCH, grad_clip=1.0, optimizer="adamw")
    if os.environ.get("DDP_BENCH_NO_EXTRAS"):  # to tell the lab's reporting from its validation and samples
        train.eval_interval_s = train.sample_interval_s = 0
    sink = open(os.devnull, "wb")  # noqa: SIM115 - the worker writes its events to a pipe; here they go nowhere

    def emit(event: Any) -> None:
        sink.write(events.encode(event))

    lab = Trainer("gpt", GPTConfig(**MODEL), train, emit=emit if dist.is_leader else (lambda e: None), dist=dist)
    built = Trainer("gpt", GPTConfig(**MODEL), TrainConfig(**vars(train)), dist=dist)
    task, optimizer, gen = built.task, built.optimizer, built.data_gen
    params = list(task.model.parameters())
    share = dist.weight(BATCH)

    def bare_step() -> None:
        loss = task.loss(task.batch(BATCH, gen)) * (share * dist.world_size)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()

    def agreed(n: float) -> int:
        """Rank 0's step count for a slice (every rank must run the same number of steps)."""
        value = torch.tensor([int(n)], dtype=torch.int64)
        torch.distributed.broadcast(value, src=0)
        return max(3, int(value))

    for _ in range(3):
        bare_step()
    start = time.perf_counter()
    for _ in range(5):
        bare_step()
    steps = agreed(slice_s * 5 / (time.perf_counter() - start))
    lab.single_step(3)
    lab.run(exit_when_done=True)
    tokens = task.tokens_per_step(BATCH)
    bare_rates, lab_rates, bare_cpu, lab_cpu = [], [], [], []
    for pair in range(pairs + 1):  # the first pair warms both up and is not counted
        t, c = time.perf_counter(), time.process_time()
        for _ in range(steps):
            bare_step()
        bare_rates.append(steps * tokens / (time.perf_counter() - t))
        bare_cpu.append((time.process_time() - c) / steps)
        lab.handle("set_steps", lab.step + steps)  # every rank, now (the loop is not running)
        t, c = time.perf_counter(), time.process_time()
        lab.run(exit_when_done=True, play=True)
        lab_rates.append(steps * tokens / (time.perf_counter() - t))
        lab_cpu.append((time.process_time() - c) / steps)
    cpu = dist.gather({"bare": bare_cpu[1:], "lab": lab_cpu[1:]})
    if dist.is_leader:
        found = {"bare": bare_rates[1:], "lab": lab_rates[1:], "steps": steps, "cpu_s_per_step": cpu}
        print(RESULT + json.dumps(found), flush=True)
    dist.close()


def overhead(quick: bool) -> list[dict[str, Any]]:
    slice_s, pairs = (2.0, 5) if quick else (5.0, 9)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, str(HERE / "ddp_bench.py"), "--launch-pairs", str(pairs), "--slice", str(slice_s)]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900, cwd=ROOT)
    line = next((x for x in done.stdout.splitlines() if x.startswith(RESULT)), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"the rank processes failed: {done.stderr.strip()[-400:]}")
    found = json.loads(line[len(RESULT):])
    ours, peer = statistics.median(found["lab"]), statistics.median(found["bare"])
    ratio = statistics.median(lab / bare for lab, bare in zip(found["lab"], found["bare"]))
    cpu_lab = sum(statistics.median(rank["lab"]) for rank in found["cpu_s_per_step"])
    cpu_bare = sum(statistics.median(rank["bare"]) for rank in found["cpu_s_per_step"])
    return [
        {"name": "ddp_lab_throughput_2proc", "value": round(ours), "unit": "tok/s", "target": ">= 0.95x a bare DDP loop",
         "peer": round(peer), "ratio": round(ratio, 3), "ok": ratio >= 0.95, "pairs": pairs,
         "steps_per_slice": found["steps"], "cpu_ratio": round(cpu_bare / cpu_lab, 3),
         "method": "2 gloo ranks; bare DDP loop and the lab's Trainer alternate in the same processes; "
                   "ratio: median of the pairs' ratios; cpu_ratio: CPU seconds per step, bare / lab, both ranks"},
    ]


def measure(quick: bool) -> list[dict[str, Any]]:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    records = scaling(quick) + overhead(quick)
    for record in records:
        record["load_1min_before"] = round(load, 2) if load is not None else None
    return records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path, metavar="FILE")
    parser.add_argument("--launch-pairs", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--slice", type=float, default=3.0, help=argparse.SUPPRESS)
    parser.add_argument("--rank-pairs", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rank_pairs:
        rank_job(args.slice, args.rank_pairs)
        return 0
    if args.launch_pairs:
        from llm_tutor.engine.train import launch

        result = launch.launch(launch.Scale(nproc_per_node=2), "benchmarks.ddp_bench",
                               ["--rank-pairs", str(args.launch_pairs), "--slice", str(args.slice)])
        if result.code:
            print(result.message, file=sys.stderr)
        return result.code
    records = measure(args.quick)
    for record in records:
        print(json.dumps(record))
    if args.json:
        args.json.write_text(json.dumps(records, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

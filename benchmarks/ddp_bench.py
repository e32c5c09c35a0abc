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

The scaling runs use a smaller GPT than the lab's default to stay short (emb_dim 64, 2 layers,
context 64, global batch 32; validation and samples off: training throughput only), alternating 1 and 2
processes. The overhead is measured on the lab's default GPT (the target) and on that small one, whose
25 ms steps make the lab's per-step costs show. The machine's load is recorded with the results.
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
MODELS = {"small": MODEL, "default": {}}
"""The overhead runs' models: the small one above, and the lab's default GPT (GPTConfig())."""
BATCH = 32
RESULT = "DDP_BENCH_RESULT "


def cli(steps: int, processes: int, baseline: float | None = None) -> dict[str, Any]:
    """The final JSON line of one headless run."""
    quiet = {"eval_interval_s": 0, "sample_interval_s": 0}
    sets = [arg for key, value in {**MODEL, **quiet}.items() for arg in ("--set", f"{key}={value}")]
    cmd = [sys.executable, "-m", "llm_tutor.tui", "train", "gpt", "--headless", "--json", "--device", "cpu",
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
    steps, rounds = (60, 1) if quick else (200, 3)
    ones, twos = [], []
    for _ in range(rounds):  # alternating, so a busy neighbour slows both alike
        ones.append(cli(steps, 1))
        twos.append(cli(steps, 2, baseline=ones[-1]["tokens_per_s"]))
    one = {"tokens_per_s": statistics.median(r["tokens_per_s"] for r in ones)}
    two = min(twos, key=lambda r: abs(r["tokens_per_s"] - statistics.median(t["tokens_per_s"] for t in twos)))
    efficiency = two["tokens_per_s"] / (2 * one["tokens_per_s"])
    return [
        {"name": "ddp_tokens_per_s_1proc", "value": round(one["tokens_per_s"]), "unit": "tok/s",
         "target": "reported", "ok": True, "steps": steps, "runs": rounds},
        {"name": "ddp_tokens_per_s_2proc", "value": round(two["tokens_per_s"]), "unit": "tok/s",
         "target": "reported (2 cores: expect <= 2x)", "peer": round(one["tokens_per_s"]),
         "ratio": round(two["tokens_per_s"] / one["tokens_per_s"], 3), "ok": True, "steps": steps,
         "per_rank_tokens_per_s": [round(r) for r in two["per_rank_tokens_per_s"]]},
        {"name": "ddp_scaling_efficiency_2proc", "value": round(efficiency, 3), "unit": "x",
         "target": "reported (tok/s(2) / (2 x tok/s(1)))", "ok": True},
    ]


# -- the lab against a bare DDP loop, inside the rank processes --------------------------------------------


def rank_job(slice_s: float, pairs: int, model: str) -> None:
    """One rank: alternate bare and lab slices; rank 0 prints the medians."""
    import torch

    from llm_tutor.engine.train import events
    from llm_tutor.engine.train.config import GPTConfig, TrainConfig
    from llm_tutor.engine.train.child.distributed import init_from_env
    from llm_tutor.engine.train.child.trainer import Trainer

    dist = init_from_env("cpu")
    train = TrainConfig(steps=0, lr=3e-3, batch_size=BATCH, grad_clip=1.0, optimizer="adamw")
    if os.environ.get("DDP_BENCH_NO_EXTRAS"):  # to tell the lab's reporting from its validation and samples
        train.eval_interval_s = train.sample_interval_s = 0
    sink = open(os.devnull, "wb")  # noqa: SIM115 - the worker writes its events to a pipe; here they go nowhere

    def emit(event: Any) -> None:
        sink.write(events.encode(event))

    shape = MODELS[model]
    lab = Trainer("gpt", GPTConfig(**shape), train, emit=emit if dist.is_leader else (lambda e: None), dist=dist)
    built = Trainer("gpt", GPTConfig(**shape), TrainConfig(**vars(train)), dist=dist)
    task, optimizer, gen = built.task, built.optimizer, built.data_gen
    params = list(task.model.parameters())
    share = dist.weight(BATCH)

    def bare_step() -> None:
        loss = task.loss(task.batch(BATCH, gen)) * (share * dist.world_size)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()

    import threading

    for _ in range(3):
        bare_step()
    lab.single_step(3)
    lab.run(exit_when_done=True)
    tokens = task.tokens_per_step(BATCH)
    bare_rates, lab_rates, bare_cpu, lab_cpu, counts = [], [], [], [], []
    for pair in range(pairs + 1):  # the first pair warms both up and is not counted
        # the lab trains until rank 0 stops it, as the UI would (a control between two steps: no forced
        # report at the end, as a step budget would give); then the bare loop runs as many steps
        timer = threading.Timer(slice_s, lab.stop) if dist.is_leader else None
        first, t, c = lab.step, time.perf_counter(), time.process_time()
        if timer is not None:
            timer.start()
        lab.run(exit_when_done=False, play=True)
        steps = lab.step - first
        lab_rates.append(steps * tokens / (time.perf_counter() - t))
        lab_cpu.append((time.process_time() - c) / steps)
        t, c = time.perf_counter(), time.process_time()
        for _ in range(steps):
            bare_step()
        bare_rates.append(steps * tokens / (time.perf_counter() - t))
        bare_cpu.append((time.process_time() - c) / steps)
        counts.append(steps)
    cpu = dist.gather({"bare": bare_cpu[1:], "lab": lab_cpu[1:]})
    if dist.is_leader:
        found = {"bare": bare_rates[1:], "lab": lab_rates[1:], "steps": counts[1:], "cpu_s_per_step": cpu}
        print(RESULT + json.dumps(found), flush=True)
    dist.close()


def overhead(quick: bool, model: str = "default") -> list[dict[str, Any]]:
    slice_s, pairs = (3.0, 3) if quick else (6.0, 7)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, str(HERE / "ddp_bench.py"), "--launch-pairs", str(pairs), "--slice", str(slice_s),
           "--model", model]
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
        {"name": f"ddp_lab_throughput_2proc_{model}_gpt", "value": round(ours), "unit": "tok/s",
         "target": ">= 0.95x a bare DDP loop" if model == "default" else "reported",
         "peer": round(peer), "ratio": round(ratio, 3), "ok": ratio >= 0.95 or model != "default", "pairs": pairs,
         "steps_per_slice": statistics.median(found["steps"]), "cpu_ratio": round(cpu_bare / cpu_lab, 3),
         "method": "2 gloo ranks; bare DDP loop and the lab's Trainer alternate in the same processes; "
                   "ratio: median of the pairs' ratios; cpu_ratio: CPU seconds per step, bare / lab, both ranks"},
    ]


def measure(quick: bool) -> list[dict[str, Any]]:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    records = scaling(quick) + overhead(quick, "default") + overhead(quick, "small")
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
    parser.add_argument("--model", choices=sorted(MODELS), default="default", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rank_pairs:
        rank_job(args.slice, args.rank_pairs, args.model)
        return 0
    if args.launch_pairs:
        from llm_tutor.engine.train.child import ranks
        from llm_tutor.engine.train.launch import Scale

        result = ranks.launch(Scale(nproc_per_node=2), "benchmarks.ddp_bench",
                               ["--rank-pairs", str(args.launch_pairs), "--slice", str(args.slice),
                                "--model", args.model])
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

"""Run the benchmark suite: `python benchmarks/run.py [--quick] [--json FILE] [--only NAME ...]`.

Each module below exposes `measure(quick: bool) -> list[dict]`; records carry `name`, `value`,
`unit`, `target`, `ok`, and `peer`/`ratio` where a peer was measured in the same run. The suite
prints a table and, with `--json`, writes every record with the machine and the date.
Modules that cannot run here (a missing optional tool, no GPU) are reported as skipped.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

MODULES = [
    ("startup", "process start -> first screen"),
    ("kernel_bench", "cell round trip, interrupt, first torch result"),
    ("memory_bench", "UI and kernel RSS"),
    ("check_bench", "llm-tutor check --lang all"),
    ("lab_bench", "training lab throughput, redraw, responsiveness"),
    ("ssh_bench", "SSH connect and key latency (sessions confined)"),
    ("lab_load", "20 scripted students on one confined SSH lab"),
    ("ddp_bench", "GPT on 1 and 2 CPU processes (DDP, gloo); the lab vs a bare DDP loop"),
    ("gpu_bench", "GPT training on a CUDA GPU"),
]


def machine() -> dict:
    info = {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()}
    try:
        out = subprocess.run([sys.executable, "-c", "import torch; print(torch.__version__, torch.get_num_threads())"],
                             capture_output=True, text=True, timeout=120)
        version, threads = out.stdout.split()
        info["torch"] = version
        info["torch_threads"] = int(threads)
    except Exception:  # noqa: BLE001
        pass
    try:
        with open("/proc/cpuinfo") as fh:
            info["cpu"] = next((l.split(":", 1)[1].strip() for l in fh if l.startswith("model name")), "")
    except OSError:
        pass
    return info


def table(records: list[dict]) -> str:
    rows = [("benchmark", "value", "target", "peer", "ratio", "ok")]
    for r in records:
        if r.get("skipped"):
            rows.append((r["name"], "skipped", r.get("reason", "")[:40], "", "", ""))
            continue
        peer = f"{r['peer']} {r['unit']}" if "peer" in r else ""
        rows.append((r["name"], f"{r['value']} {r['unit']}", str(r.get("target", "")), peer,
                     str(r.get("ratio", "")), "yes" if r.get("ok") else "NO"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for i, row in enumerate(rows):
        lines.append("| " + " | ".join(cell.ljust(widths[j]) for j, cell in enumerate(row)) + " |")
        if i == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs: under two minutes, for development")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the records as JSON")
    parser.add_argument("--only", nargs="*", metavar="NAME", help="run only these modules")
    args = parser.parse_args(argv)

    records: list[dict] = []
    started = time.time()
    for name, what in MODULES:
        if args.only and name not in args.only:
            continue
        try:
            module = importlib.import_module(f"benchmarks.{name}")
        except ImportError as exc:
            records.append({"name": name, "skipped": True, "reason": f"not available: {exc}"})
            continue
        print(f"… {name}: {what}", file=sys.stderr, flush=True)
        t = time.perf_counter()
        try:
            found = module.measure(args.quick)
        except Exception as exc:  # noqa: BLE001 - one broken benchmark must not hide the others
            traceback.print_exc()
            found = [{"name": name, "skipped": True, "reason": f"{type(exc).__name__}: {exc}"}]
        for rec in found:
            rec.setdefault("module", name)
        records.extend(found)
        print(f"  {name} took {time.perf_counter() - t:.1f} s", file=sys.stderr, flush=True)

    print(table(records))
    if args.json:
        payload = {
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": machine(),
            "quick": args.quick,
            "duration_s": round(time.time() - started, 1),
            "records": records,
        }
        args.json.write_text(json.dumps(payload, indent=2))
        print(f"wrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`llm-tutor check --lang all` wall time: the whole course, both languages, on this machine."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path


def measure(quick: bool = False) -> list[dict]:
    exe = str(Path(sys.executable).parent / "llm-tutor")
    runs = 1 if quick else 3
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        proc = subprocess.run([exe, "check", "--lang", "all", "--device", "cpu"], capture_output=True, text=True)
        times.append(time.perf_counter() - t)
        if proc.returncode != 0:
            raise RuntimeError(f"check failed: {proc.stdout[-500:]} {proc.stderr[-500:]}")
    best = sorted(times)[len(times) // 2]
    return [{"name": "check_all_lessons", "value": round(best, 1), "unit": "s", "target": "<= 60 s", "ok": best <= 60,
             "runs": runs, "spread": [round(min(times), 1), round(max(times), 1)],
             "method": "wall time of `llm-tutor check --lang all` (16 lesson files), median"}]


if __name__ == "__main__":
    print(json.dumps(measure("--quick" in sys.argv), indent=2))

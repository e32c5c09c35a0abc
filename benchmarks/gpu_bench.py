"""GPT training throughput on a CUDA GPU beside the CPU figure; skipped cleanly without one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def _train(device: str, steps: int) -> dict:
    exe = str(Path(sys.executable).parent / "llm-tutor")
    proc = subprocess.run([exe, "train", "gpt", "--headless", "--json", "--steps", str(steps), "--device", device,
                           "--seed", "1"], capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}")
    lines = [json.loads(l) for l in proc.stdout.splitlines() if l.strip()]
    return lines[-1]


def measure(quick: bool = False) -> list[dict]:
    probe = subprocess.run([sys.executable, "-c", "import torch; print(torch.cuda.is_available())"],
                           capture_output=True, text=True)
    if probe.stdout.strip() != "True":
        return [{"name": "gpt_tokens_per_s_cuda", "skipped": True, "reason": "no CUDA GPU on this machine"}]
    steps = 50 if quick else 300
    gpu = _train("cuda", steps)
    cpu = _train("cpu", max(10, steps // 10))
    g, c = float(gpu.get("tokens_per_s", 0)), float(cpu.get("tokens_per_s", 0))
    return [{"name": "gpt_tokens_per_s_cuda", "value": round(g), "unit": "tokens/s", "target": "report",
             "peer": round(c), "ratio": round(g / c, 1) if c else None, "ok": True, "runs": 1,
             "peer_name": "the same GPT config on this machine's CPU",
             "method": "llm-tutor train gpt --headless --json, final tokens_per_s"}]


if __name__ == "__main__":
    print(json.dumps(measure("--quick" in sys.argv), indent=2))

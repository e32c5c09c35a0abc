"""The benchmark suite runs from a checkout and writes what the README promises: records with name, value,
unit, target and ok, a peer and ratio where one was measured, the machine and the date; a GPU figure
without a GPU is skipped, not failed. Nothing here asserts a time."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_quick_suite_writes_the_records_the_readme_table_is_made_from(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "benchmarks/run.py", "--quick", "--only", "startup", "kernel_bench", "memory_bench",
         "gpu_bench", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=170,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(out.read_text())
    assert data["quick"] is True and data["date"] and data["machine"]["cpus"] >= 1 and data["machine"]["torch"]
    records = {r["name"]: r for r in data["records"]}
    for name in ("start_to_first_screen", "cell_round_trip_p50", "cell_round_trip_p95", "interrupt_p95",
                 "launch_to_first_torch_result", "ui_process_rss", "kernel_rss"):
        rec = records[name]
        assert {"name", "value", "unit", "target", "ok"} <= set(rec), rec
        assert isinstance(rec["value"], (int, float)) and rec["value"] > 0 and isinstance(rec["ok"], bool)
        assert rec.get("method"), f"{name} does not say how it was measured"
    startup = records["start_to_first_screen"]
    assert startup["peer"] > 0 and startup["ratio"] == pytest.approx(startup["value"] / startup["peer"], rel=0.02)
    gpu = records["gpt_tokens_per_s_cuda"]
    assert gpu.get("skipped") or gpu["value"] > 0  # skipped cleanly where there is no CUDA GPU
    assert "start_to_first_screen" in proc.stdout and "| benchmark" in proc.stdout  # the table


def test_lab_redraw_benchmark_measures_every_size_against_plotext(tmp_path: Path) -> None:
    out = tmp_path / "lab.json"
    proc = subprocess.run(
        [sys.executable, "benchmarks/lab_bench.py", "--only", "redraw", "--quick", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=170,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = json.loads(out.read_text())
    assert [r["name"] for r in records] == [f"lab_plot_redraw_1e{k}" for k in (3, 4, 5, 6)]
    for rec in records:
        assert rec["points"] == 10 ** int(rec["name"][-1]) and rec["peer"] > 0 and rec["ratio"] >= 0
        assert {"value", "unit", "target", "ok", "cold_ms", "method"} <= set(rec)

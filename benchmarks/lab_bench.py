"""Training lab benchmarks: throughput with the live plot vs the bare loop, plot redraw time, key → repaint latency.

    python benchmarks/lab_bench.py [--quick] [--models mlp gpt] [--seconds S] [--repeats N] [--json FILE]

- `lab_throughput_{mlp,gpt}`: the real `llm-tutor train MODEL` in a pty (the app, its trainer child,
  the live chart at 10 Hz, everything it writes read as a terminal would), steps/s read from its own
  status line, against `benchmarks/bare_train.py`'s bare loop in a separate process with the same
  torch threads. Runs alternate (bare, lab, bare, lab...), the median of each side is kept.
- `lab_plot_redraw_{1e3..1e6}`: the loss chart widget's draw (downsample + braille + strips) inside
  a running app, at the 120×40 lab's chart size: p95 of frames where 50 new steps arrived, and the
  cold draw (new axis or size: every column downsampled) as `cold_ms`. Peer: plotext 6.1 drawing the
  same downsampled columns (build + ANSI parse).
- `lab_key_to_repaint`: while the GPT trains, a key that switches the side panel's tab, from the
  write to the pty until the new tab's text comes back, p50 and p95.

Prints one JSON record per line, then a table; `benchmarks/run.py` calls `measure(quick)`.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import json
import math
import os
import pty
import random
import re
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ANSI = re.compile(r"\x1b(?:\[[0-9;?<>=]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
STEP = re.compile(r"(?:running|paused)\s+step ([\d,]+)")


def lab_threads() -> int:
    """The trainer's torch threads as the lab picks them (every core but one)."""
    sys.path.insert(0, str(ROOT))
    from llm_tutor.tui.screens.lab import lab_threads as pick

    return pick()


# -- the app in a pty -----------------------------------------------------------------------------


class PtyApp:
    """A program in a pseudo-terminal; a thread reads all it writes (as a terminal must) with arrival times."""

    def __init__(self, argv: list[str], env: dict[str, str], size: tuple[int, int] = (120, 40)) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child
            os.execvpe(argv[0], argv, env)
        cols, rows = size
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.chunks: list[tuple[float, str]] = []
        self.cond = threading.Condition()
        self.closed = False
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        pending = b""
        while True:
            try:
                data = os.read(self.fd, 1 << 16)
            except OSError:
                break
            if not data:
                break
            now = time.perf_counter()
            pending += data
            try:
                text = pending.decode("utf-8")
                pending = b""
            except UnicodeDecodeError:
                continue  # a character split across reads: wait for the rest
            with self.cond:
                self.chunks.append((now, ANSI.sub("", text)))
                self.cond.notify_all()
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def mark(self) -> int:
        with self.cond:
            return len(self.chunks)

    def send(self, keys: str) -> float:
        sent = time.perf_counter()
        os.write(self.fd, keys.encode())
        return sent

    def wait_for(self, pattern: Any, since: int = 0, timeout: float = 60.0) -> tuple[float, Any]:
        """(arrival time, match) of the first chunk after `since` matching `pattern` (a regex or a predicate)."""
        test = pattern if callable(pattern) else re.compile(pattern).search
        deadline = time.monotonic() + timeout
        with self.cond:
            i = since
            while True:
                while i < len(self.chunks):
                    at, text = self.chunks[i]
                    found = test(text)
                    if found:
                        return at, found
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    tail = "".join(t for _, t in self.chunks[-20:])[-2000:]
                    raise TimeoutError(f"{pattern!r} did not appear; the app last wrote: {tail!r}")
                self.cond.wait(min(left, 0.5))

    def steps_seen(self, since: int = 0) -> list[tuple[float, int]]:
        """(arrival time, step) of every status line the app wrote after `since`."""
        with self.cond:
            chunks = self.chunks[since:]
        out = []
        for at, text in chunks:
            for found in STEP.finditer(text):
                out.append((at, int(found.group(1).replace(",", ""))))
        return out

    def cpu_seconds(self) -> float:
        """User + system CPU time of the app process itself (not its trainer child)."""
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        try:
            os.write(self.fd, b"q")
        except OSError:
            pass
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            done, _ = os.waitpid(self.pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.05)
        else:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        try:
            os.close(self.fd)
        except OSError:
            pass


def app_env(data_dir: str, threads: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(TERM="xterm-256color", COLORTERM="truecolor", LLM_TUTOR_DATA_DIR=data_dir, LANG="C.UTF-8",
               LLM_TUTOR_LAB_THREADS=str(threads), LLM_TUTOR_LANG="en")
    env.pop("NO_COLOR", None)
    return env


def llm_tutor() -> str:
    script = Path(sys.executable).parent / "llm-tutor"
    return str(script)


# -- throughput -------------------------------------------------------------------------------------------


WARMUP_STEPS = {"mlp": 30, "gpt": 3, "neuron": 30}


def lab_run(model: str, seconds: float, threads: int) -> dict[str, Any]:
    """Steps/s of `llm-tutor train MODEL` in a pty, from its status line, over about `seconds`."""
    with tempfile.TemporaryDirectory() as data:
        app = PtyApp([llm_tutor(), "train", model, "--steps", "0"], app_env(data, threads))
        try:
            app.wait_for(r"running\s+step [\d,]+", timeout=180)
            warm = WARMUP_STEPS[model]
            while True:  # past warm-up: allocations and caches settle in the first steps
                seen = app.steps_seen()
                if seen and seen[-1][1] >= warm:
                    break
                time.sleep(0.05)
            start = app.mark()
            cpu0, wall0 = app.cpu_seconds(), time.perf_counter()
            time.sleep(seconds)
            cpu1, wall1 = app.cpu_seconds(), time.perf_counter()
            seen = app.steps_seen(start)
        finally:
            app.close()
    if len(seen) < 2 or seen[-1][0] <= seen[0][0]:
        raise RuntimeError(f"the lab reported too few steps for {model}: {seen}")
    (t0, s0), (t1, s1) = seen[0], seen[-1]
    return {"steps_per_s": (s1 - s0) / (t1 - t0), "steps": s1 - s0, "ui_cpu": (cpu1 - cpu0) / (wall1 - wall0)}


def bare_run(model: str, seconds: float, threads: int) -> dict[str, Any]:
    """benchmarks/bare_train.py's loop for `model` in its own process, with `threads` torch threads."""
    code = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from benchmarks.bare_train import bare\n"
        f"print(json.dumps(bare({model!r}, {seconds!r}, {{'device': 'cpu'}})))\n"
    )
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def throughput(model: str, seconds: float, repeats: int, threads: int) -> dict[str, Any]:
    bare_rates, lab_rates, ui_cpu = [], [], []
    for _ in range(repeats):
        bare_rates.append(bare_run(model, seconds, threads)["steps_per_s"])
        result = lab_run(model, seconds, threads)
        lab_rates.append(result["steps_per_s"])
        ui_cpu.append(result["ui_cpu"])
    ours, peer = statistics.median(lab_rates), statistics.median(bare_rates)
    ratio = ours / peer
    return {
        "name": f"lab_throughput_{model}",
        "value": round(ours, 2),
        "unit": "steps/s",
        "target": ">= 0.95x the bare loop",
        "ok": ratio >= 0.95,
        "peer": round(peer, 2),
        "ratio": round(ratio, 3),
        "runs": repeats,
        "threads": threads,
        "ui_cpu_share": round(statistics.median(ui_cpu), 3),
        "lab_runs": [round(r, 2) for r in lab_rates],
        "bare_runs": [round(r, 2) for r in bare_rates],
        "method": f"llm-tutor train {model} in a 120x40 pty (live plot, its trainer child) vs bare_train.py's loop "
        f"in its own process, both {threads} torch thread(s); {seconds:g} s each, alternating, median",
    }


# -- redraw time ------------------------------------------------------------------------------------------


def synthetic(n: int, seed: int = 0) -> Any:
    from llm_tutor.engine.series import Series

    rng = random.Random(seed)
    s = Series("loss")
    for i in range(1, n + 1):
        s.append(i, 1.5 + 2.7 * math.exp(-i / (n / 5)) + 0.1 * rng.random())
    return s


def plotext_peer(series: Any, width: int, height: int) -> float:
    """Seconds for plotext 6.1 to draw the same downsampled columns and for Rich to parse its output."""
    import plotext as plt
    from rich.text import Text

    d = series.downsample((width - 8) * 2)
    start = time.perf_counter()
    fig = plt.figure
    fig.clear()
    fig.plot_size(width, height)
    fig.draw(fig.signal(list(d.x), list(d.last), marker="braille").lines())
    Text.from_ansi(str(fig.build()))
    return time.perf_counter() - start


async def _redraw_times(sizes: list[int], frames: int) -> list[dict[str, Any]]:
    from textual.app import App, ComposeResult

    from llm_tutor.tui.widgets.train.chart import ChartSource, LossChart
    from llm_tutor.tui.widgets.train.plot import LinePlot

    records = []
    for n in sizes:
        series = synthetic(n)

        class Bench(App[None]):
            def compose(self) -> ComposeResult:
                yield LossChart([ChartSource("train", series)], title="loss", id="chart")

        app = Bench()
        async with app.run_test(size=(81, 30)) as pilot:  # the 120x40 lab's chart: 81 columns wide
            chart = app.query_one(LossChart)
            await pilot.pause()
            colds = []
            for _ in range(5):
                chart._plot = LinePlot()  # no cached columns: a new axis or size
                chart.redraw()
                start = time.perf_counter()
                chart._render_strips()
                colds.append(time.perf_counter() - start)
            warm, cpu = [], []
            step = n
            for _ in range(frames):
                for _ in range(50):  # 50 new steps per frame: 500 steps/s at 10 Hz
                    step += 1
                    series.append(step, 1.5 + 0.1 * random.random())
                chart.redraw()
                start, start_cpu = time.perf_counter(), time.thread_time()
                chart._render_strips()
                warm.append(time.perf_counter() - start)
                cpu.append(time.thread_time() - start_cpu)
            size = (chart.size.width, chart.size.height)
        warm.sort()
        cpu.sort()
        wall95 = warm[min(len(warm) - 1, int(0.95 * len(warm)))] * 1e3
        p95 = cpu[min(len(cpu) - 1, int(0.95 * len(cpu)))] * 1e3
        cold = statistics.median(colds) * 1e3
        peer = statistics.median(plotext_peer(series, *size) for _ in range(5)) * 1e3
        records.append({
            "name": f"lab_plot_redraw_1e{round(math.log10(n))}",
            "value": round(p95, 2),
            "unit": "ms",
            "target": "<= 10 ms",
            "ok": p95 <= 10 and cold <= 10,
            "cold_ms": round(cold, 2),
            "wall_p50_ms": round(statistics.median(warm) * 1e3, 2),
            "wall_p95_ms": round(wall95, 2),
            "load_avg": round(os.getloadavg()[0], 1),
            "points": n,
            "peer": round(peer, 2),
            "ratio": round(p95 / peer, 3),
            "runs": frames,
            "method": f"LossChart draw (downsample, braille, strips) at {size[0]}x{size[1]} cells with {n:,} points: "
            "p95 of the drawing thread's CPU time over frames with 50 new steps each (wall p50/p95 beside it: "
            "on a shared machine wall time also counts other processes' turns); cold_ms = median wall time "
            "of draws with no cached columns; "
            "peer = plotext 6.1 drawing the same downsampled columns plus Rich parsing its ANSI",
        })
    return records


def redraw_times(quick: bool) -> list[dict[str, Any]]:
    sys.path.insert(0, str(ROOT))
    return asyncio.run(_redraw_times([10**3, 10**4, 10**5, 10**6], 30 if quick else 100))


# -- key -> repaint ------------------------------------------------------------------------------------------


def _log_on(text: str) -> bool:
    return "[log]" in text


def _log_off(text: str) -> bool:
    return "loss  ━" in text and "[log]" not in text  # the chart's legend line, drawn without the mark


def key_latency(presses: int, threads: int, model: str = "gpt") -> list[dict[str, Any]]:
    """While `model` trains, two keys, each until its effect is on the pty: `l` (log scale: the chart is
    drawn again) and 4 / 1 (switch the side panel's tab: a new pane is laid out and drawn)."""
    delays: dict[str, list[float]] = {"log": [], "tab": []}
    with tempfile.TemporaryDirectory() as data:
        app = PtyApp([llm_tutor(), "train", model, "--steps", "0"], app_env(data, threads))
        try:
            app.wait_for(r"running\s+step [\d,]+", timeout=180)
            time.sleep(1.0)
            rng = random.Random(0)
            for i in range(presses):
                for kind, key, effect in (
                    ("log", "l", _log_on if i % 2 == 0 else _log_off),
                    ("tab", "4" if i % 2 == 0 else "1", "Reproducibility card" if i % 2 == 0 else "Applied at once"),
                ):
                    since = app.mark()
                    sent = app.send(key)
                    arrived, _ = app.wait_for(effect, since=since, timeout=10)
                    delays[kind].append(arrived - sent)
                    time.sleep(rng.uniform(0.1, 0.4))
            seen = app.steps_seen()
        finally:
            app.close()
    records = []
    for kind, name, what in (("log", "lab_key_to_repaint", "'l' (log scale: the chart redrawn)"),
                             ("tab", "lab_key_to_tab_switch", "'4' / '1' (the side panel's tab: a pane laid out)")):
        values = sorted(delays[kind])
        p95 = values[min(len(values) - 1, int(0.95 * len(values)))] * 1e3
        records.append({
            "name": name,
            "value": round(p95, 1),
            "unit": "ms p95",
            "target": "<= 100 ms",
            "ok": p95 <= 100,
            "p50_ms": round(statistics.median(values) * 1e3, 1),
            "max_ms": round(values[-1] * 1e3, 1),
            "runs": len(values),
            "training": bool(seen) and seen[-1][1] > 0,
            "load_avg": round(os.getloadavg()[0], 1),
            "method": f"llm-tutor train {model} in a 120x40 pty while it trains: write {what}, time until its "
            "effect arrives on the pty",
        })
    return records


# -- the suite ------------------------------------------------------------------------------------------------


def measure(quick: bool = False, models: tuple[str, ...] = ("mlp", "gpt"), seconds: float | None = None,
            repeats: int | None = None) -> list[dict[str, Any]]:
    """Every lab record (benchmarks/run.py format)."""
    threads = lab_threads()
    seconds = seconds or (4.0 if quick else 10.0)
    repeats = repeats or (1 if quick else 3)
    records = redraw_times(quick)
    records += key_latency(10 if quick else 40, threads)
    for model in models:
        records.append(throughput(model, seconds, repeats, threads))
    return records


def table(records: list[dict[str, Any]]) -> str:
    lines = [f"{'benchmark':<26} {'value':>10} {'unit':<8} {'peer':>9} {'ratio':>7}  ok  target"]
    for r in records:
        lines.append(f"{r['name']:<26} {r['value']:>10} {r['unit']:<8} {str(r.get('peer', '')):>9} "
                     f"{str(r.get('ratio', '')):>7}  {'yes' if r['ok'] else 'NO ':<3} {r['target']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer and shorter runs")
    parser.add_argument("--models", nargs="*", default=["mlp", "gpt"])
    parser.add_argument("--seconds", type=float, default=None, help="seconds per throughput run")
    parser.add_argument("--repeats", type=int, default=None, help="runs per side (median kept)")
    parser.add_argument("--only", choices=["redraw", "keys", "throughput"], default=None)
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args(argv)
    threads = lab_threads()
    if args.only == "redraw":
        records = redraw_times(args.quick)
    elif args.only == "keys":
        records = key_latency(20 if args.quick else 40, threads)
    elif args.only == "throughput":
        records = [throughput(m, args.seconds or 10.0, args.repeats or 3, threads) for m in args.models]
    else:
        records = measure(args.quick, tuple(args.models), args.seconds, args.repeats)
    for r in records:
        print(json.dumps(r), flush=True)
    print(table(records))
    if args.json:
        Path(args.json).write_text(json.dumps(records, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Training lab benchmarks: throughput with the live plot vs the bare loop, plot redraw time, key → repaint latency.

    python benchmarks/lab_bench.py [--quick] [--models mlp gpt] [--seconds S] [--repeats N] [--json FILE]

- `lab_throughput_{mlp,gpt}`: the real `llm-tutor train MODEL` in a pty (the app, its trainer child,
  the live chart at 10 Hz, everything it writes read as a terminal would), steps/s read from its own
  status line, against `benchmarks/bare_train.py`'s bare loop in a separate process with the same
  torch threads. Both live through one session and take turns in slices of a few seconds (the lab
  paused with space while the bare loop trains): the median of the per-pair ratios is kept, so a
  shared machine's slow drifts (±10 % from one second to the next here) hit both sides alike.
- `lab_plot_redraw_{1e3..1e6}`: the loss chart widget's draw (downsample + braille + strips) inside
  a running app, at the 120×40 lab's chart size: p95 of frames where 50 new steps arrived, and the
  cold draw (new axis or size: every column downsampled) as `cold_ms`. Peer: plotext 6.1 drawing the
  same downsampled columns (build + ANSI parse).
- `lab_key_to_repaint` / `lab_key_to_tab_switch`: while the GPT trains, `l` (log scale: the chart
  drawn again) and `4`/`1` (the side panel's tab), from the write to the pty until the effect comes
  back, p50 and p95.

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
    from llm_tutor.tui.screens.lab_settings import lab_threads as pick

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


class BarePeer:
    """`benchmarks/bare_train.py`'s loop in its own process, trained a slice at a time on request."""

    def __init__(self, model: str, threads: int) -> None:
        code = (
            "import sys\n"
            f"sys.path.insert(0, {str(ROOT)!r})\n"
            "import torch\n"
            f"torch.set_num_threads({threads})\n"
            "from benchmarks.bare_train import serve\n"
            f"serve({model!r}, {{'device': 'cpu'}})\n"
        )
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
        self.proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, env=env)
        self._read()

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the bare loop ended (status {self.proc.wait()})")
        return json.loads(line)

    def run(self, seconds: float) -> float:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{seconds}\n")
        self.proc.stdin.flush()
        return float(self._read()["steps_per_s"])

    def close(self) -> None:
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _state_shown(app: PtyApp, state: str, since: int) -> None:
    app.wait_for(rf"{state}\s+step [\d,]+", since=since, timeout=30)


def throughput(model: str, slice_s: float, pairs: int, threads: int) -> dict[str, Any]:
    """Paired slices in one session: the lab trains `slice_s` seconds while the bare loop waits, then the lab is
    paused (space, as a learner pauses it) and the bare loop trains as long; `pairs` times. Slow drifts of a
    shared machine hit both sides of a pair alike, so the median of the per-pair ratios is the figure."""
    lab_rates: list[float] = []
    bare_rates: list[float] = []
    ratios: list[float] = []
    ui_cpu: list[float] = []
    peer = BarePeer(model, threads)
    try:
        with tempfile.TemporaryDirectory() as data:
            app = PtyApp([llm_tutor(), "train", model, "--steps", "0"], app_env(data, threads))
            try:
                app.wait_for(r"running\s+step [\d,]+", timeout=180)
                warm = WARMUP_STEPS[model]
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:  # past warm-up: allocations and caches settle in the first steps
                    seen = app.steps_seen()
                    if seen and seen[-1][1] >= warm:
                        break
                    time.sleep(0.05)
                for _ in range(pairs):
                    start = app.mark()
                    cpu0, wall0 = app.cpu_seconds(), time.perf_counter()
                    time.sleep(slice_s)
                    cpu1, wall1 = app.cpu_seconds(), time.perf_counter()
                    seen = app.steps_seen(start)
                    mark = app.mark()
                    app.send(" ")  # pause
                    _state_shown(app, "paused", mark)
                    if len(seen) < 2 or seen[-1][0] <= seen[0][0]:
                        raise RuntimeError(f"the lab reported too few steps for {model}: {seen}")
                    (t0, s0), (t1, s1) = seen[0], seen[-1]
                    lab = (s1 - s0) / (t1 - t0)
                    bare = peer.run(slice_s)
                    lab_rates.append(lab)
                    bare_rates.append(bare)
                    ratios.append(lab / bare)
                    ui_cpu.append((cpu1 - cpu0) / (wall1 - wall0))
                    mark = app.mark()
                    app.send(" ")  # play
                    _state_shown(app, "running", mark)
                    time.sleep(0.3)  # the first status lines after play carry the pause in their window
            finally:
                app.close()
    finally:
        peer.close()
    ratio = statistics.median(ratios)
    quartiles = statistics.quantiles(ratios, n=4) if len(ratios) >= 2 else [ratio, ratio, ratio]
    return {
        "name": f"lab_throughput_{model}",
        "value": round(statistics.median(lab_rates), 2),
        "unit": "steps/s",
        "target": ">= 0.95x the bare loop",
        "ok": ratio >= 0.95,
        "peer": round(statistics.median(bare_rates), 2),
        "ratio": round(ratio, 3),
        "ratio_iqr": [round(quartiles[0], 3), round(quartiles[2], 3)],
        "runs": pairs,
        "threads": threads,
        "ui_cpu_share": round(statistics.median(ui_cpu), 3),
        "lab_runs": [round(r, 2) for r in lab_rates],
        "bare_runs": [round(r, 2) for r in bare_rates],
        "load_avg": round(os.getloadavg()[0], 1),
        "method": f"llm-tutor train {model} in a 120x40 pty (live plot, its trainer child) and bare_train.py's loop "
        f"in its own process, both {threads} torch thread(s), in {pairs} alternating {slice_s:g}-second slices of one "
        "session (the lab paused with space while the bare loop runs); median of the per-pair ratios",
    }


# -- redraw time ------------------------------------------------------------------------------------------


def synthetic(n: int, seed: int = 0) -> Any:
    from llm_tutor.engine.train.series import Series

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

SLICE_S = {"mlp": 1.5, "gpt": 5.0, "neuron": 1.5}
"""Seconds per slice: short, so drifts of a shared machine cancel within a pair; long enough for many
status lines (the GPT takes ~0.2 s a step on one thread)."""
PAIRS = {"mlp": 20, "gpt": 8, "neuron": 20}


def measure(quick: bool = False, models: tuple[str, ...] = ("mlp", "gpt"), seconds: float | None = None,
            repeats: int | None = None) -> list[dict[str, Any]]:
    """Every lab record (benchmarks/run.py format)."""
    threads = lab_threads()
    records = redraw_times(quick)
    records += key_latency(10 if quick else 40, threads)
    for model in models:
        slice_s = seconds or SLICE_S[model] * (0.5 if quick else 1.0)
        pairs = repeats or (PAIRS[model] // 3 if quick else PAIRS[model])
        records.append(throughput(model, slice_s, pairs, threads))
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
    parser.add_argument("--seconds", type=float, default=None, help="seconds per throughput slice")
    parser.add_argument("--repeats", type=int, default=None, help="slice pairs (lab, bare) per model")
    parser.add_argument("--only", choices=["redraw", "keys", "throughput"], default=None)
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args(argv)
    threads = lab_threads()
    if args.only == "redraw":
        records = redraw_times(args.quick)
    elif args.only == "keys":
        records = key_latency(20 if args.quick else 40, threads)
    elif args.only == "throughput":
        records = [throughput(m, args.seconds or SLICE_S[m], args.repeats or PAIRS[m], threads) for m in args.models]
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

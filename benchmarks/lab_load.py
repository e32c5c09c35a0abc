"""Lab load: 20 scripted students on one confined `llm-tutor serve ssh`, each running a cell and typing.

All students connect at once (asyncssh clients on loopback), open the lesson, run its first cell (torch),
then press keys (cell to cell) at a student's pace; the clock for each press runs from the key to the
first bytes of the repaint. Reported: key → redraw p50 and p95 over every press of every student, the
time until every student had a cell result, and how many sessions were lost (target 0).

    python benchmarks/lab_load.py [--quick] [--students N] [--json FILE]

`benchmarks/run.py` runs it as the `lab_load` module.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.ssh_bench import Client, Server, p, record  # noqa: E402


async def student(server: Server, index: int, presses: int, latencies: list[float], ready: list[float],
                  start: float) -> None:
    client, _ = await Client.open(server.port, f"bench{index:02d}", server.key)
    try:
        await client.open_lesson_and_run()
        ready.append(time.perf_counter() - start)
        rng = random.Random(index)
        for i in range(presses):
            await asyncio.sleep(rng.uniform(0.2, 0.6))  # a person reading, then pressing a key
            await client.quiet(0.1)
            before = len(client.arrivals)
            sent = time.perf_counter()
            client.chan.write(b"j" if i % 2 == 0 else b"k")
            while len(client.arrivals) == before:
                client.changed.clear()
                await asyncio.wait_for(client.changed.wait(), 30)
            latencies.append((client.arrivals[before] - sent) * 1000)
        if client.chan.is_closing():
            raise RuntimeError("the session was closed")
    finally:
        await client.close()


async def bench(students: int, presses: int) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="llm-tutor-lab-load-") as tmp:
        server = Server(Path(tmp))
        try:
            latencies: list[float] = []
            ready: list[float] = []
            start = time.perf_counter()
            outcomes = await asyncio.gather(*(student(server, i, presses, latencies, ready, start)
                                              for i in range(students)), return_exceptions=True)
            lost = [o for o in outcomes if isinstance(o, BaseException)]
            sandbox = server.protections()
            alive = server.proc.poll() is None
        finally:
            server.stop()
    common = {"students": students, "sandbox": sandbox}
    records = [
        record("lab_load_key_to_redraw_p50", statistics.median(latencies) if latencies else 0.0, "ms", None,
               presses=len(latencies), **common),
        record("lab_load_key_to_redraw_p95", p(latencies, 0.95) if latencies else 0.0, "ms", None, presses=len(latencies),
               method="every student connects at once, runs a cell, then presses keys at a reading pace", **common),
        record("lab_load_all_first_results", max(ready) if ready else 0.0, "s", None,
               method="from all connecting at once to the last student's first cell result", **common),
        record("lab_load_sessions_lost", float(len(lost)) + (0 if alive else students), "sessions", 0,
               errors=[f"{type(e).__name__}: {e}"[:160] for e in lost][:5], **common),
    ]
    return records


def measure(quick: bool = False) -> list[dict[str, Any]]:
    """For `benchmarks/run.py`."""
    return asyncio.run(bench(8 if quick else 20, 5 if quick else 10))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="8 students, 5 presses each")
    parser.add_argument("--students", type=int, default=None, metavar="N")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE")
    args = parser.parse_args(argv)
    students = args.students or (8 if args.quick else 20)
    records = asyncio.run(bench(students, 5 if args.quick else 10))
    for rec in records:
        print(json.dumps(rec))
    if args.json:
        args.json.write_text(json.dumps(records, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Kernel figures: cell round trip, interrupt latency and launch -> first torch result.

Peers measured in the same run: an ipykernel round trip and interrupt (when ipykernel and
jupyter_client are installed; they are optional, for the comparison only) and a bare
`python -c "import torch"` for the first-result target.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def ours_round_trip(n: int) -> list[float]:
    from llm_tutor.engine.kernel import BlockingKernel

    k = BlockingKernel(device="cpu")
    k.start()
    try:
        time.sleep(2.5)  # let the idle warm-up finish, as it would while a learner reads
        for _ in range(20):
            k.execute("1+1")
        times = []
        for _ in range(n):
            t = time.perf_counter()
            k.execute("1+1")
            times.append(time.perf_counter() - t)
        return times
    finally:
        k.shutdown()


def ours_interrupt(n: int) -> list[float]:
    from llm_tutor.engine.kernel import BlockingKernel

    k = BlockingKernel(device="cpu")
    k.start()
    try:
        times = []
        for _ in range(n):
            rid = k.client.execute("while True:\n    pass")
            time.sleep(0.1)
            t = time.perf_counter()
            k.manager.interrupt()
            reply = k.wait(rid, 10)
            assert reply.status == "interrupted", reply.status
            times.append(time.perf_counter() - t)
        return times
    finally:
        k.shutdown()


def ipykernel_figures(n: int, n_int: int) -> tuple[list[float], list[float]] | None:
    try:
        from jupyter_client.manager import start_new_kernel
    except ImportError:
        return None
    km, kc = start_new_kernel(kernel_name="python3")
    try:
        for _ in range(20):
            kc.execute_interactive("1+1", timeout=30, output_hook=lambda m: None)
        rt = []
        for _ in range(n):
            t = time.perf_counter()
            kc.execute_interactive("1+1", timeout=30, output_hook=lambda m: None)
            rt.append(time.perf_counter() - t)
        it = []
        for _ in range(n_int):
            msg_id = kc.execute("while True:\n    pass")
            time.sleep(0.1)
            t = time.perf_counter()
            km.interrupt_kernel()
            while True:
                reply = kc.get_shell_msg(timeout=30)
                if reply["parent_header"].get("msg_id") == msg_id:
                    break
            it.append(time.perf_counter() - t)
        return rt, it
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def first_torch_result(runs: int) -> tuple[list[float], list[float]]:
    """Launch a kernel and run a torch cell at once, vs a bare `import torch` process."""
    from llm_tutor.engine.kernel import BlockingKernel

    ours, bare = [], []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import torch; torch.ones(2).sum()"], check=True)
        bare.append(time.perf_counter() - t)
        t = time.perf_counter()
        k = BlockingKernel(device="cpu")
        k.manager.start()
        reply = k.execute("import torch\ntorch.ones(2).sum()", timeout=120)
        ours.append(time.perf_counter() - t)
        assert reply.status == "ok", reply
        k.shutdown()
    return ours, bare


def measure(quick: bool = False) -> list[dict]:
    n = 200 if quick else 1000
    n_int = 10 if quick else 30
    runs = 2 if quick else 5
    records: list[dict] = []
    rt = ours_round_trip(n)
    it = ours_interrupt(n_int)
    peer = ipykernel_figures(n // 2, n_int // 2)
    p50, p95 = _pct(rt, 0.5), _pct(rt, 0.95)
    rec50 = {"name": "cell_round_trip_p50", "value": round(p50 * 1000, 3), "unit": "ms", "target": "<= 1 ms",
             "ok": p50 <= 0.001, "runs": n, "spread": [round(min(rt) * 1000, 3), round(max(rt) * 1000, 3)],
             "method": "BlockingKernel.execute('1+1') after warm-up, wall time per request"}
    rec95 = {"name": "cell_round_trip_p95", "value": round(p95 * 1000, 3), "unit": "ms", "target": "<= 3 ms",
             "ok": p95 <= 0.003, "runs": n, "method": rec50["method"]}
    i95 = _pct(it, 0.95)
    reci = {"name": "interrupt_p95", "value": round(i95 * 1000, 2), "unit": "ms", "target": "<= 100 ms",
            "ok": i95 <= 0.1, "runs": n_int, "median": round(statistics.median(it) * 1000, 2),
            "spread": [round(min(it) * 1000, 2), round(max(it) * 1000, 2)],
            "method": "SIGINT to a `while True: pass` cell until its Done arrives"}
    if peer is not None:
        prt, pit = peer
        rec50["peer"] = round(_pct(prt, 0.5) * 1000, 3)
        rec50["ratio"] = round(p50 / _pct(prt, 0.5), 3)
        rec95["peer"] = round(_pct(prt, 0.95) * 1000, 3)
        rec95["ratio"] = round(p95 / _pct(prt, 0.95), 3)
        reci["peer"] = round(_pct(pit, 0.95) * 1000, 2)
        reci["ratio"] = round(i95 / _pct(pit, 0.95), 3)
        for r in (rec50, rec95, reci):
            r["peer_name"] = "ipykernel (jupyter_client, same machine, same run)"
    records += [rec50, rec95, reci]
    ours, bare = first_torch_result(runs)
    o, b = statistics.median(ours), statistics.median(bare)
    records.append({
        "name": "launch_to_first_torch_result", "value": round(o * 1000, 1), "unit": "ms",
        "target": "<= import torch + 300 ms", "peer": round(b * 1000, 1), "ratio": round(o / b, 3),
        "ok": o <= b + 0.3, "runs": runs, "spread": [round(min(ours) * 1000, 1), round(max(ours) * 1000, 1)],
        "peer_name": "python -c 'import torch; torch.ones(2).sum()'",
        "method": "start a kernel and send a torch cell at once; wall time until its result",
    })
    return records


if __name__ == "__main__":
    print(json.dumps(measure("--quick" in sys.argv), indent=2))

"""Process start -> first screen painted, for llm-tutor and a minimal Textual app, in a real pty.

The clock starts before the process is spawned and stops when the first screen's text has been
written to the terminal, as a person would see it. Runs alternate between the two programs so
machine noise hits both alike. Prints JSON records; `benchmarks/run.py` collects them.
"""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def first_paint(argv: list[str], marker: bytes, env: dict[str, str], timeout: float = 30.0) -> float:
    """Seconds from spawn until `marker` appears on the pty; the process is then ended."""
    start = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:  # child
        os.execvpe(argv[0], argv, env)
    import fcntl
    import struct
    import termios

    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    seen = b""
    elapsed = float("nan")
    try:
        while time.perf_counter() - start < timeout:
            ready, _, _ = select.select([fd], [], [], 0.05)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
            if marker in seen:
                elapsed = time.perf_counter() - start
                break
    finally:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.time() + 5
        while time.time() < deadline:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.02)
        else:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)
    return elapsed


def measure(quick: bool = False, runs: int | None = None) -> list[dict]:
    runs = runs or (3 if quick else 9)
    env = dict(os.environ, TERM="xterm-256color", COLUMNS="100", LINES="30")
    data = tempfile.mkdtemp(prefix="llm-tutor-bench-")
    env["LLM_TUTOR_DATA_DIR"] = data
    tutor = [str(Path(sys.executable).parent / "llm-tutor"), "--device", "cpu", "--lang", "en"]
    peer = [sys.executable, str(HERE / "minimal_app.py")]
    ours, theirs = [], []
    for _ in range(runs):
        theirs.append(first_paint(peer, b"minimal app ready", env))
        ours.append(first_paint(tutor, b"Lessons", env))
    p50, peer50 = statistics.median(ours), statistics.median(theirs)
    ratio = p50 / peer50
    return [
        {
            "name": "start_to_first_screen",
            "value": round(p50 * 1000, 1),
            "unit": "ms",
            "target": "<= 1.3x minimal Textual app",
            "peer": round(peer50 * 1000, 1),
            "ratio": round(ratio, 2),
            "ok": ratio <= 1.3,
            "runs": runs,
            "spread": [round(min(ours) * 1000, 1), round(max(ours) * 1000, 1)],
            "method": "pty spawn until the first screen's text is written; alternating with the peer",
        }
    ]


if __name__ == "__main__":
    print(json.dumps(measure(runs=int(sys.argv[1]) if len(sys.argv) > 1 else None), indent=2))

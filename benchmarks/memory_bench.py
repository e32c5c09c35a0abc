"""Memory: RSS of the UI process and of its kernel after opening a lesson and running a cell, in a real pty."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import sys
import tempfile
import time
from pathlib import Path


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    out.append(int(entry))
            except OSError:
                continue
    return out


def measure(quick: bool = False) -> list[dict]:
    env = dict(os.environ, TERM="xterm-256color", LLM_TUTOR_DATA_DIR=tempfile.mkdtemp(prefix="llm-tutor-mem-"))
    argv = [str(Path(sys.executable).parent / "llm-tutor"), "tensors", "--device", "cpu", "--lang", "en"]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvpe(argv[0], argv, env)
    seen = b""

    def wait(marker: bytes, timeout: float = 60) -> bool:
        nonlocal seen
        end = time.time() + timeout
        while time.time() < end:
            r, _, _ = select.select([fd], [], [], 0.1)
            if r:
                try:
                    seen += os.read(fd, 65536)
                except OSError:
                    return False
                if marker in seen:
                    return True
        return False

    try:
        wait(b"idle", 120)
        os.write(fd, b"r")
        time.sleep(3)
        ui = _rss_mb(pid)
        kernels = _children(pid)
        kernel = _rss_mb(kernels[0]) if kernels else float("nan")
    finally:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        # keep reading the terminal while the app ends: a terminal nobody reads blocks its last writes
        end = time.time() + 10
        while time.time() < end:
            if os.waitpid(pid, os.WNOHANG)[0]:
                break
            wait(b"\x00never", 0.2)
        else:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)
    return [
        {"name": "ui_process_rss", "value": round(ui, 1), "unit": "MB", "target": "<= 100 MB", "ok": ui <= 100,
         "runs": 1, "method": "VmRSS of `llm-tutor tensors` after its first cell ran, in a real pty"},
        {"name": "kernel_rss", "value": round(kernel, 1), "unit": "MB", "target": "report", "ok": True, "runs": 1,
         "method": "VmRSS of the kernel child (torch imported, first cell ran)"},
    ]


if __name__ == "__main__":
    print(json.dumps(measure(), indent=2))

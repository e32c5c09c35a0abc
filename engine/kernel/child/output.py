"""Provides the kernel's stdio capture: the event channel, learner `print`s batched into `Stream` events, no stdin.

The protocol channel is a private file descriptor (see `runtime.main`); `sys.stdout` and `sys.stderr` are
replaced by `Capture`, which sends what cells print as `Stream` events of the request being served, capped
at `OUTPUT_CAP_BYTES` per request, and flushed by `Flusher` at most `FLUSH_INTERVAL_S` after it was printed.
"""

from __future__ import annotations

import io
import os
import threading
import time
from typing import TYPE_CHECKING, Any

from llm_tutor.engine.kernel import protocol

if TYPE_CHECKING:
    from llm_tutor.engine.kernel.child.kernel import Kernel

OUTPUT_CAP_BYTES = 2_000_000
"""Printed text forwarded per request; beyond it output is counted and dropped."""
FLUSH_INTERVAL_S = 0.05
RAW_END = b"\x1eLLMTUTOR-DONE "
"""Written to the raw-output pipe after each request (see `KernelManager._read_raw`)."""


class Channel:
    """Writes events to the protocol fd; safe from any thread."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.lock = threading.Lock()

    def send(self, event: Any) -> None:
        data = protocol.encode(event)
        with self.lock:
            view = memoryview(data)
            while view:
                written = os.write(self.fd, view)
                view = view[written:]


class Capture(io.TextIOBase):
    """A `sys.stdout`/`sys.stderr` replacement that batches text into `Stream` events of the current request."""

    def __init__(self, kernel: Kernel, name: str) -> None:
        self.kernel = kernel
        self.name = name
        self.buffer_parts: list[str] = []
        self.size = 0
        self.last_flush = time.monotonic()
        self.lock = threading.RLock()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        with self.lock:
            k = self.kernel
            room = OUTPUT_CAP_BYTES - k.output_bytes
            if room <= 0:
                k.dropped_lines += text.count("\n")
                return len(text)
            if len(text) > room:  # one huge print is cut too, not only many small ones
                k.dropped_lines += text.count("\n", room)
                k.dropped_chars += len(text) - room
                text = text[:room]
            k.output_bytes += len(text)
            self.buffer_parts.append(text)
            self.size += len(text)
            now = time.monotonic()
            if self.size > 65536 or now - self.last_flush > FLUSH_INTERVAL_S or k.output_bytes >= OUTPUT_CAP_BYTES:
                self.flush()
            else:
                k.flusher.wake.set()  # sent within FLUSH_INTERVAL_S even if nothing else is printed
        return len(text)

    def flush(self) -> None:
        with self.lock:
            if not self.buffer_parts:
                return
            text = "".join(self.buffer_parts)
            self.buffer_parts.clear()
            self.size = 0
            self.last_flush = time.monotonic()
            # output of a thread still running after its cell ended goes to that cell
            parent = self.kernel.current or self.kernel.last
            self.kernel.channel.send(protocol.Stream(parent=parent, name=self.name, text=text))


class Flusher(threading.Thread):
    """Sends buffered output at most `FLUSH_INTERVAL_S` after it was printed.

    Without it, the last lines printed before a long computation (or by a thread after its cell
    ended) would wait in the buffer for the next print or the end of the next request.
    """

    def __init__(self, streams: list[Capture]) -> None:
        super().__init__(daemon=True, name="output-flusher")
        self.streams = streams
        self.wake = threading.Event()

    def run(self) -> None:
        while True:
            self.wake.wait()
            time.sleep(FLUSH_INTERVAL_S)
            self.wake.clear()
            for stream in self.streams:
                try:
                    stream.flush()
                except Exception:  # noqa: BLE001 - output lost to a broken channel must not end the thread
                    pass


class NoStdin(io.TextIOBase):
    """`sys.stdin` for cells: reading gives a clear error instead of hanging the kernel."""

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> str:
        raise RuntimeError("cells cannot read from the keyboard (stdin); set the value in code instead")

    def readline(self, size: int | None = -1) -> str:  # type: ignore[override]
        return self.read()


def truncation_note(dropped_lines: int, dropped_chars: int) -> str:
    """The line sent to stderr after a request whose output passed `OUTPUT_CAP_BYTES`."""
    more = f"{dropped_lines} more lines" if dropped_lines > 1 else f"{dropped_chars} more characters"
    return f"\n[output truncated after {OUTPUT_CAP_BYTES // 1_000_000} MB; {more} not shown]\n"

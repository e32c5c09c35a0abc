"""Provides `KernelManager`, the owner of the kernel child process: start, interrupt, restart, shut down.

The manager is torch-free: it runs in the UI process. It speaks to the child over pipes (requests on
the child's stdin, one JSON event per line on its stdout; anything the child writes to its raw file
descriptors arrives on stderr and is forwarded as `Stream` events of the request that was running).
Events are delivered to a callback from a reader thread; `KernelClient` builds requests on top.
When ``LLM_TUTOR_KERNEL_SERVER`` names a fork server's socket (a lab server sets it), the kernel is
forked from that warm process instead of spawned (see `forkserver`); otherwise nothing changes.
"""

from __future__ import annotations

import os
import select
import selectors
import signal
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Union

from llm_tutor.engine.kernel import protocol
from llm_tutor.engine.procs.exits import describe

if TYPE_CHECKING:
    from llm_tutor.engine.procs.forkserver import ForkedKernel

KernelProcess = Union["subprocess.Popen[bytes]", "ForkedKernel"]
"""A spawned kernel, or one forked by the fork server (same methods: poll, wait, kill, pipes)."""

EventHandler = Callable[[Any], None]

RAW_END = b"\x1eLLMTUTOR-DONE "
"""The kernel writes this, the request id and b"\x1e\n" to the raw pipe when a request ends."""
RAW_OUTPUT_CAP = 1_000_000
"""Bytes of raw fd output forwarded per request; the rest is counted and dropped."""


@dataclass(frozen=True)
class KernelDied:
    """Synthetic event: the kernel process ended without being asked to."""

    exitcode: int | None
    reason: str
    parent: str = ""
    """The request that was running when it died, if any."""
    limit: str = ""
    """In a confined lab session: the limit that stopped it (the session's memory limit), else ""."""


def describe_exit(code: int | None) -> str:
    """A sentence a learner can act on for a kernel's exit status."""
    return describe("kernel", code)


def _confine(policy: Any) -> Callable[[], None]:
    """The spawned kernel's pre-exec step: apply its sandbox policy (Landlock, file size cap)."""

    def setup() -> None:
        from llm_tutor.engine.sandbox.policy import apply

        apply(policy)

    return setup


def _own_oom_kills() -> int:
    """Processes the memory limit of this process's session group has killed (0 outside a confined lab)."""
    if not os.environ.get("LLM_TUTOR_SANDBOX"):
        return 0
    from llm_tutor.engine.sandbox.explain import own_oom_kills

    return own_oom_kills()


class KernelManager:
    """Owns one kernel process. Thread-safe; events go to `on_event` from a reader thread."""

    def __init__(
        self,
        on_event: EventHandler | None = None,
        device: str = "auto",
        *,
        threads: int | None = None,
        memory_limit_mb: int | None = None,
        env: dict[str, str] | None = None,
        sandbox: Any = None,
        cwd: str | None = None,
    ) -> None:
        self.on_event = on_event or (lambda event: None)
        self.device = device
        self.threads = threads
        if memory_limit_mb is None:
            from llm_tutor.engine.kernel.limits import default_memory_limit_mb

            memory_limit_mb = default_memory_limit_mb()
        self.memory_limit_mb = memory_limit_mb
        """MB the kernel may take; None (the default) means LLM_TUTOR_KERNEL_MEMORY_MB or half the memory, 0 none."""
        self.env = env
        self.sandbox = sandbox
        """A `llm_tutor.engine.sandbox.policy.Policy` the kernel applies before it starts (check, grade), or None."""
        self.cwd = cwd
        self.state = "stopped"
        """"stopped", "starting", "idle", "busy", "dead"."""
        self.ready: protocol.Ready | None = None
        self.current: str = ""
        """Id of the request being served (for raw output and crash reports)."""
        self.proc: KernelProcess | None = None
        """The kernel process (a `subprocess.Popen`, or a `ForkedKernel` from the fork server)."""
        self._write_lock = threading.Lock()
        self._generation = 0
        self._expect_exit = False
        self._ready_event = threading.Event()
        self._raw_bytes = 0
        self._raw_done: deque[str] = deque(maxlen=1024)
        """Request ids whose raw output ended (their end markers were read)."""
        self._raw_open = True
        self._raw_buffer = b""
        self._raw_owner: str | None = None
        """The request that raw output now belongs to (None: not known until the next busy)."""
        self._raw_held = b""
        self._oom_kills = 0

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def is_alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        """Start the kernel; it imports torch in the background and sends `Ready`."""
        if self.is_alive():
            return
        cmd = [sys.executable, "-m", "llm_tutor.engine.kernel.child.runtime", "--device", self.device]
        if self.threads:
            cmd += ["--threads", str(self.threads)]
        if self.memory_limit_mb:
            cmd += ["--memory-limit-mb", str(self.memory_limit_mb)]
        env = dict(os.environ if self.env is None else self.env)
        env.setdefault("PYTHONUNBUFFERED", "1")
        env["LLM_TUTOR_KERNEL_PARENT"] = str(os.getpid())
        self._generation += 1
        self._expect_exit = False
        self._ready_event.clear()
        self._raw_done.clear()
        self._raw_open = True
        self._raw_owner = None
        self._raw_held = b""
        self.ready = None
        self.current = ""
        self._oom_kills = _own_oom_kills()
        self.proc = (None if self.sandbox is not None else self._fork(cmd[3:], env)) or subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=self.cwd,
            start_new_session=True,  # the terminal's Ctrl+C and SIGHUP go to the UI, not the kernel
            preexec_fn=None if self.sandbox is None else _confine(self.sandbox),
        )
        self._set_state("starting")
        gen = self._generation
        proc = self.proc
        threading.Thread(target=self._read_events, args=(proc, gen), daemon=True, name="kernel-events").start()

    @staticmethod
    def _fork(args: list[str], env: dict[str, str]) -> KernelProcess | None:
        """A kernel from the fork server named by LLM_TUTOR_KERNEL_SERVER (opt-in), else None: spawn one."""
        path = env.get("LLM_TUTOR_KERNEL_SERVER")
        if not path:
            return None
        from llm_tutor.engine.procs.forkserver import spawn_kernel

        return spawn_kernel(path, args, env)

    def wait_ready(self, timeout: float = 60.0) -> bool:
        """Block until the kernel sent `Ready` (or died); True when ready."""
        self._ready_event.wait(timeout)
        return self.ready is not None and self.is_alive()

    def interrupt(self) -> None:
        """Send SIGINT: the running code gets a KeyboardInterrupt; an idle kernel ignores it.

        A forked kernel is signalled through its fork server (a confined app may not signal it).
        """
        if self.is_alive() and self.proc is not None:
            try:
                self.proc.send_signal(signal.SIGINT)
            except ProcessLookupError:
                pass

    def restart(self) -> None:
        """Kill the kernel (and everything it started) and start a fresh one."""
        self.kill()
        self.start()

    def kill(self) -> None:
        """End the kernel's whole process group at once."""
        proc = self.proc
        if proc is None:
            return
        self._expect_exit = True
        # the group too when the kernel itself is already dead: processes it started may live on
        relay = getattr(proc, "signal_group", None)
        try:
            if relay is not None and proc.poll() is None:
                relay(signal.SIGKILL)
            else:
                os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            if proc.poll() is None:
                try:
                    proc.kill()
                except ProcessLookupError:
                    pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self._close_pipes(proc)
        self._set_state("stopped")

    def shutdown(self, timeout: float = 2.0) -> None:
        """Ask the kernel to exit, then kill it if it does not within `timeout`."""
        proc = self.proc
        if proc is None:
            return
        self._expect_exit = True
        if proc.poll() is None:
            try:
                self.send(protocol.Shutdown(id="shutdown"))
                proc.wait(timeout=timeout)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.kill()

    # -- requests ----------------------------------------------------------------------------

    def send(self, request: Any) -> None:
        """Write one request; raises `OSError` when the kernel is gone."""
        proc = self.proc
        if proc is None or proc.stdin is None or proc.poll() is not None:
            raise BrokenPipeError("the kernel is not running")
        data = protocol.encode(request)
        with self._write_lock:
            proc.stdin.write(data)
            proc.stdin.flush()

    # -- reader threads ----------------------------------------------------------------------

    def _read_events(self, proc: KernelProcess, gen: int) -> None:
        """One thread reads both pipes: JSON events from stdout, raw fd output from stderr.

        The kernel writes a request's end marker to the raw pipe *before* it sends `Done`, so
        on `Done` the raw output of that request is already in the pipe and is drained first:
        raw output is ordered before `Done` without any waiting between threads.
        """
        assert proc.stdout is not None and proc.stderr is not None
        out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
        # non-blocking: a drain on Done may already have emptied a pipe that select reported ready
        os.set_blocking(out_fd, False)
        os.set_blocking(err_fd, False)
        sel = selectors.DefaultSelector()
        sel.register(out_fd, selectors.EVENT_READ, "out")
        sel.register(err_fd, selectors.EVENT_READ, "err")
        self._raw_buffer = b""
        out_buf = b""
        open_fds = 2
        while open_fds:
            ready = sel.select(timeout=0.5)
            if not ready and proc.poll() is not None:
                # the kernel is gone, yet a process it started still holds a pipe open: stop here
                break
            # events first: a request's Status(busy) is written before any of its raw output, so
            # reading events first attributes raw output to the request that is running
            for key, _ in sorted(ready, key=lambda item: item[0].data != "out"):
                try:
                    data = os.read(key.fd, 65536)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    sel.unregister(key.fd)
                    open_fds -= 1
                    if key.data == "err":
                        self._raw_open = False
                    else:
                        # the protocol pipe closed: the kernel ended. Its children may keep the raw
                        # pipe (their stdout) open for ever, so read what is there and stop.
                        self._drain_raw_now(err_fd)
                        open_fds = 0
                    continue
                if gen != self._generation:
                    sel.close()
                    return
                if key.data == "err":
                    self.feed_raw(data)
                    continue
                out_buf += data
                while b"\n" in out_buf:
                    line, out_buf = out_buf.split(b"\n", 1)
                    try:
                        event = protocol.decode(line)
                    except Exception:  # noqa: BLE001 - a garbled line must not stop the reader
                        continue
                    if isinstance(event, protocol.Done):
                        self._drain_raw_until(event.parent, err_fd)
                    self.track(event)
                    self.on_event(event)
        sel.close()
        code = proc.wait()
        if gen != self._generation:
            return
        self._ready_event.set()
        if self._expect_exit:
            return
        parent = self.current
        self._set_state("dead")
        limit = ""
        if code == -signal.SIGKILL:
            from llm_tutor.engine.sandbox.explain import memory_death

            limit = memory_death(self._oom_kills, _own_oom_kills())
        self.on_event(KernelDied(code, describe_exit(code) + (f": {limit}" if limit else ""), parent, limit))

    def _drain_raw_until(self, rid: str, fd: int) -> None:
        """Read raw output until the end marker of `rid` (already in the pipe) has been seen."""
        deadline = 1.0
        while rid not in self._raw_done and self._raw_open:
            ready, _, _ = select.select([fd], [], [], deadline)
            if not ready:
                return
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                self._raw_open = False
                return
            self.feed_raw(data)

    def _drain_raw_now(self, fd: int, rounds: int = 32) -> None:
        """Forward raw output already in the pipe, without waiting for more."""
        for _ in range(rounds):
            try:
                data = os.read(fd, 65536)
            except (BlockingIOError, OSError):
                return
            if not data:
                return
            self.feed_raw(data)

    def feed_raw(self, chunk: bytes) -> None:
        """Forward raw fd output as `Stream` events, each to the request that wrote it.

        Output before a request's end marker belongs to that request. Output after a marker
        belongs to the next request, whose id is known only once its `Status(busy)` is read: until
        then it is held back (this reader can run behind the kernel by several requests).
        """
        buffer = self._raw_buffer + chunk
        while True:
            at = buffer.find(RAW_END)
            if at < 0:
                # keep a possible partial marker at the end for the next read
                cut = buffer.rfind(b"\x1e", max(0, len(buffer) - len(RAW_END) - 64))
                text, buffer = (buffer[:cut], buffer[cut:]) if cut >= 0 else (buffer, b"")
                self._forward_raw(text, self._raw_owner)
                break
            end = buffer.find(b"\x1e\n", at + len(RAW_END))
            if end < 0:
                self._forward_raw(buffer[:at], self._raw_owner)
                buffer = buffer[at:]
                break
            rid = buffer[at + len(RAW_END) : end].decode(errors="replace")
            self._forward_raw(buffer[:at], rid)
            self._raw_done.append(rid)
            self._raw_owner = None  # the next request's id is not known yet
            buffer = buffer[end + 2 :]
        self._raw_buffer = buffer

    def _forward_raw(self, data: bytes, owner: str | None) -> None:
        if not data and not (owner is not None and self._raw_held):
            return
        if owner is None:
            if len(self._raw_held) < RAW_OUTPUT_CAP:
                self._raw_held += data
            return
        if self._raw_held:
            data, self._raw_held = self._raw_held + data, b""
        if self._raw_bytes >= RAW_OUTPUT_CAP:
            return
        self._raw_bytes += len(data)
        text = data.decode("utf-8", errors="replace")
        if self._raw_bytes >= RAW_OUTPUT_CAP:
            text += "\n[raw output truncated]\n"
        self.on_event(protocol.Stream(parent=owner, name="stderr", text=text))

    def track(self, event: Any) -> None:
        """Follow the kernel's state (ready, busy, idle) and the request being served, from one protocol event."""
        if isinstance(event, protocol.Ready):
            self.ready = event
            self._ready_event.set()
            self._set_state("idle")
        elif isinstance(event, protocol.Status):
            if event.state == "busy":
                self.current = event.parent
                self._raw_bytes = 0
                # the raw reader may be ahead: if this request's end marker was already read, its raw
                # output went out with it, and what is held belongs to a later request
                if event.parent not in self._raw_done:
                    self._raw_owner = event.parent
                    if self._raw_held:
                        self._forward_raw(b"", event.parent)
            self._set_state(event.state)
        elif isinstance(event, protocol.Done) and event.parent == self.current:
            self.current = ""

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state

    @staticmethod
    def _close_pipes(proc: KernelProcess) -> None:
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass

    def __enter__(self) -> KernelManager:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


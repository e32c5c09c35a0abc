"""Provides the kernel fork server's client: a warm process with torch imported forks a kernel per request.

A lab serves many students at once. Without it, each student's app starts its own kernel and
imports torch afresh (about 2 s of CPU each, on a machine that may have two cores for thirty
students). The fork server imports torch and warms it once; each request forks a child that runs
`runtime.main` on the caller's pipes, so a kernel is ready in milliseconds and shares torch's
pages copy-on-write. The SSH lab uses the same protocol for its app processes
(`llm_tutor.tui.appserver`, Textual preloaded, the child on the session's pty).

The protocol, on a Unix stream socket (mode 0600 in a 0700 folder):

- the client sends one message carrying three file descriptors (SCM_RIGHTS: the child's stdin,
  stdout and stderr) and a length-prefixed JSON body ``{"argv": [...], "env": {...}, "cwd": "..."}``;
- the server answers one JSON line ``{"pid": N}`` (or ``{"error": "..."}``), and a second line
  ``{"exit": code}`` when the child ends (a negative code is the signal, as with `subprocess`);
- the connection is the child's lifeline: when the client closes it (say its process was killed),
  the server kills the child's process group; a line ``{"signal": N, "group": bool}`` on it asks
  the server to signal the child (how a confined app interrupts a kernel outside its Landlock domain);
- a request may carry ``"sandbox"``: a `llm_tutor.engine.sandbox.policy.Policy` the child applies
  before it runs anything; and a fourth descriptor, which the child gets as fd 3.

A server answers only the process that started it (checked with SO_PEERCRED): a session's code runs
as the same Unix user and must not be able to ask for an unconfined process. The lab server opens a
**channel** per session (``{"channel": POLICY}``) and hands it to the session's app as fd 3
(``LLM_TUTOR_KERNEL_SERVER=fd:3``): every kernel requested on it gets that session's policy, and
the reply brings a new socket that plays the connection's part for that kernel.

It is opt-in: `KernelManager` uses it when ``LLM_TUTOR_KERNEL_SERVER`` names the socket and falls
back to spawning a kernel when the socket is missing or refuses. This module is torch-free (it
runs in the UI process); the servers run as their own processes: `forkserver_main` (kernels) and
`llm_tutor.tui.appserver` (apps), both on the loop in `forkserver_loop`.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

ENV_VAR = "LLM_TUTOR_KERNEL_SERVER"
"""Names the fork server's socket; `KernelManager` uses the server when it is set."""
MAX_BODY = 4 * 1024 * 1024
"""A request body larger than this is refused (an environment is a few kilobytes)."""
READY_LINE = "llm-tutor fork server ready"
"""Printed on stdout by `serve()` once the socket accepts requests."""


# -- client ------------------------------------------------------------------------------------


class ForkedProcess:
    """A process forked by a fork server, shaped like the part of `subprocess.Popen` its owner uses.

    It is not this process's child, so its exit status comes from the server over the socket,
    which a small thread waits for. `stdin`/`stdout`/`stderr` are the pipes made for it (a kernel),
    or None when the caller passed its own descriptors (an app on a pty).
    """

    def __init__(self, pid: int, sock: socket.socket, args: list[str], pipes: tuple[int, int, int] | None = None) -> None:
        self.pid = pid
        self.args = args
        self.returncode: int | None = None
        self.stdin: IO[bytes] | None = os.fdopen(pipes[0], "wb") if pipes else None
        self.stdout: IO[bytes] | None = os.fdopen(pipes[1], "rb") if pipes else None
        self.stderr: IO[bytes] | None = os.fdopen(pipes[2], "rb") if pipes else None
        self.sock = sock
        self._ended = threading.Event()
        threading.Thread(target=self._watch, daemon=True, name=f"forked-{pid}-exit").start()

    def _watch(self) -> None:
        """Wait for the server's exit line; a closed socket without one means the server is gone."""
        buffer = b""
        try:
            self.sock.settimeout(None)
            while b"\n" not in buffer:
                chunk = self.sock.recv(4096)
                if not chunk:
                    break
                buffer += chunk
        except OSError:
            pass
        code: int | None = None
        try:
            code = int(json.loads(buffer.split(b"\n", 1)[0])["exit"])
        except (ValueError, KeyError, TypeError):
            # The server died; it took its children with it (they are killed with its connections,
            # and kernels also have PR_SET_PDEATHSIG).
            code = -int(signal.SIGKILL)
        try:
            self.sock.close()
        except OSError:
            pass
        self.returncode = code
        self._ended.set()

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if not self._ended.wait(timeout):
            raise subprocess.TimeoutExpired(self.args, timeout or 0.0)
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, sig: int, group: bool = False) -> None:
        """Signal the process (its group with `group`) through its server, which may signal where we may not."""
        if self.returncode is not None:
            return
        try:
            self.sock.sendall(json.dumps({"signal": int(sig), "group": group}).encode() + b"\n")
            return
        except OSError:
            pass
        try:
            if group:
                os.killpg(self.pid, sig)
            else:
                os.kill(self.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def signal_group(self, sig: int) -> None:
        self.send_signal(sig, group=True)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


ForkedKernel = ForkedProcess
"""A kernel from the kernel fork server (with its three pipes)."""


def fork_process(socket_path: str, argv: list[str], env: dict[str, str], cwd: str | None = None,
                 fds: tuple[int, ...] | None = None, timeout: float = 5.0,
                 sandbox: dict[str, object] | None = None) -> ForkedProcess | None:
    """Ask the fork server at `socket_path` for a process; None when it cannot be reached or refuses.

    The child gets `fds` as its stdin, stdout and stderr (and a fourth as fd 3; they stay open here),
    or, without them, three new pipes whose other ends become the result's `stdin`, `stdout` and
    `stderr`. `sandbox` is the policy the child applies before it runs.
    """
    if socket_path.startswith("fd:"):
        return _fork_on_channel(int(socket_path[3:]), argv, env, cwd, timeout)
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    except OSError:
        return None
    mine: list[int] = []
    """Descriptors made here, closed on failure."""
    try:
        sock.settimeout(timeout)
        sock.connect(socket_path)
        if fds is None:
            r0, w0 = os.pipe()
            r1, w1 = os.pipe()
            r2, w2 = os.pipe()
            mine = [r0, w0, r1, w1, r2, w2]
            send, keep = [r0, w1, w2], (w0, r1, r2)
        else:
            send, keep = list(fds), None
        request: dict[str, object] = {"argv": argv, "env": env, "cwd": cwd or os.getcwd()}
        if sandbox is not None:
            request["sandbox"] = sandbox
        body = json.dumps(request).encode()
        socket.send_fds(sock, [struct.pack("!I", len(body)) + body], send)
        if keep is not None:
            for fd in send:
                os.close(fd)
                mine.remove(fd)
        reply = json.loads(_read_line(sock))
        pid = int(reply["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        for fd in mine:
            os.close(fd)
        sock.close()
        return None
    return ForkedProcess(pid, sock, [socket_path, *argv], keep)


_channel_lock = threading.Lock()


def open_channel(socket_path: str, policy: dict[str, object] | None, timeout: float = 5.0) -> socket.socket | None:
    """Open a session's channel to a fork server: every process asked for on it gets `policy`.

    Only the server's parent may do this (the lab server); the socket is then passed to the session.
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(socket_path)
        body = json.dumps({"channel": policy}).encode()
        sock.sendall(struct.pack("!I", len(body)) + body)
        if not json.loads(_read_line(sock)).get("channel"):
            raise ValueError("refused")
    except (OSError, ValueError, AttributeError):
        sock.close()
        return None
    sock.settimeout(None)
    return sock


def _fork_on_channel(fd: int, argv: list[str], env: dict[str, str], cwd: str | None, timeout: float) -> ForkedProcess | None:
    """A process (with three new pipes) from the channel on `fd`; the reply brings its own socket."""
    r0, w0 = os.pipe()
    r1, w1 = os.pipe()
    r2, w2 = os.pipe()
    send = [r0, w1, w2]
    keep = (w0, r1, r2)
    try:
        with _channel_lock:
            chan = socket.socket(fileno=os.dup(fd))
            try:
                chan.settimeout(timeout)
                body = json.dumps({"argv": argv, "env": env, "cwd": cwd or os.getcwd()}).encode()
                socket.send_fds(chan, [struct.pack("!I", len(body)) + body], send)
                data, fds, _, _ = socket.recv_fds(chan, 65536, 1)
            finally:
                chan.close()
        reply = json.loads(data.split(b"\n", 1)[0])
        pid = int(reply["pid"])
        if len(fds) != 1:
            raise ValueError("no process socket in the reply")
    except (OSError, ValueError, KeyError, TypeError):
        for fd_ in (*send, *keep):
            os.close(fd_)
        return None
    for fd_ in send:
        os.close(fd_)
    return ForkedProcess(pid, socket.socket(fileno=fds[0]), ["fd:%d" % fd, *argv], keep)


def spawn_kernel(socket_path: str, argv: list[str], env: dict[str, str], cwd: str | None = None,
                 timeout: float = 5.0) -> ForkedKernel | None:
    """Ask the kernel fork server for a kernel; `argv` are the runtime's arguments (``--device cpu`` ...)."""
    return fork_process(socket_path, argv, env, cwd, None, timeout)


def _read_line(sock: socket.socket) -> bytes:
    """Read one line, byte by byte, so nothing after it (the exit line) is consumed here."""
    line = b""
    while not line.endswith(b"\n"):
        byte = sock.recv(1)
        if not byte:
            raise ConnectionError("the fork server closed the connection")
        line += byte
        if len(line) > 65536:
            raise ValueError("the fork server's reply is too long")
    return line


KERNEL_SERVER = "llm_tutor.engine.procs.forkserver_main"
"""The kernel fork server's module (torch preloaded)."""
APP_SERVER = "llm_tutor.tui.appserver"
"""The SSH lab's app fork server's module (Textual and the app preloaded)."""


def start_server(socket_path: str | Path, *, module: str = KERNEL_SERVER, env: dict[str, str] | None = None,
                 timeout: float = 120.0, log: IO[bytes] | None = None) -> subprocess.Popen[bytes]:
    """Start a fork server process (`module`) and return once it accepts requests (it preloads first).

    Raises `RuntimeError` when it exits or does not become ready within `timeout`.
    """
    cmd = [sys.executable, "-m", module, "--socket", str(socket_path)]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log or subprocess.DEVNULL,
                            env=env, start_new_session=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    line = b""
    fd = proc.stdout.fileno()
    while (READY_LINE + "\n").encode() not in line:
        left = deadline - time.monotonic()
        ready, _, _ = select.select([fd], [], [], max(0.0, left))
        if not ready:
            proc.kill()
            proc.wait()
            raise RuntimeError(f"the fork server {module} did not start within {timeout:.0f} s")
        chunk = os.read(fd, 4096)
        if not chunk:
            code = proc.wait()
            raise RuntimeError(f"the fork server {module} exited with status {code} before it was ready")
        line += chunk
    proc.stdout.close()
    return proc

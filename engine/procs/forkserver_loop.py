"""Provides the loop of a fork server: a warm process that forks a child per request and reports its end.

Two servers use it: the kernel fork server (`forkserver_main`, torch imported) and the app fork
server of the SSH lab (`llm_tutor.tui.appserver`, Textual imported). The protocol and the client
are in `forkserver`. This module imports neither torch nor Textual; a server passes a `preload()`
that does, and a `run(argv)` for the child.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from llm_tutor.engine.procs.forkserver import MAX_BODY, READY_LINE

Runner = Callable[[list[str]], int]
"""What a forked child runs: its arguments in, its exit status out."""


@dataclass
class _Client:
    sock: socket.socket
    pid: int | None = None
    channel: bool = False
    """A session's channel: each request on it forks a process under `policy` (see `forkserver.open_channel`)."""
    policy: dict[str, Any] | None = None
    """The sandbox policy of the requests on this connection (JSON of `sandbox.policy.Policy`), or None."""


@dataclass
class _Server:
    listener: socket.socket
    wake_r: int
    wake_w: int
    clients: dict[int, _Client] = field(default_factory=dict)
    """By socket fd."""
    kernels: dict[int, _Client] = field(default_factory=dict)
    """By child pid: the client to tell when it ends (None once the client left)."""
    stopping: bool = False


def serve(socket_path: str | Path, run: Runner, *, preload: Callable[[], None] | None = None,
          out: IO[str] | None = None) -> int:
    """Run a fork server until SIGTERM or SIGINT; returns the exit status.

    `preload()` runs once before the socket opens (imports shared by every child); `run(argv)`
    runs in each forked child, on the caller's file descriptors, and returns its exit status.
    """
    path = Path(socket_path)
    if preload is not None:
        preload()
    import llm_tutor.engine.sandbox.policy  # noqa: F401  (forked children apply it: import once, here)
    if path.exists() or path.is_symlink():
        path.unlink()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)
    try:
        listener.bind(str(path))
    finally:
        os.umask(old_umask)
    os.chmod(path, 0o600)
    listener.listen(128)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    state = _Server(listener, wake_r, wake_w)

    def stop(signum: int, frame: Any) -> None:
        state.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, stop)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    signal.set_wakeup_fd(wake_w)
    try:  # one write: the starter may stop reading (and close the pipe) once it has the line
        if out is not None:
            out.write(READY_LINE + "\n")
            out.flush()
        else:
            os.write(sys.stdout.fileno(), (READY_LINE + "\n").encode())
    except OSError:
        pass

    parent = os.getppid()
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ, "listen")
    sel.register(wake_r, selectors.EVENT_READ, "wake")
    try:
        while not state.stopping:
            for key, _ in sel.select(timeout=1.0):
                if key.data == "listen":
                    try:
                        conn, _ = listener.accept()
                    except OSError:
                        continue
                    if not _from_parent(conn):
                        continue
                    client = _Client(conn)
                    state.clients[conn.fileno()] = client
                    sel.register(conn, selectors.EVENT_READ, "client")
                elif key.data == "wake":
                    try:
                        while os.read(wake_r, 512):
                            pass
                    except BlockingIOError:
                        pass
                else:
                    client = state.clients[key.fd]
                    try:
                        if client.pid is None:
                            _serve_request(state, client, sel, run)
                        else:
                            _kernel_message(state, client, sel)
                    except Exception as exc:  # noqa: BLE001 - one bad client must not end the server
                        print(f"fork server: dropped a client: {type(exc).__name__}: {exc}", file=sys.stderr)
                        _client_left(state, client, sel)
            _reap(state, sel)
            if os.getppid() != parent:  # whoever started the server is gone (even by SIGKILL): so are we
                state.stopping = True
    finally:
        for pid in list(state.kernels):
            _kill_group(pid)
        _reap(state, sel, block=True)
        try:
            path.unlink()
        except OSError:
            pass
    return 0


def _from_parent(conn: socket.socket) -> bool:
    """Serve only the process that started the server (the lab server): a session's code, running as the
    same Unix user, must not ask for an unconfined process. Sessions get kernels through their channel."""
    try:
        pid, _uid, _gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
    except (OSError, AttributeError):
        pid = -1
    if pid == os.getppid():
        return True
    try:
        conn.sendall(json.dumps({"error": "this fork server serves only the process that started it"}).encode() + b"\n")
    except OSError:
        pass
    conn.close()
    return False


def _serve_request(state: _Server, client: _Client, sel: selectors.BaseSelector, run: Runner) -> None:
    """Read one request and fork its process; a bad request is answered with an error and closed.

    On a channel, the reply carries a new socket for the process (its exit line, its signals, its
    lifeline) and the channel stays open for the next request. A request ``{"channel": POLICY}``
    from the parent turns its connection into such a channel.
    """
    sock = client.sock
    fds: list[int] = []
    try:
        sock.settimeout(5.0)
        data, fds, _, _ = socket.recv_fds(sock, 65536, 4)
        if not data:
            if client.channel:
                _drop(state, client, sel)
                return
            raise ConnectionError("closed")
        if len(data) < 4:
            data += _recv_exact(sock, 4 - len(data))
        size = struct.unpack("!I", data[:4])[0]
        if size > MAX_BODY:
            raise ValueError("request too large")
        body = data[4:]
        if len(body) < size:
            body += _recv_exact(sock, size - len(body))
        request = json.loads(body)
        if "channel" in request and not client.channel and not fds:
            client.channel = True
            client.policy = request["channel"] if isinstance(request["channel"], dict) else None
            sock.sendall(b'{"channel": true}\n')
            return
        if len(fds) not in (3, 4):
            raise ValueError("expected three or four file descriptors")
        argv = [str(a) for a in request.get("argv", [])]
        env = {str(k): str(v) for k, v in dict(request.get("env", {})).items()}
        cwd = str(request.get("cwd") or "")
        policy = client.policy if client.channel else request.get("sandbox")
        lifeline = socket.socketpair() if client.channel else None
    except (OSError, ValueError, TypeError, struct.error) as exc:
        for fd in fds:
            os.close(fd)
        try:
            sock.sendall(json.dumps({"error": str(exc)}).encode() + b"\n")
        except OSError:
            pass
        _drop(state, client, sel)
        return
    pid = os.fork()
    if pid == 0:
        if lifeline is not None:
            lifeline[0].close()
            lifeline[1].close()
        _child(state, sel, fds, argv, env, cwd, run, policy)  # never returns
    for fd in fds:
        os.close(fd)
    if lifeline is not None:
        mine, theirs = lifeline
        owner = _Client(mine, pid)
        state.clients[mine.fileno()] = owner
        sel.register(mine, selectors.EVENT_READ, "client")
        state.kernels[pid] = owner
        try:
            socket.send_fds(sock, [json.dumps({"pid": pid}).encode() + b"\n"], [theirs.fileno()])
        except OSError:
            _client_left(state, owner, sel)
        theirs.close()
        return
    client.pid = pid
    state.kernels[pid] = client
    try:
        sock.sendall(json.dumps({"pid": pid}).encode() + b"\n")
    except OSError:
        _client_left(state, client, sel)


def _kernel_message(state: _Server, client: _Client, sel: selectors.BaseSelector) -> None:
    """A line from a process's owner: ``{"signal": N, "group": bool}`` is relayed; end of file ends the process.

    The relay is how a confined app interrupts and stops its kernel: Landlock's signal scope keeps it
    from signalling a process outside its own domain, and the kernel has a domain of its own.
    """
    try:
        data = client.sock.recv(4096)
    except OSError:
        data = b""
    if not data:
        _client_left(state, client, sel)
        return
    for line in data.splitlines():
        try:
            message = json.loads(line)
            sig = int(message["signal"])
        except (ValueError, KeyError, TypeError):
            continue
        if client.pid is None or client.pid not in state.kernels or not 0 < sig < 65:
            continue
        try:
            if message.get("group"):
                os.killpg(client.pid, sig)
            else:
                os.kill(client.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("the request ended early")
        data += chunk
    return data


def _child(state: _Server, sel: selectors.BaseSelector, fds: list[int], argv: list[str], env: dict[str, str],
           cwd: str, run: Runner, policy: dict[str, Any] | None = None) -> None:
    """In the forked child: a new session on the caller's descriptors (0, 1, 2 and, when sent, 3), the
    caller's environment, the sandbox `policy` when there is one, then `run`."""
    code = 1
    try:
        os.setsid()
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        sel.close()
        state.listener.close()
        for client in state.clients.values():
            client.sock.close()
        os.close(state.wake_r)
        os.close(state.wake_w)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        for fd in set(fds):
            if fd >= len(fds):
                os.close(fd)
        os.environ.clear()
        os.environ.update(env)
        if cwd:
            try:
                os.chdir(cwd)
            except OSError:
                pass
        if policy is not None:
            from llm_tutor.engine.sandbox.policy import Policy, SandboxError, apply

            try:
                for problem in apply(Policy.from_json(policy)):
                    os.write(2, f"llm-tutor: sandbox: {problem}\r\n".encode())
            except SandboxError as exc:
                os.write(2, f"llm-tutor: the sandbox could not be applied, so this session does not start: {exc}\r\n".encode())
                raise SystemExit(70) from None
        _reseed()
        code = run(argv) or 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - report on the child's stderr, then leave
        import traceback

        try:
            os.write(2, traceback.format_exc().encode(errors="replace"))
        except OSError:
            pass
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError, AttributeError):
                pass
        os._exit(code)


def _reseed() -> None:
    """A forked child inherits its parent's random state: without this every kernel draws the same numbers."""
    import random

    random.seed()
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.seed()
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed()


def _client_left(state: _Server, client: _Client, sel: selectors.BaseSelector) -> None:
    """The client closed its end (or sent something it should not): end its kernel."""
    if client.pid is not None and state.kernels.get(client.pid) is client:
        _kill_group(client.pid)
        state.kernels[client.pid] = _Client(client.sock, None)  # still to be reaped, nobody to tell
    _drop(state, client, sel)


def _drop(state: _Server, client: _Client, sel: selectors.BaseSelector) -> None:
    fd = client.sock.fileno()
    if fd >= 0:
        state.clients.pop(fd, None)
        try:
            sel.unregister(client.sock)
        except (KeyError, ValueError):
            pass
    client.sock.close()


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _reap(state: _Server, sel: selectors.BaseSelector, block: bool = False) -> None:
    """Collect ended kernels and tell their clients the exit status."""
    deadline = time.monotonic() + 5.0
    while state.kernels:
        try:
            pid, status = os.waitpid(-1, 0 if block else os.WNOHANG)
        except ChildProcessError:
            state.kernels.clear()
            return
        if pid == 0:
            return
        client = state.kernels.pop(pid, None)
        if client is not None and client.pid == pid:
            try:
                client.sock.sendall(json.dumps({"exit": os.waitstatus_to_exitcode(status)}).encode() + b"\n")
            except OSError:
                pass
            _drop(state, client, sel)
        if block and time.monotonic() > deadline:
            return

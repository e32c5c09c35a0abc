"""Provides the SSH lab's settings (`LabConfig`) and state (`Lab`): logins waiting, sessions, each app's environment, the warm pools."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llm_tutor.engine.remote.ssh.keys import KeyStore
from llm_tutor.engine.remote.users import signal_group

if TYPE_CHECKING:
    from llm_tutor.engine.remote.ssh.session import TutorSession

log = logging.getLogger("llm_tutor.remote.ssh")

CLIENT_ENV = ("LANG", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "NO_COLOR", "COLORTERM", "LLM_TUTOR_LANG")
"""Environment variables a client may send (OpenSSH sends LANG and LC_* by default)."""
MAX_WAITING_LOGINS = 64
"""Connections not yet logged in at once (sshd's MaxStartups); more are closed at once, so silent
clients cannot use up the server's file descriptors. Each also ends after `LabConfig.login_timeout`."""
MAX_WAITING_PER_ADDRESS = 8
"""Once half of `MAX_WAITING_LOGINS` are taken, an address holding this many waiting connections gets no
more: a flood from one machine cannot take the other half, so students elsewhere still log in, while a
class behind one NAT address logs in at once as long as the server is not under a flood."""


@dataclass
class LabConfig:
    """Settings of one SSH lab server (the `serve ssh` options)."""

    authorized_keys: Path
    """An authorized_keys file (any listed key, any valid name) or a folder of ``<name>.pub`` files."""
    host_key: Path
    data_root: Path
    host: str = "127.0.0.1"
    port: int = 2222
    max_sessions: int = 20
    idle_timeout: float = 1800.0
    """Seconds without a key press before a session is closed; 0 keeps idle sessions open."""
    idle_warning: float = 60.0
    """Seconds of warning before an idle session is closed."""
    login_timeout: float = 30.0
    """Seconds a client has to log in, and then to open its terminal session, before it is disconnected."""
    threads: int | None = None
    memory_limit_mb: int | None = None
    gpu_memory_fraction: float | None = None
    kernel_pool: bool = True
    """Fork kernels from a warm server with torch imported (falls back to spawning while it starts)."""
    app_pool: bool = True
    """Fork each session's app from a warm server with Textual imported (falls back to spawning)."""
    app_args: list[str] = field(default_factory=list)
    """Extra `llm-tutor` arguments for every session (``--lessons DIR``, ``--device cpu`` ...)."""
    app_command: list[str] = field(default_factory=lambda: [sys.executable, "-m", "llm_tutor.tui"])
    sandbox: bool = True
    """Confine each session (Landlock, control groups, disk cap) as far as this machine allows."""
    require_sandbox: bool = False
    """Refuse to start when a protection is unavailable (``--require-sandbox``)."""
    session_memory_mb: int | None = None
    """A session's memory (app and kernel together, cgroup); None: no group memory limit."""
    session_pids: int | None = 256
    """A session's processes and threads (cgroup pids.max)."""
    disk_cap_mb: int | None = 500
    """The most a session's folders may hold (and the largest file it may write); None: no cap."""
    sandbox_read: list[str] = field(default_factory=list)
    """More folders sessions may read (the lessons folder)."""


class Lab:
    """The server's state: configuration, sessions, the fork servers."""

    def __init__(self, config: LabConfig) -> None:
        self.config = config
        self.keys = KeyStore(config.authorized_keys)
        self.sessions: set[TutorSession] = set()
        self.fork_socket: str | None = None
        """The kernel fork server's socket, once it is ready."""
        self.app_socket: str | None = None
        """The app fork server's socket, once it is ready."""
        self._servers: list[subprocess.Popen[bytes]] = []
        self._run_dir: str | None = None
        self.acceptor: Any = None
        self.pool_started: asyncio.Future[None] | None = None
        self.waiting_logins = 0
        """Connections accepted and not yet logged in (capped at `MAX_WAITING_LOGINS`)."""
        from llm_tutor.engine.remote.confine import Confinement

        self.confinement = Confinement(enabled=config.sandbox, required=config.require_sandbox,
                                       memory_mb=config.session_memory_mb, pids=config.session_pids,
                                       disk_cap_mb=config.disk_cap_mb, read=config.sandbox_read)
        self.waiting_by_address: dict[str, int] = {}
        """The same, per source address (capped at `MAX_WAITING_PER_ADDRESS`)."""

    # -- connections not logged in yet ---------------------------------------------------------

    def wait_login(self, address: str) -> str | None:
        """Count a new connection from `address` as waiting to log in; the refusal's reason when it may not."""
        busy = self.waiting_logins >= MAX_WAITING_LOGINS // 2
        if busy and self.waiting_by_address.get(address, 0) >= MAX_WAITING_PER_ADDRESS:
            return (f"{self.waiting_by_address[address]} connections from this address are already waiting to log in "
                    f"({self.waiting_logins} in all)")
        if self.waiting_logins >= MAX_WAITING_LOGINS:
            return f"{MAX_WAITING_LOGINS} connections are already waiting to log in"
        self.waiting_logins += 1
        self.waiting_by_address[address] = self.waiting_by_address.get(address, 0) + 1
        return None

    def done_waiting(self, address: str) -> None:
        self.waiting_logins -= 1
        left = self.waiting_by_address.get(address, 1) - 1
        if left > 0:
            self.waiting_by_address[address] = left
        else:
            self.waiting_by_address.pop(address, None)

    # -- sessions ----------------------------------------------------------------------------

    def admit(self, session: TutorSession) -> bool:
        if len(self.sessions) >= self.config.max_sessions:
            return False
        self.sessions.add(session)
        return True

    def release(self, session: TutorSession) -> None:
        self.sessions.discard(session)

    def child_env(self, session: TutorSession, home: Path, tty: str) -> dict[str, str]:
        """The app's environment: nothing of the server's but PATH and Python's, plus the session's."""
        env = {key: os.environ[key] for key in ("PATH", "PYTHONPATH", "VIRTUAL_ENV", "TMPDIR") if key in os.environ}
        env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
        env["LANG"] = os.environ.get("LANG", "C.UTF-8")
        for key, value in session.client_env.items():
            if key in CLIENT_ENV:
                env[key] = value
        env.update({
            "HOME": str(home),
            "USER": session.user,
            "LOGNAME": session.user,
            "TERM": session.term_type or "xterm-256color",
            "SSH_CONNECTION": session.ssh_connection,
            "SSH_TTY": tty,
            "TEXTUAL_ANIMATIONS": "none",
            "LLM_TUTOR_DATA_DIR": str(home),
            "LLM_TUTOR_LAB_USER": session.user,
        })
        cfg = self.config
        if cfg.threads:
            env["LLM_TUTOR_KERNEL_THREADS"] = str(cfg.threads)
        if cfg.memory_limit_mb is not None:
            env["LLM_TUTOR_KERNEL_MEMORY_MB"] = str(cfg.memory_limit_mb)  # 0: no limit
        if cfg.gpu_memory_fraction:
            env["LLM_TUTOR_GPU_MEMORY_FRACTION"] = str(cfg.gpu_memory_fraction)
        if session.box is not None:
            env.update(self.confinement.env(session.box, session.channel_fd))
        return env

    # -- warm pools --------------------------------------------------------------------------

    def start_pools(self) -> None:
        """Start the fork servers (blocking: they import Textual, then torch). Sessions spawn until each is ready."""
        from llm_tutor.engine.procs.forkserver import APP_SERVER, KERNEL_SERVER

        self._run_dir = tempfile.mkdtemp(prefix="llm-tutor-lab-")  # short path: socket names are ≤ 107 bytes
        if self.config.app_pool:
            self.app_socket = self._start_pool("app", APP_SERVER)
        if self.config.kernel_pool:
            self.fork_socket = self._start_pool("kernel", KERNEL_SERVER)

    def _start_pool(self, kind: str, module: str) -> str | None:
        from llm_tutor.engine.procs.forkserver import start_server

        assert self._run_dir is not None
        path = os.path.join(self._run_dir, f"{kind}s.sock")
        started = time.perf_counter()
        try:
            proc = start_server(path, module=module)
        except RuntimeError as exc:
            log.warning("%s pool unavailable, sessions start their own %ss: %s", kind, kind, exc)
            return None
        self._servers.append(proc)
        log.info("%s pool ready in %.1f s (fork server pid %d)", kind, time.perf_counter() - started, proc.pid)
        return path

    def stop_pools(self) -> None:
        self.fork_socket = self.app_socket = None
        for proc in self._servers:
            if proc.poll() is None:
                proc.terminate()
        for proc in self._servers:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                signal_group(proc.pid, signal.SIGKILL)
                proc.wait()
        if self._run_dir:
            shutil.rmtree(self._run_dir, ignore_errors=True)
        self.confinement.stop()

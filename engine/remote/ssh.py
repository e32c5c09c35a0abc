"""Provides the built-in SSH server of `llm-tutor serve ssh`: one pty and one app process per session.

The pattern of charmbracelet/wish and euporie-hub: public-key authentication only, against an
authorized-keys file or a folder of ``<name>.pub`` files; a persistent host key made on first run
(mode 0600); each session gets its own pseudo-terminal and its own `llm-tutor` child (and so its
own kernel), with the client's TERM and window size, and resizes forwarded. A student's progress
and workspace live under ``<data-root>/users/<name>/``. Exec requests, subsystems, port forwarding
(direct and reverse), agent forwarding and X11 are refused; sessions are capped; an idle session
is warned, then closed; every child (and its kernel) ends when the client drops.

Apps and kernels come from two fork servers (`engine.procs.forkserver`): one with Textual and
the app imported, one with torch imported, so a session's first screen does not wait for Python
and Textual to start, nor its first cell for a fresh ``import torch``.

All sessions run as the server's Unix user; each session's app and kernel confine themselves after
fork and before any learner code (`confine`, `llm_tutor.engine.sandbox`): Landlock keeps a session to
its own folder and scratch folder and its signals to itself, a control group caps its memory,
processes and CPU share, and a disk cap bounds its files. What this machine offers is logged at start.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import pty
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llm_tutor.engine.remote.users import descendants, kill_tree, signal_group, user_dir, valid_user_name

if TYPE_CHECKING:
    import asyncssh

log = logging.getLogger("llm_tutor.remote.ssh")

CLIENT_ENV = ("LANG", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "NO_COLOR", "COLORTERM", "LLM_TUTOR_LANG")
"""Environment variables a client may send (OpenSSH sends LANG and LC_* by default)."""
HANGUP_GRACE_S = 1.0
"""After SIGHUP, how long a session's app may take to exit before SIGKILL."""
MAX_WAITING_LOGINS = 64
"""Connections not yet logged in at once (sshd's MaxStartups); more are closed at once, so silent
clients cannot use up the server's file descriptors. Each also ends after `LabConfig.login_timeout`."""
DISK_CHECK_S = 5.0
"""How often a session's folders are measured against the disk cap."""
MAX_WAITING_PER_ADDRESS = 8
"""Once half of `MAX_WAITING_LOGINS` are taken, an address holding this many waiting connections gets no
more: a flood from one machine cannot take the other half, so students elsewhere still log in, while a
class behind one NAT address logs in at once as long as the server is not under a flood."""
RESTORE_TERMINAL = (b"\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l\x1b[?1015l\x1b[?2004l"  # mouse, paste off
                    b"\x1b[0m\x1b[?1049l\x1b[?25h\r\n")  # plain text, the normal screen, the cursor shown
"""What the client's terminal needs when the server ends a session under a running app (which then
has no chance to undo its full-screen mode): written before the farewell, after the app's last output."""
INPUT_BUFFER_MAX = 64 * 1024
"""Bytes of a client's keystrokes held for an app that reads slower than they come; past it the
channel stops reading (SSH flow control then holds the client back), so a flood cannot fill memory."""


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


def quiet_asyncssh_warnings() -> None:
    """Hide the deprecation warnings asyncssh's import raises (its DSA support): noise in every server log.

    Only asyncssh's, only cryptography's deprecation category: any other warning still shows.
    """
    import warnings

    try:
        from cryptography.utils import CryptographyDeprecationWarning
    except ImportError:
        return
    warnings.filterwarnings("ignore", category=CryptographyDeprecationWarning, module=r"asyncssh(\.|$)")


class HostKeyError(Exception):
    """The host key cannot be used (unsafe mode, unreadable); the message says how to fix it."""


def load_or_create_host_key(path: Path) -> asyncssh.SSHKey:
    """The server's persistent host key; made (ed25519, mode 0600) on first run."""
    import asyncssh

    if path.exists():
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise HostKeyError(f"the host key {path} can be read by other users (mode {mode:03o}); run: chmod 600 {path}")
        try:
            return asyncssh.read_private_key(path)
        except (OSError, asyncssh.KeyImportError) as exc:
            raise HostKeyError(f"cannot read the host key {path}: {exc}") from None
    key = asyncssh.generate_private_key("ssh-ed25519")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key.export_private_key())
    Path(str(path) + ".pub").write_bytes(key.export_public_key())
    log.info("made a new host key %s (%s)", path, key.get_fingerprint())
    return key


class KeyStore:
    """Which public keys may log in under which name. Read on every login, so edits need no restart."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def per_user(self) -> bool:
        return self.path.is_dir()

    def keys_for(self, name: str) -> asyncssh.SSHAuthorizedKeys | None:
        import asyncssh

        if not valid_user_name(name):
            return None
        source = self.path / f"{name}.pub" if self.per_user else self.path
        if not source.is_file():
            return None
        try:
            return asyncssh.read_authorized_keys(str(source))
        except (OSError, ValueError, asyncssh.KeyImportError) as exc:
            log.warning("cannot read authorized keys %s: %s", source, exc)
            return None


def set_winsize(fd: int, cols: int, rows: int, xpixels: int = 0, ypixels: int = 0) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", max(rows, 1), max(cols, 1), xpixels, ypixels))


def _controlling_tty() -> None:
    """In the child, after setsid: make the pty on fd 0 its controlling terminal (resizes send SIGWINCH)."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _child_setup(policy: Any) -> Any:
    """The spawned app's pre-exec step: its terminal, then its sandbox (as a forked app's)."""
    if policy is None:
        return _controlling_tty

    def setup() -> None:
        from llm_tutor.engine.sandbox.policy import apply

        _controlling_tty()
        apply(policy)

    return setup


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


def _server_class() -> type:
    """The asyncssh classes, made when asyncssh is imported (only inside `serve ssh`)."""
    import asyncssh

    class LabSSHServer(asyncssh.SSHServer):  # type: ignore[misc]
        """One client connection: authentication, then sessions; every other request is refused."""

        def __init__(self, lab: Lab) -> None:
            self.lab = lab
            self.conn: asyncssh.SSHServerConnection | None = None
            self.user = ""
            self.keys: asyncssh.SSHAuthorizedKeys | None = None
            self.authenticated = False
            self.peer = ("?", 0)
            self.waiting = False
            self.sessions = 0

        def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
            self.conn = conn
            peer = conn.get_extra_info("peername") or ("?", 0)
            self.peer = (str(peer[0]), int(peer[1]))
            refused = self.lab.wait_login(self.peer[0])
            if refused:
                log.warning("refused connection from=%s:%d: %s", *self.peer, refused)
                self.authenticated = True  # nothing more to log for it
                conn.abort()
                return
            self.waiting = True

        def _done_waiting(self) -> None:
            if self.waiting:
                self.waiting = False
                self.lab.done_waiting(self.peer[0])

        def connection_lost(self, exc: Exception | None) -> None:
            self._done_waiting()
            if not self.authenticated:
                who = f"user={self.user} " if self.user else ""
                log.info("refused %sfrom=%s:%d: %s", who, *self.peer, "no accepted key" if self.user else (exc or "closed before login"))

        def begin_auth(self, username: str) -> bool:
            self.user = username
            self.keys = self.lab.keys.keys_for(username)
            if self.keys is None:
                reason = "not a valid name" if not valid_user_name(username) else "no key on file for this name"
                log.info("login attempt user=%s from=%s:%d: %s", username, *self.peer, reason)
            return True

        def auth_completed(self) -> None:
            self.authenticated = True
            self._done_waiting()
            timeout = self.lab.config.login_timeout
            if timeout > 0:
                asyncio.get_event_loop().call_later(timeout, self._check_session_opened)

        def _check_session_opened(self) -> None:
            """A client that logs in but never opens its terminal would hold a connection for ever."""
            if self.sessions == 0 and self.conn is not None:
                log.info("closed user=%s from=%s:%d: no session opened within %.0f s of login", self.user, *self.peer,
                         self.lab.config.login_timeout)
                self.conn.close()

        def public_key_auth_supported(self) -> bool:
            return True

        def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
            if self.keys is None or username != self.user:
                return False
            return self.keys.validate(key, self.peer[0], self.peer[0]) is not None

        def password_auth_supported(self) -> bool:
            return False

        def kbdint_auth_supported(self) -> bool:
            return False

        def host_based_auth_supported(self) -> bool:
            return False

        def session_requested(self) -> Any:
            assert self.conn is not None
            self.sessions += 1
            chan = self.conn.create_server_channel(encoding=None)  # raw bytes both ways
            chan.__class__ = LabChannel  # the same channel, with agent and X11 requests refused and logged
            chan.lab_who = f"user={self.user} from={self.peer[0]}:{self.peer[1]}"
            return chan, Session(self.lab, self.user, self.conn)

        def connection_requested(self, dest_host: str, dest_port: int, orig_host: str, orig_port: int) -> bool:
            log.info("refused port forwarding user=%s from=%s:%d to %s:%d", self.user, *self.peer, dest_host, dest_port)
            return False

        def server_requested(self, listen_host: str, listen_port: int) -> bool:
            log.info("refused reverse port forwarding user=%s from=%s:%d on %s:%d", self.user, *self.peer, listen_host, listen_port)
            return False

        def unix_connection_requested(self, dest_path: str) -> bool:
            log.info("refused socket forwarding user=%s from=%s:%d", self.user, *self.peer)
            return False

        def unix_server_requested(self, listen_path: str) -> bool:
            log.info("refused socket forwarding user=%s from=%s:%d", self.user, *self.peer)
            return False

    class LabChannel(asyncssh.SSHServerChannel):  # type: ignore[misc]
        """asyncssh's session channel, refusing agent and X11 forwarding itself so each refusal is logged.

        (asyncssh refuses both when the server disables them, but silently; it dispatches a channel
        request to the method named ``_process_<request>_request``.)
        """

        lab_who = ""

        def _process_x11_req_request(self, packet: Any) -> bool:
            log.info("refused X11 forwarding %s", self.lab_who)
            return False

        def _process_auth_agent_req_at_openssh_dot_com_request(self, packet: Any) -> bool:
            log.info("refused agent forwarding %s", self.lab_who)
            return False

    class Session(TutorSession, asyncssh.SSHServerSession):  # type: ignore[misc]
        """`TutorSession` with asyncssh's defaults for every callback it does not define."""

    return LabSSHServer


class TutorSession:
    """One SSH session: a pty, an `llm-tutor` child on it, bytes copied both ways without any line editor.

    asyncssh calls these methods by name; the class is mixed with `asyncssh.SSHServerSession`
    where asyncssh is imported, so this module imports without it.
    """

    def __init__(self, lab: Lab, user: str, conn: Any) -> None:
        self.lab = lab
        self.user = user
        self.conn = conn
        peer = conn.get_extra_info("peername") or ("?", 0)
        sock = conn.get_extra_info("sockname") or ("?", 0)
        self.peer = f"{peer[0]}:{peer[1]}"
        self.ssh_connection = f"{peer[0]} {peer[1]} {sock[0]} {sock[1]}"
        self.chan: Any = None
        self.term_type: str | None = None
        self.size = (80, 24, 0, 0)
        self.client_env: dict[str, str] = {}
        self.proc: Any = None
        """The app: a `subprocess.Popen`, or a `ForkedProcess` from the app pool."""
        self.master: int | None = None
        self.started = time.monotonic()
        self.last_input = time.monotonic()
        self.warned = False
        self.admitted = False
        self._pending = bytearray()
        self._reading_paused = False
        self._ending: asyncio.Future[None] | None = None
        self._farewell_sent = False
        self._idle_handle: asyncio.TimerHandle | None = None
        self._disk_handle: asyncio.TimerHandle | None = None
        self._loop = asyncio.get_event_loop()
        self.box: Any = None
        """The session's `confine.SessionBox` (scratch folder, group, policy, kernel channel)."""
        self.channel_fd: int | None = None
        """The descriptor number of the kernel channel in the app."""
        self.home: Path | None = None

    # -- asyncssh callbacks ------------------------------------------------------------------

    def connection_made(self, chan: Any) -> None:
        self.chan = chan

    def pty_requested(self, term_type: str, term_size: tuple[int, int, int, int], term_modes: Any) -> bool:
        self.term_type = term_type
        self.size = term_size
        return True

    def shell_requested(self) -> bool:
        return True

    def exec_requested(self, command: str) -> bool:
        log.info("refused exec user=%s from=%s: %r", self.user, self.peer, command[:80])
        return False

    def subsystem_requested(self, subsystem: str) -> bool:
        log.info("refused subsystem user=%s from=%s: %s", self.user, self.peer, subsystem)
        return False

    def break_received(self, msec: int) -> bool:
        return False

    def signal_received(self, signal_name: str) -> None:
        pass

    def soft_eof_received(self) -> None:
        pass

    def session_started(self) -> None:
        try:
            env = self.chan.get_environment()
            self.client_env = {str(k): str(v) for k, v in dict(env).items()}
        except Exception:  # noqa: BLE001 - undecodable client variables are dropped
            self.client_env = {}
        if self.term_type is None:
            log.info("refused session user=%s from=%s: no terminal requested", self.user, self.peer)
            self._close_with(b"llm-tutor needs a terminal: connect with ssh -t\r\n", 1)
            return
        if not self.lab.admit(self):
            log.info("refused session user=%s from=%s: the lab is full (%d sessions)", self.user, self.peer, self.lab.config.max_sessions)
            self._close_with(f"The lab is full ({self.lab.config.max_sessions} sessions); try again in a few minutes.\r\n".encode(), 1)
            return
        self.admitted = True
        try:
            self._spawn()
        except OSError as exc:
            log.error("cannot start the app for user=%s: %s", self.user, exc)
            self.lab.release(self)
            self._close_with(f"llm-tutor could not start: {exc}\r\n".encode(), 1)
            return
        log.info("connect user=%s from=%s term=%s size=%dx%d pid=%d sessions=%d/%d", self.user, self.peer, self.term_type,
                 self.size[0], self.size[1], self.proc.pid if self.proc else -1, len(self.lab.sessions), self.lab.config.max_sessions)
        self._schedule_idle_check()

    def data_received(self, data: bytes, datatype: Any) -> None:
        self.last_input = time.monotonic()
        if self.warned:
            self.warned = False
            self._repaint()
        if self.master is None:
            return
        self._pending += data
        self._flush_input()
        if len(self._pending) > INPUT_BUFFER_MAX and not self._reading_paused:
            self._reading_paused = True
            self.chan.pause_reading()  # the client's window closes: a flood waits at the client

    def terminal_size_changed(self, width: int, height: int, pixwidth: int, pixheight: int) -> None:
        self.size = (width, height, pixwidth, pixheight)
        if self.master is not None:
            try:
                set_winsize(self.master, width, height, pixwidth, pixheight)
            except OSError:
                pass

    def eof_received(self) -> bool:
        return False

    def pause_writing(self) -> None:
        if self.master is not None:
            self._loop.remove_reader(self.master)

    def resume_writing(self) -> None:
        if self.master is not None and self._ending is None and not self._farewell_sent:
            self._loop.add_reader(self.master, self._on_output)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_output()  # nothing more can reach the client
        self.end("client disconnected" if exc is None else f"connection lost ({exc})")

    def _stop_output(self) -> None:
        if self.master is not None:
            self._loop.remove_reader(self.master)

    # -- the child ---------------------------------------------------------------------------

    def _spawn(self) -> None:
        home = user_dir(self.lab.config.data_root, self.user)
        self.home = home
        session_id = f"{self.user}-{os.urandom(4).hex()}"
        self.box = self.lab.confinement.open(self.user, home, session_id, self.lab.fork_socket)
        policy = self.box.policy.to_json() if self.box.policy else None
        channel = self.box.channel.fileno() if self.box.channel is not None else None
        master, slave = pty.openpty()
        try:
            cols, rows, xpix, ypix = self.size
            set_winsize(slave, cols, rows, xpix, ypix)
            args = ["--low-bandwidth", *self.lab.config.app_args]
            proc: Any = None
            if self.lab.app_socket:
                from llm_tutor.engine.procs.forkserver import fork_process

                self.channel_fd = 3 if channel is not None else None
                env = self.lab.child_env(self, home, os.ttyname(slave))
                fds = (slave, slave, slave) if channel is None else (slave, slave, slave, channel)
                proc = fork_process(self.lab.app_socket, args, env, str(home), fds, sandbox=policy)
            if proc is None:
                self.channel_fd = channel
                env = self.lab.child_env(self, home, os.ttyname(slave))
                self.proc = subprocess.Popen(
                    [*self.lab.config.app_command, *args], stdin=slave, stdout=slave, stderr=slave, env=env, cwd=home,
                    start_new_session=True, preexec_fn=_child_setup(self.box.policy),
                    pass_fds=() if channel is None else (channel,),
                )
            else:
                self.proc = proc
        except BaseException:
            os.close(master)
            self.lab.confinement.close(self.box)
            raise
        finally:
            os.close(slave)
        self.master = master
        os.set_blocking(master, False)
        self._loop.add_reader(master, self._on_output)
        if self.lab.confinement.disk_cap_mb:
            self._disk_handle = self._loop.call_later(DISK_CHECK_S, self._check_disk)

    def _check_disk(self) -> None:
        """End the session, with a message, once its folders hold more than the disk cap."""
        if self._ending is not None or self.home is None:
            return
        task = self._loop.run_in_executor(None, self.lab.confinement.over_disk_cap, self.box, self.home)

        def done(future: asyncio.Future[int]) -> None:
            used = future.result() if not future.cancelled() and future.exception() is None else 0
            if used and self._ending is None:
                cap = self.lab.confinement.disk_cap_mb
                log.info("disk cap user=%s from=%s: %d MB used, cap %s MB", self.user, self.peer, used, cap)
                self.farewell(f"llm-tutor: your folders hold {used} MB, more than this lab's cap of {cap} MB (disk cap), "
                              "so the session was closed. Ask your instructor to free space.", 1)
                self.end("disk cap")
            elif self._ending is None:
                self._disk_handle = self._loop.call_later(DISK_CHECK_S, self._check_disk)

        task.add_done_callback(done)

    def _on_output(self) -> None:
        assert self.master is not None
        try:
            data = os.read(self.master, 65536)
        except BlockingIOError:
            return
        except OSError:  # EIO: every slave fd is closed, the app has exited
            data = b""
        if data:
            try:
                self.chan.write(data)
            except (BrokenPipeError, ConnectionError):  # the client has gone; connection_lost ends the session
                self._loop.remove_reader(self.master)
            return
        self._loop.remove_reader(self.master)
        self._loop.create_task(self._app_exited())

    async def _app_exited(self) -> None:
        proc = self.proc
        code = 0
        if proc is not None:
            code = await self._loop.run_in_executor(None, proc.wait)
        try:
            self.chan.exit(code if 0 <= code <= 255 else 1)
        except Exception:  # noqa: BLE001 - the channel may already be closed
            pass
        self.end(f"app exited ({code})")

    def _flush_input(self) -> None:
        if self.master is None or not self._pending:
            return
        try:
            written = os.write(self.master, self._pending)
        except BlockingIOError:
            written = 0
        except OSError:
            self._pending.clear()
            return
        del self._pending[:written]
        if self._pending:
            self._loop.add_writer(self.master, self._writable)
        if self._reading_paused and len(self._pending) <= INPUT_BUFFER_MAX // 2:
            self._reading_paused = False
            self.chan.resume_reading()

    def _writable(self) -> None:
        if self.master is not None:
            self._loop.remove_writer(self.master)
        self._flush_input()

    def _close_with(self, message: bytes, status: int) -> None:
        try:
            self.chan.write(message)
            self.chan.exit(status)
        except Exception:  # noqa: BLE001
            pass

    # -- idle timeout ------------------------------------------------------------------------

    def _schedule_idle_check(self) -> None:
        timeout = self.lab.config.idle_timeout
        if timeout > 0 and self._ending is None:
            self._idle_handle = self._loop.call_later(min(5.0, timeout / 4), self._check_idle)

    def _check_idle(self) -> None:
        cfg = self.lab.config
        idle = time.monotonic() - self.last_input
        if idle >= cfg.idle_timeout:
            log.info("idle timeout user=%s from=%s after %.0f s", self.user, self.peer, idle)
            self.farewell(f"llm-tutor: closed after {cfg.idle_timeout:.0f} s without a key press; your progress is saved.")
            self.end("idle timeout")
            return
        warn_at = cfg.idle_timeout - min(cfg.idle_warning, cfg.idle_timeout / 2)
        if idle >= warn_at and not self.warned:
            self.warned = True
            left = cfg.idle_timeout - idle
            self._overlay(f" No key pressed for a while: this session closes in {left:.0f} s. Press any key to stay. ")
        self._schedule_idle_check()

    def _overlay(self, text: str) -> None:
        """Write a line over the bottom row (cursor saved and restored), with a bell; the app repaints it later."""
        cols, rows = self.size[0], self.size[1]
        line = text[:cols].ljust(cols)
        try:
            self.chan.write(b"\x07\x1b7\x1b[%d;1H\x1b[0;7m" % rows + line.encode() + b"\x1b[0m\x1b8")
        except (BrokenPipeError, ConnectionError):  # the client has gone
            pass

    def _repaint(self) -> None:
        """Make the app repaint everything (over the warning): a resize there and back."""
        if self.master is None:
            return
        cols, rows, xpix, ypix = self.size
        try:
            set_winsize(self.master, cols, max(rows - 1, 1), xpix, ypix)
            self._loop.call_later(0.05, lambda: self.master is not None and set_winsize(self.master, *self.size))
        except OSError:
            pass

    # -- the end -----------------------------------------------------------------------------

    def farewell(self, text: str, status: int = 0) -> None:
        """Stop passing on the app's output, give the client its terminal back (normal screen, cursor,
        no mouse reports), then say why the session ends and close the channel with `status`."""
        if self._farewell_sent:
            return
        self._farewell_sent = True
        self._stop_output()
        self._close_with(RESTORE_TERMINAL + text.encode() + b"\r\n", status)

    def end(self, reason: str) -> None:
        """End the session's app and everything it started (kernel included); safe to call twice."""
        if self._ending is not None:
            return
        self._ending = self._loop.create_task(self._end(reason))

    async def _end(self, reason: str) -> None:
        if self._idle_handle is not None:
            self._idle_handle.cancel()
        if self._disk_handle is not None:
            self._disk_handle.cancel()
        proc = self.proc
        if proc is not None:
            tree = descendants(proc.pid)
            if proc.poll() is None:
                signal_group(proc.pid, signal.SIGHUP)
                deadline = time.monotonic() + HANGUP_GRACE_S
                while proc.poll() is None and time.monotonic() < deadline:
                    await asyncio.sleep(0.02)
            kill_tree(proc.pid, tree)
            await self._loop.run_in_executor(None, proc.wait)
        if self.master is not None:
            self._loop.remove_reader(self.master)
            self._loop.remove_writer(self.master)
            os.close(self.master)
            self.master = None
        if self.box is not None:
            box, self.box = self.box, None
            await self._loop.run_in_executor(None, self.lab.confinement.close, box)
        if self.admitted:
            self.lab.release(self)
            log.info("disconnect user=%s from=%s after %.1f s: %s sessions=%d/%d", self.user, self.peer,
                     time.monotonic() - self.started, reason, len(self.lab.sessions), self.lab.config.max_sessions)
        try:
            self.chan.close()
        except Exception:  # noqa: BLE001
            pass


async def start_lab(config: LabConfig) -> Lab:
    """Check the configuration, start listening and (in the background) the warm pools."""
    import asyncssh

    host_key = load_or_create_host_key(config.host_key)
    config.data_root.mkdir(parents=True, exist_ok=True, mode=0o700)
    lab = Lab(config)
    try:
        for warning in lab.confinement.check(config.data_root, config.authorized_keys, config.host_key):
            log.warning("%s", warning)
    except BaseException:
        lab.confinement.stop()
        raise
    lab.confinement.log_protections()
    server_class = _server_class()
    lab.acceptor = await asyncssh.listen(
        config.host,
        config.port,
        server_factory=lambda: server_class(lab),
        server_host_keys=[host_key],
        agent_forwarding=False,
        x11_forwarding=False,
        allow_scp=False,
        line_editor=False,
        login_timeout=config.login_timeout or None,
        keepalive_interval=30,
        keepalive_count_max=4,
        gss_host=None,
    )
    if config.kernel_pool or config.app_pool:
        lab.pool_started = asyncio.get_running_loop().run_in_executor(None, lab.start_pools)
    return lab


async def stop_lab(lab: Lab) -> None:
    """Stop accepting, end every session and its processes, stop the warm pools."""
    if lab.acceptor is not None:
        lab.acceptor.close()
    for session in list(lab.sessions):
        session.farewell("llm-tutor: the lab server is stopping; your progress is saved.")
        session.end("server stopping")
    pending = [s._ending for s in list(lab.sessions) if s._ending is not None]
    if pending:
        await asyncio.wait(pending, timeout=10)
    if lab.pool_started is not None:
        await asyncio.wait([lab.pool_started], timeout=130)
    await asyncio.get_running_loop().run_in_executor(None, lab.stop_pools)


def bound_port(lab: Lab) -> int:
    """The port the lab listens on (the real one when 0 was asked for)."""
    return int(lab.acceptor.get_port())


def run(config: LabConfig, ready: Any = None) -> int:
    """Serve until SIGINT or SIGTERM; `ready(lab)` is called once listening. Returns the exit status."""

    async def main() -> int:
        lab = await start_lab(config)
        log.info("listening on %s:%d (max %d sessions, idle timeout %s, keys %s%s)", config.host, bound_port(lab),
                 config.max_sessions, f"{config.idle_timeout:.0f} s" if config.idle_timeout else "off",
                 config.authorized_keys, " per student" if lab.keys.per_user else "")
        log.info("per kernel: torch threads %s, memory %s, GPU memory %s", config.threads or "default",
                 f"{config.memory_limit_mb} MB" if config.memory_limit_mb else "unlimited",
                 f"{config.gpu_memory_fraction:.0%}" if config.gpu_memory_fraction else "unlimited")
        if ready is not None:
            ready(lab)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        log.info("stopping: ending %d sessions", len(lab.sessions))
        await stop_lab(lab)
        return 0

    return asyncio.run(main())

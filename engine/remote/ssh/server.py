"""Provides the SSH lab's server: asyncssh's connection class (logins, refusals), and `start_lab`, `stop_lab`, `run`."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

from llm_tutor.engine.remote.ssh.keys import load_or_create_host_key
from llm_tutor.engine.remote.ssh.lab import Lab, LabConfig
from llm_tutor.engine.remote.ssh.session import TutorSession
from llm_tutor.engine.remote.users import valid_user_name

log = logging.getLogger("llm_tutor.remote.ssh")


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
    pending = [s.end_task for s in list(lab.sessions) if s.end_task is not None]
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

"""Provides `TutorSession`: one SSH session, its app's pty and the client's channel joined byte for byte, and its end."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llm_tutor.engine.remote.ssh.limits import SessionLimits
from llm_tutor.engine.remote.ssh.spawn import set_winsize, start_app
from llm_tutor.engine.remote.users import descendants, kill_tree, signal_group, user_dir

if TYPE_CHECKING:
    from llm_tutor.engine.remote.ssh.lab import Lab

log = logging.getLogger("llm_tutor.remote.ssh")

HANGUP_GRACE_S = 1.0
"""After SIGHUP, how long a session's app may take to exit before SIGKILL."""
RESTORE_TERMINAL = (b"\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l\x1b[?1015l\x1b[?2004l"  # mouse, paste off
                    b"\x1b[0m\x1b[?1049l\x1b[?25h\r\n")  # plain text, the normal screen, the cursor shown
"""What the client's terminal needs when the server ends a session under a running app (which then
has no chance to undo its full-screen mode): written before the farewell, after the app's last output."""
INPUT_BUFFER_MAX = 64 * 1024
"""Bytes of a client's keystrokes held for an app that reads slower than they come; past it the
channel stops reading (SSH flow control then holds the client back), so a flood cannot fill memory."""


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
        self.admitted = False
        self._pending = bytearray()
        self._reading_paused = False
        self._ending: asyncio.Future[None] | None = None
        self._farewell_sent = False
        self._loop = asyncio.get_event_loop()
        self.limits = SessionLimits(self, self._loop)
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
        self.limits.start_idle()

    def data_received(self, data: bytes, datatype: Any) -> None:
        self.limits.key_pressed()
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
        self.proc, master = start_app(self, home)
        self.master = master
        os.set_blocking(master, False)
        self._loop.add_reader(master, self._on_output)
        if self.lab.confinement.disk_cap_mb:
            self.limits.start_disk()

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

    # -- the end -----------------------------------------------------------------------------

    def farewell(self, text: str, status: int = 0) -> None:
        """Stop passing on the app's output, give the client its terminal back (normal screen, cursor,
        no mouse reports), then say why the session ends and close the channel with `status`."""
        if self._farewell_sent:
            return
        self._farewell_sent = True
        self._stop_output()
        self._close_with(RESTORE_TERMINAL + text.encode() + b"\r\n", status)

    @property
    def ending(self) -> bool:
        """Whether the session is ending (its app is being ended, or has been)."""
        return self._ending is not None

    @property
    def end_task(self) -> asyncio.Future[None] | None:
        """The task that ends the session, to wait on (None until `end` is called)."""
        return self._ending

    def end(self, reason: str) -> None:
        """End the session's app and everything it started (kernel included); safe to call twice."""
        if self._ending is not None:
            return
        self._ending = self._loop.create_task(self._end(reason))

    async def _end(self, reason: str) -> None:
        self.limits.stop()
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


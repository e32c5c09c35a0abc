"""Provides `SessionLimits`: what ends an SSH session on its own, no key pressed for too long (warned first) and folders over the disk cap."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from llm_tutor.engine.remote.ssh.spawn import set_winsize

if TYPE_CHECKING:
    from llm_tutor.engine.remote.ssh.session import TutorSession

log = logging.getLogger("llm_tutor.remote.ssh")

DISK_CHECK_S = 5.0
"""How often a session's folders are measured against the disk cap."""


class SessionLimits:
    """The idle timeout (`LabConfig.idle_timeout`, with a warning over the bottom row first) and the disk cap of one session."""

    def __init__(self, session: TutorSession, loop: asyncio.AbstractEventLoop) -> None:
        self.session = session
        self.last_input = time.monotonic()
        self.warned = False
        self._loop = loop
        self._idle_handle: asyncio.TimerHandle | None = None
        self._disk_handle: asyncio.TimerHandle | None = None

    def key_pressed(self) -> None:
        """The client typed: the idle clock starts again, and a warning shown is painted over."""
        self.last_input = time.monotonic()
        if self.warned:
            self.warned = False
            self._repaint()

    def stop(self) -> None:
        for handle in (self._idle_handle, self._disk_handle):
            if handle is not None:
                handle.cancel()

    # -- disk cap ----------------------------------------------------------------------------

    def start_disk(self) -> None:
        self._disk_handle = self._loop.call_later(DISK_CHECK_S, self._check_disk)

    def _check_disk(self) -> None:
        """End the session, with a message, once its folders hold more than the disk cap."""
        session = self.session
        if session.ending or session.home is None:
            return
        confinement = session.lab.confinement
        task = self._loop.run_in_executor(None, confinement.over_disk_cap, session.box, session.home)

        def done(future: asyncio.Future[int]) -> None:
            used = future.result() if not future.cancelled() and future.exception() is None else 0
            if used and not session.ending:
                cap = confinement.disk_cap_mb
                log.info("disk cap user=%s from=%s: %d MB used, cap %s MB", session.user, session.peer, used, cap)
                session.farewell(f"llm-tutor: your folders hold {used} MB, more than this lab's cap of {cap} MB (disk "
                                 "cap), so the session was closed. Ask your instructor to free space.", 1)
                session.end("disk cap")
            elif not session.ending:
                self.start_disk()

        task.add_done_callback(done)

    # -- idle timeout ------------------------------------------------------------------------

    def start_idle(self) -> None:
        timeout = self.session.lab.config.idle_timeout
        if timeout > 0 and not self.session.ending:
            self._idle_handle = self._loop.call_later(min(5.0, timeout / 4), self._check_idle)

    def _check_idle(self) -> None:
        session, cfg = self.session, self.session.lab.config
        idle = time.monotonic() - self.last_input
        if idle >= cfg.idle_timeout:
            log.info("idle timeout user=%s from=%s after %.0f s", session.user, session.peer, idle)
            session.farewell(f"llm-tutor: closed after {cfg.idle_timeout:.0f} s without a key press; your progress is saved.")
            session.end("idle timeout")
            return
        warn_at = cfg.idle_timeout - min(cfg.idle_warning, cfg.idle_timeout / 2)
        if idle >= warn_at and not self.warned:
            self.warned = True
            left = cfg.idle_timeout - idle
            self._overlay(f" No key pressed for a while: this session closes in {left:.0f} s. Press any key to stay. ")
        self.start_idle()

    def _overlay(self, text: str) -> None:
        """Write a line over the bottom row (cursor saved and restored), with a bell; the app repaints it later."""
        cols, rows = self.session.size[0], self.session.size[1]
        line = text[:cols].ljust(cols)
        try:
            self.session.chan.write(b"\x07\x1b7\x1b[%d;1H\x1b[0;7m" % rows + line.encode() + b"\x1b[0m\x1b8")
        except (BrokenPipeError, ConnectionError):  # the client has gone
            pass

    def _repaint(self) -> None:
        """Make the app repaint everything (over the warning): a resize there and back."""
        session = self.session
        if session.master is None:
            return
        cols, rows, xpix, ypix = session.size
        try:
            set_winsize(session.master, cols, max(rows - 1, 1), xpix, ypix)
            self._loop.call_later(0.05, lambda: session.master is not None and set_winsize(session.master, *session.size))
        except OSError:
            pass

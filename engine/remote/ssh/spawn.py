"""Provides `start_app`: a session's `llm-tutor` app on a new pty, forked from the app pool or spawned."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import termios
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llm_tutor.engine.remote.ssh.session import TutorSession


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


def start_app(session: TutorSession, home: Path) -> tuple[Any, int]:
    """The session's app on a new pty sized as the client's terminal: (its process, the pty's master fd).

    The app is forked from the lab's app pool when it is ready, else spawned; either way it is
    confined by the session's box (`session.box`, already open). On failure the box is closed.
    """
    lab = session.lab
    policy = session.box.policy.to_json() if session.box.policy else None
    channel = session.box.channel.fileno() if session.box.channel is not None else None
    master, slave = pty.openpty()
    try:
        cols, rows, xpix, ypix = session.size
        set_winsize(slave, cols, rows, xpix, ypix)
        args = ["--low-bandwidth", *lab.config.app_args]
        proc: Any = None
        if lab.app_socket:
            from llm_tutor.engine.procs.forkserver import fork_process

            session.channel_fd = 3 if channel is not None else None
            env = lab.child_env(session, home, os.ttyname(slave))
            fds = (slave, slave, slave) if channel is None else (slave, slave, slave, channel)
            proc = fork_process(lab.app_socket, args, env, str(home), fds, sandbox=policy)
        if proc is None:
            session.channel_fd = channel
            env = lab.child_env(session, home, os.ttyname(slave))
            proc = subprocess.Popen(
                [*lab.config.app_command, *args], stdin=slave, stdout=slave, stderr=slave, env=env, cwd=home,
                start_new_session=True, preexec_fn=_child_setup(session.box.policy),
                pass_fds=() if channel is None else (channel,),
            )
    except BaseException:
        os.close(master)
        lab.confinement.close(session.box)
        raise
    finally:
        os.close(slave)
    return proc, master

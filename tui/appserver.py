"""Provides the SSH lab's app fork server: Textual and the app imported once, an app forked per session.

Starting Python and importing Textual and the app takes most of the time from an SSH connection
to the first screen, more so on a lab machine busy with other students. `llm-tutor serve ssh`
starts this server (``python -m llm_tutor.tui.appserver --socket PATH``) and sends each session's
pty to it; the forked child makes the pty its controlling terminal and runs the command line as
`llm-tutor` would. The loop and protocol are the kernel fork server's
(`llm_tutor.engine.procs.forkserver_loop`). torch is never imported here.
"""

from __future__ import annotations

import fcntl
import importlib
import sys
import termios

from llm_tutor.engine.procs.forkserver_loop import serve


def _preload() -> None:
    """Import what every session's app imports (the command line's parser too), so a forked app starts at its first paint."""
    from llm_tutor.engine.cli import COMMAND_MODULES

    for name in (
        "textual.app",
        "llm_tutor.tui.launch",
        "llm_tutor.tui.app",
        "llm_tutor.tui.screens.lesson",
        "llm_tutor.tui.screens.help",
        "llm_tutor.engine.kernel",
        "llm_tutor.engine.course.catalog",
        "llm_tutor.engine.learner.store",
        *(f"llm_tutor.engine.cli.{command}" for command in COMMAND_MODULES),
    ):
        try:
            importlib.import_module(name)
        except ImportError:
            pass


def run_app(argv: list[str]) -> int:
    """In a forked child (fds 0/1/2 are the session's pty, the environment the session's): run the app."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)  # resizes reach the app as SIGWINCH
    import textual.constants

    importlib.reload(textual.constants)  # Textual reads TEXTUAL_* when imported: read this session's values
    from llm_tutor.tui.launch import main

    sys.argv = ["llm-tutor", *argv]
    return main(argv)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="llm-tutor-app-server", description="Fork the llm-tutor app on request.")
    parser.add_argument("--socket", required=True, help="path of the Unix socket to listen on")
    args = parser.parse_args(argv)
    return serve(args.socket, run_app, preload=_preload)


if __name__ == "__main__":
    sys.exit(main())

"""Provides `main`, the `llm-tutor` command: the engine's command line, with the app opened through `open_app`.

The parser and every headless command live in `llm_tutor.engine.cli`; a command that opens the app
(bare `llm-tutor [LESSON]`, `llm-tutor train MODEL`) comes back here as an `AppRequest`. Textual is
imported only then, torch only in the kernel process, so `llm-tutor check` and friends never load the UI.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from llm_tutor.engine.cli.app import AppRequest
from llm_tutor.engine.cli.main import main as run_command_line

if TYPE_CHECKING:
    from llm_tutor.tui.app import TutorApp


def main(argv: list[str] | None = None) -> int:
    """`llm-tutor`'s entry point (also `python -m llm_tutor.tui`)."""
    return run_command_line(argv, open_app=open_app)


def open_app(request: AppRequest) -> int:
    """Open the Textual app (imported only here) as the command line asked; returns its exit status."""
    from llm_tutor.tui.app import make_app

    if request.lab is not None:
        app = make_app(lang=request.lang, device=request.device, autostart_kernel=False)
        app.start_lab = request.lab
        app.run()
        return app.return_code or 0
    app = make_app(
        lesson=request.lesson,
        lang=request.lang,
        device=request.device,
        lessons_dir=request.lessons_dir,
        data_dir=request.data_dir,
        low_bandwidth=request.low_bandwidth,
    )
    _run_ending_on_hangup(app)
    if app.progress.closing_line:  # the terminal is the person's again: say where progress went
        print(app.progress.closing_line, file=sys.stderr)
    return app.return_code or 0


HANGUP_GRACE_S = 10.0
"""After SIGHUP or SIGTERM, how long the app may take to save (a locked database waits 5 s) before it is ended."""


def _run_ending_on_hangup(app: TutorApp) -> None:
    """Run the app; SIGHUP (the terminal or SSH link went away) and SIGTERM end it the normal way.

    Without this the default action ends the process at once: the kernel still dies with it, but what
    the kernel started and any progress not yet written would be left behind. Handled, the app exits as
    on `q`: the kernel's process group is ended and the progress store is closed.
    """
    import asyncio
    import signal
    import threading

    loop = asyncio.new_event_loop()

    def hang_up() -> None:
        kernel = app.kernel_if_made
        if kernel is not None:
            kernel.kill()  # first: the learner is gone, and what their cell started must not outlive them
        app.exit(return_code=129)

    def on_signal(signum: int, frame: object) -> None:
        # A plain signal handler, not loop.add_signal_handler: it runs even while the event loop is
        # blocked (a write to a terminal nobody reads any more), so the grace timer always starts.
        timer = threading.Timer(HANGUP_GRACE_S, os._exit, (129,))
        timer.daemon = True
        timer.start()
        # the kernel's group at once, too: if the loop stays blocked until the timer fires, the
        # kernel would still die with the app, but what its cells started would not
        kernel = app.kernel_if_made
        pid = kernel.pid if kernel is not None else None
        if pid:
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            loop.call_soon_threadsafe(hang_up)
        except RuntimeError:  # the loop is already closed
            os._exit(129)

    for sig in (signal.SIGHUP, signal.SIGTERM):
        try:
            signal.signal(sig, on_signal)
        except (ValueError, OSError):  # not the main thread
            pass
    try:
        app.run(loop=loop)  # type: ignore[attr-defined]
    finally:
        loop.close()


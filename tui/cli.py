"""Provides the `llm-tutor` command line: bare `llm-tutor` opens the app; subcommands run headless jobs.

Textual is imported only when the app opens, torch only in the kernel process, so
`llm-tutor check` and friends never load the UI.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

from llm_tutor.engine.cli import COMMAND_MODULES


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one clear line (exit status 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _commands() -> dict[str, object]:
    found = {}
    for name in COMMAND_MODULES:
        try:
            found[name] = importlib.import_module(f"llm_tutor.engine.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("llm_tutor.engine.cli"):
                continue
            raise
    return found


def build_app_parser() -> _Parser:
    """The parser of bare `llm-tutor [LESSON]`; it imports no subcommand module."""
    app = _Parser(
        prog="llm-tutor",
        description="A terminal tutor that teaches how large language models learn, from a single tensor "
        "to a tiny GPT trained live. Without a command it opens the app.",
        epilog="commands: " + ", ".join(COMMAND_MODULES) + ". Run 'llm-tutor COMMAND --help' for each.",
    )
    app.add_argument("lesson", nargs="?", metavar="LESSON", help="open this lesson (id or file); default: where you left off")
    app.add_argument("--lang", choices=["en", "tr"], default=None, help="lesson and UI language")
    app.add_argument("--device", default=None, help="auto, cpu, cuda or mps (default: LLM_TUTOR_DEVICE or auto)")
    app.add_argument("--lessons", metavar="DIR", type=Path, default=None, help="a folder of lessons instead of the bundled course")
    app.add_argument("--data-dir", metavar="DIR", type=Path, default=None, help="progress and workspace folder")
    app.add_argument("--low-bandwidth", action="store_true", help="fewer redraws and no animation (set automatically over SSH)")
    app.add_argument("--version", action="version", version="llm-tutor " + _version())
    return app


def build_parser() -> tuple[_Parser, _Parser]:
    """The app's parser (bare `llm-tutor [LESSON]`) and the subcommands' parser."""
    commands = _commands()
    app = build_app_parser()
    sub = _Parser(prog="llm-tutor")
    subparsers = sub.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in commands.values():
        module.register(subparsers)  # type: ignore[attr-defined]
    return app, sub


def _version() -> str:
    from llm_tutor.engine import __version__

    return __version__


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from llm_tutor.tui.lab_cli import open_lab, wants_lab

    if wants_lab(argv):  # `train MODEL` without --headless: the lab screen
        _, sub_parser = build_parser()
        return open_lab(sub_parser.parse_args(argv))
    if argv and argv[0] in COMMAND_MODULES:
        _, sub_parser = build_parser()
        args = sub_parser.parse_args(argv)
        return _run_command(args)
    args = build_app_parser().parse_args(argv)
    return open_app(args)


def _run_command(args: argparse.Namespace) -> int:
    from llm_tutor.engine.cli.common import UsageError, fail

    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        return fail(str(exc))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def open_app(args: argparse.Namespace) -> int:
    """Open the Textual app (imported only here)."""
    from llm_tutor.engine.cli.common import UsageError, fail, resolve_device
    from llm_tutor.engine.settings import default_lang

    if os.environ.get("TERM") == "dumb":
        return fail("this terminal (TERM=dumb) cannot show the app; use a terminal such as xterm, or the headless "
                    "commands: llm-tutor run LESSON --plain")
    try:
        device = resolve_device(args.device)
    except UsageError as exc:
        return fail(str(exc))
    if args.lessons is not None and not args.lessons.exists():
        return fail(f"lessons folder not found: {args.lessons}")
    if not sys.stdout.isatty() and not os.environ.get("LLM_TUTOR_FORCE_APP"):
        return fail("the app needs a terminal; for a transcript use: llm-tutor run LESSON --plain")

    from llm_tutor.tui.app import make_app

    app = make_app(
        lesson=args.lesson,
        lang=default_lang(args.lang),
        device=device,
        lessons_dir=args.lessons,
        data_dir=args.data_dir,
        low_bandwidth=args.low_bandwidth,
    )
    _run_ending_on_hangup(app)
    if app.progress.closing_line:  # the terminal is the person's again: say where progress went
        print(app.progress.closing_line, file=sys.stderr)
    return app.return_code or 0


HANGUP_GRACE_S = 10.0
"""After SIGHUP or SIGTERM, how long the app may take to save (a locked database waits 5 s) before it is ended."""


def _run_ending_on_hangup(app: object) -> None:
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
        kernel = getattr(app, "_kernel", None)
        if kernel is not None:
            kernel.kill()  # first: the learner is gone, and what their cell started must not outlive them
        app.exit(return_code=129)  # type: ignore[attr-defined]

    def on_signal(signum: int, frame: object) -> None:
        # A plain signal handler, not loop.add_signal_handler: it runs even while the event loop is
        # blocked (a write to a terminal nobody reads any more), so the grace timer always starts.
        timer = threading.Timer(HANGUP_GRACE_S, os._exit, (129,))
        timer.daemon = True
        timer.start()
        # the kernel's group at once, too: if the loop stays blocked until the timer fires, the
        # kernel would still die with the app, but what its cells started would not
        pid = getattr(getattr(app, "_kernel", None), "pid", None)
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


if __name__ == "__main__":
    sys.exit(main())

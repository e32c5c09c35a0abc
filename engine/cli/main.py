"""Provides the `llm-tutor` command line: one parser for every subcommand and the app's own options, and `main`.

`llm-tutor COMMAND ...` runs a headless command (each module in `COMMAND_MODULES` registers its
own); any other first word is the lesson to open, and no word at all opens the app where the
learner left off. `llm-tutor train MODEL` without `--headless` opens the app on the lab screen.
A command that opens the app returns an `AppRequest`; `main` hands it to the `open_app` hook its
caller gave (the UI's entry point, `llm_tutor.tui.launch`), so the engine never imports the UI.
Subcommand modules import heavy dependencies only inside their `func`: `llm-tutor --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from llm_tutor.engine.cli import COMMAND_MODULES
from llm_tutor.engine.cli.app import AppRequest, add_app_options, open_lesson


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one clear line (exit status 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        if not isinstance(action, _CommandOrLesson):  # there, a word that names no command is a lesson
            super()._check_value(action, value)


class _CommandOrLesson(argparse._SubParsersAction):  # type: ignore[type-arg]
    """A command's name runs that command; any other word is the lesson to open (`llm-tutor tensors --lang tr`)."""

    after_lesson: argparse.ArgumentParser

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        name, *rest = values
        if name in self.choices:
            super().__call__(parser, namespace, values, option_string)
        else:
            namespace.lesson = name
            self.after_lesson.parse_args(rest, namespace)


class _Help(argparse.Action):
    """`-h` after a lesson prints the whole command's help, as before the lesson."""

    def __init__(self, option_strings: list[str], dest: str, parser: argparse.ArgumentParser) -> None:
        super().__init__(option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, nargs=0,
                         help=argparse.SUPPRESS)
        self.parser = parser

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        self.parser.print_help()
        self.parser.exit()


def _named(argv: Sequence[str] | None) -> list[str]:
    """The command modules a command line needs: the one it names, or all of them for help (or with no argv).

    Each module costs a few milliseconds of imports (~40 ms for all nine), which opening the app need not pay.
    """
    if argv is None or "-h" in argv or "--help" in argv:
        return list(COMMAND_MODULES)
    return [word for word in argv if word in COMMAND_MODULES][:1]


def _commands(names: Sequence[str]) -> list[ModuleType]:
    found = []
    for name in names:
        try:
            found.append(importlib.import_module(f"llm_tutor.engine.cli.{name}"))
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("llm_tutor.engine.cli"):
                continue
            raise
    return found


def _version() -> str:
    from llm_tutor.engine import __version__

    return __version__


def build_parser(argv: Sequence[str] | None = None) -> Parser:
    """The one parser of `llm-tutor`: the app's options, then a command or a lesson.

    Given the command line `argv`, only the command it names is registered (every command for help); a word that
    names no registered command is a lesson either way.
    """
    parser = Parser(
        prog="llm-tutor",
        usage="%(prog)s [-h] [--version] [--lang {en,tr}] [--device DEVICE] [--lessons DIR] [--data-dir DIR]\n"
        "                 [--low-bandwidth] [LESSON]\n       %(prog)s COMMAND ...",
        description="A terminal tutor that teaches how large language models learn, from a single tensor "
        "to a tiny GPT trained live. Without a command it opens the app.",
        epilog="Run 'llm-tutor COMMAND --help' for each command.",
    )
    add_app_options(parser)
    version = "llm-tutor " + _version()
    parser.add_argument("--version", action="version", version=version)
    parser.set_defaults(lesson=None, func=open_lesson)
    subparsers = parser.add_subparsers(
        action=_CommandOrLesson, prog="llm-tutor", dest="command", metavar="COMMAND | LESSON", parser_class=Parser,
        title="commands", description="without a command, LESSON (an id or a file) opens that lesson in the app; "
        "no LESSON opens it where you left off",
    )
    after_lesson = Parser(prog="llm-tutor", add_help=False)
    add_app_options(after_lesson, default=argparse.SUPPRESS)
    after_lesson.add_argument("-h", "--help", action=_Help, parser=parser)
    after_lesson.add_argument("--version", action="version", version=version)
    subparsers.after_lesson = after_lesson  # type: ignore[attr-defined]
    for module in _commands(_named(argv)):
        module.register(subparsers)
    if "train" in subparsers.choices:
        from llm_tutor.engine.cli.lab import route

        route(subparsers.choices["train"])
    return parser


def main(argv: list[str] | None = None, open_app: Callable[[AppRequest], int] | None = None) -> int:
    """Run `llm-tutor` with `argv`; a command that opens the app is handed to `open_app`. Returns the exit status."""
    from llm_tutor.engine.cli.common import UsageError, fail

    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    try:
        result = args.func(args)
    except UsageError as exc:
        return fail(str(exc))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    if isinstance(result, AppRequest):
        if open_app is None:
            return fail("this entry point runs the headless commands only; open the app with: llm-tutor")
        return open_app(result)
    return int(result or 0)

"""Provides argument helpers shared by the headless subcommands."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


# The options below are also the app's own (`llm-tutor --lang tr check` works as `llm-tutor check --lang tr`): a
# command's copy has no default, so one given before the command is kept (argparse copies a command's defaults
# over it); the one parser gives every option its default (`engine.cli.app.add_app_options`).
UNSET = argparse.SUPPRESS


class UsageError(Exception):
    """Bad command-line input: reported as one line, exit status 2."""


def add_lang(parser: argparse.ArgumentParser, allow_all: bool = False) -> None:
    choices = ["en", "tr", "all"] if allow_all else ["en", "tr"]
    parser.add_argument("--lang", choices=choices, default=UNSET, help="lesson language (default: LLM_TUTOR_LANG or the locale)")


def add_lessons_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lessons", metavar="DIR", type=Path, default=UNSET, help="a folder of lessons instead of the bundled course")


def add_device(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default=UNSET, help="auto, cpu, cuda or mps (default: LLM_TUTOR_DEVICE or auto)")


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", metavar="DIR", type=Path, default=UNSET, help="progress and workspace folder (default: LLM_TUTOR_DATA_DIR or the platform's user data folder)")


def resolve_device(value: str | None) -> str:
    from llm_tutor.engine.settings import default_device

    try:
        return default_device(value)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def lessons_root(value: Path | None) -> Path | None:
    if value is not None and not value.exists():
        raise UsageError(f"lessons folder not found: {value}")
    return value


def fail(message: str) -> int:
    """Print one clear line to stderr and return exit status 2."""
    print(f"llm-tutor: error: {message}", file=sys.stderr)
    return 2

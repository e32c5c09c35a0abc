"""Provides `AppRequest`, what the command line asks the app to open with, and the checks of bare `llm-tutor [LESSON]`.

The engine never imports the UI: a command that opens the app returns an `AppRequest`, and the
`open_app` hook that the UI's entry point gave `llm_tutor.engine.cli.main` opens it. Every check
that needs neither Textual nor torch happens here first, with the CLI's one-line errors (exit 2).
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llm_tutor.engine.cli.common import UsageError, resolve_device


@dataclass(frozen=True)
class AppRequest:
    """Open the app with these settings: a lesson (bare `llm-tutor`) or the training lab (`train MODEL`)."""

    lang: str
    device: str
    lesson: str | None = None
    lessons_dir: Path | None = None
    data_dir: Path | None = None
    low_bandwidth: bool = False
    lab: dict[str, Any] | None = None
    """The lab to open at once instead of a lesson: model, settings, resume, text, checkpoint, play, processes."""


def add_app_options(parser: argparse.ArgumentParser, default: Any = None) -> None:
    """The app's own options (bare `llm-tutor`); `default=argparse.SUPPRESS` where they follow the lesson."""
    flag_default = False if default is None else default
    parser.add_argument("--lang", choices=["en", "tr"], default=default, help="lesson and UI language")
    parser.add_argument("--device", default=default, help="auto, cpu, cuda or mps (default: LLM_TUTOR_DEVICE or auto)")
    parser.add_argument("--lessons", metavar="DIR", type=Path, default=default,
                        help="a folder of lessons instead of the bundled course")
    parser.add_argument("--data-dir", metavar="DIR", type=Path, default=default, help="progress and workspace folder")
    parser.add_argument("--low-bandwidth", action="store_true", default=flag_default,
                        help="fewer redraws and no animation (set automatically over SSH)")


def open_lesson(args: argparse.Namespace) -> AppRequest:
    """Bare `llm-tutor [LESSON]`: the app on a lesson (default: where the learner left off)."""
    from llm_tutor.engine.settings import default_lang

    if os.environ.get("TERM") == "dumb":
        raise UsageError("this terminal (TERM=dumb) cannot show the app; use a terminal such as xterm, or the headless "
                         "commands: llm-tutor run LESSON --plain")
    device = resolve_device(args.device)
    if args.lessons is not None and not args.lessons.exists():
        raise UsageError(f"lessons folder not found: {args.lessons}")
    if not sys.stdout.isatty() and not os.environ.get("LLM_TUTOR_FORCE_APP"):
        raise UsageError("the app needs a terminal; for a transcript use: llm-tutor run LESSON --plain")
    return AppRequest(lang=default_lang(args.lang), device=device, lesson=args.lesson, lessons_dir=args.lessons,
                      data_dir=args.data_dir, low_bandwidth=args.low_bandwidth)

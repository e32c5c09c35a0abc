"""Provides the headless subcommands of `llm-tutor` (check, lessons, run, grade, progress, train...).

Each module here exposes ``register(subparsers)``, which adds its argparse parser and sets
``func`` to a callable ``(args) -> int`` (the exit status). Modules import heavy dependencies
only inside that callable, so `llm-tutor --help` stays fast. `llm_tutor.tui.cli` collects them.
"""

COMMAND_MODULES = [
    "lessons",
    "check",
    "run",
    "grade",
    "progress",
    "export",
    "train",
    "serve",
    "doctor",
]
"""Modules of this package that provide subcommands, in help order; missing ones are skipped."""

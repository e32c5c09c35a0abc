"""Provides the `llm-tutor` command line: its one parser (`main`) and every subcommand (check, lessons, run, ...).

Each command module here exposes ``register(subparsers)``, which adds its argparse parser and sets
``func`` to a callable ``(args) -> int`` (the exit status), or ``-> AppRequest`` where the command
opens the app (`app`, `lab`). Modules import heavy dependencies only inside that callable, so
`llm-tutor --help` stays fast. `main.build_parser` collects them; the UI's entry point,
`llm_tutor.tui.launch`, runs `main.main` with the hook that opens the app.
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

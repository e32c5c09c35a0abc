"""Provides `open_lab`: `llm-tutor train neuron|mlp|gpt` without `--headless` opens the app on the lab screen.

The settings are checked here first, torch-free, with the same one-line messages as the headless
command (exit status 2); only then does Textual load. `--headless` never comes here: it stays in
`llm_tutor.engine.cli.train`, which loads torch only inside its run.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any


def wants_lab(argv: list[str]) -> bool:
    """`train ...` without --headless (and not asking for help) opens the lab screen."""
    return bool(argv) and argv[0] == "train" and "--headless" not in argv[1:] and not {"-h", "--help"} & set(argv[1:])


def lab_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The flags and `--set KEY=VALUE` pairs as one {key: value} mapping, checked (ConfigError)."""
    from llm_tutor.engine.train.config import apply_overrides, apply_settings, default_configs

    settings: dict[str, Any] = {
        key: value
        for key, value in {
            "steps": args.steps, "lr": args.lr, "batch_size": args.batch_size, "seed": args.seed,
            "optimizer": args.optimizer,
        }.items()
        if value is not None
    }
    for pair in args.overrides:
        key, _, value = pair.partition("=")
        settings[key.strip()] = value
    model_config, train_config = default_configs(args.model)
    apply_overrides(model_config, train_config, list(args.overrides))  # the CLI's messages for bad pairs
    apply_settings(model_config, train_config, settings)
    return settings


def open_lab(args: argparse.Namespace) -> int:
    """Check the arguments, then run the app with the lab open; exit status 2 with one line on bad input."""
    from llm_tutor.engine.cli.common import UsageError, fail, resolve_device
    from llm_tutor.engine.settings import default_lang
    from llm_tutor.engine.train.config import MODELS, ConfigError

    if args.model not in MODELS:
        return fail(f"unknown model {args.model!r}: expected one of {', '.join(MODELS)}")
    if args.json:
        return fail("--json goes with --headless (the lab screen shows the metrics itself)")
    try:
        device = resolve_device(args.device)
        settings = lab_settings(args)
    except UsageError as err:
        return fail(str(err))
    except ConfigError as err:
        return fail(str(err))
    if getattr(args, "nnodes", 1) > 1:
        return fail("--nnodes goes with --headless: the lab trains on one machine (use --nproc-per-node N)")
    if getattr(args, "nproc_per_node", 1) != 1 and (args.model != "gpt" or args.nproc_per_node < 1):
        return fail(f"--nproc-per-node trains the gpt model with 1 or more processes, not {args.model} "
                    f"with {args.nproc_per_node}")
    for flag, path in (("--resume", args.resume), ("--text", args.text)):
        if path and not Path(path).expanduser().is_file():
            return fail(f"{flag}: no file at {path}")
    if os.environ.get("TERM") == "dumb":
        return fail("this terminal (TERM=dumb) cannot show the lab; use: llm-tutor train MODEL --headless")
    if not sys.stdout.isatty() and not os.environ.get("LLM_TUTOR_FORCE_APP"):
        return fail("the lab needs a terminal; to train without one use: llm-tutor train MODEL --headless --json")

    from llm_tutor.tui.app import make_app

    app = make_app(lang=default_lang(None), device=device, autostart_kernel=False)
    app.start_lab = {
        "model": args.model,
        "settings": settings,
        "resume": args.resume,
        "text": args.text,
        "checkpoint": args.checkpoint,
        "play": True,
        "processes": getattr(args, "nproc_per_node", 1),
    }
    app.run()
    return app.return_code or 0

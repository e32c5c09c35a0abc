"""Provides `llm-tutor train neuron|mlp|gpt` without `--headless`: the settings checked, then the app on the lab screen.

The settings are checked here, torch-free, with the same one-line messages as the headless
command (exit status 2); the app opens only after (an `AppRequest` with `lab` set). `--headless`
runs `llm_tutor.engine.cli.train`, which loads torch only inside its run.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from llm_tutor.engine.cli.app import AppRequest
from llm_tutor.engine.cli.common import UsageError, resolve_device


def route(train_parser: argparse.ArgumentParser) -> None:
    """Make `train` open the lab unless `--headless` is given."""
    headless = train_parser.get_default("func")

    def train_or_open_lab(args: argparse.Namespace) -> int | AppRequest:
        return headless(args) if args.headless else open_lab(args)

    train_parser.set_defaults(func=train_or_open_lab)


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


def open_lab(args: argparse.Namespace) -> AppRequest:
    """Check the arguments (UsageError with one line on bad input), then ask for the app with the lab open."""
    from llm_tutor.engine.settings import default_lang
    from llm_tutor.engine.train.config import MODELS, ConfigError

    if args.model not in MODELS:
        raise UsageError(f"unknown model {args.model!r}: expected one of {', '.join(MODELS)}")
    if args.json:
        raise UsageError("--json goes with --headless (the lab screen shows the metrics itself)")
    device = resolve_device(args.device)
    try:
        settings = lab_settings(args)
    except ConfigError as err:
        raise UsageError(str(err)) from None
    if getattr(args, "nnodes", 1) > 1:
        raise UsageError("--nnodes goes with --headless: the lab trains on one machine (use --nproc-per-node N)")
    if getattr(args, "nproc_per_node", 1) != 1 and (args.model != "gpt" or args.nproc_per_node < 1):
        raise UsageError(f"--nproc-per-node trains the gpt model with 1 or more processes, not {args.model} "
                         f"with {args.nproc_per_node}")
    for flag, path in (("--resume", args.resume), ("--text", args.text)):
        if path and not Path(path).expanduser().is_file():
            raise UsageError(f"{flag}: no file at {path}")
    if os.environ.get("TERM") == "dumb":
        raise UsageError("this terminal (TERM=dumb) cannot show the lab; use: llm-tutor train MODEL --headless")
    if not sys.stdout.isatty() and not os.environ.get("LLM_TUTOR_FORCE_APP"):
        raise UsageError("the lab needs a terminal; to train without one use: llm-tutor train MODEL --headless --json")
    lab = {
        "model": args.model,
        "settings": settings,
        "resume": args.resume,
        "text": args.text,
        "checkpoint": args.checkpoint,
        "play": True,
        "processes": getattr(args, "nproc_per_node", 1),
    }
    return AppRequest(lang=default_lang(None), device=device, lab=lab)

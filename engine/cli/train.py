"""Provides `llm-tutor train neuron|mlp|gpt --headless`: the training lab without a screen.

With `--json` it prints one JSON object per line: first the run's `config` (for gpt under the
GPT-2 key names plus `tie_weights`) and `params`, then one object per reported step (`step`,
`loss`: the loss of that step, `loss_mean`: the mean over the steps since the previous report,
`steps_per_s`, and `val_loss`, `accuracy`, `tokens_per_s`, `sample` where they apply), and last
the final figures with `"final": true`, which also carry the last reported step's fields (so that
step is printed once). The text form prints the same figures under the same names, and ends with
a plotext chart of the train and validation loss when stdout is a terminal (`--plot` asks for it
anyway, `--no-plot` leaves it out, `--log-scale` draws the loss on a log axis). Bad input exits 2
with one line on stderr; a run that fails (NaN loss, out of memory) exits 1; Ctrl-C stops between
two steps (saving the checkpoint if one was asked for) and exits 130.

`--nproc-per-node N` (and `--nnodes M --node-rank R --rdzv-endpoint HOST:PORT` for several
machines) trains the gpt on N processes per node through `torch.distributed.run`: this process
launches the ranks (`llm_tutor.engine.train.child.ranks`), which run this same command; the global
`--batch-size` is split across them, rank 0 alone prints and writes the checkpoint. The first line
then adds `world_size` and `backend` (also inside `config`), the final line `per_rank_tokens_per_s`
and, given `--baseline` (one process's tokens/s), `scaling_efficiency`. A rank that fails ends the
run: exit status 1 and one line naming the rank and why.

Without `--headless` the command opens the lab screen instead (`llm_tutor.engine.cli.lab` checks the
settings, the app opens through the UI's hook); this module is the headless run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import time
from typing import Any, TextIO

from llm_tutor.engine.cli.common import UsageError, add_device, fail
from llm_tutor.engine.train import launch

MODELS = ("neuron", "mlp", "gpt")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Add the `train` subcommand."""
    p = subparsers.add_parser(
        "train",
        help="train the lab's models (neuron, mlp, gpt); --headless prints metrics",
        description="Train one of the lab's models. --headless --json prints one JSON object per reported step.",
    )
    p.add_argument("model", help="neuron, mlp or gpt")
    p.add_argument("--steps", type=int, default=None, help="step budget (the model's default when omitted)")
    p.add_argument("--lr", type=float, default=None, help="learning rate")
    p.add_argument("--batch-size", type=int, default=None, help="examples per step")
    p.add_argument("--seed", type=int, default=None, help="seed for weights, data and sampling")
    add_device(p)
    p.add_argument("--optimizer", default=None, help="sgd, adam or adamw")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a model or trainer setting, e.g. emb_dim=64, n_layers=2, dataset=moons (repeatable)",
    )
    p.add_argument("--headless", action="store_true", help="train without the lab screen, printing metrics")
    p.add_argument("--json", action="store_true", help="with --headless: one JSON object per line")
    plot = p.add_mutually_exclusive_group()
    plot.add_argument("--plot", action="store_true", default=None,
                      help="end the text output with a loss chart even when stdout is not a terminal")
    plot.add_argument("--no-plot", dest="plot", action="store_false", help="no loss chart at the end")
    p.add_argument("--log-scale", action="store_true", help="draw the loss chart on a log axis")
    p.add_argument("--checkpoint", metavar="FILE", help="save the run here (atomically) periodically and at the end")
    p.add_argument("--resume", metavar="FILE", help="go on from a checkpoint")
    p.add_argument("--text", metavar="FILE", help="gpt: train on this UTF-8 text instead of the bundled corpus")
    p.add_argument("--report-every", type=int, default=None, metavar="N", help="also report every N steps")
    p.add_argument(
        "--report-interval", type=float, default=None, metavar="S", help="report at most every S seconds (default 0.5)"
    )
    launch.add_arguments(p)
    p.add_argument("--baseline", type=float, default=None, metavar="TOKENS_PER_S",
                   help="one process's tokens/s, measured before: the final line adds the scaling efficiency")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Train headless; the exit status follows the module docstring."""
    out = out or sys.stdout
    try:
        return _run(args, out)
    except UsageError as err:
        return fail(str(err))


def _run(args: argparse.Namespace, out: TextIO) -> int:
    if args.model not in MODELS:
        raise UsageError(f"unknown model {args.model!r}: expected one of {', '.join(MODELS)}")
    try:
        scale = launch.from_args(args)
    except launch.ScaleError as err:
        raise UsageError(str(err)) from None
    if args.json and getattr(args, "plot", None):
        raise UsageError("--plot draws a chart in the text output; leave out --json (or --plot)")
    from llm_tutor.engine.settings import default_device
    from llm_tutor.engine.train.config import ConfigError, apply_overrides, default_configs, field_names

    try:
        device = default_device(args.device)
    except ValueError as err:
        raise UsageError(str(err)) from None
    text = None
    if args.text:
        try:
            with open(args.text, encoding="utf-8") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError) as err:
            raise UsageError(f"cannot read --text {args.text}: {err}") from None

    model_config, train_config = default_configs(args.model)
    train_config.report_interval_s = 0.5
    flags = {
        "steps": args.steps,
        "lr": args.lr,
        "batch_size": args.batch_size,
        "seed": args.seed,
        "optimizer": args.optimizer,
        "report_every": args.report_every,
        "report_interval_s": args.report_interval,
    }
    flags = {k: v for k, v in flags.items() if v is not None}
    for key, value in flags.items():
        setattr(train_config, key, value)
    train_config.device = device
    try:
        apply_overrides(model_config, train_config, list(args.overrides))
    except ConfigError as err:
        raise UsageError(str(err)) from None
    if scale.distributed and not launch.is_rank_process():
        return _launch(args, scale, train_config.batch_size, out)

    # torch loads only from here on
    from llm_tutor.engine.train.child.checkpoint import CheckpointError
    from llm_tutor.engine.train.child.trainer import Trainer

    dist = None
    if launch.is_rank_process():
        from llm_tutor.engine.train.child.distributed import init_from_env

        dist = init_from_env(device)
        if not dist.is_leader:
            out = open(os.devnull, "w")  # noqa: SIM115 - rank 0 alone prints; the process ends with the run
    printer = Printer(out, as_json=args.json)
    try:
        if args.resume:
            set_keys = {pair.partition("=")[0].strip() for pair in args.overrides}
            model_keys = set_keys & set(field_names(model_config))
            if model_keys - {"drop_rate"}:
                raise UsageError(
                    f"cannot change {', '.join(sorted(model_keys - {'drop_rate'}))} when resuming: "
                    f"the checkpoint fixes the model's shape"
                )
            train_keys = set(flags) | (set_keys & set(field_names(train_config))) | {"device", "report_interval_s"}
            overrides = {key: getattr(train_config, key) for key in train_keys}
            trainer = Trainer.from_checkpoint(
                args.resume,
                emit=printer,
                text=text,
                train_overrides=overrides,
                drop_rate=getattr(model_config, "drop_rate", None) if "drop_rate" in model_keys else None,
                dist=dist,
            )
            if trainer.model_name != args.model:
                raise UsageError(f"checkpoint {args.resume} holds a {trainer.model_name} model, not {args.model}")
        else:
            trainer = Trainer(args.model, model_config, train_config, emit=printer, text=text, dist=dist)
    except (ConfigError, CheckpointError) as err:
        raise UsageError(str(err)) from None
    if args.checkpoint:
        trainer.autosave_path = args.checkpoint
        trainer.autosave_interval_s = 30.0

    interrupted = []

    def on_signal(signum: int, frame: Any) -> None:
        interrupted.append(signum)
        trainer.stop()  # takes effect between two steps: the weights stay consistent

    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # SIGHUP: the SSH session dropped
        try:
            previous[sig] = signal.signal(sig, on_signal)
        except ValueError:  # not the main thread
            pass
    start_step = trainer.step
    started = time.perf_counter()
    try:
        state = trainer.run(exit_when_done=True, play=True)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    wall = time.perf_counter() - started

    if state == "stopped" and trainer.train_config.eval_interval_s > 0 and trainer.step > start_step:
        printer.last_val.update(trainer.evaluate())  # the final line gets a fresh validation
    saved = None
    error = trainer.last_error
    if args.checkpoint and state != "failed":
        try:
            saved = str(trainer.save_checkpoint(args.checkpoint))
        except CheckpointError as err:
            print(f"llm-tutor: error: {err}", file=sys.stderr)
            return 1
    scaling: dict[str, Any] = {}
    if dist is not None:  # every rank's own throughput (a collective: all ranks get here)
        tokens = trainer.task.tokens_per_step(trainer.train_config.batch_size) * dist.weight(trainer.train_config.batch_size)
        figures = dist.gather((trainer.step - start_step) * tokens / wall if wall > 0 else None)
        scaling = {"world_size": dist.world_size, "backend": dist.backend, "per_rank_tokens_per_s": figures}
        trainer.release_distributed()
        dist.close()
    printer.final(trainer, state, start_step, wall, saved, scaling, getattr(args, "baseline", None))
    if not args.json:
        plot_losses(trainer, out, getattr(args, "plot", None), getattr(args, "log_scale", False))
    if state == "failed" or (error is not None and error.kind == "oom"):
        print(f"llm-tutor: error: {error.message if error else 'the run failed'}", file=sys.stderr)
        return 1
    if interrupted:
        return 130
    return 0


def _launch(args: argparse.Namespace, scale: launch.Scale, batch_size: int, out: TextIO) -> int:
    """Start the ranks through torch.distributed.run, wait for them, and report a failed rank."""
    if args.model != "gpt":
        raise UsageError(f"--nproc-per-node and --nnodes train the gpt model, not {args.model}")
    if scale.nnodes == 1 and batch_size < scale.nproc_per_node:
        raise UsageError(
            f"--batch-size ({batch_size}) is the global batch, split across {scale.nproc_per_node} processes: "
            f"it must be at least {scale.nproc_per_node}"
        )
    for flag, path in (("--resume", args.resume), ("--text", args.text)):
        if path and not os.path.isfile(os.path.expanduser(path)):
            raise UsageError(f"{flag}: no file at {path}")
    from llm_tutor.engine.train.child import ranks

    data = {k: v for k, v in vars(args).items() if k != "func"}
    os.environ[launch.RANK_ARGS_ENV] = json.dumps(data, default=str)
    out.flush()
    result = ranks.launch(scale)  # each rank runs this command again (`ranks.main`)
    if result.code == 0:
        return 0
    if result.interrupted:  # Ctrl-C: rank 0 stopped between two steps and printed its final line
        return 130 if result.code == 128 + signal.SIGINT else result.code
    if args.json and result.failed_rank is not None:
        line = {"final": True, "status": "failed", "error": result.message, "failed_rank": result.failed_rank}
        out.write(json.dumps(line, separators=(",", ":")) + "\n")
        out.flush()
    print(f"llm-tutor: error: {result.message}", file=sys.stderr)
    return result.code


class Printer:
    """Turns trainer events into output lines: JSON objects or short human-readable lines."""

    def __init__(self, out: TextIO, as_json: bool) -> None:
        self.out = out
        self.as_json = as_json
        self.pending: dict[str, Any] | None = None
        """The last step line, held back until the next event so a sample can join it."""
        self.last_metrics: Any = None
        self.last_sample = ""
        self.last_val: dict[str, float] = {}
        self.last_step = False
        """Whether the pending line is the step budget's last step."""

    def __call__(self, event: Any) -> None:
        name = type(event).__name__
        handler = getattr(self, f"on_{name}", None)
        if handler is not None:
            handler(event)

    def on_TrainStarted(self, event: Any) -> None:
        self.flush()
        data = {k: v for k, v in event.data.items() if k != "points"}
        scale = {"world_size": event.card.get("world_size", 1), "backend": event.card.get("backend")}
        if event.model != "gpt":
            scale = {}  # only the gpt trains on several processes
        head = {
            "model": event.model,
            "config": {**event.config, **scale},
            **scale,
            "params": event.params,
            "param_counts": event.param_counts,
            "train": event.train,
            "card": event.card,
            "data": data,
            "step": event.step,
        }
        if self.as_json:
            self._write(head)
        else:
            cfg = " ".join(f"{k}={v}" for k, v in event.config.items())
            self.out.write(
                f"{event.model}: {event.params:,} parameters on {event.card['device']} "
                f"(seed {event.card['seed']}, torch {event.card['torch']})\n  {cfg}\n"
            )
            self.out.flush()

    def on_TrainMetrics(self, event: Any) -> None:
        if self.pending is not None and self.pending["step"] == event.step:
            self.pending = None  # a second report of the same step replaces the first: each step prints once
        self.flush()
        self.last_metrics = event
        last_loss = event.losses[-1] if event.losses else event.loss
        line: dict[str, Any] = {"step": event.step, "loss": last_loss, "loss_mean": event.loss,
                                "steps_per_s": event.steps_per_s}
        if event.tokens_per_s is not None:
            line["tokens_per_s"] = event.tokens_per_s
        if event.val_loss is not None:
            line["val_loss"] = event.val_loss
            self.last_val["val_loss"] = event.val_loss
        if event.accuracy is not None:
            line["accuracy"] = event.accuracy
            self.last_val["accuracy"] = event.accuracy
        line.update(lr=event.lr, batch_size=event.batch_size, elapsed_s=event.elapsed_s)
        if event.eta_s is not None:
            line["eta_s"] = event.eta_s
        if event.extras:
            line.update(event.extras)
        self.pending = line
        self.last_step = event.total_steps > 0 and event.step >= event.total_steps

    def on_TrainSample(self, event: Any) -> None:
        self.last_sample = event.text
        if self.pending is not None:
            self.pending["sample"] = event.text
        if not self.last_step:  # the budget's last step waits for the final line, which carries it
            self.flush()

    def on_TrainError(self, event: Any) -> None:
        self.flush()

    def flush(self) -> None:
        if self.pending is None:
            return
        line, self.pending = self.pending, None
        if self.as_json:
            self._write(line)
            return
        parts = [f"step {line['step']:>6}", f"loss {line['loss']:.4f}", f"loss_mean {line['loss_mean']:.4f}"]
        if "val_loss" in line:
            parts.append(f"val {line['val_loss']:.4f}")
        if "accuracy" in line:
            parts.append(f"acc {line['accuracy']:.3f}")
        parts.append(f"{line['steps_per_s']:.1f} steps/s")
        if "tokens_per_s" in line:
            parts.append(f"{line['tokens_per_s']:,.0f} tok/s")
        if "eta_s" in line:
            parts.append(f"eta {line['eta_s']:.0f}s")
        self.out.write("  ".join(parts) + "\n")
        if "sample" in line:
            self.out.write("  | " + line["sample"].replace("\n", "\n  | ") + "\n")
        self.out.flush()

    def final(
        self,
        trainer: Any,
        state: str,
        start_step: int,
        wall_s: float,
        checkpoint: str | None,
        scaling: dict[str, Any] | None = None,
        baseline: float | None = None,
    ) -> None:
        """The last line: final figures of the run, carrying the last step's line when it was not printed yet
        (with `scaling`: world size and every rank's tokens/s)."""
        carried: dict[str, Any] = {}
        if self.pending is not None and self.pending["step"] == trainer.step:
            carried, self.pending = self.pending, None
        self.flush()
        steps = trainer.step - start_step
        last = trainer.history.last
        final: dict[str, Any] = {"final": True, "status": state, "model": trainer.model_name, **carried}
        final.update({
            "step": trainer.step,
            "loss": last[1] if last else None,
            "loss_mean": self.last_metrics.loss if self.last_metrics is not None else None,
            "steps_per_s": steps / wall_s if wall_s > 0 else None,
            "elapsed_s": wall_s,
            "params": trainer.params,
        })
        final.pop("eta_s", None)
        tokens = trainer.task.tokens_per_step(trainer.train_config.batch_size)
        if tokens and final["steps_per_s"] is not None:
            final["tokens_per_s"] = final["steps_per_s"] * tokens
        final.update(scaling or {})
        if baseline and final.get("tokens_per_s"):
            world = (scaling or {}).get("world_size", 1)
            final["baseline_tokens_per_s"] = baseline
            final["scaling_efficiency"] = final["tokens_per_s"] / (world * baseline)
        final.update(self.last_val)
        if self.last_sample:
            final["sample"] = self.last_sample
        if trainer.last_error is not None:
            final["error"] = trainer.last_error.message
        if checkpoint:
            final["checkpoint"] = checkpoint
        if self.as_json:
            self._write(final)
        else:
            figures = "".join(
                f"  {k} {final[k]:.4f}" for k in ("loss", "loss_mean", "val_loss", "accuracy") if final.get(k) is not None
            )
            self.out.write(f"{state} at step {trainer.step}: {figures.strip()}  ({wall_s:.1f} s)\n")
            if "sample" in carried:
                self.out.write("  | " + carried["sample"].replace("\n", "\n  | ") + "\n")
            self.out.flush()

    def _write(self, obj: dict[str, Any]) -> None:
        self.out.write(json.dumps(_finite(obj), separators=(",", ":")) + "\n")
        self.out.flush()


def plot_losses(trainer: Any, out: TextIO, plot: bool | None, log_scale: bool) -> None:
    """The train and validation loss as a plotext chart, sized to the terminal (see `engine.cli.charts`).

    `plot` None draws only when `out` is a terminal; True always, False never.
    """
    if plot is False or (plot is None and not _isatty(out)):
        return
    from llm_tutor.engine.cli.charts import ChartStyle, line_chart

    curves = [("train loss", trainer.history), ("validation loss", trainer.val_history)]
    chart = line_chart(curves, ChartStyle.detect(out), title=f"{trainer.model_name}: loss", log_y=log_scale,
                       points={"validation loss"})
    if chart:
        out.write("\n" + chart + "\n")
        out.flush()


def _isatty(out: TextIO) -> bool:
    try:
        return out.isatty()
    except (AttributeError, ValueError):
        return False


def _finite(value: Any) -> Any:
    """Strict JSON for the printed lines (read by jq and other tools): NaN and infinities become null.

    Between processes the trainer's events keep them (`llm_tutor.engine.kernel.protocol.encode`);
    this is the command's output, not the wire."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value

"""Provides a trainer process speaking JSON lines: `python -m llm_tutor.engine.train.child.worker`.

The UI (which never imports torch) can run the lab in this child process: it writes
`TrainControl` messages to the child's stdin, one JSON line each (`events.encode`), and reads
events from its stdout (`events.decode`). The run starts paused unless `--play` is given; end of
stdin stops it. Arguments:

    --model gpt --config '{"emb_dim": 64}' --train '{"lr": 0.003}' [--parent ID] [--resume FILE]
    [--text FILE] [--play] [--exit-when-done] [--nproc-per-node N]

A configuration that cannot work gives one `TrainError` line and exit status 2.

With `--nproc-per-node N` above 1 this process becomes the launcher: it starts N ranks of this same
command through `torch.distributed.run` (`llm_tutor.engine.train.child.ranks`). The ranks inherit its
stdin and stdout; rank 0 reads the controls and broadcasts them to the others, and alone writes
events. When a rank fails, the others are stopped and the launcher's last stderr line names the
rank and why; it exits 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from typing import Any, BinaryIO

from llm_tutor.engine.train import events, launch
from llm_tutor.engine.train.config import ConfigError, apply_settings, default_configs


def main(argv: list[str] | None = None, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> int:
    """Run one trainer until `stop`, end of input, or (with --exit-when-done) the end of the run."""
    parser = argparse.ArgumentParser(prog="python -m llm_tutor.engine.train.child.worker")
    parser.add_argument("--model", required=True)
    parser.add_argument("--config", default="{}", help="model settings as a JSON object")
    parser.add_argument("--train", default="{}", help="trainer settings as a JSON object")
    parser.add_argument("--parent", default="")
    parser.add_argument("--resume")
    parser.add_argument("--text")
    parser.add_argument("--play", action="store_true")
    parser.add_argument("--exit-when-done", action="store_true")
    launch.add_arguments(parser)
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    stdin = stdin or sys.stdin.buffer
    stdout = stdout or sys.stdout.buffer
    lock = threading.Lock()

    def emit(event: Any) -> None:
        with lock:
            stdout.write(events.encode(event))
            stdout.flush()

    def fail(message: str) -> int:
        emit(events.TrainError(args.parent, "config", message))
        return 2

    try:
        model_config, train_config = default_configs(args.model)
        settings = {**json.loads(args.config), **json.loads(args.train)}
        apply_settings(model_config, train_config, settings)
        text = None
        if args.text:
            with open(args.text, encoding="utf-8") as f:
                text = f.read()
        scale = launch.from_args(args)
        if scale.distributed and args.model != "gpt":
            raise ConfigError(f"several processes train the gpt model, not {args.model}")
        world = scale.nproc_per_node * scale.nnodes
        if scale.distributed and train_config.batch_size < world:
            raise ConfigError(
                f"batch_size ({train_config.batch_size}) is the global batch, split across {world} processes: "
                f"it must be at least {world}"
            )
    except (ConfigError, ValueError, OSError) as err:
        return fail(str(err))

    if scale.distributed and not launch.is_rank_process():
        from llm_tutor.engine.train.child import ranks

        result = ranks.launch(scale, "llm_tutor.engine.train.child.worker", argv)
        if result.code:
            sys.stderr.write(f"{result.message}\n")  # the last line: what the lab shows
            sys.stderr.flush()
        return result.code

    from llm_tutor.engine.train.child.checkpoint import CheckpointError
    from llm_tutor.engine.train.child.trainer import Trainer

    dist = None
    if launch.is_rank_process():
        from llm_tutor.engine.train.child.distributed import init_from_env

        dist = init_from_env(train_config.device)
        if not dist.is_leader:
            emit = _silent  # rank 0 speaks for the run
    try:
        if args.resume:
            trainer = Trainer.from_checkpoint(args.resume, emit=emit, parent=args.parent, text=text, dist=dist)
        else:
            trainer = Trainer(args.model, model_config, train_config, emit=emit, parent=args.parent, text=text, dist=dist)
    except (ConfigError, CheckpointError) as err:
        return fail(str(err))

    def read_controls() -> None:
        for line in _lines(stdin):
            if not line.strip():
                continue
            try:
                message = events.decode(line)
            except (ValueError, KeyError, TypeError) as err:
                emit(events.TrainError(args.parent, "control", f"unreadable control line: {err}"))
                continue
            if isinstance(message, events.TrainControl):
                trainer.control(message)
        trainer.stop()  # the UI went away

    if trainer.leads:
        threading.Thread(target=read_controls, name="llm-tutor-train-controls", daemon=True).start()
    trainer.run(exit_when_done=args.exit_when_done, play=args.play)
    if dist is not None:
        trainer.release_distributed()
        dist.close()
    return 0


def _silent(event: Any) -> None:
    """The events of the ranks after 0: rank 0 sends the same figures for the whole run."""


def _lines(stream: BinaryIO) -> Any:
    """Lines of `stream`, read from its file descriptor when it has one.

    Reading the raw descriptor keeps this daemon thread off the buffered stdin object, whose lock
    would abort the interpreter at exit while the thread is blocked in a read.
    """
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        yield from stream
        return
    pending = b""
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        yield from lines
    if pending:
        yield pending


if __name__ == "__main__":
    if launch.is_rank_process():
        from torch.distributed.elastic.multiprocessing.errors import record

        sys.exit(record(main)())
    sys.exit(main())

"""Provides a trainer process speaking JSON lines: `python -m llm_tutor.engine.train.worker`.

The UI (which never imports torch) can run the lab in this child process: it writes
`TrainControl` messages to the child's stdin, one JSON line each (`events.encode`), and reads
events from its stdout (`events.decode`). The run starts paused unless `--play` is given; end of
stdin stops it. Arguments:

    --model gpt --config '{"emb_dim": 64}' --train '{"lr": 0.003}' [--parent ID] [--resume FILE]
    [--text FILE] [--play] [--exit-when-done]

A configuration that cannot work gives one `TrainError` line and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from typing import Any, BinaryIO

from llm_tutor.engine.train import events
from llm_tutor.engine.train.config import ConfigError, apply_settings, default_configs


def main(argv: list[str] | None = None, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> int:
    """Run one trainer until `stop`, end of input, or (with --exit-when-done) the end of the run."""
    parser = argparse.ArgumentParser(prog="python -m llm_tutor.engine.train.worker")
    parser.add_argument("--model", required=True)
    parser.add_argument("--config", default="{}", help="model settings as a JSON object")
    parser.add_argument("--train", default="{}", help="trainer settings as a JSON object")
    parser.add_argument("--parent", default="")
    parser.add_argument("--resume")
    parser.add_argument("--text")
    parser.add_argument("--play", action="store_true")
    parser.add_argument("--exit-when-done", action="store_true")
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
    except (ConfigError, ValueError, OSError) as err:
        return fail(str(err))

    from llm_tutor.engine.train.checkpoint import CheckpointError
    from llm_tutor.engine.train.trainer import Trainer

    try:
        if args.resume:
            trainer = Trainer.from_checkpoint(args.resume, emit=emit, parent=args.parent, text=text)
        else:
            trainer = Trainer(args.model, model_config, train_config, emit=emit, parent=args.parent, text=text)
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

    threading.Thread(target=read_controls, name="llm-tutor-train-controls", daemon=True).start()
    trainer.run(exit_when_done=args.exit_when_done, play=args.play)
    return 0


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
    sys.exit(main())

"""Provides `TrainerProcess`, the owner of a trainer child process (`python -m llm_tutor.engine.train.child.worker`).

Torch-free and Textual-free: the UI process uses it to run the training lab in a child, so a
training step never runs on the UI's thread and torch never loads in the UI. Controls go to the
child's stdin as JSON lines; a reader thread decodes the child's events and hands them to
`on_event`; when the child ends without being asked to, `on_exit` gets its status and a sentence
saying what happened. Like `KernelManager`, this class owns the process; what the events mean is
the caller's business (see `llm_tutor.engine.train.monitor`).

With `processes` above 1 the child is the launcher of a data-parallel run (the worker's
`--nproc-per-node`): the same controls and events, and when one rank dies the launcher stops the
others and exits, its last stderr line naming the rank and why.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from llm_tutor.engine.procs.exits import describe
from llm_tutor.engine.train import events

EventHandler = Callable[[Any], None]
ExitHandler = Callable[[int | None, str], None]


def describe_exit(code: int | None, stderr_tail: str = "") -> str:
    """A sentence a learner can act on for a trainer's exit status (with its last stderr line)."""
    last = [line for line in stderr_tail.strip().splitlines() if line.strip()]
    return describe("trainer", code, last[-1] if last else "")


class TrainerProcess:
    """One trainer child at a time; `start()` again replaces it. Thread-safe.

    Args:
        on_event: called with every decoded event, from the reader thread.
        on_exit: called with (exit status, sentence) when the child ends unasked, from the reader thread.
        threads: torch threads for the child (OMP_NUM_THREADS); None leaves torch's default.
        env: the child's environment (default: this process's).
    """

    def __init__(
        self,
        on_event: EventHandler | None = None,
        on_exit: ExitHandler | None = None,
        *,
        threads: int | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.on_event: EventHandler = on_event or (lambda event: None)
        self.on_exit: ExitHandler = on_exit or (lambda code, reason: None)
        self.threads = threads
        self.env = env
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._generation = 0
        self._expected: set[int] = set()
        """Generations whose exit was asked for (stop, restart): not reported as a death."""
        self._ids = itertools.count(1)
        self._stderr: deque[str] = deque(maxlen=40)
        self.command: list[str] = []

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def is_alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(
        self,
        model: str,
        config: dict[str, Any] | None = None,
        train: dict[str, Any] | None = None,
        *,
        resume: str | None = None,
        text: str | None = None,
        play: bool = False,
        parent: str = "lab",
        processes: int = 1,
    ) -> None:
        """Start a trainer (stopping the previous one); it starts paused unless `play`; `processes`
        above 1 trains on that many ranks through torch.distributed.run."""
        self.stop()
        cmd = [
            sys.executable, "-m", "llm_tutor.engine.train.child.worker", "--model", model,
            "--config", json.dumps(config or {}), "--train", json.dumps(train or {}), "--parent", parent,
        ]
        if resume:
            cmd += ["--resume", resume]
        if text:
            cmd += ["--text", text]
        if play:
            cmd.append("--play")
        if processes > 1:
            cmd += ["--nproc-per-node", str(processes)]
        env = dict(os.environ if self.env is None else self.env)
        env.setdefault("PYTHONUNBUFFERED", "1")
        if self.threads:
            env["OMP_NUM_THREADS"] = str(self.threads)
            env["MKL_NUM_THREADS"] = str(self.threads)
        with self._lock:
            self._generation += 1
            generation = self._generation
            self._stderr.clear()
            self.command = cmd
            self._proc = subprocess.Popen(
                cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                start_new_session=True,  # Ctrl-C in the terminal goes to the UI, which stops the trainer itself
            )
            proc = self._proc
        threading.Thread(target=self._read, args=(proc, generation), name="llm-tutor-lab-reader", daemon=True).start()
        threading.Thread(target=self._drain_stderr, args=(proc,), name="llm-tutor-lab-stderr", daemon=True).start()

    def send(self, action: str, value: Any = None) -> str:
        """Queue a control in the child; returns its id ('' when no trainer runs)."""
        request_id = f"c{next(self._ids)}"
        line = events.encode(events.TrainControl(request_id, action, value))
        with self._lock:
            proc = self._proc
            if proc is None or proc.stdin is None or proc.poll() is not None:
                return ""
            if action == "stop":
                self._expected.add(self._generation)  # the trainer exits after a stop: not a death
            try:
                proc.stdin.write(line)
                proc.stdin.flush()
            except (BrokenPipeError, OSError, ValueError):
                return ""  # the reader reports the exit
        return request_id

    def stop(self, timeout: float = 3.0) -> None:
        """Ask the trainer to stop (it ends between two steps), then make sure it is gone."""
        with self._lock:
            proc = self._proc
            self._proc = None
            if proc is None:
                return
            self._expected.add(self._generation)
        if proc.poll() is None:
            try:
                assert proc.stdin is not None
                proc.stdin.write(events.encode(events.TrainControl("stop", "stop")))
                proc.stdin.close()  # end of input stops it too
            except (BrokenPipeError, OSError, ValueError):
                pass
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.terminate()  # a launcher stops its ranks on SIGTERM; SIGKILL would leave that to them
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout)

    def kill(self) -> None:
        """End the child at once (it is reported as a death: for tests and for a hung trainer)."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()

    def stderr_tail(self) -> str:
        return "".join(self._stderr)

    # -- reader threads --------------------------------------------------------------------------

    def _read(self, proc: subprocess.Popen[bytes], generation: int) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if not line.strip():
                continue
            try:
                event = events.decode(line)
            except (ValueError, KeyError, TypeError):
                self._stderr.append(line.decode("utf-8", "replace"))
                continue
            if generation == self._generation:
                self.on_event(event)
        code = proc.wait()
        with self._lock:
            expected = generation in self._expected or generation != self._generation
            self._expected.discard(generation)
        if not expected:
            self.on_exit(code, describe_exit(code, self.stderr_tail()))

    def _drain_stderr(self, proc: subprocess.Popen[bytes]) -> None:
        """Keep the child's warnings (the last few lines) so its pipe never fills up."""
        assert proc.stderr is not None
        for raw in proc.stderr:
            self._stderr.append(raw.decode("utf-8", "replace"))

"""Provides the `Error` event for an exception learner code raised: the cells' traceback lines, the line, a note.

The note (`explain`) is the short hint learners meet in these lessons (`engine.grading.hints`), naming the
limits this kernel was started with (`LIMITS`, filled in by `runtime.main`), or, in a confined lab session,
the protection that refused what the code tried (`engine.sandbox.explain`).
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass

from llm_tutor.engine.kernel import protocol


@dataclass
class Limits:
    """The limits set on this kernel (see `engine.kernel.limits`), named in out-of-memory and fork errors."""

    memory_mb: int | None = None
    processes: int | None = None


LIMITS = Limits()


def explain(exc: BaseException) -> tuple[str, str, dict[str, str]]:
    """A short note for errors learners meet in these lessons: English text, id and arguments (`engine.grading.hints`)."""
    from llm_tutor.engine.grading.hints import classify, english
    from llm_tutor.engine.sandbox.explain import explain as sandbox_note

    note = sandbox_note(exc)  # in a confined lab session: the protection that refused it
    if note:
        return note, "", {}
    hint_id, args = classify(exc, LIMITS.memory_mb or 0, LIMITS.processes or 0)
    return english(hint_id, args), hint_id, args


def error_event(parent: str, exc: BaseException) -> protocol.Error:
    """The `Error` event for `exc`: only the frames of cells (``<cell ...>`` files) are shown."""
    frames = traceback.extract_tb(exc.__traceback__)
    mine = [f for f in frames if f.filename.startswith("<cell")]
    lines = traceback.format_list(mine) if mine else []
    lineno = mine[-1].lineno if mine else None
    if isinstance(exc, SyntaxError):
        lineno = exc.lineno
        lines = traceback.format_exception_only(type(exc), exc)[:-1]
    hint, hint_id, hint_args = explain(exc)
    return protocol.Error(parent, type(exc).__name__, str(exc), [line.rstrip("\n") for line in lines], lineno, hint,
                          hint_id, hint_args)


def interrupted(parent: str) -> protocol.Error:
    """The `Error` event of a cell stopped by an interrupt."""
    return protocol.Error(parent, "KeyboardInterrupt", "interrupted", [], None, "")


def exit_called(parent: str, code: object) -> protocol.Error:
    """The `Error` event of a cell that called ``sys.exit()``: the kernel keeps running."""
    return protocol.Error(
        parent, "SystemExit", f"sys.exit({code!r}) was called; the kernel keeps running", [], None,
        "cells cannot end the kernel; remove sys.exit() or use return in a function")

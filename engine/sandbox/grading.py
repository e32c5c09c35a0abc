"""Provides the confinement of kernels that run code being checked or graded (`check`, `grade`).

A course author grading two hundred students' files runs each one in a kernel that may read the
Python installation and the lessons, and write only a scratch folder made for the run (its HOME,
TMPDIR and working folder); it cannot listen on a TCP port of its choosing (ephemeral ones only, for a
distributed run's rendezvous), nor signal anything outside itself, and no file it writes may pass
`FILE_SIZE_MB`. Where the kernel lacks Landlock the
run goes on unconfined with one line on stderr saying why (``--no-sandbox`` turns it off quietly).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from llm_tutor.engine.sandbox import landlock
from llm_tutor.engine.sandbox.policy import ENV, Policy, session_policy

FILE_SIZE_MB = 200


@contextmanager
def confined_kernel(read: list[Path], enabled: bool = True) -> Iterator[dict[str, Any]]:
    """Keyword arguments for `KernelManager` (``sandbox``, ``env``, ``cwd``) confining it to read `read`.

    Yields ``{}`` when `enabled` is false or Landlock is missing (then a note goes to stderr); the
    scratch folder is removed afterwards.
    """
    if not enabled:
        yield {}
        return
    abi, why = landlock.abi_version()
    if abi < 1:
        print(f"llm-tutor: note: running the code unconfined: {why} (--no-sandbox hides this note)", file=sys.stderr)
        yield {}
        return
    scratch = Path(tempfile.mkdtemp(prefix="llm-tutor-grade-"))
    try:
        policy, _ = session_policy(scratch, scratch, [str(p.resolve()) for p in read], [])
        policy.write = [str(scratch)]
        policy.file_size_mb = FILE_SIZE_MB
        env = dict(os.environ, HOME=str(scratch), TMPDIR=str(scratch))
        env[ENV] = json.dumps({"landlock": abi, "file_size_mb": FILE_SIZE_MB})  # names the protection in errors
        yield {"sandbox": policy, "env": env, "cwd": str(scratch)}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def grading_policy_summary(policy: Policy) -> str:
    """One line for logs and tests: what the confined kernel may write."""
    return f"write: {', '.join(policy.write)}; read: {len(policy.read)} paths; TCP: ephemeral ports only"

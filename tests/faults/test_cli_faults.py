"""Faults met headless: `llm-tutor run --plain` goes on past a hung cell, a crashed kernel and a memory bomb,
says what happened to each in the transcript, and exits 1."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from llm_tutor.engine.kernel import KernelManager
from llm_tutor.engine.kernel.limits import default_extra_procs, default_memory_limit_mb, total_memory_mb
from tests.conftest import llm_tutor_cmd
from tests.faults.conftest import cells, write_lesson

pytestmark = pytest.mark.slow


def test_run_plain_reports_each_fault_and_goes_on(tmp_path: Path) -> None:
    folder = tmp_path / "lessons"
    write_lesson(folder, cells(
        spin="while True:\n    pass",
        segv="import ctypes\nctypes.string_at(0)",
        bomb="hog = []\nwhile True:\n    hog.append(bytearray(100_000_000))",
        after="print('the lesson went on')",
    ))
    env = dict(os.environ, LLM_TUTOR_KERNEL_MEMORY_MB="512")
    proc = subprocess.run(
        [*llm_tutor_cmd(), "run", "faults", "--lessons", str(folder), "--plain", "--no-panels", "--timeout", "2",
         "--device", "cpu"],
        capture_output=True, text=True, env=env, timeout=180,
    )
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    assert "[interrupted after 2 s]" in out
    assert "segmentation fault (SIGSEGV); the kernel was restarted" in out
    assert "MemoryError" in out and "memory limit (512 MB" in out
    assert "the lesson went on" in out
    assert "Traceback" not in proc.stderr


def test_the_memory_limit_defaults_to_half_the_memory_and_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLM_TUTOR_KERNEL_MEMORY_MB", raising=False)
    total = total_memory_mb()
    assert total is not None and total > 0
    assert default_memory_limit_mb() == max(256, total // 2)
    assert KernelManager(device="cpu").memory_limit_mb == default_memory_limit_mb()
    monkeypatch.setenv("LLM_TUTOR_KERNEL_MEMORY_MB", "700")
    assert KernelManager(device="cpu").memory_limit_mb == 700
    monkeypatch.setenv("LLM_TUTOR_KERNEL_MEMORY_MB", "0")
    assert KernelManager(device="cpu").memory_limit_mb is None, "0 turns the limit off"
    assert KernelManager(device="cpu", memory_limit_mb=300).memory_limit_mb == 300
    monkeypatch.setenv("LLM_TUTOR_KERNEL_MAX_PROCS", "0")
    assert default_extra_procs() is None
    monkeypatch.setenv("LLM_TUTOR_KERNEL_MAX_PROCS", "junk")
    assert default_extra_procs() == 1024


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_grade_of_a_fifo_or_device_says_so_and_never_blocks(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "answer.py"
    if kind == "fifo":
        os.mkfifo(path)
    else:
        os.symlink("/dev/zero", path)
    proc = subprocess.run([*llm_tutor_cmd(), "grade", "example", "ones", "--file", str(path), "--lessons",
                           str(Path(__file__).resolve().parents[1] / "fixtures" / "lessons" / "good")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{path} is a {'FIFO' if kind == 'fifo' else 'device'}" in lines[0]

"""One classification of exit statuses serves the engine's English sentences and the UI's translations."""

from __future__ import annotations

import signal

from llm_tutor.engine.procs.exits import ENGLISH, classify_exit, describe
from llm_tutor.tui.i18n import LABELS, exit_reason


def test_statuses_are_classified_once_and_described_for_kernel_and_trainer() -> None:
    assert classify_exit(None) == ("silent", "")
    assert classify_exit(-signal.SIGKILL) == ("sigkill", "SIGKILL")
    assert classify_exit(-signal.SIGTERM) == ("signal", "SIGTERM")
    assert classify_exit(0) == ("zero", "") and classify_exit(7) == ("status", "")
    assert describe("kernel", 7) == "the kernel exited with status 7 (os._exit or a fatal error in native code)"
    assert describe("trainer", 3, "ValueError: bad\n") == "the trainer process exited with status 3 (ValueError: bad)"
    assert describe("trainer", -signal.SIGSEGV) == "the trainer process crashed with a segmentation fault (SIGSEGV)"


def test_the_ui_says_the_same_in_english_and_has_every_sentence_in_turkish() -> None:
    for code in (None, -signal.SIGKILL, -signal.SIGSEGV, -signal.SIGABRT, -signal.SIGTERM, 0, 7):
        assert exit_reason("en", "kernel", code) == describe("kernel", code)
    assert all(f"exit_{key}" in LABELS["tr"] for key in ENGLISH)
    assert exit_reason("tr", "trainer", -signal.SIGKILL).startswith("eğitim süreci öldürüldü (SIGKILL)")

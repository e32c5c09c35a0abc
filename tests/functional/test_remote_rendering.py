"""Rendering for remote links: over SSH (or --low-bandwidth) nothing animates and plots redraw at most twice a second."""

from __future__ import annotations

from pathlib import Path

import pytest

from llm_tutor.tui.app import make_app
from llm_tutor.tui.rendering import LOCAL_HZ, LOW_BANDWIDTH_HZ, is_remote, max_redraw_hz
from llm_tutor.tui.screens.lesson_list import LessonListScreen


@pytest.fixture(autouse=True)
def _local(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("SSH_CONNECTION", "SSH_TTY", "TEXTUAL_ANIMATIONS"):
        monkeypatch.delenv(var, raising=False)


@pytest.mark.parametrize("var", ["SSH_CONNECTION", "SSH_TTY"])
async def test_an_ssh_session_gets_the_low_bandwidth_app(var: str, monkeypatch: pytest.MonkeyPatch, fixtures: Path) -> None:
    monkeypatch.setenv(var, "10.0.0.2 50000 10.0.0.1 22" if var == "SSH_CONNECTION" else "/dev/pts/3")
    app = make_app(lessons_dir=fixtures / "good", device="cpu", autostart_kernel=False)
    assert app.low_bandwidth and app.animation_level == "none"
    assert max_redraw_hz(app) == LOW_BANDWIDTH_HZ == 2.0
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, LessonListScreen)
        assert app.animation_level == "none"


async def test_a_local_terminal_animates_and_redraws_faster(fixtures: Path) -> None:
    app = make_app(lessons_dir=fixtures / "good", device="cpu", autostart_kernel=False)
    assert not app.low_bandwidth and app.animation_level != "none"
    assert max_redraw_hz(app) == LOCAL_HZ == 10.0 > LOW_BANDWIDTH_HZ


def test_low_bandwidth_flag_without_ssh(fixtures: Path) -> None:
    app = make_app(lessons_dir=fixtures / "good", device="cpu", low_bandwidth=True, autostart_kernel=False)
    assert app.low_bandwidth and app.animation_level == "none" and max_redraw_hz(app) == LOW_BANDWIDTH_HZ


def test_helper_without_an_app_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not is_remote() and max_redraw_hz() == LOCAL_HZ
    monkeypatch.setenv("SSH_TTY", "/dev/pts/1")
    assert is_remote() and max_redraw_hz() == LOW_BANDWIDTH_HZ
    assert is_remote({"SSH_CONNECTION": "1 2 3 4"}) and not is_remote({})

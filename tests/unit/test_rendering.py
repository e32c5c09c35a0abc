"""The redraw cap: a `Throttle` runs its callback at most `max_redraw_hz` times a second, and the last call lands."""

from __future__ import annotations

import time

import pytest
from textual.app import App

from llm_tutor.tui.rendering import LOCAL_HZ, Throttle
from tests.functional.conftest import wait_for


async def test_a_burst_of_calls_is_drawn_at_most_local_hz_and_the_last_one_lands(monkeypatch: pytest.MonkeyPatch) -> None:
    """However fast the trainer reports (a call every 5 ms here), a live plot redraws at most 10 times a second."""
    monkeypatch.delenv("SSH_CONNECTION", raising=False)
    monkeypatch.delenv("SSH_TTY", raising=False)
    app: App[None] = App()
    async with app.run_test() as pilot:
        drawn: list[int] = []
        seen = 0

        def draw() -> None:
            drawn.append(seen)

        throttle = Throttle(app.screen, draw)
        since = time.monotonic()
        for seen in range(1, 101):
            throttle()
            await pilot.pause(0.005)
        elapsed = time.monotonic() - since
        assert await wait_for(pilot, lambda: throttle.timer is None and bool(drawn) and drawn[-1] == 100)  # the last call lands
        assert 2 <= len(drawn) <= LOCAL_HZ * elapsed + 2, (len(drawn), elapsed)

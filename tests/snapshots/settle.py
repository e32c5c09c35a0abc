"""Provides `progress_shown`: a snapshot's `run_before` that waits until the screen shows the learner's progress."""

from __future__ import annotations

from typing import Any


async def progress_shown(pilot: Any) -> None:
    """The progress is read after the first paint, its summary arrives as a message and the table is filled again;
    the table's column widths follow its new rows a refresh later. Wait for all of that (bounded)."""
    for _ in range(250):
        progress = pilot.app.progress
        if progress.ready and (progress.session is None or progress.session.summary is not None):
            break
        await pilot.pause(0.02)
    assert pilot.app.progress.ready, "the progress was not read within 5 s"
    for _ in range(3):
        await pilot.pause()

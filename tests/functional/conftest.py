"""Helpers for driving the app with Pilot."""

from __future__ import annotations

from collections.abc import Callable

from textual.pilot import Pilot


async def wait_for(pilot: Pilot, condition: Callable[[], bool], timeout: float = 60.0, step: float = 0.05) -> bool:
    """Pause the pilot until `condition()` holds (kernel start, a cell finishing...)."""
    waited = 0.0
    while waited < timeout:
        if condition():
            return True
        await pilot.pause(step)
        waited += step
    return condition()

"""Provides `wait_until`: wait for a state with a bounded poll, never a sleep and a hope."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(condition: Callable[[], bool], timeout: float = 30.0, step: float = 0.05) -> bool:
    """Poll `condition` until it holds or `timeout` seconds pass; whether it held (assert on the result)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return bool(condition())

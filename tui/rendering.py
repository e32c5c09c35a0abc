"""Provides the redraw budget: how often a live plot may redraw (`max_redraw_hz`) and the one `Throttle` that keeps to it.

Locally a live plot redraws at most `LOCAL_HZ` times a second: more frames cost the trainer's core
and show nothing new. Over SSH (or with ``--low-bandwidth``) every redraw crosses the network, so
the app stops animating and live plots refresh at most `LOW_BANDWIDTH_HZ` times a second. The
training lab's screen and the lesson's `track()` plot both redraw through a `Throttle`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import Any

LOW_BANDWIDTH_HZ = 2.0
"""Live plot refreshes per second over a remote link."""
LOCAL_HZ = 10.0
"""Live plot refreshes per second in a local terminal."""


def is_remote(environ: Mapping[str, str] | None = None) -> bool:
    """True when the app runs in an SSH session (OpenSSH sets SSH_CONNECTION and SSH_TTY; so does `serve ssh`)."""
    env = os.environ if environ is None else environ
    return bool(env.get("SSH_CONNECTION") or env.get("SSH_TTY"))


def max_redraw_hz(app: Any = None) -> float:
    """How many times a second a live plot may redraw in `app` (its `low_bandwidth`), or, without one, in this process."""
    low = getattr(app, "low_bandwidth", None) if app is not None else None
    if low is None:
        low = is_remote()
    return LOW_BANDWIDTH_HZ if low else LOCAL_HZ


class Throttle:
    """Runs `callback` at most `max_redraw_hz(owner.app)` times a second on `owner`'s timer; the last call always lands.

    Args:
        owner: the widget or screen whose timer waits and whose app sets the cap.
        callback: what to run (a redraw).
    """

    def __init__(self, owner: Any, callback: Callable[[], Any]) -> None:
        self.owner = owner
        self.callback = callback
        self.last = 0.0
        """When the callback last ran (time.monotonic)."""
        self.timer: Any = None

    def __call__(self, force: bool = False) -> None:
        """Run now if the cap allows, else once when it does; `force` runs now anyway (a pending run is dropped)."""
        if self.timer is not None and not force:
            return  # the pending run will see this change too
        wait = self.last + 1.0 / max_redraw_hz(self.owner.app) - time.monotonic()
        if force or wait <= 0:
            if self.timer is not None:
                self.timer.stop()
            self._fire()
        else:
            self.timer = self.owner.set_timer(wait, self._fire)

    def _fire(self) -> None:
        self.timer = None
        self.last = time.monotonic()
        self.callback()

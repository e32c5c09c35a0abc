"""Provides the rendering budget for remote links: whether the link is slow, and how often plots may redraw.

Over SSH (or with ``--low-bandwidth``) every redraw crosses the network, so the app stops animating
and live plots refresh at most `LOW_BANDWIDTH_HZ` times a second; locally they may go faster. The
training lab reads `max_redraw_hz(app)` rather than testing the environment itself.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

LOW_BANDWIDTH_HZ = 2.0
"""Live plot refreshes per second over a remote link."""
LOCAL_HZ = 20.0
"""Live plot refreshes per second in a local terminal."""


def is_remote(environ: Mapping[str, str] | None = None) -> bool:
    """True when the app runs in an SSH session (OpenSSH sets SSH_CONNECTION and SSH_TTY; so does `serve ssh`)."""
    env = os.environ if environ is None else environ
    return bool(env.get("SSH_CONNECTION") or env.get("SSH_TTY"))


def max_redraw_hz(app: Any = None) -> float:
    """How many times a second a live plot may redraw in `app` (or, without one, in this process)."""
    low = getattr(app, "low_bandwidth", None) if app is not None else None
    if low is None:
        low = is_remote()
    return LOW_BANDWIDTH_HZ if low else LOCAL_HZ

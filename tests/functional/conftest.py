"""Helpers for driving the app with Pilot."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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


def screen_text(app: Any) -> list[str]:
    """The screen as the learner sees it, one string per row (read back from Textual's own screenshot)."""
    import html
    import re

    svg = app.export_screenshot()
    rows: dict[float, list[tuple[float, str]]] = {}
    pattern = r'<text class="[^"]*" x="([\d.]+)" y="([\d.]+)" textLength="[\d.]+" clip-path="[^"]*">(.*?)</text>'
    for match in re.finditer(pattern, svg):
        x, y = float(match.group(1)), float(match.group(2))
        rows.setdefault(y, []).append((x, html.unescape(match.group(3))))
    lines = []
    for y in sorted(rows):
        line = ""
        for x, text in sorted(rows[y]):
            line = line.ljust(round(x / 12.2)) + text.replace("\xa0", " ")
        lines.append(line.rstrip())
    return lines


def toasts(app: Any) -> list[str]:
    """The notifications on screen, as the learner reads them (run the app with `notifications=True`)."""
    return [str(toast.render()) for toast in app.screen.query("Toast")]

"""Provides `KeyFooter`: Textual's `Footer`, rebuilt only when the keys it shows change.

Textual's footer recomposes (unmounts and mounts a widget per key, then restyles them) every time
the screen's bindings are refreshed, and that happens on every focus move. Moving from one cell to
the next in a lesson cost 20-40 ms of the UI's time that way, nearly all of it in the footer,
although both cells offer the same keys. `KeyFooter` compares what it would show with what it shows
and rebuilds only when that differs.
"""

from __future__ import annotations

from typing import Any

from textual.screen import Screen
from textual.widgets import Footer


class KeyFooter(Footer):
    """A `Footer` that skips rebuilds which would draw the same keys."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._shown: tuple[Any, ...] | None = None
        self.rebuilds = 0
        """How many times the keys were rebuilt (tests read it)."""

    def shown_keys(self) -> tuple[Any, ...]:
        """What the footer draws for the screen's bindings now: key, label, action, enabled, tooltip."""
        return tuple(
            (binding.key, self.app.get_key_display(binding), binding.description, binding.action, enabled, tooltip,
             binding.group)
            for (_, binding, enabled, tooltip) in self.screen.active_bindings.values()
            if binding.show
        )

    def bindings_changed(self, screen: Screen[Any]) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus:
            return
        if self.is_attached and screen is self.screen:
            self.call_after_refresh(self._rebuild_if_changed)

    async def _rebuild_if_changed(self) -> None:
        if not self.is_attached:
            return
        keys = self.shown_keys()
        if keys == self._shown:
            return
        self._shown = keys
        self.rebuilds += 1
        await self.recompose()

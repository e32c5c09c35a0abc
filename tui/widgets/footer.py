"""Provides `KeyFooter`: Textual's `Footer`, rebuilt only when the keys it shows change.

Textual's footer recomposes (unmounts and mounts a widget per key, then restyles them) every time
the screen's bindings are refreshed, and that happens on every focus move. Moving from one cell to
the next in a lesson cost 20-40 ms of the UI's time that way, nearly all of it in the footer,
although both cells offer the same keys. `KeyFooter` compares what it would show with what it shows
and rebuilds only when that differs.

It also fits the width it has: where the keys do not fit (80 columns, or Turkish's longer words), the
screen's later keys give way first, and help, quit and Escape's way back always stay (every key is on the help screen).
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

ALWAYS_SHOWN = frozenset({"help", "quit", "app.help", "app.quit", "back"})
"""Actions the footer never drops for want of room: help, quit, and Escape's way back."""


def key_width(key_display: str, description: str) -> int:
    """Cells one footer key takes: a space, the key, a space, the description, a space."""
    return len(key_display) + len(description) + (3 if description else 2)


def fitting(keys: list[tuple[str, str, str]], width: int) -> list[int]:
    """Indexes of the `keys` (display, description, action) to show in `width` cells: all of them if
    they fit, else help and quit and as many of the others as fit, in order."""
    widths = [key_width(display, description) for display, description, _ in keys]
    if sum(widths) <= width:
        return list(range(len(keys)))
    keep = [i for i, (_, _, action) in enumerate(keys) if action in ALWAYS_SHOWN]
    room = width - sum(widths[i] for i in keep)
    for i, w in enumerate(widths):
        if i not in keep and w <= room:
            keep.append(i)
            room -= w
        elif i not in keep:
            room = -1  # keep the order: once one key is left out, the later ones are too
    return sorted(keep)


class KeyFooter(Footer):
    """A `Footer` that skips rebuilds which would draw the same keys."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._shown: tuple[Any, ...] | None = None

    def _width(self) -> int:
        return self.size.width or self.app.size.width

    def _visible(self) -> list[tuple[Any, bool, str]]:
        """The screen's shown bindings (one per action) that fit the footer's width."""
        seen: set[str] = set()
        bindings = []
        active = self.screen.active_bindings
        for _, binding, enabled, tooltip in active.values():
            if binding.show and binding.action not in seen:
                seen.add(binding.action)
                bindings.append((binding, enabled, tooltip))
        if "quit" not in seen and "ctrl+q" in active:
            # in a text box `q` types a q: the footer offers the quit key that still works there
            _, binding, enabled, tooltip = active["ctrl+q"]
            bindings.append((binding, enabled, tooltip))
        keys = [(self.app.get_key_display(b), b.description, b.action) for b, _, _ in bindings]
        return [bindings[i] for i in fitting(keys, self._width())]

    def shown_keys(self) -> tuple[Any, ...]:
        """What the footer draws for the screen's bindings now: key, label, action, enabled, tooltip."""
        return tuple(
            (binding.key, self.app.get_key_display(binding), binding.description, binding.action, enabled, tooltip,
             binding.group)
            for binding, enabled, tooltip in self._visible()
        )

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        visible = self._visible()
        self.styles.grid_size_columns = len(visible)
        for binding, enabled, tooltip in visible:
            yield FooterKey(binding.key, self.app.get_key_display(binding), binding.description, binding.action,
                            disabled=not enabled, tooltip=tooltip).data_bind(compact=Footer.compact)

    def on_resize(self) -> None:
        if self.is_attached and self._bindings_ready:
            self.call_after_refresh(self._rebuild_if_changed)

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
        await self.recompose()

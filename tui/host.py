"""Provides `host()`: the `TutorApp` a screen runs in, typed.

Screens call the app's kernel and navigation methods (`client`, `restart_kernel`, `open_lab`, ...)
through it, so a misspelt or changed method is a type error rather than an `AttributeError` at a key
press. The screens tell the app what the learner did with messages (`llm_tutor.tui.messages`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.dom import DOMNode

if TYPE_CHECKING:
    from llm_tutor.tui.app import TutorApp


def host(node: DOMNode) -> TutorApp:
    """The app `node` runs in (screens of llm-tutor run only in `TutorApp`)."""
    return cast("TutorApp", node.app)

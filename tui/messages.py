"""Provides the app-wide Textual messages: what the kernel's reader thread and workers post to the UI."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message


@dataclass
class KernelEvent(Message):
    """An event from the kernel process (a `llm_tutor.engine.protocol` payload or `KernelDied`)."""

    event: Any


@dataclass
class KernelStateChanged(Message):
    """The kernel went "starting", "idle", "busy" or "dead"."""

    state: str
    device: str = ""


@dataclass
class LessonOpened(Message):
    """A lesson screen opened (for progress: last position)."""

    lesson_id: str
    lang: str

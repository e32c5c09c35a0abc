"""Provides the app-wide Textual messages: what the kernel's reader thread and workers post to the UI."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message


@dataclass
class KernelEvent(Message):
    """An event from the kernel process (a `llm_tutor.engine.kernel.protocol` payload or `KernelDied`)."""

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


@dataclass
class StoreNoticed(Message):
    """The progress store has something to tell the learner (damaged file moved aside, read-only, locked)."""

    level: str
    """"info", "warning" or "error"."""
    message: str


@dataclass
class ProgressRefreshed(Message):
    """A fresh summary of the course's progress, computed after every queued write landed."""

    summary: Any
    """A `llm_tutor.engine.learner.records.CourseProgress`."""


@dataclass
class WorkspaceFileChanged(Message):
    """An exercise's file in the workspace was saved outside the app (or `f` asked to check it)."""

    lesson_id: str
    exercise_id: str
    code: str
    path: str
    forced: bool = False
    """True when the learner asked for it (`f`), not the watcher."""
    lang: str = "en"
    """The language whose file it is (each language has its own)."""

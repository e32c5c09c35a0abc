"""Provides the training lab's messages: what the trainer's reader thread posts to the lab screen."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message


@dataclass
class TrainerUpdated(Message):
    """The run moved on (steps, a sample, a state change); `RunMonitor` holds the full state.

    A newer one replaces an unhandled older one, so a burst of trainer events costs the UI one
    look at the monitor (the toolong pattern for messages that carry a full value).
    """

    version: int = 0

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, TrainerUpdated)


@dataclass
class TrainerExited(Message):
    """The trainer process ended without being asked to: `reason` says how, for the learner."""

    code: int | None
    reason: str

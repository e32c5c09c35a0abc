"""Provides the progress rules: when an exercise is solved, and when a lesson is in progress or completed.

The exercise rule is applied twice, in SQL by the store's write and in Python where a result is
known before the write lands (a queued write, the app's own copy of the open lesson); both come from
the constants here, and a test checks they agree.
"""

from __future__ import annotations

NOT_STARTED = "not_started"
ATTEMPTED = "attempted"
SOLVED = "solved"
EXERCISE_STATUSES = (NOT_STARTED, ATTEMPTED, SOLVED)
"""An exercise's status: never checked, checked but never passed, passed once (it stays solved)."""

IN_PROGRESS = "in_progress"
COMPLETED = "completed"


def status_after_attempt(status: str, passed: bool) -> str:
    """An exercise's status after a check: a pass solves it, and once solved it stays solved."""
    return SOLVED if passed or status == SOLVED else ATTEMPTED


STATUS_AFTER_ATTEMPT_SQL = f"CASE WHEN :passed OR status = '{SOLVED}' THEN '{SOLVED}' ELSE '{ATTEMPTED}' END"
"""`status_after_attempt` as an SQL expression over the ``status`` column and a ``:passed`` parameter."""


def lesson_status(solved: int, total: int, touched: bool, opened: bool) -> str:
    """A lesson's status from its exercises (`solved` of `total`) and whether the learner was there.

    Args:
        solved: how many of its exercises are solved.
        total: how many exercises it has.
        touched: any exercise checked, hinted or timed.
        opened: the lesson was opened or has time spent in it.

    Returns:
        "completed" when every exercise is solved (a lesson without exercises: once opened),
        "in_progress" once touched or opened, else "not_started".
    """
    if total and solved == total:
        return COMPLETED
    if not total and opened:
        return COMPLETED
    if touched or opened:
        return IN_PROGRESS
    return NOT_STARTED

"""Snapshots of progress in the app, from fixed data: the lesson list and an exercise as the learner left it.

No kernel is started (`autostart_kernel=False`), so no torch version or device line varies; the home
folder is the test's own, so the exercise file's path reads the same on every machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llm_tutor.engine.learner.store import ProgressStore
from llm_tutor.tui.app import make_app
from tests.snapshots.settle import progress_shown

COURSE = Path(__file__).resolve().parents[1] / "fixtures" / "lessons" / "progress"


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    folder = tmp_path / "data"
    with ProgressStore.open(folder) as store:
        store.record_attempt("sums", "total", passed=False, code="total = 0")
        store.reveal_hint("sums", "total", total=2)
        store.record_attempt("sums", "total", passed=True, code="total = sum(numbers)")
        store.record_attempt("means", "mean", passed=False, code="mean = 2")
        store.add_time("reading", 120)  # opened and read: a lesson without exercises is then completed
    return folder


class TestLessonListProgress:
    """The first screen with the learner's progress."""

    def test_lesson_list_with_progress(self, snap_compare: Any, data: Path) -> None:
        """Sums shows "███░░░ 1/2" and "◐ in progress", Means "░░░░░░ 0/1" and "◐ in progress",
        Reading only "✓ completed" with no exercise count; the line under the table reads
        "Overall: 1/3 exercises solved · 1/3 lessons completed"; the cursor is on the first row."""
        app = make_app(lessons_dir=COURSE, data_dir=data, autostart_kernel=False)
        assert snap_compare(app, terminal_size=(100, 20), run_before=progress_shown)


class TestExerciseProgress:
    """An exercise reopened after a restart."""

    def test_solved_exercise_as_the_learner_left_it(self, snap_compare: Any, data: Path) -> None:
        """The Sums lesson opened at its first exercise: under the title "✓ solved · attempts: 2 ·
        hints 1/2"; the editor holds "total = sum(numbers)"; "Hint 1 of 2" is shown; below, the file
        line "your editor: ~/data/workspace/sums/total.en.py" and the exercise's keys."""
        with ProgressStore.open(data) as store:
            store.set_position("sums", "total")
        app = make_app(lessons_dir=COURSE, data_dir=data, autostart_kernel=False, lesson="sums")
        assert snap_compare(app, terminal_size=(100, 30), run_before=progress_shown)

"""The learner session without a UI: writes queued in order on its writer thread, results handed back as
plain data (`StoreNotice`, `CourseProgress`, `FileSaved`) to a plain callback, a real SQLite store below."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from llm_tutor.engine.course.catalog import load_course
from llm_tutor.engine.course.lesson import Lesson
from llm_tutor.engine.learner.filesync import FileSaved
from llm_tutor.engine.learner.records import CourseProgress
from llm_tutor.engine.learner.session import LearnerSession, Report
from llm_tutor.engine.learner.store import ProgressStore

COURSE = Path(__file__).resolve().parents[1] / "fixtures" / "lessons" / "progress"


class Reports:
    """The session's `report` callback: keeps what it is handed (from any thread)."""

    def __init__(self) -> None:
        self.items: list[Report] = []
        self._lock = threading.Lock()

    def __call__(self, report: Report) -> None:
        with self._lock:
            self.items.append(report)

    def of(self, kind: type) -> list[Report]:
        with self._lock:
            return [r for r in self.items if isinstance(r, kind)]


def until(condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


@pytest.fixture
def course() -> list[Lesson]:
    return [item for item in load_course(COURSE, "en") if isinstance(item, Lesson)]


def test_attempts_reach_the_store_and_a_refresh_reports_the_summary(tmp_path: Path, course: list[Lesson]) -> None:
    reports = Reports()
    session = LearnerSession(tmp_path, reports, watch=False)
    session.open(course)
    sums = course[0]
    try:
        assert session.record_attempt(sums, "total", False, "total = 0").status == "attempted"
        assert session.record_attempt(sums, "total", True, "total = sum(numbers)").status == "solved"
        state = session.record_attempt(sums, "total", False, "total = 1", draft="total = 1  # typing on")
        assert (state.status, state.attempts, state.code) == ("solved", 3, "total = 1  # typing on")
        session.refresh(course)
        assert until(lambda: bool(reports.of(CourseProgress)))
        summary = reports.of(CourseProgress)[-1]
        assert isinstance(summary, CourseProgress) and summary.solved == 1
    finally:
        session.close()
    with ProgressStore.open(tmp_path, read_only=True) as store:
        progress = store.exercise("sums", "total")
        assert (progress.status, progress.attempts) == ("solved", 3)
        assert store.load_draft("sums", "total") == "total = 1  # typing on"


def test_a_file_asked_for_is_reported_as_file_saved(tmp_path: Path, course: list[Lesson]) -> None:
    reports = Reports()
    session = LearnerSession(tmp_path, reports, watch=False)
    session.open(course)
    sums = course[0]
    try:
        session.ensure_files(sums)
        path = session.workspace_path("sums", "largest")
        assert path is not None and until(path.exists)
        path.write_text("largest = max(numbers)\n")
        session.check_file("sums", "largest")
        assert until(lambda: bool(reports.of(FileSaved)))
        saved = reports.of(FileSaved)[0]
        assert saved == FileSaved("sums", "largest", "largest = max(numbers)", str(path), forced=True, lang="en")
    finally:
        session.close()

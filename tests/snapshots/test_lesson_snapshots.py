"""Snapshots of the lesson list and a lesson view at a fixed terminal size (no kernel, so nothing varies)."""

from __future__ import annotations

from pathlib import Path

from llm_tutor.tui.app import make_app
from tests.snapshots.settle import progress_shown

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "lessons"
SIZE = (100, 30)


def app_for(folder: Path, **kwargs: object):
    return make_app(lessons_dir=folder, device="cpu", autostart_kernel=False, **kwargs)


class TestLessonList:
    def test_lesson_list(self, snap_compare) -> None:
        """The lesson list: title bar, one row 'A first tensor' with an empty bar and 0/1 exercises and no status yet,
        the overall line '0/1 exercises solved · 0/1 lessons completed', the kernel status line ('kernel: stopped')
        and the footer keys."""
        assert snap_compare(app_for(FIXTURES / "good"), terminal_size=SIZE, run_before=progress_shown)

    def test_lesson_list_with_a_broken_lesson(self, snap_compare, monkeypatch) -> None:
        """A good lesson row, then a broken file's row marked '!' with status 'error'."""
        monkeypatch.chdir(FIXTURES)
        assert snap_compare(app_for(Path("mixed")), terminal_size=SIZE, run_before=progress_shown)


class TestLessonView:
    def test_lesson_view(self, snap_compare) -> None:
        """The example lesson: its heading, prose, the first cell focused (accent bar), the predict question with its
        answer box, and the footer with Run / Run all / Interrupt / Restart kernel."""
        assert snap_compare(app_for(FIXTURES / "good"), press=["enter"], terminal_size=SIZE)

    def test_lesson_view_wide_shows_the_variables_panel(self, snap_compare) -> None:
        """At 120 columns the variables panel sits beside the lesson, empty, with its hint text."""
        assert snap_compare(app_for(FIXTURES / "good"), press=["enter"], terminal_size=(120, 30))

    def test_help_screen(self, snap_compare) -> None:
        """The help modal over the lesson: a table of every key, including the editor's ctrl+r and ctrl+t."""
        assert snap_compare(app_for(FIXTURES / "good"), press=["enter", "question_mark"], terminal_size=SIZE)

    def test_lesson_error_in_place(self, snap_compare, monkeypatch) -> None:
        """Opening the broken lesson shows 'mixed/01-bad.md:9: unknown block kind' in place of the lesson."""
        monkeypatch.chdir(FIXTURES)
        assert snap_compare(app_for(Path("mixed")), press=["down", "enter"], terminal_size=SIZE)

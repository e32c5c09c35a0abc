"""Progress in the app, as a learner meets it: real SQLite files in temporary folders, a real kernel
where a check runs, and the app closed and opened again between steps."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from textual.message import Message
from textual.notifications import Notify
from textual.widgets import DataTable, Static

from llm_tutor.engine.learner.sidefile import RESERVE_NAME
from llm_tutor.engine.learner.paths import DB_NAME
from llm_tutor.engine.learner.store import ProgressStore
from llm_tutor.tui.app import TutorApp, make_app
from llm_tutor.tui.screens.confirm import ConfirmScreen
from llm_tutor.tui.screens.lesson import LessonScreen
from llm_tutor.tui.screens.lesson_list import LessonListScreen
from llm_tutor.tui.widgets.lesson.exercise import CodeEditor, ExerciseView
from tests.functional.conftest import wait_for

COURSE = Path(__file__).resolve().parents[1] / "fixtures" / "lessons" / "progress"
SIZE = (100, 40)


class Notices:
    """A `message_hook` that keeps the text of every notification the learner was shown."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def __call__(self, message: Message) -> None:
        if isinstance(message, Notify):
            self.texts.append(message.notification.message)

    def any(self, *words: str) -> bool:
        return any(all(w in text for w in words) for text in self.texts)


def app_for(data: Path, *, kernel: bool = True, **kwargs: Any) -> TutorApp:
    return make_app(lessons_dir=COURSE, device="cpu", data_dir=data, autostart_kernel=kernel, **kwargs)


async def progress_shown(pilot: Any, app: TutorApp) -> None:
    """The progress is read right after the first paint; wait for it."""
    assert await wait_for(pilot, lambda: app.progress.ready)
    await pilot.pause()


def _composed(screen: Any) -> bool:
    """The lesson screen is mounted with its cells and exercises (heavier screens mount over several frames)."""
    return bool(screen.is_mounted and screen.query(".block"))


async def open_lesson(pilot: Any, app: TutorApp, lesson_id: str) -> LessonScreen:
    """The lesson's screen (the app may already have reopened it where the learner left off)."""
    if not (isinstance(app.screen, LessonScreen) and app.screen.lesson.id == lesson_id):
        app.open_lesson_key(lesson_id)
    assert await wait_for(pilot, lambda: isinstance(app.screen, LessonScreen) and app.screen.lesson.id == lesson_id)
    assert await wait_for(pilot, lambda: _composed(app.screen))
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, LessonScreen)
    return screen


async def exercise(pilot: Any, screen: LessonScreen, exercise_id: str) -> ExerciseView:
    view = screen.query_one(f"#exercise-{exercise_id}", ExerciseView)
    view.focus()
    await pilot.pause()
    return view


async def check(pilot: Any, view: ExerciseView) -> str:
    """Check the exercise with the key a learner presses, and wait for the verdict."""
    attempts = view.attempts
    view.focus()
    await pilot.press("c")
    assert await wait_for(pilot, lambda: view.attempts == attempts + 1 and view.state in ("passed", "failed"))
    return view.state


def stored(data: Path, lesson_id: str, exercise_id: str) -> Any:
    with ProgressStore.open(data) as store:
        return store.exercise(lesson_id, exercise_id)


def result_text(view: ExerciseView) -> str:
    return str(view.query_one(".exercise-result", Static).render())


# -- exercises -----------------------------------------------------------------------------------


async def test_fail_hint_solve_reset_and_resume_across_restarts(tmp_path: Path) -> None:
    data = tmp_path / "data"
    app = app_for(data)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_lesson(pilot, app, "sums")
        view = await exercise(pilot, screen, "total")
        assert await check(pilot, view) == "failed"
        await pilot.press("h")
        assert view.hints_shown == 1
        view.query_one(CodeEditor).load_text("total = sum(numbers)")
        assert await check(pilot, view) == "passed"
        assert "compare with the reference solution" in result_text(view)

    progress = stored(data, "sums", "total")
    assert (progress.status, progress.attempts, progress.hints) == ("solved", 2, 1)

    app = app_for(data, kernel=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_lesson(pilot, app, "sums")
        view = await exercise(pilot, screen, "total")
        assert view.code == "total = sum(numbers)"
        assert (view.passed_once, view.attempts, view.hints_shown) == (True, 2, 1)
        assert "Python has a built-in" in view.hints_text
        assert "solved" in str(view.query_one(".exercise-status", Static).render())
        await pilot.press("s")
        assert view.query_one(".exercise-solution").display  # unlocked by the pass before the restart

        await pilot.press("x")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")  # any other key keeps the code
        assert isinstance(app.screen, LessonScreen) and view.code == "total = sum(numbers)"

        await pilot.press("x")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("x")  # x twice replaces it
        await pilot.pause()
        assert view.code == view.exercise.starter
        backup = data / "workspace" / "sums" / "total.en.py.bak"
        assert await wait_for(pilot, backup.exists)
        assert "total = sum(numbers)" in backup.read_text()

    app = app_for(data, kernel=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_lesson(pilot, app, "sums")
        view = await exercise(pilot, screen, "total")
        assert view.code == view.exercise.starter
        assert view.passed_once  # a reset puts the starter back; the progress stays
    assert stored(data, "sums", "total").status == "solved"


async def test_typing_on_while_a_check_runs_keeps_both_the_checked_code_and_the_new_draft(tmp_path: Path) -> None:
    """The attempt records the code that was checked; the draft (and the workspace file) keep what the learner
    typed while the check was running."""
    data = tmp_path / "data"
    checked = "import time\ntime.sleep(0.5)\ntotal = sum(numbers)"
    app = app_for(data)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_lesson(pilot, app, "sums")
        view = await exercise(pilot, screen, "total")
        editor = view.query_one(CodeEditor)
        editor.load_text(checked)
        attempts = view.attempts
        await pilot.press("c")
        assert await wait_for(pilot, lambda: view.state == "running")
        editor.load_text("total = 0  # typed while the check ran")
        assert await wait_for(pilot, lambda: view.attempts == attempts + 1 and view.state == "passed")
    with ProgressStore.open(data) as store:
        solved = next(e for e in store.export()["exercises"] if e["exercise_id"] == "total")
        assert solved["solved_code"] == checked
        assert store.load_draft("sums", "total") == "total = 0  # typed while the check ran"


async def test_the_solution_unlocks_after_three_failed_attempts_and_stays_unlocked(tmp_path: Path) -> None:
    data = tmp_path / "data"
    app = app_for(data)
    async with app.run_test(size=SIZE) as pilot:
        view = await exercise(pilot, await open_lesson(pilot, app, "sums"), "largest")
        await pilot.press("s")
        assert not view.query_one(".exercise-solution").display
        for _ in range(3):
            assert await check(pilot, view) == "failed"
        assert "Stuck? s shows the solution" in result_text(view)

    app = app_for(data, kernel=False)
    async with app.run_test(size=SIZE) as pilot:
        view = await exercise(pilot, await open_lesson(pilot, app, "sums"), "largest")
        assert view.attempts == 3 and not view.passed_once
        await pilot.press("s")
        assert view.query_one(".exercise-solution").display
        shown = view.query_one(".exercise-solution", Static).content
        assert "max(numbers)" in str(shown.renderables[1])  # type: ignore[union-attr]


async def test_a_draft_is_restored_in_the_session_and_after_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    app = app_for(data, kernel=False)
    async with app.run_test(size=SIZE) as pilot:
        view = await exercise(pilot, await open_lesson(pilot, app, "sums"), "total")
        await pilot.press("e", "f7", *"total = 1 + 2", "escape")
        typed = view.code
        assert "total = 1 + 2" in typed
        await pilot.press("escape")  # back to the lesson list, and straight in again
        assert isinstance(app.screen, LessonListScreen)
        view = await exercise(pilot, await open_lesson(pilot, app, "sums"), "total")
        assert view.code == typed

    app = app_for(data, kernel=False)
    async with app.run_test(size=SIZE) as pilot:
        view = await exercise(pilot, await open_lesson(pilot, app, "sums"), "total")
        assert view.code == typed


async def test_predict_answers_come_back(tmp_path: Path, fixtures: Path) -> None:
    data = tmp_path / "data"
    app = make_app(lessons_dir=fixtures / "good", data_dir=data, autostart_kernel=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_lesson(pilot, app, "example")
        box = screen.query_one("#cell-shape-of-product .predict-input")
        box.focus()
        await pilot.press(*"(2, 2)", "enter")
    app = make_app(lessons_dir=fixtures / "good", data_dir=data, autostart_kernel=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_lesson(pilot, app, "example")
        assert screen.query_one("#cell-shape-of-product .predict-input").value == "(2, 2)"  # type: ignore[attr-defined]


async def test_time_is_counted_while_the_learner_is_active(tmp_path: Path) -> None:
    data = tmp_path / "data"
    app = app_for(data, kernel=False)
    app.time_tick = 0.05
    async with app.run_test(size=SIZE) as pilot:
        await exercise(pilot, await open_lesson(pilot, app, "sums"), "total")
        assert await wait_for(pilot, lambda: app.progress.session is not None and app.progress.session.summary is not None)
        await pilot.press("e", *"total")

        def counted() -> bool:
            with ProgressStore.open(data, read_only=True) as store:
                return store.exercise("sums", "total").time_s > 0 and store.lesson_status("sums").time_s > 0

        assert await wait_for(pilot, counted)


# -- your own editor -----------------------------------------------------------------------------


async def test_typing_in_the_app_reaches_the_workspace_file(tmp_path: Path) -> None:
    data = tmp_path / "data"
    app = app_for(data, kernel=False)
    async with app.run_test(size=SIZE) as pilot:
        view = await exercise(pilot, await open_lesson(pilot, app, "sums"), "total")
        path = data / "workspace" / "sums" / "total.en.py"
        assert view.file_path == str(path)
        assert str(path) in str(view.query_one(".exercise-file", Static).render())
        assert await wait_for(pilot, path.exists)
        assert "total = 0  # your code here" in path.read_text()
        assert path.read_text().startswith("# llm-tutor: lesson sums, exercise total")
        await pilot.press("e", "f7", *"total = 4 + 6", "escape")
        assert await wait_for(pilot, lambda: "total = 4 + 6" in path.read_text())
        await pilot.press("p")
        assert app.clipboard == str(path)


async def test_saving_the_file_in_another_editor_checks_it_in_the_app(tmp_path: Path) -> None:
    data = tmp_path / "data"
    notices = Notices()
    app = app_for(data)
    async with app.run_test(size=SIZE, message_hook=notices) as pilot:
        view = await exercise(pilot, await open_lesson(pilot, app, "sums"), "total")
        path = data / "workspace" / "sums" / "total.en.py"
        assert await wait_for(pilot, path.exists)
        assert await wait_for(pilot, lambda: app.progress.session is not None and app.progress.session.watcher is not None)
        path.write_text("total = sum(numbers)  # saved in vim\n")
        assert await wait_for(pilot, lambda: view.state == "passed")
        assert view.code == "total = sum(numbers)  # saved in vim"
        assert notices.any("total.en.py changed on disk")
        await pilot.press("e", "ctrl+z")  # the app's text before the file replaced it is one undo away
        assert view.code == view.exercise.starter
    assert stored(data, "sums", "total").status == "solved"


async def test_the_f_key_checks_the_file_where_saves_are_not_watched(tmp_path: Path) -> None:
    data = tmp_path / "data"
    app = app_for(data)
    app.progress.watch = False
    async with app.run_test(size=SIZE) as pilot:
        view = await exercise(pilot, await open_lesson(pilot, app, "sums"), "largest")
        assert app.progress.session is not None and app.progress.session.watcher is None
        path = data / "workspace" / "sums" / "largest.en.py"
        assert await wait_for(pilot, path.exists)
        path.write_text("largest = max(numbers)\n")
        await pilot.press("f")
        assert await wait_for(pilot, lambda: view.state == "passed")
        assert view.code == "largest = max(numbers)"


# -- continue where you left off, prerequisites, the lesson list ---------------------------------------


async def test_bare_llm_tutor_reopens_the_last_lesson_at_the_last_block(tmp_path: Path) -> None:
    data = tmp_path / "data"
    notices = Notices()
    app = app_for(data, kernel=False)
    async with app.run_test(size=(100, 24), message_hook=notices) as pilot:
        assert isinstance(app.screen, LessonListScreen)  # a first run starts at the list
        screen = await open_lesson(pilot, app, "means")
        assert notices.any("Suggested first: Sums")  # suggested, never enforced
        await pilot.press("escape")
        screen = await open_lesson(pilot, app, "sums")
        await exercise(pilot, screen, "largest")

    notices = Notices()
    app = app_for(data, kernel=False)
    async with app.run_test(size=(100, 24), message_hook=notices) as pilot:
        assert await wait_for(pilot, lambda: isinstance(app.screen, LessonScreen) and _composed(app.screen))
        screen = app.screen
        assert isinstance(screen, LessonScreen) and screen.lesson.id == "sums"
        view = screen.query_one("#exercise-largest", ExerciseView)
        assert await wait_for(pilot, lambda: screen.focused_block() is view)
        content = screen.query_one("#content")
        assert await wait_for(pilot, lambda: content.region.contains_region(view.region))  # scrolled into view
        assert content.scroll_y > 0
        assert notices.any("Welcome back: Sums")
        await pilot.press("escape")
        assert isinstance(app.screen, LessonListScreen)
        table = app.screen.query_one(DataTable)
        assert table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value == "sums"


async def test_a_lesson_argument_wins_over_the_last_position(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with ProgressStore.open(data) as store:
        store.set_position("means", "mean")
    app = app_for(data, kernel=False, lesson="reading")
    async with app.run_test(size=SIZE) as pilot:
        assert await wait_for(pilot, lambda: isinstance(app.screen, LessonScreen))
        assert app.screen.lesson.id == "reading"  # type: ignore[attr-defined]


def row(table: DataTable, key: str) -> list[str]:
    return [str(cell) for cell in table.get_row(key)]


async def test_the_lesson_list_shows_progress_and_refreshes_when_a_lesson_is_left(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with ProgressStore.open(data) as store:
        store.record_attempt("sums", "total", passed=True, code="total = sum(numbers)")
        store.record_attempt("means", "mean", passed=False, code="mean = 1")
    app = app_for(data)
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, LessonListScreen)
        await progress_shown(pilot, app)
        table = app.screen.query_one(DataTable)
        assert row(table, "sums")[2:] == ["███░░░ 1/2", "◐ in progress"]
        assert row(table, "means")[2:] == ["░░░░░░ 0/1", "◐ in progress"]
        assert [c.strip() for c in row(table, "reading")[2:]] == ["", ""]
        overall = str(app.screen.query_one("#overall", Static).render())
        assert "1/3 exercises solved · 0/3 lessons completed" in overall

        view = await exercise(pilot, await open_lesson(pilot, app, "sums"), "largest")
        view.query_one(CodeEditor).load_text("largest = max(numbers)")
        assert await check(pilot, view) == "passed"
        await pilot.press("escape")
        assert isinstance(app.screen, LessonListScreen)
        table = app.screen.query_one(DataTable)
        assert await wait_for(pilot, lambda: row(table, "sums")[2:] == ["██████ 2/2", "✓ completed"])
        overall = str(app.screen.query_one("#overall", Static).render())
        assert "2/3 exercises solved · 1/3 lessons completed" in overall


# -- faults the learner sees -------------------------------------------------------------------------


async def test_a_corrupt_database_is_moved_aside_and_the_app_opens_with_a_notice(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / DB_NAME).write_bytes(b"this is not a database, it was cut short by a crash " * 200)
    notices = Notices()
    app = app_for(data, kernel=False)
    async with app.run_test(size=SIZE, message_hook=notices) as pilot:
        assert isinstance(app.screen, LessonListScreen)
        await progress_shown(pilot, app)
        assert await wait_for(pilot, lambda: notices.any("was damaged", "moved to", "fresh one"))
        assert app.progress.saved
        view = await exercise(pilot, await open_lesson(pilot, app, "sums"), "total")
        await pilot.press("e", "f7", *"total = 10", "escape")
    assert list(data.glob(f"{DB_NAME}.corrupt-*"))
    with ProgressStore.open(data) as store:
        assert store.load_draft("sums", "total") == "total = 10"
        assert store.integrity_ok()


async def test_an_uncreatable_data_directory_runs_without_saving_and_says_so(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("a file where the data folder should be")
    notices = Notices()
    app = app_for(tmp_path / "file" / "data", kernel=False)
    async with app.run_test(size=SIZE, message_hook=notices) as pilot:
        await progress_shown(pilot, app)
        assert await wait_for(pilot, lambda: notices.any("cannot create the data directory", "will not be saved"))
        assert "NOT being saved" in str(app.screen.query_one("#overall", Static).render())
        view = await exercise(pilot, await open_lesson(pilot, app, "sums"), "total")
        assert "no exercise file" in str(view.query_one(".exercise-file", Static).render())
        await pilot.press("e", "f7", *"total = 10", "escape")
        await pilot.press("escape")
        view = await exercise(pilot, await open_lesson(pilot, app, "sums"), "total")
        assert view.code == "total = 10"  # kept in memory for this session


@contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """Make `folder` read-only for this process: by its mode, or (root writes anywhere) by mounting it
    read-only over itself where root may mount; skipped where neither can be done."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    mount = shutil.which("mount")
    if mount is None or subprocess.run([mount, "--bind", str(folder), str(folder)], capture_output=True).returncode:
        pytest.skip("root may write to a read-only folder, and cannot mount one read-only here")
    try:
        if subprocess.run([mount, "-o", "remount,bind,ro", str(folder)], capture_output=True).returncode:
            pytest.skip("cannot remount read-only here")
        yield
    finally:
        subprocess.run(["umount", str(folder)], capture_output=True)


async def test_a_read_only_data_directory_runs_without_saving_and_says_so(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with ProgressStore.open(data) as store:
        store.record_attempt("sums", "total", passed=True, code="total = sum(numbers)")
    with read_only(data):
        notices = Notices()
        app = app_for(data, kernel=False)
        async with app.run_test(size=SIZE, message_hook=notices) as pilot:
            await progress_shown(pilot, app)
            assert await wait_for(pilot, lambda: notices.any("read-only", "will not be saved"))
            assert "NOT being saved" in str(app.screen.query_one("#overall", Static).render())
            table = app.screen.query_one(DataTable)
            assert row(table, "sums")[2] == "███░░░ 1/2"  # what was saved before is still shown
            view = await exercise(pilot, await open_lesson(pilot, app, "sums"), "total")
            assert view.code == "total = sum(numbers)" and view.passed_once
            await pilot.press("e", "f7", *"total = 99", "escape")
            await pilot.press("escape")
            view = await exercise(pilot, await open_lesson(pilot, app, "sums"), "total")
            assert view.code == "total = 99"  # kept in memory for this session
        assert sorted(p.name for p in data.iterdir()) == sorted([DB_NAME, RESERVE_NAME])  # nothing was written
    with ProgressStore.open(data) as store:
        assert store.integrity_ok() and store.load_draft("sums", "total") == "total = sum(numbers)"


async def test_a_fifo_at_an_exercise_path_gives_a_notice_and_the_app_goes_on(tmp_path: Path) -> None:
    data = tmp_path / "data"
    path = data / "workspace" / "sums" / "total.en.py"
    path.parent.mkdir(parents=True)
    os.mkfifo(path)  # read blocking, it would hang the writer thread (and the quit that waits for it)
    notices = Notices()
    app = app_for(data, kernel=False)
    async with app.run_test(size=SIZE, message_hook=notices) as pilot:
        await progress_shown(pilot, app)
        screen = await open_lesson(pilot, app, "sums")
        assert await wait_for(pilot, lambda: notices.any("total.en.py is a FIFO (named pipe), not a file", "rm "))
        await exercise(pilot, screen, "total")
        await pilot.press("e", "f7", *"total = 4 + 6", "escape")
        assert await wait_for(pilot, lambda: app.progress.session is not None and not app.progress.session.busy)
    with ProgressStore.open(data) as store:
        assert "total = 4 + 6" in (store.load_draft("sums", "total") or "")


# -- languages -----------------------------------------------------------------------------------


def _two_language_course(root: Path) -> Path:
    """The sums fixture in English and in Turkish, each exercise with its own language's starter."""
    english = (COURSE / "00-sums.md").read_text()
    turkish = english.replace("total = 0  # your code here", "total = 0  # kodunuz buraya").replace(
        "title: Sums", "title: Toplamlar"
    )
    assert turkish != english
    for lang, text in (("en", english), ("tr", turkish)):
        (root / lang).mkdir(parents=True)
        (root / lang / "00-sums.md").write_text(text)
    return root


async def test_each_language_keeps_its_own_exercise_file_and_draft(tmp_path: Path) -> None:
    data = tmp_path / "data"
    app = make_app(lessons_dir=_two_language_course(tmp_path / "course"), data_dir=data, autostart_kernel=False)
    async with app.run_test(size=SIZE) as pilot:
        await progress_shown(pilot, app)
        view = await exercise(pilot, await open_lesson(pilot, app, "sums"), "total")
        await pilot.press("e", "f7", *"total = 1 + 2", "escape")
        typed = view.code
        assert typed == "total = 1 + 2"  # f7 selects all: the starter is typed over
        english_file = data / "workspace" / "sums" / "total.en.py"
        assert await wait_for(pilot, lambda: english_file.exists() and "total = 1 + 2" in english_file.read_text())

        await pilot.press("L")  # the language key of the lesson screen
        assert await wait_for(pilot, lambda: app.lang == "tr" and isinstance(app.screen, LessonScreen))
        screen = await open_lesson(pilot, app, "sums")
        assert screen.lesson.lang == "tr"
        view = await exercise(pilot, screen, "total")
        assert "kodunuz buraya" in view.code and "1 + 2" not in view.code and "your code here" not in view.code
        turkish_file = data / "workspace" / "sums" / "total.tr.py"
        assert await wait_for(pilot, turkish_file.exists)
        assert "kodunuz buraya" in turkish_file.read_text() and "1 + 2" not in turkish_file.read_text()
        assert view.file_path == str(turkish_file)

        await pilot.press("L")
        assert await wait_for(pilot, lambda: app.lang == "en" and isinstance(app.screen, LessonScreen))
        view = await exercise(pilot, await open_lesson(pilot, app, "sums"), "total")
        assert view.code == typed

    with ProgressStore.open(data, read_only=True) as store:
        assert "1 + 2" in (store.load_draft("sums", "total", "en") or "")
        assert "1 + 2" not in (store.load_draft("sums", "total", "tr") or "")

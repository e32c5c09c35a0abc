"""The messages the lesson screen posts to the app, as a learner's keys cause them: each one is seen by a
`message_hook`, and what the app did with it is found in the real SQLite store once the app has closed."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from textual.message import Message

from llm_tutor.engine.learner.records import Position
from llm_tutor.engine.learner.store import ProgressStore
from llm_tutor.tui.app import TutorApp, make_app
from llm_tutor.tui.messages import (
    AttemptChecked,
    DraftChanged,
    ExerciseReset,
    HintShown,
    LessonMounted,
    PositionChanged,
)
from llm_tutor.tui.screens.confirm import ConfirmScreen
from llm_tutor.tui.screens.lesson import LessonScreen
from llm_tutor.tui.widgets.lesson.exercise import CodeEditor, ExerciseView
from tests.functional.conftest import wait_for

COURSE = Path(__file__).resolve().parents[1] / "fixtures" / "lessons" / "progress"
SIZE = (100, 40)
M = TypeVar("M", bound=Message)


class Posted:
    """A `message_hook` that keeps every message posted, in order (once: bubbling posts it again)."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    def __call__(self, message: Message) -> None:
        if not any(message is seen for seen in self.messages):
            self.messages.append(message)

    def of(self, kind: type[M]) -> list[M]:
        return [m for m in self.messages if isinstance(m, kind)]


def app_for(data: Path, *, kernel: bool = False) -> TutorApp:
    return make_app("sums", lessons_dir=COURSE, device="cpu", data_dir=data, autostart_kernel=kernel)


async def lesson(pilot: Any, app: TutorApp) -> LessonScreen:
    assert await wait_for(pilot, lambda: isinstance(app.screen, LessonScreen) and bool(app.screen.query(".block")))
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, LessonScreen)
    return screen


async def test_editing_an_exercise_posts_draft_changed_and_the_draft_is_stored(tmp_path: Path) -> None:
    data = tmp_path / "data"
    posted = Posted()
    app = app_for(data)
    async with app.run_test(size=SIZE, message_hook=posted) as pilot:
        screen = await lesson(pilot, app)
        view = screen.query_one("#exercise-total", ExerciseView)
        view.focus()
        await pilot.press("e", "f7", *"total = 40 + 2", "escape")
        typed = view.code
        assert "40 + 2" in typed
        last = posted.of(DraftChanged)[-1]
        assert (last.lesson.id, last.exercise_id, last.code) == ("sums", "total", typed)
    with ProgressStore.open(data, read_only=True) as store:
        assert store.load_draft("sums", "total") == typed


async def test_a_hint_and_a_reset_post_their_messages_and_the_store_keeps_the_hint(tmp_path: Path) -> None:
    data = tmp_path / "data"
    posted = Posted()
    app = app_for(data)
    async with app.run_test(size=SIZE, message_hook=posted) as pilot:
        screen = await lesson(pilot, app)
        screen.query_one("#exercise-total", ExerciseView).focus()
        await pilot.pause()
        await pilot.press("h")
        assert [(m.exercise_id, m.shown) for m in posted.of(HintShown)] == [("total", 1)]
        await pilot.press("x")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("x")
        assert await wait_for(pilot, lambda: bool(posted.of(ExerciseReset)))
        assert posted.of(ExerciseReset)[0].exercise.id == "total"
        backup = data / "workspace" / "sums" / "total.en.py.bak"
        assert await wait_for(pilot, backup.exists)
    with ProgressStore.open(data, read_only=True) as store:
        assert store.exercise("sums", "total").hints == 1


async def test_opening_a_lesson_posts_lesson_mounted_and_its_exercise_files_are_made(tmp_path: Path) -> None:
    data = tmp_path / "data"
    posted = Posted()
    app = app_for(data)
    async with app.run_test(size=SIZE, message_hook=posted) as pilot:
        await lesson(pilot, app)
        assert await wait_for(pilot, lambda: bool(posted.of(LessonMounted)))
        assert [m.lesson.id for m in posted.of(LessonMounted)] == ["sums"]
        files = [data / "workspace" / "sums" / f"{ex}.en.py" for ex in ("total", "largest")]
        assert await wait_for(pilot, lambda: all(path.exists() for path in files))


async def test_moving_through_the_lesson_posts_position_changed_and_the_position_is_stored(tmp_path: Path) -> None:
    data = tmp_path / "data"
    posted = Posted()
    app = app_for(data)
    async with app.run_test(size=SIZE, message_hook=posted) as pilot:
        screen = await lesson(pilot, app)
        screen.query_one("#cell-numbers").focus()
        await pilot.pause()
        await pilot.press("j", "j")
        assert await wait_for(pilot, lambda: [m.block_id for m in posted.of(PositionChanged)][-1:] == ["largest"])
    with ProgressStore.open(data, read_only=True) as store:
        assert store.last_position() == Position("sums", "largest")


async def test_a_check_posts_attempt_checked_and_the_attempt_is_recorded(tmp_path: Path) -> None:
    """With a real kernel: the check's verdict comes back as a `KernelEvent` to the screen, which posts
    `AttemptChecked` with the code that was checked; the app records it."""
    data = tmp_path / "data"
    posted = Posted()
    app = app_for(data, kernel=True)
    async with app.run_test(size=SIZE, message_hook=posted) as pilot:
        screen = await lesson(pilot, app)
        view = screen.query_one("#exercise-total", ExerciseView)
        view.query_one(CodeEditor).load_text("total = sum(numbers)")
        view.focus()
        await pilot.pause()
        await pilot.press("c")
        assert await wait_for(pilot, lambda: bool(posted.of(AttemptChecked)), timeout=120)
        checked = posted.of(AttemptChecked)[0]
        assert (checked.exercise_id, checked.passed, checked.code) == ("total", True, "total = sum(numbers)")
    with ProgressStore.open(data, read_only=True) as store:
        progress = store.exercise("sums", "total")
        assert (progress.status, progress.attempts) == ("solved", 1)

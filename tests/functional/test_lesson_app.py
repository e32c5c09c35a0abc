"""The app driven by keys, as a learner drives it: open a lesson, run cells, interrupt, survive a dead kernel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Static

from llm_tutor.engine.kernel import protocol
from llm_tutor.tui.app import make_app
from llm_tutor.tui.messages import KernelEvent
from llm_tutor.tui.screens.help import HelpScreen
from llm_tutor.tui.screens.lesson import LessonScreen
from llm_tutor.tui.screens.lesson_error import LessonErrorScreen
from llm_tutor.tui.screens.lesson_list import LessonListScreen
from llm_tutor.tui.widgets.lesson.cell import CellView
from llm_tutor.tui.widgets.lesson.exercise import CodeEditor, ExerciseView
from llm_tutor.tui.widgets.lesson.predict import PredictView
from llm_tutor.tui.widgets.status import KernelStatus
from tests.functional.conftest import toasts, wait_for


def lesson_file(tmp_path: Path, body: str) -> Path:
    folder = tmp_path / "lessons"
    folder.mkdir(exist_ok=True)
    path = folder / "00-demo.md"
    path.write_text("---\nid: demo\ntitle: Demo\norder: 0\n---\n\n" + body)
    return folder


async def test_open_lesson_run_cell_and_see_output(fixtures: Path) -> None:
    app = make_app(lessons_dir=fixtures / "good", device="cpu")
    async with app.run_test(size=(100, 30)) as pilot:
        assert isinstance(app.screen, LessonListScreen)
        await pilot.press("enter")
        assert isinstance(app.screen, LessonScreen)
        assert await wait_for(pilot, lambda: app.kernel.state == "idle")
        status = app.screen.query_one(KernelStatus)
        assert status.state == "idle" and status.device == "cpu"
        await pilot.press("r")
        cell = app.screen.query_one("#cell-make", CellView)
        assert await wait_for(pilot, lambda: cell.state == "ok")
        assert "tensor([[1, 2]," in str(cell.query_one(".cell-result", Static).content)
        assert cell.run_count == 1


async def test_run_all_stops_at_an_unexpected_error(tmp_path: Path) -> None:
    folder = lesson_file(
        tmp_path,
        "```python cell id=one\nx = 1\nprint('one ran')\n```\n\n```python cell id=two\n1 / 0\n```\n\n"
        "```python cell id=three\nprint('three ran')\n```\n",
    )
    app = make_app(lessons_dir=folder, device="cpu")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("enter")
        await pilot.press("a")
        two = app.screen.query_one("#cell-two", CellView)
        assert await wait_for(pilot, lambda: two.state == "error")
        assert await wait_for(pilot, lambda: not app.screen.run_queue and app.kernel.state == "idle")  # run all ended
        assert app.screen.query_one("#cell-one", CellView).state == "ok"
        assert "ZeroDivisionError" in str(two.query_one(".cell-error").render())
        assert app.screen.query_one("#cell-three", CellView).state == "idle"


async def test_interrupt_a_while_true_cell(tmp_path: Path) -> None:
    folder = lesson_file(tmp_path, "```python cell id=spin\nwhile True:\n    pass\n```\n\n```python cell id=after\n'alive'\n```\n")
    app = make_app(lessons_dir=folder, device="cpu")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: app.kernel.state == "idle")
        spin = app.screen.query_one("#cell-spin", CellView)
        spin.focus()
        await pilot.press("r")
        assert await wait_for(pilot, lambda: app.kernel.state == "busy")
        await pilot.press("i")
        assert await wait_for(pilot, lambda: spin.state == "interrupted", timeout=10)
        after = app.screen.query_one("#cell-after", CellView)
        after.focus()
        await pilot.press("r")
        assert await wait_for(pilot, lambda: after.state == "ok")


DYING = "```python cell id=die\nimport os\nos._exit(7)\n```\n\n```python cell id=ok\n6 * 7\n```\n"


async def run_the_dying_cell(pilot: Any, app: Any) -> CellView:
    """Open the lesson, wait for the kernel, run `os._exit(7)`; returns its cell once marked dead."""
    await pilot.press("enter")
    assert await wait_for(pilot, lambda: app.kernel.state == "idle")
    await pilot.press("r")
    die = app.screen.query_one("#cell-die", CellView)
    assert await wait_for(pilot, lambda: die.state == "dead", timeout=20)
    return die


async def test_killed_kernel_is_reported_and_restart_works(tmp_path: Path) -> None:
    app = make_app(lessons_dir=lesson_file(tmp_path, DYING), device="cpu")
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        die = await run_the_dying_cell(pilot, app)
        assert "status 7" in str(die.query_one(".cell-error").render())
        assert app.screen.query_one(KernelStatus).state == "dead"
        assert await wait_for(pilot, lambda: any("restart" in text.lower() for text in toasts(app)))
        await pilot.press("K")
        assert await wait_for(pilot, lambda: app.kernel.state == "idle")
        ok = app.screen.query_one("#cell-ok", CellView)
        ok.focus()
        await pilot.press("r")
        assert await wait_for(pilot, lambda: ok.state == "ok")
        assert str(ok.query_one(".cell-result", Static).content) == "42"


async def test_a_dead_kernel_is_reported_in_the_learners_language(tmp_path: Path) -> None:
    app = make_app(lessons_dir=lesson_file(tmp_path, DYING), device="cpu", lang="tr")
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        die = await run_the_dying_cell(pilot, app)
        error = str(die.query_one(".cell-error").render())
        assert "Çekirdek durdu: çekirdek 7 çıkış koduyla kapandı" in error and "exited" not in error
        assert await wait_for(pilot, lambda: any("7 çıkış koduyla" in text for text in toasts(app)))


async def test_predict_question_compares_the_answer(fixtures: Path) -> None:
    app = make_app(lessons_dir=fixtures / "good", device="cpu")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("enter")
        await pilot.press("r")  # runs `make`, focus moves to the predict question
        predict = app.screen.query_one(PredictView)
        assert await wait_for(pilot, lambda: app.screen.query_one("#cell-make", CellView).state == "ok")
        predict.query_one("Input").focus()
        await pilot.press(*"(2, 2)", "enter")
        assert await wait_for(pilot, lambda: predict.correct is not None)
        assert predict.correct is True
        assert "torch.Size([2, 2])" in str(predict.query_one(".cell-result", Static).content)


async def test_exercise_check_shows_expected_vs_got_then_passes(fixtures: Path) -> None:
    app = make_app(lessons_dir=fixtures / "good", device="cpu")
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("enter")
        view = app.screen.query_one(ExerciseView)
        editor = view.query_one(CodeEditor)
        editor.focus()
        await pilot.press("ctrl+r")
        assert await wait_for(pilot, lambda: view.state == "failed")
        text = str(view.query_one(".exercise-result").render())
        assert "wrong shape; got" in text and "expected shape (2, 3)" in text  # a shape is the task, not its answer
        assert "3 of 3 checks failed" in text
        editor.load_text("x = torch.ones(2, 3)")
        await pilot.press("ctrl+r")
        assert await wait_for(pilot, lambda: view.state == "passed")
        await pilot.press("ctrl+t")
        assert view.hints_shown == 1
        assert "Which function" in view.hints_text and view.query_one(".exercise-hints").display


async def test_help_lists_every_key(fixtures: Path) -> None:
    app = make_app(lessons_dir=fixtures / "good", device="cpu", autostart_kernel=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("enter")
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = "\n".join(f"{key} {desc}" for key, desc in app.screen.rows)
        for words in ("Run all", "Interrupt", "Restart kernel", "Check the exercise", "Quit"):
            assert words in text
        assert "i Interrupt" in text and "?, f1 Help" in text
        assert "g Inspect: autograd graph" in text and "] Inspect: next 2-D slice" in text and "d Inspect: gradient" in text
        await pilot.press("escape")
        assert isinstance(app.screen, LessonScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, LessonListScreen)


async def test_broken_lesson_shows_its_error_and_others_still_open(tmp_path: Path, fixtures: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "00-good.md").write_text((fixtures / "good" / "00-example.md").read_text())
    (folder / "01-bad.md").write_text((fixtures / "broken" / "unknown-kind.md").read_text())
    app = make_app(lessons_dir=folder, device="cpu", autostart_kernel=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("down", "enter")
        assert isinstance(app.screen, LessonErrorScreen)
        assert "01-bad.md:9: unknown block kind" in str(app.screen.query_one("#lesson-error").render())
        await pilot.press("escape", "up", "enter")
        assert isinstance(app.screen, LessonScreen)


async def test_events_for_other_requests_are_ignored(fixtures: Path) -> None:
    app = make_app(lessons_dir=fixtures / "good", device="cpu", autostart_kernel=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("enter")
        screen = app.screen
        assert isinstance(screen, LessonScreen)
        app.post_message(KernelEvent(protocol.Stream("someone-else", "stdout", "not mine")))
        await pilot.pause()
        cell = screen.query_one("#cell-make", CellView)
        assert cell.state == "idle" and cell.run_count == 0


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_side_panel_uses_the_room(fixtures: Path, size: tuple[int, int]) -> None:
    app = make_app(lessons_dir=fixtures / "good", device="cpu", autostart_kernel=False)
    async with app.run_test(size=size) as pilot:
        await pilot.press("enter")
        side = app.screen.query_one("#side")
        content = app.screen.query_one("#content")
        assert side.display is (size[0] >= 110)
        await pilot.press("v")  # into the panel: shown beside the lesson when wide, in its place when narrow
        assert side.display and side.has_focus_within
        assert content.display is (size[0] >= 110)
        await pilot.press("v")  # from inside the panel: hide it, the lesson is back
        assert not side.display and content.display


async def test_language_switch_translates_the_ui(fixtures: Path, tmp_path: Path) -> None:
    root = tmp_path / "course"
    for lang in ("en", "tr"):
        (root / lang).mkdir(parents=True)
        (root / lang / "00-example.md").write_text((fixtures / "good" / "00-example.md").read_text())
    app = make_app(lessons_dir=root, device="cpu", autostart_kernel=False, lang="en")
    async with app.run_test(size=(100, 30)) as pilot:
        assert "Lessons" in str(app.screen.query_one("#title").render())
        await pilot.press("L")
        await pilot.pause()
        assert app.lang == "tr"
        assert "Dersler" in str(app.screen.query_one("#title").render())


async def test_the_heap_is_frozen_after_a_screen_opens_and_a_closed_screen_is_still_collected(fixtures: Path) -> None:
    """Long-lived objects go to gc.freeze() (full collections stop walking them); a lesson screen that was frozen
    and then closed is not kept forever: the next freeze unfreezes and collects it."""
    import gc
    import weakref

    app = make_app(lessons_dir=fixtures / "good", device="cpu", autostart_kernel=False)
    app.FREEZE_DELAY_S = 0.05
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("enter")
            assert isinstance(app.screen, LessonScreen)
            gone = weakref.ref(app.screen)
            assert await wait_for(pilot, lambda: app.freeze_timer is None and gc.get_freeze_count() > 0)
            await pilot.press("escape")
            assert isinstance(app.screen, LessonListScreen)
            # the screen's removal may still hold it at the first pass (a busy machine): the app passes again
            assert await wait_for(pilot, lambda: gone() is None)
            assert await wait_for(pilot, lambda: app.freeze_timer is None)
    finally:
        gc.unfreeze()


async def test_the_footer_is_rebuilt_only_when_its_keys_change(tmp_path: Path) -> None:
    """Cell to cell (the same keys) leaves the footer as it is; an exercise's editor (other keys) rebuilds it."""
    from llm_tutor.tui.widgets.footer import KeyFooter

    body = "".join(f"```python cell id=c{i}\n{i}\n```\n\n" for i in range(4))
    body += "```python exercise id=ex title=\"Ex\"\nx = 1\n```\n\n```python solution for=ex\nx = 1\n```\n\n"
    body += "```python check for=ex\nexpect.equal(x, 1)\n```\n"
    folder = lesson_file(tmp_path, body)
    app = make_app(lessons_dir=folder, device="cpu", autostart_kernel=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("enter")
        footer = app.screen.query_one(KeyFooter)

        def drawn() -> list[Any]:
            """The footer's key widgets: the same objects as long as the footer is not rebuilt."""
            return list(footer.query("FooterKey"))

        def up_to_date() -> bool:
            return [(k.key, k.description) for k in drawn()] == [(s[0], s[2]) for s in footer.shown_keys()]

        assert await wait_for(pilot, lambda: bool(drawn()) and up_to_date())
        keys, shown = drawn(), footer.shown_keys()
        for key in "jjjkkk":
            await pilot.press(key)
            await pilot.pause()
        assert drawn() == keys and footer.shown_keys() == shown  # not one key widget was made anew
        assert "Run" in " ".join(str(k.render()) for k in keys)
        for _ in range(4):
            await pilot.press("j")
        await pilot.press("e")  # into the exercise's editor: check, hint and leave are its keys
        assert await wait_for(pilot, lambda: "Leave editor" in " ".join(str(k.render()) for k in drawn()))
        assert not set(map(id, drawn())) & set(map(id, keys)) and footer.shown_keys() != shown  # rebuilt

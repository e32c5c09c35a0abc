"""The UI in Turkish: no screen shows the UI's English words (the tables' key parity: tests/unit/test_i18n.py)."""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot

from llm_tutor.engine.grading import hints
from llm_tutor.tui.app import make_app
from llm_tutor.tui.i18n import LABELS
from llm_tutor.tui.screens.lab import LabScreen
from llm_tutor.tui.screens.lesson import LessonScreen
from llm_tutor.tui.widgets.inspect.inspector import InspectorPanel
from llm_tutor.tui.widgets.lesson.cell import CellView
from llm_tutor.tui.widgets.lesson.exercise import ExerciseView
from tests.english_ui import find_english
from tests.functional.conftest import screen_text, wait_for


def test_grade_says_the_diagnoses_in_the_words_of_the_app() -> None:
    """`llm-tutor grade` keeps its own table (the engine cannot read the app's): the diagnoses and the error notes
    read the same in both."""
    from llm_tutor.engine.grading.words import TEXT

    for lang in ("en", "tr"):
        app_words = {key: text for key, text in LABELS[lang].items() if key.startswith("diag_")}
        app_words |= {f"hint_{key}": LABELS[lang].get(f"hint_{key}", text) for key, text in hints.ENGLISH.items()}
        assert {key: text for key, text in TEXT[lang].items() if key.startswith(("diag_", "hint_"))} == app_words, lang


async def look(pilot: Pilot[Any], where: str) -> None:
    """The screen now holds none of the UI's English words."""
    await pilot.pause()  # what is waiting to be handled is handled, and drawn
    found = find_english("\n".join(screen_text(pilot.app)))
    assert not found, f"{where}: English on the Turkish screen: {found}\n" + "\n".join(screen_text(pilot.app))


async def help_screen(pilot: Pilot[Any], where: str) -> None:
    await pilot.press("question_mark")
    await look(pilot, f"help on {where}")
    await pilot.press("escape")


async def test_every_screen_in_turkish_shows_no_english_ui_words() -> None:
    """The list, a lesson with its outputs, a failed check, hints, the inspector's views, the help screens and
    the lab of every model with its four tabs: all in Turkish (lesson code and PyTorch's own names aside)."""
    app = make_app(lang="tr", device="cpu")
    async with app.run_test(size=(120, 40)) as pilot:
        await look(pilot, "lesson list")
        await help_screen(pilot, "the list")
        app.open_lesson_key("tensor-ops")
        await pilot.pause()
        screen: Any = app.screen
        assert isinstance(screen, LessonScreen)
        assert await wait_for(pilot, lambda: app.kernel.state == "idle", timeout=90)
        await pilot.press("a")
        cells = [c for c in screen.query(CellView) if type(c) is CellView]
        assert await wait_for(pilot, lambda: not screen.run_queue and app.kernel.state == "idle"
                              and all(c.state in ("ok", "error") for c in cells), timeout=90)
        await look(pilot, "lesson after run all")
        exercise = screen.query(ExerciseView).first()
        exercise.focus()
        await pilot.press("c")
        assert await wait_for(pilot, lambda: exercise.state == "failed", timeout=60)
        await pilot.press("h")
        exercise.scroll_visible(animate=False)
        await look(pilot, "failed check with a hint")
        await help_screen(pilot, "a lesson")
        panel = screen.query_one(InspectorPanel)
        await pilot.press("v")
        for key in ("enter", "d", "g", "m"):
            await pilot.press(key)
            assert await wait_for(pilot, lambda: panel.settled, timeout=30)  # the kernel's answer is shown
            if key != "m":
                await look(pilot, f"inspector after {key}")
        await pilot.press("escape")
        assert isinstance(app.screen, LessonScreen)  # Escape left the panel, not the lesson
        await pilot.press("K")
        assert await wait_for(pilot, lambda: app.kernel.state == "idle", timeout=90)
        await look(pilot, "lesson after a restart")
        assert panel.selected is None
        for model in ("gpt", "mlp", "neuron"):
            app.open_lab(model, start_trainer=False)
            assert await wait_for(pilot, lambda: isinstance(app.screen, LabScreen))
            for tab in "1234" if model == "gpt" else "12":
                await pilot.press(tab)
                await look(pilot, f"{model} lab, tab {tab}")
            if model == "gpt":
                await help_screen(pilot, f"the {model} lab")
            await pilot.press("escape")
            assert await wait_for(pilot, lambda: isinstance(app.screen, LessonScreen))

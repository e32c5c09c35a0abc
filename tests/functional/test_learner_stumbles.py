"""The stumbles a new learner met (issue 13), each driven through the app as they met it."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
from textual import events
from textual.widgets import DataTable, Input, Select, Static

from llm_tutor.engine.grading.feedback import REVEAL_AFTER_ATTEMPTS
from llm_tutor.engine.train.config import MODELS
from llm_tutor.tui.app import make_app
from llm_tutor.tui.i18n import t
from llm_tutor.tui.messages import KernelEvent
from llm_tutor.tui.screens.lab import LabScreen
from llm_tutor.tui.screens.lesson import LessonScreen
from llm_tutor.tui.widgets.inspect.inspector import InspectorPanel
from llm_tutor.tui.widgets.inspect.variables import VariablesPanel
from llm_tutor.tui.widgets.lesson.cell import CellView
from llm_tutor.tui.widgets.lesson.exercise import CodeEditor, ExerciseView
from llm_tutor.tui.widgets.lesson.predict import PredictView
from tests.functional.conftest import screen_text, wait_for

INSPECT_LESSONS = Path(__file__).resolve().parents[1] / "fixtures" / "lessons" / "inspect"


async def test_switching_the_model_in_the_lab_form_keeps_the_app_running() -> None:
    """Choosing another model in the settings form replaced the screen while a widget on it took focus:
    `NoScreen` from the app's focus handler ended the app (with the lesson module loaded, as after `T`)."""
    importlib.import_module("llm_tutor.tui.screens.lesson")
    app = make_app(device="cpu", autostart_kernel=False)
    app.start_lab = {"model": "gpt", "start_trainer": False}
    async with app.run_test(size=(100, 30)) as pilot:
        for model in ("neuron", "mlp", "gpt"):
            screen: Any = app.screen
            assert isinstance(screen, LabScreen)
            select = screen.query_one("#field-model", Select)
            select.focus()
            await pilot.pause()
            await pilot.press("enter")  # open the list, move to the model, choose it: as a person does
            await pilot.pause()
            options = list(MODELS)  # the form lists the models in this order
            current = options.index(str(select.value))
            step = "down" if options.index(model) > current else "up"
            await pilot.press(*[step] * abs(options.index(model) - current), "enter")
            assert await wait_for(pilot, lambda: isinstance(app.screen, LabScreen) and app.screen.model == model,
                                  timeout=10)
            await pilot.press("tab", "tab")
            await pilot.pause()
        assert app.is_running and app.return_code is None


async def test_tab_moves_between_blocks_and_only_indents_inside_the_editor(fixtures: Path) -> None:
    """Tab on the exercise moved focus into its editor, and the next Tab indented the learner's code.
    Now Tab/shift+Tab move between blocks and panels; `e` enters the editor, where Tab indents; Escape leaves."""
    app = make_app(lessons_dir=fixtures / "good", device="cpu", autostart_kernel=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("enter")
        screen: Any = app.screen
        assert isinstance(screen, LessonScreen)
        view = screen.query_one(ExerciseView)
        editor = view.query_one(CodeEditor)
        starter = editor.text
        view.focus()
        await pilot.pause()
        await pilot.press("tab")
        assert not editor.has_focus and editor.text == starter
        assert app.focused is not None and app.focused is not view
        await pilot.press("shift+tab")
        assert app.focused is view
        await pilot.press("e")
        assert editor.has_focus
        await pilot.press("tab")
        assert editor.text != starter and editor.has_focus  # inside the editor Tab indents
        await pilot.press("escape")
        assert app.focused is view and isinstance(app.screen, LessonScreen)
        await pilot.press("shift+tab")
        assert not editor.has_focus
        await pilot.press("tab", "enter")
        assert editor.has_focus  # Enter on the exercise enters the editor too


async def test_a_restarted_kernel_leaves_no_variables_behind() -> None:
    """After `K` the panel still listed (and offered) the dead kernel's variables: choosing one said
    `name 'loss' is not defined`. A restart empties the table and the detail until cells run again."""
    from tests.snapshots import inspect_data

    app = make_app("inspect-demo", lessons_dir=INSPECT_LESSONS, device="cpu", autostart_kernel=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen: Any = app.screen
        table = screen.query_one(VariablesPanel)
        panel = screen.query_one(InspectorPanel)
        app.post_message(KernelEvent(inspect_data.variables()))  # as the kernel's reader thread posts it
        await pilot.pause()
        panel.show_result(inspect_data.neuron_graph())
        assert table.variables
        await pilot.press("K")
        await pilot.pause()
        assert table.variables == [] and panel.selected is None
        assert panel.query_one("#detail-switcher").current == "detail-message"


async def test_a_failed_check_says_what_is_wrong_before_it_shows_the_answer(fixtures: Path) -> None:
    """A failed check printed the exact expected value on the first try, ready to paste. Now it names the
    mistake (here a factor of 2) and what the code gave; the expected value shows after several attempts."""
    app = make_app(lessons_dir=fixtures / "good", device="cpu")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("enter")
        screen: Any = app.screen
        view = screen.query_one(ExerciseView)
        view.replace_code("x = torch.ones(2, 3) * 2\n")
        view.focus()
        result = view.query_one(".exercise-result")
        for attempt in range(1, REVEAL_AFTER_ATTEMPTS + 1):
            await pilot.press("c")
            assert await wait_for(pilot, lambda: view.attempts == attempt and view.state == "failed", timeout=90)
            shown = str(result.render())
            assert "off by a factor of about 2" in shown and "got tensor([[2., 2., 2.]" in shown, shown
            if attempt < REVEAL_AFTER_ATTEMPTS:
                assert "expected tensor" not in shown and f"after {REVEAL_AFTER_ATTEMPTS} attempts" in shown, shown
        assert "expected tensor([[1., 1., 1.]" in shown, shown


async def test_the_lab_header_says_what_the_legend_says_and_when_validation_was_measured() -> None:
    """The GPT header showed a validation loss left from step 1 beside the current training loss (a false gap),
    and its `loss` (a window mean) disagreed with the legend's `train` (the last step)."""
    from llm_tutor.engine.train import events
    from llm_tutor.tui.widgets.train.chart import LossChart
    from llm_tutor.tui.widgets.train.messages import TrainerUpdated
    from llm_tutor.tui.widgets.train.status import RunStatus

    app = make_app(device="cpu", autostart_kernel=False)
    app.start_lab = {"model": "gpt", "start_trainer": False}
    async with app.run_test(size=(120, 40)) as pilot:
        screen: Any = app.screen
        screen.monitor.apply(events.TrainMetrics("r", step=1, loss=10.9, first_step=1, losses=[10.9], val_loss=10.8))
        losses = [10.0 - i * 0.04 for i in range(199)]
        screen.monitor.apply(events.TrainMetrics("r", step=200, loss=sum(losses) / len(losses), first_step=2,
                                                 losses=losses))
        screen.post_message(TrainerUpdated(screen.monitor.version))
        status = screen.query_one(RunStatus)
        assert await wait_for(pilot, lambda: status.step == 200, timeout=5)
        shown = str(status.render())
        legend = next(screen.query_one(LossChart).text_lines())
        assert "val 10.8 (step 1)" in shown, shown
        assert "train 2.08" in shown and "train 2.08" in legend, (shown, legend)


@pytest.mark.parametrize("lang", ["en", "tr"])
async def test_help_and_quit_stay_in_the_footer_at_80_columns(fixtures: Path, lang: str) -> None:
    """At 80 columns the lesson footer ended `… esc Lessons  T Traini` and the lab's `esc B`: help and quit
    were cut off (in Turkish even at 120 columns). The lab's four tabs were cut to `C` too."""
    help_key, quit_key = f"? {t(lang, 'help')}", f"q {t(lang, 'quit')}"
    app = make_app(lessons_dir=fixtures / "good", device="cpu", autostart_kernel=False, lang=lang)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:  # a notice is drawn, as for a person

        def footer_has_help_and_quit() -> bool:
            return help_key in screen_text(app)[-1] and quit_key in screen_text(app)[-1]

        assert await wait_for(pilot, footer_has_help_and_quit, 30, step=0.1), screen_text(app)[-1]
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: isinstance(app.screen, LessonScreen) and t(lang, "kernel") in screen_text(app)[-2])
        assert await wait_for(pilot, footer_has_help_and_quit, 30, step=0.1), screen_text(app)[-1]
        app.notify("a notice long enough to reach the right edge of the screen")
        assert await wait_for(pilot, lambda: "notice" in "\n".join(screen_text(app)), 30, step=0.1)  # the toast is up
        rows = screen_text(app)
        assert t(lang, "kernel") in rows[-2] and "notice" not in rows[-2] + rows[-1], rows[-3:]  # not over the status
        await pilot.press("T")

        def lab_drawn() -> bool:
            return isinstance(app.screen, LabScreen) and any(t(lang, "tab_settings") in row for row in screen_text(app))

        assert await wait_for(pilot, lab_drawn, 60, step=0.1)
        assert await wait_for(pilot, footer_has_help_and_quit, 30, step=0.1), screen_text(app)[-1]
        rows = screen_text(app)
        tabs = next(row for row in rows if t(lang, "tab_settings") in row)
        assert tabs.rstrip().endswith(t(lang, "tab_card")), tabs
        app.screen.stop_process()


def test_long_code_and_tensor_rows_wrap_under_their_indent_never_at_column_0() -> None:
    """A wrapped comment's tail started at column 0 and read like a statement; a tensor row wrapped mid-row."""
    import io

    from rich.console import Console

    from llm_tutor.tui.widgets.lesson.cell import code_view, output_view

    code = "def f(x):\n    # a comment long enough that it must wrap on a narrow screen, twice even\n    return x\n"
    console = Console(width=32, file=io.StringIO(), record=True, color_system=None)
    console.print(code_view(code))
    rows = console.export_text().splitlines()
    assert rows[0] == "def f(x):" and rows[1].startswith("    # a comment")
    continued = rows[2:-1]
    assert continued and all(row.startswith("      ↪ ") for row in continued), rows
    assert rows[-1] == "    return x"

    from rich.text import Text

    tensor = "tensor([[0.1111, 0.2222, 0.3333, 0.4444, 0.5555, 0.6666],\n        [0.7777, 0.8888, 0.9999, 1.0000, 1.1111, 1.2222]])"
    console = Console(width=40, file=io.StringIO(), record=True, color_system=None)
    console.print(output_view(Text(tensor)))
    rows = console.export_text().splitlines()
    assert rows[3].startswith("          ↪ ")
    assert [row[:10] for row in rows] == ["tensor([[0", "  ↪ 0.5555", "        [0", "          "], rows


async def test_a_predict_question_waits_for_the_answer_and_allows_another_try(fixtures: Path) -> None:
    """The explanation showed before the answer; keys typed on the question vanished; Escape in the box left
    the lesson; after an answer `r` typed into the box; a wrong answer showed the output, so no retry."""
    app = make_app(lessons_dir=fixtures / "good", device="cpu")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("enter")
        screen: Any = app.screen
        assert await wait_for(pilot, lambda: app.kernel.state == "idle")
        await pilot.press("r")  # runs `make`; focus moves on to the question
        predict = screen.query_one(PredictView)
        box = predict.query_one(Input)
        explanation = screen.query_one("#explains-shape-of-product")
        note = screen.query_one("#explains-note-shape-of-product")
        assert app.focused is predict and not explanation.display and note.display
        await pilot.press(*"(3, 3)")
        assert box.has_focus and box.value == "(3, 3)"  # typing on the question starts the answer
        await pilot.press("enter")
        result = predict.query_one(".cell-result", Static)
        assert await wait_for(pilot, lambda: predict.correct is False and result.display)
        assert "try again" in str(result.content) and "Size" not in str(result.content)
        assert not explanation.display
        await pilot.press("escape")
        assert isinstance(app.screen, LessonScreen) and app.focused is predict
        await pilot.press("enter")
        assert box.has_focus
        box.value = ""
        await pilot.press(*"(2, 2)", "enter")
        assert await wait_for(pilot, lambda: predict.correct is True)
        assert "torch.Size([2, 2])" in str(result.content) and explanation.display and not note.display
        assert app.focused is predict
        await pilot.press("r")
        assert box.value == "(2, 2)"  # `r` acts on the lesson, not in the box


async def test_resetting_a_solved_exercise_is_no_attempt_and_leaves_no_stale_verdict(fixtures: Path) -> None:
    """Resetting counted as an attempt and left "✓ All checks passed · s: compare with the solution" beside the
    starter. Now the verdict goes with the code it judged, and the attempts stay as they were."""
    app = make_app(lessons_dir=fixtures / "good", device="cpu")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("enter")
        screen: Any = app.screen
        view = screen.query_one(ExerciseView)
        view.replace_code("x = torch.ones(2, 3)\n")
        view.focus()
        await pilot.press("c")
        assert await wait_for(pilot, lambda: view.state == "passed", timeout=90)
        await pilot.press("x", "x")
        assert await wait_for(pilot, lambda: view.code == view.exercise.starter)
        await pilot.pause(1.5)  # the file watcher sees the reset file: it must not check it
        result = view.query_one(".exercise-result", Static)
        assert view.attempts == 1 and view.state == "idle" and not result.display
        assert app.progress.session is not None and app.progress.session.exercise(screen.lesson, "ones").attempts == 1


async def test_j_and_k_move_through_the_lesson_list() -> None:
    app = make_app(device="cpu", autostart_kernel=False)
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.screen.query_one("#lessons", DataTable)
        table.move_cursor(row=0)
        await pilot.press("j", "j")
        assert table.cursor_row == 2
        await pilot.press("k")
        assert table.cursor_row == 1


async def test_an_expected_error_is_marked_as_expected_and_hints_come_into_view(fixtures: Path) -> None:
    """An expected error showed the same ✗ as a real one; hints 2 and 3 appeared below the screen while the
    editor was open."""
    app = make_app(lessons_dir=fixtures / "good", device="cpu")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("enter")
        screen: Any = app.screen
        cell = screen.query_one("#cell-view-error", CellView)
        screen.run_cells([screen.query_one("#cell-make", CellView), cell])
        assert await wait_for(pilot, lambda: cell.state == "error", timeout=90)
        header = str(cell.query_one(".cell-header", Static).content)
        assert "RuntimeError, as expected" in header and "✗" not in header, header
        view = screen.query_one(ExerciseView)
        view.focus()
        await pilot.press("e", "ctrl+t", "ctrl+t")
        hints = view.query_one(".exercise-hints", Static)
        content = screen.query_one("#content")
        assert await wait_for(pilot, lambda: "2" in view.hints_text and hints.region.bottom <= content.region.bottom
                              and hints.region.height > 0, timeout=5), (hints.region, content.region)


async def test_a_gradient_check_opens_the_panel_on_it_and_the_autograd_lesson_runs_one() -> None:
    """The triangulation view was unreachable from the course: no lesson called it, and a narrow screen only
    said "press v". Now the autograd lesson runs one and the panel opens on it."""
    from llm_tutor.engine.course.catalog import find_lesson

    for lang in ("en", "tr"):
        lesson = find_lesson("autograd", None, lang)
        assert any("triangulate(" in getattr(seg, "code", "") for seg in lesson.segments), lang
    app = make_app("inspect-demo", lessons_dir=INSPECT_LESSONS, device="cpu")
    async with app.run_test(size=(100, 30)) as pilot:
        assert await wait_for(pilot, lambda: bool(app.screen_stack) and isinstance(app.screen_stack[-1], LessonScreen)
                              and bool(app.screen_stack[-1].query(InspectorPanel)))
        screen: Any = app.screen
        panel = screen.query_one(InspectorPanel)
        assert not panel.display  # narrow: the panel waits behind the lesson
        screen.run_cells([c for c in screen.query(CellView) if type(c) is CellView])
        assert await wait_for(pilot, lambda: panel.display and panel.view == "triangulate", timeout=90)


def arrive_at_once(app: Any, text: str) -> None:
    """Keys read in one go, as from a fast typist or a batch of them over SSH: every one is on the app's
    queue before the first is handled (the terminal driver posts them to the app just so)."""
    names = {"(": "left_parenthesis", ")": "right_parenthesis", ",": "comma", " ": "space", "=": "equals_sign"}
    for char in text:
        app.post_message(events.Key(names.get(char, char), char))


async def test_keys_typed_right_after_a_move_go_to_the_block_moved_to(fixtures: Path) -> None:
    """`j` and an answer read at once: the answer went to the cell that had focus before `j` and was lost. `e`
    and code read at once: the code ran as the lesson's keys instead (`x` asked to reset, `c` checked)."""
    app = make_app(lessons_dir=fixtures / "good", device="cpu", autostart_kernel=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("enter")
        screen: Any = app.screen
        assert isinstance(screen, LessonScreen)
        make = screen.query_one("#cell-make", CellView)
        make.focus()
        await pilot.pause()
        predict = screen.query_one(PredictView)
        box = predict.query_one(Input)
        arrive_at_once(app, "j(3, 3)")
        assert await wait_for(pilot, lambda: box.value == "(3, 3)", timeout=5), repr(box.value)
        assert box.has_focus

        exercise = screen.query_one(ExerciseView)
        exercise.focus()
        await pilot.pause()
        editor = exercise.query_one(CodeEditor)
        editor_before = editor.text
        arrive_at_once(app, "ex = 1")
        assert await wait_for(pilot, lambda: "x = 1" in editor.text, timeout=5), repr(editor.text)
        assert editor.has_focus and isinstance(app.screen, LessonScreen)  # no reset dialog
        assert editor.text.replace("x = 1", "", 1) == editor_before

"""The training lab driven by keys, with a real trainer process: play, pause, step, stop, live settings, faults."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from textual.widgets import Input

from llm_tutor.engine.train import calc
from llm_tutor.engine.train.config import GPTConfig
from llm_tutor.tui.app import make_app
from llm_tutor.tui.messages import KernelEvent
from llm_tutor.tui.screens.lab import LabScreen
from llm_tutor.tui.screens.lesson_list import LessonListScreen
from llm_tutor.tui.widgets.train.banner import FaultBanner
from llm_tutor.tui.widgets.train.boundary import BoundaryView
from llm_tutor.tui.widgets.train.chart import LossChart
from llm_tutor.tui.widgets.train.counts import ParamCounts
from llm_tutor.tui.widgets.train.form import ConfigForm
from llm_tutor.tui.widgets.train.status import RunStatus
from tests.functional.conftest import wait_for

SMALL_MLP = {"n_samples": 200, "hidden_width": 8, "steps": 0, "eval_interval_s": 0.5}
START = 120.0  # a trainer imports torch first: seconds on a busy CI machine


def lab_app(model: str = "mlp", settings: dict[str, Any] | None = None, lang: str = "en", **options: Any) -> Any:
    app = make_app(device="cpu", autostart_kernel=False, lang=lang)
    app.start_lab = {"model": model, "settings": dict(SMALL_MLP if settings is None else settings), "threads": 1,
                     **options}
    return app


async def started(pilot: Any) -> LabScreen:
    screen = pilot.app.screen
    assert isinstance(screen, LabScreen)
    assert await wait_for(pilot, lambda: screen.monitor.state == "paused", timeout=START)
    return screen


def rendered(renderable: Any) -> str:
    console = Console(width=60, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def status_text(screen: LabScreen) -> str:
    return str(screen.query_one(RunStatus).render())


async def type_into(pilot: Any, screen: LabScreen, key: str, text: str) -> None:
    box = screen.query_one(f"#field-{key}", Input)
    box.focus()
    await pilot.pause()
    box.value = ""
    await pilot.press(*text, "enter")


async def test_play_pause_step_and_stop_update_the_loss_panel() -> None:
    app = lab_app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await started(pilot)
        chart = screen.query_one("#lab-chart", LossChart)
        assert screen.focused is chart  # keys go to the lab, not to a settings box
        await pilot.press("space")
        assert await wait_for(pilot, lambda: screen.monitor.step >= 30, timeout=60)

        def curve_drawn() -> bool:  # braille dots between the legend and the step axis
            return any(0x2800 < ord(c) <= 0x28FF for c in "".join(list(chart.text_lines())[1:-1]))

        # the steps reach the monitor first; the chart draws them at its next frame
        assert await wait_for(pilot, lambda: "train" in next(chart.text_lines()) and curve_drawn())
        # however fast the trainer reports (20 Hz), the screen draws through one Throttle (tests/unit/test_rendering.py)
        assert "running" in status_text(screen)
        await pilot.press("space")
        assert await wait_for(pilot, lambda: screen.monitor.state == "paused")
        # every step's loss reaches the UI (the last ones may still be on their way when the pause is shown)
        assert await wait_for(pilot, lambda: len(screen.monitor.loss) == screen.monitor.step)
        paused_at = screen.monitor.step
        await pilot.press("n")
        assert await wait_for(pilot, lambda: screen.monitor.step == paused_at + 1)
        assert await wait_for(pilot, lambda: f"step {paused_at + 1:,}" in status_text(screen))
        assert screen.monitor.state == "paused"
        assert screen.query_one(BoundaryView).probs  # the decision boundary was drawn
        await pilot.press("s")
        assert await wait_for(pilot, lambda: screen.monitor.state == "stopped")
        assert "stopped" in status_text(screen)
        await pilot.press("space")  # play after stop: a fresh trainer with the same settings
        assert await wait_for(pilot, lambda: screen.monitor.state == "running" and screen.monitor.step > 0,
                              timeout=START)


async def test_changing_the_learning_rate_mid_run_is_applied_without_a_reset() -> None:
    app = lab_app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await started(pilot)
        await pilot.press("space")
        assert await wait_for(pilot, lambda: screen.monitor.step >= 20, timeout=60)
        await type_into(pilot, screen, "lr", "0.05")
        assert await wait_for(pilot, lambda: screen.monitor.metrics is not None and screen.monitor.metrics.lr == 0.05)
        assert screen.monitor.metrics.step > 20 and screen.monitor.loss.steps[0] == 1  # same run, not a reset
        assert await wait_for(pilot, lambda: "lr 0.05" in status_text(screen))
        await type_into(pilot, screen, "batch_size", "16")
        assert await wait_for(pilot, lambda: screen.monitor.metrics.batch_size == 16)
        await pilot.press("escape")  # back from the box to the chart, not out of the lab
        assert isinstance(app.screen, LabScreen) and isinstance(screen.focused, LossChart)
        await pilot.press("left_square_bracket")  # [ halves the learning rate
        assert await wait_for(pilot, lambda: screen.monitor.metrics.lr == 0.025)


async def test_the_calculator_counts_a_changed_configuration_before_training() -> None:
    app = lab_app("gpt", settings={}, start_trainer=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, LabScreen)
        counts = screen.query_one(ParamCounts)
        assert counts.total == calc.gpt_params(GPTConfig()).total
        await pilot.press("2")
        await type_into(pilot, screen, "emb_dim", "64")
        assert counts.total == calc.gpt_params(GPTConfig(emb_dim=64)).total
        shown = rendered(counts.render())
        assert f"{counts.total:,}" in shown and "untied" in shown and "float32" in shown and "bfloat16" in shown
        form = screen.query_one("#form-model", ConfigForm)
        form.query_one("#field-tie_weights").value = "true"  # type: ignore[attr-defined]
        await pilot.pause()
        assert counts.total == calc.gpt_params(GPTConfig(emb_dim=64, tie_weights=True)).total
        await type_into(pilot, screen, "n_heads", "3")
        assert counts.total is None and "n_heads (3) must divide emb_dim (64)" in counts.error
        assert counts.summary == {}


async def test_a_nan_loss_stops_the_run_with_the_step_and_a_lower_learning_rate() -> None:
    app = lab_app(settings={**SMALL_MLP, "optimizer": "sgd", "lr": 1e6})
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await started(pilot)
        await pilot.press("space")
        assert await wait_for(pilot, lambda: screen.monitor.state == "failed", timeout=60)
        banner = screen.query_one(FaultBanner)
        assert await wait_for(pilot, lambda: banner.has_class("-shown"))
        text = str(banner.render())
        assert f"at step {screen.monitor.fault.step + 1}" in text and "lower learning rate" in text
        assert "press r" in text.lower()
        await type_into(pilot, screen, "lr", "0.1")
        await pilot.press("escape", "r")
        assert await wait_for(pilot, lambda: screen.monitor.state == "paused" and screen.monitor.fault is None)
        assert not banner.has_class("-shown") and screen.monitor.step == 0
        await pilot.press("space")
        assert await wait_for(pilot, lambda: screen.monitor.step >= 10 and screen.monitor.state == "running")


async def test_out_of_memory_is_reported_and_the_lab_recovers() -> None:
    app = lab_app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await started(pilot)
        await pilot.press("space")
        assert await wait_for(pilot, lambda: screen.monitor.step >= 5, timeout=60)
        await type_into(pilot, screen, "batch_size", str(10**12))
        banner = screen.query_one(FaultBanner)
        assert await wait_for(pilot, lambda: banner.kind == "oom", timeout=60)
        assert "out of memory" in str(banner.render()) and banner.has_class("-warning")
        assert screen.monitor.state == "paused"
        kept = screen.monitor.step
        await type_into(pilot, screen, "batch_size", "32")
        await pilot.press("escape", "space")
        assert await wait_for(pilot, lambda: screen.monitor.step > kept + 5)
        assert not banner.has_class("-shown")


async def test_a_dead_trainer_is_reported_and_restarted_with_r(tmp_path: Path) -> None:
    app = lab_app(checkpoint=str(tmp_path / "mlp.pt"))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await started(pilot)
        await pilot.press("n", "n", "n")
        assert await wait_for(pilot, lambda: screen.monitor.step == 3)
        await pilot.press("ctrl+s")
        assert await wait_for(pilot, lambda: (tmp_path / "mlp.pt").is_file())
        screen.process.kill()
        banner = screen.query_one(FaultBanner)
        assert await wait_for(pilot, lambda: banner.kind == "dead")
        assert "killed" in str(banner.render()) and "Press r to restart" in str(banner.render())
        assert screen.monitor.state == "dead"
        await pilot.press("r")
        assert await wait_for(pilot, lambda: screen.monitor.state == "paused", timeout=START)
        assert screen.monitor.step == 0 and not banner.has_class("-shown")
        await pilot.press("ctrl+o")  # resume the saved run
        assert await wait_for(pilot, lambda: screen.monitor.step == 3)
        assert list(screen.monitor.loss.steps) == [1, 2, 3]  # with its loss curve so far


async def test_a_dead_trainer_is_reported_in_turkish_in_the_turkish_lab() -> None:
    app = lab_app(lang="tr")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await started(pilot)
        screen.process.kill()
        banner = screen.query_one(FaultBanner)
        assert await wait_for(pilot, lambda: banner.kind == "dead")
        text = str(banner.render())
        assert "Eğitim süreci öldürüldü (SIGKILL)" in text and "r tuşuna basın" in text
        assert "killed" not in text and "the trainer" not in text


async def test_the_lab_opens_from_the_lesson_list_and_escape_returns(fixtures: Path) -> None:
    app = make_app(lessons_dir=fixtures / "good", device="cpu", autostart_kernel=False)
    async with app.run_test(size=(100, 30)) as pilot:
        assert isinstance(app.screen, LessonListScreen)
        await pilot.press("t")
        assert isinstance(app.screen, LabScreen) and app.screen.model == "gpt"
        lab = app.screen
        await pilot.press("escape")
        assert isinstance(app.screen, LessonListScreen)
        assert await wait_for(pilot, lambda: not lab.process.is_alive(), timeout=30)


async def test_track_in_a_lesson_cell_draws_a_live_loss_plot_under_it(tmp_path: Path) -> None:
    from llm_tutor.tui.widgets.lesson.cell import CellView
    from llm_tutor.tui.widgets.train.track_plot import TrackPlot

    folder = tmp_path / "lessons"
    folder.mkdir()
    (folder / "00-demo.md").write_text(
        "---\nid: demo\ntitle: Demo\norder: 0\n---\n\n"
        "```python cell id=fit\nfor step in range(50):\n    track(step=step, loss=1.0 / (step + 1))\n```\n"
    )
    app = make_app(lessons_dir=folder, device="cpu")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: app.kernel.state == "idle", timeout=START)
        await pilot.press("r")
        cell = app.screen.query_one("#cell-fit", CellView)
        assert await wait_for(pilot, lambda: cell.state == "ok")
        assert await wait_for(pilot, lambda: bool(cell.query(TrackPlot)))
        plot = cell.query_one(TrackPlot)
        assert await wait_for(pilot, lambda: len(plot.by_name["loss"]) == 50)
        assert await wait_for(pilot, lambda: "loss 0.020" in next(plot.text_lines()))


async def test_T_opens_the_lab_from_a_lesson_and_its_footer_shows_it_in_train_a_gpt(fixtures: Path) -> None:
    from llm_tutor.tui.screens.lesson import LessonScreen

    app = make_app(lessons_dir=fixtures / "good", device="cpu", autostart_kernel=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: isinstance(app.screen, LessonScreen))
        lesson = app.screen
        assert lesson.check_action("open_lab", ()) is False  # not in this lesson's footer...
        await pilot.press("T")  # ...but the key works
        assert isinstance(app.screen, LabScreen)
        await pilot.press("escape")
        assert app.screen is lesson
    course = make_app(lesson="train-a-gpt", device="cpu", autostart_kernel=False)
    async with course.run_test(size=(100, 30)) as pilot:
        assert await wait_for(pilot, lambda: isinstance(course.screen, LessonScreen))
        assert course.screen.check_action("open_lab", ()) is True
        assert any(b.binding.action == "open_lab" for b in course.screen.active_bindings.values())


async def test_an_open_lab_shows_track_from_lesson_cells_as_its_lesson_curve() -> None:
    from llm_tutor.engine.kernel import protocol
    app = lab_app("gpt", settings={}, start_trainer=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, LabScreen)
        for step in range(40):
            app.post_message(KernelEvent(protocol.Metric("r1", step, {"loss": 2.0 / (step + 1)})))
        app.post_message(KernelEvent(protocol.Metric("r1", 40, {"loss": None})))  # type: ignore[dict-item]
        assert await wait_for(pilot, lambda: len(screen.lesson_series) == 40)
        chart = screen.query_one("#lab-chart", LossChart)
        assert await wait_for(pilot, lambda: "lesson 0.050" in next(chart.text_lines()))


TINY_GPT = {"emb_dim": 32, "n_layers": 1, "n_heads": 2, "context_length": 32, "batch_size": 8, "steps": 0,
            "eval_interval_s": 0, "sample_interval_s": 0}


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the ranks through /proc")
async def test_the_lab_drives_a_two_process_run_and_reports_a_killed_rank() -> None:
    """Two ranks (gloo): the card and status show them, a step reaches both, a killed rank ends the run
    with its number and reason, and the processes setting applies at reset."""
    import os
    import signal

    from llm_tutor.tui.widgets.train.card import ReproCard

    app = lab_app("gpt", TINY_GPT, processes=2)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await started(pilot)
        assert screen.running_world_size() == 2
        assert "2 processes" in status_text(screen)
        await pilot.press("4")
        assert "world_size" in rendered(screen.query_one(ReproCard).render())
        await pilot.press("n")  # DDP's all-reduce needs both ranks: the step ends only if rank 1 took it too
        assert await wait_for(pilot, lambda: screen.monitor.step == 1, timeout=60)
        launcher = screen.process.pid
        ranks = [int(p) for task in os.listdir(f"/proc/{launcher}/task")
                 for p in open(f"/proc/{launcher}/task/{task}/children").read().split()]
        assert len(ranks) == 2
        rank1 = next(pid for pid in ranks if b"RANK=1" in open(f"/proc/{pid}/environ", "rb").read().split(b"\0"))
        os.kill(rank1, signal.SIGKILL)
        banner = screen.query_one(FaultBanner)
        assert await wait_for(pilot, lambda: banner.kind == "dead", timeout=30)
        assert "rank 1" in str(banner.render()) and "SIGKILL" in str(banner.render())
        assert await wait_for(pilot, lambda: not any(os.path.exists(f"/proc/{pid}") for pid in ranks), timeout=10)
        await pilot.press("1")
        await type_into(pilot, screen, "processes", "1")
        assert "processes" in screen.pending_changes()
        await pilot.press("escape", "r")
        assert await wait_for(pilot, lambda: screen.monitor.state == "paused" and screen.monitor.started is not None,
                              timeout=START)
        assert screen.running_world_size() == 1 and "processes" not in screen.pending_changes()

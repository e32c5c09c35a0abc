"""The same faults driven through the app with Pilot, as a learner meets them: run the cell, read what the
cell says, keep working. Each test keeps one app (and kernel) for several faults to stay fast."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Static

from llm_tutor.tui.app import TutorApp, make_app
from llm_tutor.tui.screens.lesson import LessonScreen
from llm_tutor.tui.widgets.lesson.cell import MAX_OUTPUT_LINES, CellView, OutputView
from llm_tutor.tui.widgets.status import KernelStatus
from llm_tutor.tui.widgets.train.track_plot import TrackPlot
from tests.faults.conftest import alive, cells, descendants, eventually, write_lesson
from tests.functional.conftest import toasts, wait_for

pytestmark = pytest.mark.slow

DONE = ("ok", "error", "interrupted", "dead")


def text_of(cell: CellView, part: str) -> str:
    """What a part of a cell shows: ".cell-error", ".cell-result" or the output."""
    if part == "output":
        return str(cell.query_one(OutputView).content)
    return str(cell.query_one(part, Static).content)  # what it holds, as text (long lines wrap when drawn)


async def open_lesson(pilot: Pilot, app: TutorApp) -> LessonScreen:
    await pilot.press("enter")
    assert isinstance(app.screen, LessonScreen)
    assert await wait_for(pilot, lambda: app.kernel.state == "idle", timeout=120)
    return app.screen


async def run(pilot: Pilot, screen: LessonScreen, cell_id: str, timeout: float = 60) -> CellView:
    """Focus a cell, press r, wait until it finished one way or another."""
    cell = screen.query_one(f"#cell-{cell_id}", CellView)
    cell.focus()
    await pilot.pause()
    runs = cell.run_count
    await pilot.press("r")
    assert await wait_for(pilot, lambda: cell.run_count > runs and cell.state in DONE, timeout=timeout), (
        cell_id, cell.state, text_of(cell, ".cell-error"))
    return cell


async def test_cells_that_end_the_kernel_are_reported_and_the_next_run_starts_a_fresh_one(tmp_path: Path) -> None:
    folder = tmp_path / "lessons"
    write_lesson(folder, cells(
        kids=("import os, subprocess, time\n"
              "kids = []\n"
              "for _ in range(5):\n"
              "    pid = os.fork()\n"
              "    if pid == 0:\n"
              "        time.sleep(600)\n"
              "        os._exit(0)\n"
              "    kids.append(pid)\n"
              "kids.append(subprocess.Popen(['sleep', '600']).pid)\n"
              "len(kids)"),
        segv="import ctypes\nctypes.string_at(0)",
        after="'a fresh kernel'",
        stubborn=("import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nprint('deaf to interrupts', flush=True)\n"
                  "while True:\n    time.sleep(0.01)"),
        last="'after the restart'",
    ))
    app = make_app(lessons_dir=folder, device="cpu")
    app.INTERRUPT_NOTICE_S = 0.5
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        screen = await open_lesson(pilot, app)
        kids = await run(pilot, screen, "kids")
        assert text_of(kids, ".cell-result") == "6"
        first = app.kernel.pid
        children = descendants(first)
        assert len(children) >= 6

        segv = await run(pilot, screen, "segv")
        assert segv.state == "dead"
        assert "segmentation fault" in text_of(segv, ".cell-error")
        assert screen.query_one(KernelStatus).state == "dead"
        assert await wait_for(pilot, lambda: any("segmentation fault" in text for text in toasts(app)))

        # running the next cell starts a new kernel by itself, and nothing of the old one is left
        after = await run(pilot, screen, "after", timeout=120)
        assert after.state == "ok" and text_of(after, ".cell-result") == "'a fresh kernel'"
        assert app.kernel.pid != first and not alive(first)  # type: ignore[arg-type]
        assert eventually(lambda: not any(alive(pid) for pid in children), 10), [p for p in children if alive(p)]

        # a cell that ignores the interrupt: the learner is told to restart, and K does it
        stubborn = screen.query_one("#cell-stubborn", CellView)
        stubborn.focus()
        await pilot.press("r")
        assert await wait_for(pilot, lambda: stubborn.state == "running" and "deaf" in text_of(stubborn, "output"))
        await pilot.press("i")
        assert await wait_for(pilot, lambda: any("did not stop" in text for text in toasts(app)), 20)
        await pilot.press("K")
        assert await wait_for(pilot, lambda: app.kernel.state == "idle", timeout=120)
        assert stubborn.state == "interrupted"
        last = await run(pilot, screen, "last")
        assert last.state == "ok"


async def test_cells_that_misbehave_leave_the_kernel_and_the_ui_working(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_TUTOR_KERNEL_MEMORY_MB", "1024")
    folder = tmp_path / "lessons"
    write_lesson(folder, cells(
        keep="kept = 'still here'",
        spin="while True:\n    pass",
        bomb="hog = []\nwhile True:\n    hog.append(bytearray(100_000_000))",
        huge="import torch\nhuge = torch.empty(10**9)",
        lines="for i in range(1_000_000):\n    print(i)",
        wide="print('x' * 5_000_000)",
        fd="import os\nos.write(1, b'raw bytes on fd 1\\n')\nNone",
        stdin="input('your name? ')",
        sysexit="import sys\nsys.exit(2)",
        chatter=("import threading, time\n"
                 "def chatter():\n"
                 "    for i in range(5):\n"
                 "        time.sleep(0.1)\n"
                 "        print('late line', i)\n"
                 "threading.Thread(target=chatter, daemon=True).start()\n"
                 "print('cell done')"),
        nanloss="for step, loss in enumerate([2.5, float('inf'), 1.5, float('nan'), 1.0]):\n    track(step=step, loss=loss)",
        rebind="torch = None",
        wipe="globals().clear()",
        uses_kept="kept",
        check_alive="import torch\ntorch.ones(2).sum().item()",
    ))
    app = make_app(lessons_dir=folder, device="cpu")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_lesson(pilot, app)
        pid = app.kernel.pid
        await run(pilot, screen, "keep")

        # an endless loop: the status says busy, i interrupts it, the kernel keeps its variables
        spin = screen.query_one("#cell-spin", CellView)
        spin.focus()
        await pilot.press("r")
        assert await wait_for(pilot, lambda: app.kernel.state == "busy" and spin.state == "running")
        await pilot.press("i")
        assert await wait_for(pilot, lambda: spin.state == "interrupted", timeout=20)
        assert "Interrupted" in text_of(spin, ".cell-error")

        bomb = await run(pilot, screen, "bomb")
        assert bomb.state == "error"
        assert "MemoryError" in text_of(bomb, ".cell-error")
        assert "memory limit (1024 MB" in text_of(bomb, ".cell-error")
        app.client.execute("del hog", "", screen.namespace)

        huge = await run(pilot, screen, "huge")
        assert huge.state == "error" and "memory limit" in text_of(huge, ".cell-error")

        # a million lines: the UI answers keys while they stream in; the cell keeps the last lines
        lines = screen.query_one("#cell-lines", CellView)
        lines.focus()
        await pilot.press("r")
        await pilot.press("j")  # moves focus while the cell runs: the UI is not blocked
        assert screen.focused is not lines
        assert await wait_for(pilot, lambda: lines.state == "ok", timeout=60)
        out = lines.query_one(OutputView)
        assert len(out.lines) <= MAX_OUTPUT_LINES and out.hidden > 0
        assert "output truncated" in text_of(lines, "output")

        wide = await run(pilot, screen, "wide")
        assert wide.state == "ok"
        shown = text_of(wide, "output")
        assert len(shown) < 100_000, "one enormous line is cut on screen"
        assert "output truncated" in shown

        fd = await run(pilot, screen, "fd")
        assert "raw bytes on fd 1" in text_of(fd, "output")

        stdin = await run(pilot, screen, "stdin")
        assert stdin.state == "error" and "stdin" in text_of(stdin, ".cell-error")

        sysexit = await run(pilot, screen, "sysexit")
        assert sysexit.state == "error" and "SystemExit" in text_of(sysexit, ".cell-error")

        # a thread that prints after its cell ended: the lines appear under that cell
        chatter = await run(pilot, screen, "chatter")
        assert chatter.state == "ok"
        assert await wait_for(pilot, lambda: "late line 4" in text_of(chatter, "output"), timeout=20)

        # losses that are not numbers: the curve keeps the finite ones and the plot says what it left out
        nanloss = await run(pilot, screen, "nanloss")
        assert nanloss.state == "ok"
        assert await wait_for(pilot, lambda: bool(nanloss.query(TrackPlot)))
        plot = nanloss.query_one(TrackPlot)
        assert await wait_for(pilot, lambda: len(plot.by_name["loss"]) == 3)
        assert await wait_for(pilot, lambda: "2 NaN/inf not plotted" in next(plot.text_lines()))

        rebind = await run(pilot, screen, "rebind")
        assert rebind.state == "ok"
        wipe = await run(pilot, screen, "wipe")
        assert wipe.state == "ok"
        gone = await run(pilot, screen, "uses-kept")
        assert gone.state == "error"
        assert "NameError" in text_of(gone, ".cell-error") and "run the cells above" in text_of(gone, ".cell-error")
        check = await run(pilot, screen, "check-alive")
        assert check.state == "ok" and text_of(check, ".cell-result") == "2.0"

        assert app.kernel.pid == pid, "none of these needed a new kernel"
        assert screen.query_one(KernelStatus).state == "idle"

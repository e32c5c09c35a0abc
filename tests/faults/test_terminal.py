"""The terminal misbehaves: resize storms down to 40x12, no colours, and the link dropped (SIGHUP) while a cell runs.
The real `llm-tutor` runs in a pseudo-terminal or in tmux, as a learner's shell would run it."""

from __future__ import annotations

import os
import re
import shutil
import signal
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import Static

from llm_tutor.engine.learner.store import ProgressStore
from llm_tutor.tui.app import make_app
from llm_tutor.tui.screens.lesson import LessonScreen
from llm_tutor.tui.widgets.lesson.cell import CellView
from tests.conftest import llm_tutor_cmd
from tests.faults.conftest import PtyApp, alive, cells, descendants, eventually, kernel_of, write_lesson
from tests.functional.conftest import wait_for

pytestmark = pytest.mark.slow

STORM = [(40, 12), (200, 60), (41, 13), (120, 40), (40, 12), (80, 24), (300, 80), (40, 12), (110, 30), (60, 20)] * 2


async def test_a_resize_storm_while_a_cell_prints(tmp_path: Path) -> None:
    folder = tmp_path / "lessons"
    write_lesson(folder, "Some prose to reflow. " * 40 + "\n\n" + cells(
        chatter="import time\nfor i in range(40):\n    print('line', i)\n    time.sleep(0.02)",
        after="6 * 7",
    ))
    app = make_app(lessons_dir=folder, device="cpu")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("enter")
        screen = app.screen
        assert isinstance(screen, LessonScreen)
        assert await wait_for(pilot, lambda: app.kernel.state == "idle", timeout=120)
        chatter = screen.query_one("#cell-chatter", CellView)
        chatter.focus()
        await pilot.press("r")
        for size in STORM:
            await pilot.resize_terminal(*size)
            await pilot.pause(0.01)
        assert await wait_for(pilot, lambda: chatter.state == "ok", timeout=30)
        assert "line 39" in str(chatter.query_one(".cell-output", Static).content)
        # smallest size: the lesson still shows, the side panel gives way, keys still work
        await pilot.resize_terminal(40, 12)
        await pilot.pause()
        assert app.screen is screen and app.size == (40, 12)
        assert not screen.query_one("#side").display
        after = screen.query_one("#cell-after", CellView)
        after.focus()
        await pilot.press("r")
        assert await wait_for(pilot, lambda: after.state == "ok", timeout=30)
        await pilot.press("question_mark")
        await pilot.pause()
        assert app.screen is not screen, "help opens at 40x12"
        await pilot.press("escape")
        await pilot.resize_terminal(200, 60)
        await pilot.pause()
        assert screen.query_one("#side").display


# -- tmux: the real app, resized by the terminal ---------------------------------------------------

tmux_only = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


class Tmux:
    """One detached tmux session on its own server, running one command."""

    def __init__(self, command: str, env: dict[str, str], width: int = 100, height: int = 30) -> None:
        self.socket = f"llmtutor-faults-{uuid.uuid4().hex[:8]}"
        self.name = "app"
        env_args = [arg for key, value in env.items() for arg in ("-e", f"{key}={value}")]
        subprocess.run(["tmux", "-L", self.socket, "new-session", "-d", "-s", self.name, "-x", str(width), "-y", str(height),
                        *env_args, command], check=True)

    def tmux(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True)

    def screen(self, escapes: bool = False) -> str:
        return self.tmux("capture-pane", "-p", *(["-e"] if escapes else []), "-t", self.name).stdout

    def wait_for(self, text: str, timeout: float = 60.0) -> str:
        found = eventually(lambda: text in self.screen(), timeout, 0.1)
        assert found, f"{text!r} not on screen:\n{self.screen()}"
        return self.screen()

    def close(self) -> None:
        self.tmux("kill-server")


@pytest.fixture
def course(tmp_path: Path) -> Path:
    folder = tmp_path / "lessons"
    write_lesson(folder, "Resize me. " * 30 + "\n\n" + cells(first="print('first ran')"), title="Storm lesson")
    return folder


def app_command(folder: Path, tmp_path: Path) -> str:
    import shlex

    cmd = " ".join(shlex.quote(c) for c in [*llm_tutor_cmd(), "--lessons", str(folder), "--device", "cpu"])
    # the exit status and anything printed after the app ends land in files the test reads
    return f"{cmd} 2>&1; echo $? > {tmp_path / 'rc'}; sleep 30"


@tmux_only
def test_tmux_resize_window_storm_keeps_the_real_app_working(tmp_path: Path, course: Path) -> None:
    session = Tmux(app_command(course, tmp_path), {"LLM_TUTOR_DATA_DIR": str(tmp_path / "data"), "TERM": "xterm-256color"})
    try:
        session.wait_for("Storm lesson")
        session.tmux("send-keys", "-t", "app", "Enter")
        session.wait_for("Resize me.")
        for width, height in STORM:
            session.tmux("resize-window", "-t", "app", "-x", str(width), "-y", str(height))
            time.sleep(0.02)
        session.tmux("resize-window", "-t", "app", "-x", "40", "-y", "12")
        # at 40x12 the app still draws (its status line at least) and answers: run the cell, then quit
        session.wait_for("kernel")
        session.tmux("send-keys", "-t", "app", "r")
        session.tmux("resize-window", "-t", "app", "-x", "100", "-y", "30")
        session.wait_for("first ran", timeout=90)
        session.tmux("send-keys", "-t", "app", "q")
        assert eventually(lambda: (tmp_path / "rc").exists(), 20), session.screen()
        assert (tmp_path / "rc").read_text().strip() == "0"
        assert "Traceback" not in session.screen()
    finally:
        session.close()


SGR = re.compile(r"\x1b\[([0-9;]*)m")


def hues(screen: str) -> set[str]:
    """Colours with a hue in a screen's escape codes (greys, black and white do not count)."""
    found: set[str] = set()
    for params in SGR.findall(screen):
        codes = [int(c) for c in params.split(";") if c.isdigit()]
        i = 0
        while i < len(codes):
            code = codes[i]
            if code in (38, 48) and i + 1 < len(codes) and codes[i + 1] == 5 and i + 2 < len(codes):
                n = codes[i + 2]
                if 16 <= n <= 231:
                    r, g, b = (n - 16) // 36, (n - 16) // 6 % 6, (n - 16) % 6
                    if not r == g == b:
                        found.add(f"256:{n}")
                elif 1 <= n <= 6 or 9 <= n <= 14:
                    found.add(f"256:{n}")
                i += 3
            elif code in (38, 48) and i + 1 < len(codes) and codes[i + 1] == 2 and i + 4 < len(codes):
                r, g, b = codes[i + 2 : i + 5]
                if max(r, g, b) - min(r, g, b) > 8:
                    found.add(f"rgb:{r},{g},{b}")
                i += 5
            else:
                if 31 <= code <= 36 or 41 <= code <= 46 or 91 <= code <= 96 or 101 <= code <= 106:
                    found.add(str(code))
                i += 1
    return found


@tmux_only
def test_no_color_draws_in_greys_only(tmp_path: Path, course: Path) -> None:
    """NO_COLOR: Textual turns every colour into a grey of the same lightness, so focus and selection still show."""
    env = {"LLM_TUTOR_DATA_DIR": str(tmp_path / "data"), "TERM": "xterm-256color", "NO_COLOR": "1"}
    screens = {}
    for name, session_env in (("no colour", env), ("colour", {k: v for k, v in env.items() if k != "NO_COLOR"})):
        session = Tmux(app_command(course, tmp_path), session_env)
        try:
            session.wait_for("kernel:")
            session.tmux("send-keys", "-t", "app", "Enter")
            session.wait_for("Resize me.")
            screens[name] = session.screen(escapes=True)
        finally:
            session.close()
    assert hues(screens["colour"]), "the check can fail: with colours allowed the app uses some"
    assert not hues(screens["no colour"]), sorted(hues(screens["no colour"]))


# -- SIGHUP: the SSH link drops while a cell runs ---------------------------------------------------


@pytest.fixture
def pty_app(tmp_path: Path) -> Iterator[tuple[PtyApp, Path]]:
    folder = tmp_path / "lessons"
    write_lesson(folder, cells(
        first="x = 41",
        long="import subprocess, time\nchild = subprocess.Popen(['sleep', '600'])\nwhile True:\n    time.sleep(0.05)",
    ), title="Hangup lesson")
    data = tmp_path / "data"
    env = dict(os.environ, LLM_TUTOR_DATA_DIR=str(data), TERM="xterm-256color")
    app = PtyApp([*llm_tutor_cmd(), "faults", "--lessons", str(folder), "--device", "cpu"], env)
    try:
        yield app, data
    finally:
        app.kill()


def test_sighup_mid_cell_ends_the_kernel_and_its_children_and_keeps_progress(pty_app: tuple[PtyApp, Path]) -> None:
    app, data = pty_app
    assert eventually(lambda: app.seen("x = 41"), 60), bytes(app.output[-2000:])  # the lesson is open
    assert eventually(lambda: kernel_of(app.proc.pid) is not None, 60)
    kernel = kernel_of(app.proc.pid)
    assert kernel is not None
    app.keys("r")  # first cell, focus moves on
    app.keys("r")  # the long one: starts a child and never ends
    sleeper: list[int] = []

    def child_started() -> bool:
        sleeper[:] = [p for p in descendants(kernel) if alive(p)]
        return bool(sleeper)

    assert eventually(child_started, 90), bytes(app.output[-2000:])
    app.hang_up()
    assert eventually(lambda: app.proc.poll() is not None, 10), "the app did not end on SIGHUP"
    assert eventually(lambda: not alive(kernel), 5), "the kernel outlived the app"
    assert eventually(lambda: not any(alive(p) for p in sleeper), 5), "a process the cell started outlived the app"
    assert b"Traceback" not in bytes(app.output)
    # progress kept: the database is whole and knows where the learner was
    with sqlite3.connect(data / "progress.sqlite3") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with ProgressStore.open(data) as store:
        assert store.lesson_position("faults") in ("first", "long")

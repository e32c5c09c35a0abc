"""End to end: the real `llm-tutor` in a real terminal (tmux), driven by keys like a person."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, llm_tutor_cmd

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]


class Tmux:
    """A detached tmux session running one command."""

    def __init__(self, command: list[str], width: int = 100, height: int = 30, env: dict[str, str] | None = None) -> None:
        self.name = f"llmtutor-{uuid.uuid4().hex[:8]}"
        self.socket = f"llmtutor-test-{os.getpid()}"
        env_args: list[str] = []
        for key, value in (env or {}).items():
            env_args += ["-e", f"{key}={value}"]
        subprocess.run(
            ["tmux", "-L", self.socket, "new-session", "-d", "-s", self.name, "-x", str(width), "-y", str(height),
             *env_args, " ".join(_quote(c) for c in command)],
            check=True,
        )

    def screen(self) -> str:
        proc = subprocess.run(["tmux", "-L", self.socket, "capture-pane", "-p", "-t", self.name],
                              capture_output=True, text=True)
        return proc.stdout

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "-L", self.socket, "send-keys", "-t", self.name, *keys], check=True)

    def wait_for(self, text: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{text!r} did not appear within {timeout} s; the screen was:\n{screen}")

    def alive(self) -> bool:
        return subprocess.run(["tmux", "-L", self.socket, "has-session", "-t", self.name],
                              capture_output=True).returncode == 0

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)


def _quote(word: str) -> str:
    import shlex

    return shlex.quote(word)


@pytest.fixture
def tmux_app(tmp_path: Path) -> Iterator[Tmux]:
    command = [*llm_tutor_cmd(), "--lessons", str(FIXTURES / "good"), "--device", "cpu"]
    session = Tmux(command, env={"LLM_TUTOR_DATA_DIR": str(tmp_path / "data"), "TERM": "xterm-256color"})
    try:
        yield session
    finally:
        session.close()


def test_open_lesson_run_cell_and_quit(tmux_app: Tmux) -> None:
    tmux_app.wait_for("A first tensor")
    tmux_app.wait_for("kernel: idle")
    tmux_app.keys("Enter")
    tmux_app.wait_for("[ ] make")
    tmux_app.keys("r")
    tmux_app.wait_for("[1] make  ✓", timeout=30)
    # the result under the code: the tensor's repr, indented, on its own lines
    deadline = time.monotonic() + 10
    while True:
        lines = [line.strip(" ▌▎│┃") for line in tmux_app.screen().splitlines()]
        if any(l.startswith("tensor([[1, 2],") for l in lines) and any(l.startswith("[3, 4]])") for l in lines):
            break
        assert time.monotonic() < deadline, "\n".join(lines)
        time.sleep(0.1)
    tmux_app.keys("Escape")
    tmux_app.wait_for("Overall")
    tmux_app.keys("q")
    deadline = time.monotonic() + 10
    while tmux_app.alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not tmux_app.alive(), "llm-tutor did not exit on q"


def test_cli_rejects_a_dumb_terminal(tmp_path: Path) -> None:
    env = dict(os.environ, TERM="dumb")
    proc = subprocess.run([*llm_tutor_cmd()], capture_output=True, text=True, env=env, timeout=30)
    assert proc.returncode == 2
    assert "TERM=dumb" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1

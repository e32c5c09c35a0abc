"""End to end: `llm-tutor train MODEL` in a real terminal (tmux) at 80×24 and 120×40, driven by keys."""

from __future__ import annotations

import time
from pathlib import Path

from tests.conftest import llm_tutor_cmd
from tests.e2e.test_tmux import Tmux, pytestmark  # noqa: F401  (same markers: e2e, slow, needs tmux)


def run_lab(tmp_path: Path, args: list[str], size: tuple[int, int]) -> Tmux:
    env = {"LLM_TUTOR_DATA_DIR": str(tmp_path / "data"), "TERM": "xterm-256color", "LLM_TUTOR_LAB_THREADS": "1"}
    return Tmux([*llm_tutor_cmd(), "train", *args], width=size[0], height=size[1], env=env)


def quit_app(session: Tmux) -> None:
    session.keys("q")
    deadline = time.monotonic() + 15
    while session.alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not session.alive(), "llm-tutor did not exit on q"


def test_mlp_trains_to_its_budget_at_80x24(tmp_path: Path) -> None:
    session = run_lab(tmp_path, ["mlp", "--steps", "60", "--set", "n_samples=200", "--device", "cpu"], (80, 24))
    try:
        session.wait_for("Training lab · mlp")
        screen = session.wait_for("finished", timeout=180)
        assert "60/60" in screen and "━ train" in screen
        session.keys("2")
        session.wait_for("Parameters")
        session.keys("l")
        session.wait_for("[log]")
        quit_app(session)
    finally:
        session.close()


def test_gpt_shows_a_sample_and_steps_on_at_120x40(tmp_path: Path) -> None:
    args = ["gpt", "--steps", "3", "--set", "emb_dim=32", "--set", "n_layers=1", "--set", "n_heads=2", "--device", "cpu"]
    session = run_lab(tmp_path, args, (120, 40))
    try:
        session.wait_for("Training lab · gpt")
        session.wait_for("finished", timeout=180)
        session.wait_for("Sample at step 3", timeout=60)
        session.keys("]")  # double the learning rate: the status shows it
        session.wait_for("lr 0.006")
        quit_app(session)
    finally:
        session.close()

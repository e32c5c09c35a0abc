"""`llm-tutor train MODEL` without --headless: settings checked before the app opens; the UI process never loads torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from llm_tutor.engine.cli.app import AppRequest
from llm_tutor.tui.launch import main

ROOT = Path(__file__).resolve().parents[2]


def test_train_without_headless_asks_for_the_lab(monkeypatch: pytest.MonkeyPatch) -> None:
    from llm_tutor.engine.cli.main import main as command_line

    monkeypatch.setenv("LLM_TUTOR_FORCE_APP", "1")
    monkeypatch.setenv("TERM", "xterm-256color")
    opened: list[AppRequest] = []
    argv = ["train", "mlp", "--lr", "0.1", "--set", "hidden_width=8", "--device", "cpu"]
    assert command_line(argv, open_app=lambda request: opened.append(request) or 0) == 0
    (request,) = opened
    assert request.lab is not None and request.lab["model"] == "mlp" and request.lab["play"]
    assert request.lab["settings"] == {"lr": 0.1, "hidden_width": "8"} and request.device == "cpu"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "gpt", "--set", "emb_dim=100", "--set", "n_heads=3"], "n_heads (3) must divide emb_dim (100)"),
        (["train", "tiny"], "unknown model 'tiny'"),
        (["train", "gpt", "--set", "colour=red"], "unknown key 'colour'"),
        (["train", "mlp", "--json"], "--json goes with --headless"),
        (["train", "gpt", "--resume", "/nonexistent/run.pt"], "--resume: no file at /nonexistent/run.pt"),
        (["train", "gpt", "--device", "tpu"], "unknown device 'tpu'"),
    ],
)
def test_bad_settings_exit_2_with_one_line(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_without_a_terminal_the_lab_points_to_headless(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "mlp"]) == 2  # pytest's stdout is not a terminal
    assert "--headless" in capsys.readouterr().err


def test_the_ui_process_never_imports_torch_while_the_lab_trains() -> None:
    code = (
        "import asyncio, json, sys\n"
        "from llm_tutor.tui.app import make_app\n"
        "async def main():\n"
        "    app = make_app(device='cpu', autostart_kernel=False)\n"
        "    app.start_lab = {'model': 'mlp', 'settings': {'steps': 0, 'n_samples': 200}, 'threads': 1}\n"
        "    async with app.run_test(size=(100, 30)) as pilot:\n"
        "        lab = app.screen\n"
        "        for _ in range(1200):\n"
        "            await pilot.pause(0.1)\n"
        "            if lab.monitor.state == 'paused':\n"
        "                break\n"
        "        await pilot.press('space')\n"
        "        for _ in range(600):\n"
        "            await pilot.pause(0.1)\n"
        "            if lab.monitor.step >= 20:\n"
        "                break\n"
        "        print(json.dumps({'step': lab.monitor.step, 'modules': sorted(sys.modules)}))\n"
        "asyncio.run(main())\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["step"] >= 20  # it trained (in the child)
    assert "torch" not in result["modules"] and not any(m.startswith("torch.") for m in result["modules"])
    assert "textual" in result["modules"]

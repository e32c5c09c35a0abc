"""The one `llm-tutor` parser: commands, a lesson to open, the app's options; errors as one line; --help loads no UI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from llm_tutor.engine.cli.app import AppRequest
from llm_tutor.engine.cli.main import main


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """The app's checks pass as in a terminal (pytest's stdout is not one)."""
    monkeypatch.setenv("LLM_TUTOR_FORCE_APP", "1")
    monkeypatch.setenv("TERM", "xterm-256color")


def opened_with(argv: list[str]) -> AppRequest:
    opened: list[AppRequest] = []
    assert main(argv, open_app=lambda request: opened.append(request) or 0) == 0
    (request,) = opened
    return request


def test_a_word_that_names_no_command_is_the_lesson_to_open(terminal: None) -> None:
    request = opened_with(["tensors", "--lang", "tr", "--device", "cpu", "--low-bandwidth"])
    assert (request.lesson, request.lang, request.device, request.low_bandwidth) == ("tensors", "tr", "cpu", True)
    assert request.lab is None


def test_the_apps_options_go_before_or_after_the_lesson(terminal: None) -> None:
    request = opened_with(["--lang", "tr", "--device", "cpu", "tensors"])
    assert (request.lesson, request.lang, request.device) == ("tensors", "tr", "cpu")
    assert opened_with(["--lang", "en", "--device", "cpu"]).lesson is None


def test_a_command_runs_without_the_app(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lessons", "--json"], open_app=lambda request: pytest.fail("the app was opened")) == 0
    assert any(row["id"] == "tensors" for row in json.loads(capsys.readouterr().out))


def test_the_apps_options_before_a_command_reach_it(fixtures: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`llm-tutor --lang tr lessons` is `llm-tutor lessons --lang tr`; the command's own option wins."""

    def titles(argv: list[str]) -> dict[str, str]:
        assert main(argv) == 0
        return {row["id"]: row["title"] for row in json.loads(capsys.readouterr().out)}

    english, turkish = titles(["lessons", "--json", "--lang", "en"]), titles(["lessons", "--json", "--lang", "tr"])
    assert english["tensors"] != turkish["tensors"]
    assert titles(["--lang", "tr", "lessons", "--json"]) == turkish
    assert titles(["--lang", "tr", "lessons", "--json", "--lang", "en"]) == english
    own = titles(["--lessons", str(fixtures / "good"), "lessons", "--json"])
    assert own and "tensors" not in own


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--lang", "xx"], "argument --lang: invalid choice: 'xx'"),
        (["tensors", "extra"], "unrecognized arguments: extra"),
        (["tensors", "--bogus"], "unrecognized arguments: --bogus"),
        (["check", "--bogus"], "unrecognized arguments: --bogus"),
        (["train"], "llm-tutor train: error: the following arguments are required: model"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and "--help" in err[0]


def test_checks_before_the_app_are_one_line_and_exit_2(terminal: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--lessons", "/nonexistent/lessons"], open_app=lambda request: pytest.fail("opened")) == 2
    assert capsys.readouterr().err.strip() == "llm-tutor: error: lessons folder not found: /nonexistent/lessons"


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["tensors", "--help"], ["check", "--help"], ["train", "--help"]])
def test_help_and_version_load_neither_textual_nor_torch(argv: list[str]) -> None:
    code = (
        "import contextlib, io, json, sys\n"
        "from llm_tutor.tui.launch import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        "    try:\n"
        f"        main({argv!r})\n"
        "    except SystemExit as exc:\n"
        "        code = exc.code\n"
        "print(json.dumps({'code': code, 'out': out.getvalue(), 'modules': sorted(sys.modules)}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["code"] == 0 and "llm-tutor" in result["out"]
    loaded = set(result["modules"])
    assert "textual" not in loaded and "torch" not in loaded and "llm_tutor.tui.app" not in loaded

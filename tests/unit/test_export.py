"""`llm-tutor export`: a lesson with the learner's code as a valid notebook or a runnable script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from llm_tutor.engine.export import LearnerWork, to_notebook, to_script
from llm_tutor.engine.lesson import parse_file
from llm_tutor.engine.progress import ProgressStore
from llm_tutor.engine.workspace import Workspace
from tests.conftest import FIXTURES, llm_tutor_cmd

GOOD = FIXTURES / "good"
LESSON = parse_file(GOOD / "00-example.md")
SOLUTION_ONLY = "x = torch.ones(2, 3)  # (2, 3)"  # the solution's exact text
CHECK_ONLY = "expect.dtype(x, torch.float32)"


def export(*args: str, data: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*llm_tutor_cmd(), "export", "example", "--lessons", str(GOOD), "--data-dir", str(data), *args],
        capture_output=True, text=True, timeout=120,
    )


def test_notebook_is_valid_and_holds_the_learners_draft(tmp_path: Path) -> None:
    with ProgressStore.open(tmp_path) as store:
        store.save_draft("example", "ones", "x = 'my draft'")
        store.reveal_hint("example", "ones", total=2)
        store.record_predict("example", "shape-of-product", "torch.Size([2, 2])")
    out = tmp_path / "lesson.ipynb"
    proc = export("--to", "ipynb", "-o", str(out), data=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "1 with your code" in proc.stderr
    nb = nbformat.read(out, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[0].id == "llm-tutor-setup" and 'device = "cpu"' in code[0].source and "def track(" in code[0].source
    assert [c.id for c in code[1:]] == ["make", "shape-of-product", "view-error", "ones"]
    assert code[-1].source == "x = 'my draft'"
    assert code[3].metadata["tags"] == ["raises-exception"]
    text = out.read_text()
    assert SOLUTION_ONLY not in text and CHECK_ONLY not in text
    assert "Which function fills a new tensor with ones?" in text  # the hint they revealed
    assert "torch.ones(*shape)" not in text  # and not the one they did not
    assert "Your answer in the tutor: `torch.Size([2, 2])`" in text


def test_the_same_lesson_exports_to_the_same_notebook(tmp_path: Path) -> None:
    first = json.dumps(to_notebook(LESSON))
    assert json.dumps(to_notebook(LESSON)) == first
    nbformat.validate(nbformat.from_dict(json.loads(first)))


def test_starter_when_there_is_no_draft_and_the_workspace_file_when_it_is_newer(tmp_path: Path) -> None:
    nb = to_notebook(LESSON)
    assert nb["cells"][-1]["source"] == "x = None  # your code here"
    path = Workspace.open(tmp_path).write("example", LESSON.exercises[0], "x = 'from my editor'\n")
    with ProgressStore.open(tmp_path) as store:
        store.save_draft("example", "ones", "x = 'older draft'")
    os.utime(path, (4e9, 4e9))
    out = tmp_path / "lesson.py"
    proc = export("-o", str(out), data=tmp_path)  # the format from the suffix
    assert proc.returncode == 0, proc.stderr
    assert "x = 'from my editor'" in out.read_text() and "older draft" not in out.read_text()


def test_script_runs_from_top_to_bottom(tmp_path: Path) -> None:
    work = LearnerWork(code=lambda ex: "x = torch.ones(2, 3)\nprint('exercise ran', tuple(x.shape))")
    script = to_script(LESSON, work)
    assert script.count("# %%\n") == 5 and "# %% [markdown]\n# # A first tensor" in script
    assert SOLUTION_ONLY not in script and CHECK_ONLY not in script
    path = tmp_path / "lesson.py"
    path.write_text(script)
    proc = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "RuntimeError: view size is not compatible" in proc.stdout  # the cell meant to raise
    assert "exercise ran (2, 3)" in proc.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-o", "out.txt"], "say which format with --to ipynb or --to py"),
        (["--to", "py", "-o", "/no/such/folder/out.py"], "no such folder for the output: /no/such/folder"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    proc = export(*args, data=tmp_path)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert proc.stderr.startswith(f"llm-tutor: error: {message}")


def test_unknown_lesson(tmp_path: Path) -> None:
    proc = subprocess.run(
        [*llm_tutor_cmd(), "export", "nope", "--lessons", str(GOOD), "--to", "py", "-o", "-"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2 and "unknown lesson 'nope'" in proc.stderr

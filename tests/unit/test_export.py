"""`llm-tutor export`: a lesson with the learner's code as a valid notebook or a runnable script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

from llm_tutor.engine.course.export import LearnerWork, to_notebook, to_script
from llm_tutor.engine.course.lesson import Lesson, parse_file
from llm_tutor.engine.learner.store import ProgressStore
from llm_tutor.engine.learner.workspace import Workspace
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
    assert [c.id for c in code[1:]] == ["make", "shape-of-product", "view-error", "ones", "ones-check"]
    assert code[-2].source == "x = 'my draft'"
    assert code[3].metadata["tags"] == ["raises-exception"]
    before = nb.cells[nb.cells.index(code[3]) - 1]
    assert before.cell_type == "markdown" and "raises `RuntimeError` on purpose" in before.source
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
    assert nb["cells"][-2]["source"] == "x = None  # your code here"
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
    assert script.count("# %%\n") == 6 and "# %% [markdown]\n# # A first tensor" in script
    assert SOLUTION_ONLY not in script and CHECK_ONLY not in script
    path = tmp_path / "lesson.py"
    path.write_text(script)
    proc = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "RuntimeError (raised on purpose): view size is not compatible" in proc.stdout  # the cell meant to raise
    assert "exercise ran (2, 3)" in proc.stdout
    # the optional check cell found the lesson file it came from (not in the bundled course) and ran its checks
    assert "✓ exercise 'ones' (A (2, 3) tensor of ones) passed: 3 expectation(s) met" in proc.stdout


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


RAISING = textwrap.dedent("""\
    ---
    id: crashy
    title: A starter that crashes
    order: 0
    ---

    ```python cell id=data
    import torch
    t = torch.arange(6).reshape(2, 3)
    ```

    ```python exercise id=fix raises=RuntimeError title="Fix the view"
    flat = t.T.view(6)
    ```

    ```python solution for=fix
    flat = t.T.reshape(6)
    ```

    ```python check for=fix
    expect.equal(flat, torch.tensor([0, 3, 1, 4, 2, 5]))
    ```

    ```python cell id=after
    print("after the exercise", device, flat.shape if "flat" in globals() else None)
    ```
    """)


@pytest.fixture
def crashy(tmp_path: Path) -> Lesson:
    path = tmp_path / "lessons" / "00-crashy.md"
    path.parent.mkdir()
    path.write_text(RAISING)
    return parse_file(path)


def test_a_starter_meant_to_raise_is_tagged_and_said_and_the_script_goes_on(crashy: Lesson, tmp_path: Path) -> None:
    nb = to_notebook(crashy)
    cells = {c["id"]: c for c in nb["cells"]}
    assert cells["fix"]["metadata"] == {"tags": ["raises-exception"]}
    intro = nb["cells"][[c["id"] for c in nb["cells"]].index("fix") - 1]
    assert "The starter below raises `RuntimeError` on purpose" in intro["source"]
    script = tmp_path / "crashy.py"
    script.write_text(to_script(crashy))
    proc = subprocess.run([sys.executable, script.name], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    out = proc.stdout
    assert out.index("RuntimeError (raised on purpose): view size") < out.index("✗ exercise 'fix' (Fix the view) did not pass")
    assert "  - flat: " in out and "after the exercise cpu None" in out  # the check names what is missing, the script goes on


def test_the_learners_own_code_is_exported_as_it_is(crashy: Lesson, tmp_path: Path) -> None:
    mine = "flat = t.T.reshape(6)  # mine"
    work = LearnerWork(code=lambda ex: mine)
    nb = to_notebook(crashy, work)
    fix = next(c for c in nb["cells"] if c["id"] == "fix")
    assert fix["source"] == mine and fix["metadata"] == {}
    assert not any("on purpose" in c["source"] for c in nb["cells"] if c["cell_type"] == "markdown")
    script = to_script(crashy, work)
    assert f"# %%\n{mine}\n" in script and "try:" not in script.split("# %%\n")[-3]
    path = tmp_path / "mine.py"
    path.write_text(script)
    proc = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "✓ exercise 'fix' (Fix the view) passed: 1 expectation(s) met" in proc.stdout
    assert "after the exercise cpu torch.Size([6])" in proc.stdout


def test_the_setup_cell_gives_every_name_the_kernel_gives_with_the_same_signature() -> None:
    """The names a fresh kernel namespace holds (TUTOR_NAMES) are defined by the export's setup cell."""
    import inspect
    import os

    from llm_tutor.engine.course.export import SETUP_CODE
    from llm_tutor.engine.kernel.child.kernel import Kernel
    from llm_tutor.engine.kernel.child.namespace import TUTOR_NAMES
    from llm_tutor.engine.kernel.child.output import Channel
    read, write = os.pipe()
    try:
        kernel = Kernel(Channel(write), "cpu")
        injected = {name for name in kernel.namespace("lesson") if not name.startswith("__")}
    finally:
        os.close(read)
        os.close(write)
    assert injected == set(TUTOR_NAMES)
    exported: dict[str, object] = {}
    exec(compile(SETUP_CODE, "<setup>", "exec"), exported)  # noqa: S102 - the export's own code
    assert set(TUTOR_NAMES) <= set(exported) and exported["device"] == "cpu"  # no GPU here
    tutor_track = kernel.namespace("lesson")["track"]
    def params(fn: object) -> list[tuple[str, object, object]]:
        return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]  # type: ignore[arg-type]

    assert params(exported["track"]) == params(tutor_track)
    track = exported["track"]
    track(loss=1.0)  # type: ignore[operator]
    track(step=5, series="val", val_loss=2)  # type: ignore[operator]
    track(loss=0.5)  # type: ignore[operator]
    assert track.points == [(0, "lesson", {"loss": 1.0}), (5, "val", {"val_loss": 2.0}), (6, "lesson", {"loss": 0.5})]  # type: ignore[attr-defined]


def test_export_all_writes_every_lesson_in_both_formats(tmp_path: Path) -> None:
    out = tmp_path / "course"
    out.mkdir()
    proc = subprocess.run([*llm_tutor_cmd(), "export", "--all", str(out), "--lessons", str(FIXTURES / "progress"),
                           "--data-dir", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    names = sorted(p.name for p in out.iterdir())
    stems = sorted(p.stem for p in (FIXTURES / "progress").glob("*.md"))
    assert names == sorted(f"{stem}.{fmt}" for stem in stems for fmt in ("ipynb", "py"))
    assert f"wrote {len(names)} files to {out}" in proc.stderr
    for nb in out.glob("*.ipynb"):
        nbformat.validate(nbformat.read(nb, as_version=4))
    only = tmp_path / "only-py"
    only.mkdir()
    proc = subprocess.run([*llm_tutor_cmd(), "export", "--all", str(only), "--to", "py", "--lessons",
                           str(FIXTURES / "progress")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and {p.suffix for p in only.iterdir()} == {".py"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--all", "{tmp}", "example"], "--all DIR writes every lesson: leave out LESSON and -o"),
        (["--all", "{tmp}/missing"], "no such folder: {tmp}/missing (make it first)"),
        ([], "name a LESSON to export (or --all DIR for every lesson)"),
        (["example"], "say where to write with -o FILE"),
    ],
)
def test_export_all_bad_input(tmp_path: Path, args: list[str], message: str) -> None:
    argv = [a.replace("{tmp}", str(tmp_path)) for a in args]
    proc = subprocess.run([*llm_tutor_cmd(), "export", *argv, "--lessons", str(GOOD)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert proc.stderr.startswith("llm-tutor: error: " + message.replace("{tmp}", str(tmp_path)))

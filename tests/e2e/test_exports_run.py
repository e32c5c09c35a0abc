"""Every exported lesson runs to the end in real Jupyter (nbclient + ipykernel) and as a plain `python` script.

Each lesson of the course (whatever lessons exist), in both languages, is exported in both formats by
`llm-tutor export --all`; notebooks are executed by nbclient in a real ipykernel, and scripts by `python`, two
at a time. Nothing may fail except what the lesson marks as meant to raise (a cell's or a starter's `raises=`),
and those must raise exactly that; every exercise's optional check cell runs its checks in place.
`nbformat.validate` passes on each notebook, before and after it ran.

Each lesson runs in both languages and in both formats, but not all four ways: the two languages are one
program with other comments and strings, so each lesson runs as an English notebook and a Turkish script, or
the other way round (alternating down the course). That is checked, not assumed: a file that is not run must
have the same syntax tree as its other-language twin that ran, with only its strings emptied; a lesson whose
languages differ in anything else runs all four ways. `LLM_TUTOR_TEST_EXPORTS=all` runs every file.
"""

from __future__ import annotations

import ast
import asyncio
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import pytest

from llm_tutor.engine.course.catalog import load_course
from llm_tutor.engine.course.export import file_name
from llm_tutor.engine.course.lesson import Cell, Exercise, Lesson
from tests.conftest import llm_tutor_cmd

# the first test waits for every run (module fixture), built once on one xdist worker
pytestmark = [pytest.mark.xdist_group("exports"), pytest.mark.slow, pytest.mark.timeout(900)]
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

LANGS = ("en", "tr")
FORMATS = ("ipynb", "py")
LESSONS: dict[str, list[Lesson]] = {
    lang: [item for item in load_course(None, lang) if isinstance(item, Lesson)] for lang in LANGS
}
CASES = [(lang, lesson, fmt) for lang in LANGS for lesson in LESSONS[lang] for fmt in FORMATS]
RUN_ALL = os.environ.get("LLM_TUTOR_TEST_EXPORTS") == "all"
PARALLEL = 2
"""Processes at a time: the torch import (~1.5 s) dominates each run, so two cores run two."""


@dataclass
class Outcome:
    path: Path
    returncode: int = 0
    stdout: str = ""
    stderr: str = ""
    notebook: Any = None
    error: str = ""
    outputs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    ran: bool = True
    twin: str = ""
    """For a file that was not run: the language whose file with the same program ran instead."""


def chosen(lang: str, lesson: Lesson, fmt: str) -> bool:
    """The format each language runs a lesson in: alternating down the course, the other one in the other language."""
    index = [item.id for item in LESSONS[lang]].index(lesson.id)
    return FORMATS[(index + LANGS.index(lang)) % len(FORMATS)] == fmt


class _EmptyStrings(ast.NodeTransformer):
    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        return ast.Constant("") if isinstance(node.value, str) else node


def program(path: Path, fmt: str) -> str:
    """What a file runs, without its words: the syntax tree of its code with every string emptied (comments are
    not in the tree). A notebook's code cells each give one."""
    if fmt == "py":
        sources = [path.read_text(encoding="utf-8")]
    else:
        sources = [cell.source for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code"]
    return "\n".join(ast.dump(_EmptyStrings().visit(ast.parse(source))) for source in sources)


def meant_to_raise(lesson: Lesson) -> dict[str, str]:
    """Cell id -> the exception it raises on purpose (cells marked raises=, and starters marked so)."""
    return {seg.id: seg.raises for seg in lesson.segments if isinstance(seg, (Cell, Exercise)) and seg.raises}


async def _run_script(path: Path, env: dict[str, str]) -> Outcome:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, path.name, cwd=path.parent, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=300)
    return Outcome(path, proc.returncode or 0, out.decode(), err.decode())


async def _run_notebook(path: Path) -> Outcome:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    outcome = Outcome(path, notebook=nb)
    try:
        await client.async_execute()
    except Exception as exc:  # noqa: BLE001 - reported by the test that owns this notebook
        outcome.error = f"{type(exc).__name__}: {exc}"
    outcome.outputs = {cell.id: cell.get("outputs", []) for cell in nb.cells if cell.cell_type == "code"}
    return outcome


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str, str], Outcome]:
    """Export everything with the real command, then run every file, PARALLEL at a time."""
    data = tmp_path_factory.mktemp("data")
    env = {**os.environ, "LLM_TUTOR_DATA_DIR": str(data), "PYTHONUNBUFFERED": "1"}
    folders = {}
    for lang in LANGS:
        folders[lang] = tmp_path_factory.mktemp(f"course-{lang}")
        proc = subprocess.run([*llm_tutor_cmd(), "export", "--all", str(folders[lang]), "--lang", lang],
                              capture_output=True, text=True, timeout=120, env=env)
        assert proc.returncode == 0, proc.stderr
        assert f"wrote {2 * len(LESSONS[lang])} files" in proc.stderr

    # the files to run: the chosen format of each language, and every file whose program differs from its twin's
    skipped: dict[tuple[str, str, str], Outcome] = {}
    cases = []
    for lang, lesson, fmt in CASES:
        other = LANGS[1 - LANGS.index(lang)]
        path, twin = folders[lang] / file_name(lesson, fmt), folders[other] / file_name(lesson, fmt)
        if RUN_ALL or chosen(lang, lesson, fmt) or program(path, fmt) != program(twin, fmt):
            cases.append((lang, lesson, fmt))
        else:
            skipped[(lang, lesson.id, fmt)] = Outcome(path, ran=False, twin=other)

    async def everything() -> dict[tuple[str, str, str], Outcome]:
        gate = asyncio.Semaphore(PARALLEL)
        previous = os.environ.get("LLM_TUTOR_DATA_DIR")
        os.environ["LLM_TUTOR_DATA_DIR"] = str(data)  # the kernels nbclient starts inherit it

        async def one(lang: str, lesson: Lesson, fmt: str) -> tuple[tuple[str, str, str], Outcome]:
            path = folders[lang] / file_name(lesson, fmt)
            async with gate:
                outcome = await (_run_notebook(path) if fmt == "ipynb" else _run_script(path, env))
            return (lang, lesson.id, fmt), outcome

        try:
            # later lessons run longer (train-a-gpt trains): start them first, so no long one runs alone at the end
            ordered = sorted(cases, key=lambda case: -case[1].order)
            return dict(await asyncio.gather(*(one(*case) for case in ordered)))
        finally:
            if previous is None:
                os.environ.pop("LLM_TUTOR_DATA_DIR", None)
            else:
                os.environ["LLM_TUTOR_DATA_DIR"] = previous

    return {**asyncio.run(everything()), **skipped}


def _report_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(("✓ exercise '", "✗ exercise '"))]


@pytest.mark.parametrize(("lang", "lesson", "fmt"), CASES,
                         ids=[f"{lang}-{lesson.id}-{fmt}" for lang, lesson, fmt in CASES])
def test_the_export_runs_to_the_end(outcomes: dict[tuple[str, str, str], Outcome], lang: str, lesson: Lesson,
                                    fmt: str) -> None:
    outcome = outcomes[(lang, lesson.id, fmt)]
    if not outcome.ran:  # the same program as its twin in the other language, which ran
        twin = outcomes[(outcome.twin, lesson.id, fmt)]
        assert twin.ran and program(outcome.path, fmt) == program(twin.path, fmt)
        if fmt == "ipynb":
            nbformat.validate(nbformat.read(outcome.path, as_version=4))
        return
    raises = meant_to_raise(lesson)
    exercises = [ex.id for ex in lesson.exercises]
    if fmt == "py":
        assert outcome.returncode == 0, outcome.stderr[-3000:]
        assert "Traceback" not in outcome.stderr, outcome.stderr[-3000:]
        assert outcome.stdout.count("(raised on purpose)") == len(raises), outcome.stdout[-3000:]
        for name in raises.values():
            assert f"{name} (raised on purpose): " in outcome.stdout
        reports = _report_lines(outcome.stdout)
    else:
        assert not outcome.error, outcome.error[-3000:]
        nbformat.validate(outcome.notebook)
        for cell_id, outputs in outcome.outputs.items():
            errors = [o for o in outputs if o.get("output_type") == "error"]
            if cell_id in raises:
                assert [e["ename"] for e in errors] == [raises[cell_id]], (cell_id, errors)
            else:
                assert not errors, (cell_id, errors[0]["ename"], errors[0]["evalue"])
        reports = []
        for ex_id in exercises:
            text = "".join(o.get("text", "") for o in outcome.outputs[f"{ex_id}-check"] if o.get("output_type") == "stream")
            reports += _report_lines(text)
    # the optional check cell of every exercise ran the checks in place: one report each, in order
    assert [line.split("'")[1] for line in reports] == exercises


def test_starters_fail_their_checks_in_place_with_expected_vs_got(outcomes: dict[tuple[str, str, str], Outcome]) -> None:
    """A starter's check cell prints what `llm-tutor grade` prints: every failed expectation, expected vs got."""
    ran = [outcome for (_, lesson_id, _), outcome in outcomes.items() if lesson_id == "autograd" and outcome.ran]
    assert {outcome.path.suffix for outcome in ran} == {".py", ".ipynb"}
    for outcome in ran:
        fmt = outcome.path.suffix[1:]
        text = outcome.stdout if fmt == "py" else "".join(
            o.get("text", "") for o in outcome.outputs["grads-by-hand-check"] if o.get("output_type") == "stream")
        block = text[text.index("✗ exercise 'grads-by-hand'"):].splitlines()
        failed = [line for line in block[1:] if line.startswith("  - ")]
        assert failed and all(": expected " in line and ", got " in line for line in failed), block

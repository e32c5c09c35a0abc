"""Provides the export of a lesson, with the learner's own code, as a Jupyter notebook or a Python script.

Prose becomes Markdown, cells become code, exercises hold the learner's draft (or the starter);
solutions and checks are never exported. A setup cell at the top defines what the tutor's kernel
gives every cell (`device`, `track`: `kernel.child.namespace.TUTOR_NAMES`), so the file runs anywhere. Whatever is
meant to raise (a cell marked `raises=`, or an exercise's starter marked so when the learner has no
code of their own) does not stop "Run All" or the script: in a notebook it carries Jupyter's
`raises-exception` tag and a Markdown line saying so; in a script it is wrapped so the error is printed
and the script goes on. After each exercise an optional cell runs the exercise's checks in place
(`llm_tutor.engine.grading.inplace`) where llm-tutor is installed. The notebook is plain nbformat 4.5 JSON
with stable cell ids (the lesson's own ids), so exporting twice gives the same file.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llm_tutor.engine.course.lesson import Cell, Exercise, Lesson, Predict, Prose, Show

SETUP_CODE = '''\
# Set up by llm-tutor: in the tutor's kernel these names already exist.
try:
    import torch as _torch

    device = "cuda" if _torch.cuda.is_available() else "mps" if _torch.backends.mps.is_available() else "cpu"
    del _torch
except ImportError:
    device = "cpu"


def track(step=None, series="lesson", **metrics):
    """In llm-tutor this streams numbers to a live loss plot; here it keeps them in `track.points`."""
    if step is None:
        step = track.points[-1][0] + 1 if track.points else 0
    track.points.append((int(step), series, {name: float(value) for name, value in metrics.items()}))


track.points = []
'''

_CELL_ID_RE = re.compile(r"[^A-Za-z0-9_-]")


@dataclass
class LearnerWork:
    """What the learner brings to an export: their code, revealed hints and predict answers."""

    code: Callable[[Exercise], str] = lambda ex: ex.starter
    """The learner's code for an exercise (default: the starter)."""
    hints_revealed: dict[str, int] = field(default_factory=dict)
    predict_answers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Block:
    kind: str
    """"markdown" or "code"."""
    id: str
    source: str
    raises: str = ""
    """The exception this code raises on purpose ("" for none)."""


def _on_purpose(name: str, what: str) -> str:
    return f"*{what} raises `{name}` on purpose; running everything goes on past it.*"


def _check_cell(lesson: Lesson, ex: Exercise) -> str:
    """The optional cell that runs an exercise's checks where this file runs (llm-tutor installed there)."""
    args = f"{lesson.id!r}, {ex.id!r}, globals(), lang={lesson.lang!r}"
    if not _bundled(lesson.path):
        args += f", source={str(lesson.path.resolve())!r}"
    return (
        "# Optional: check this exercise here, with the tutor's checks (needs llm-tutor where this runs).\n"
        "try:\n"
        "    from llm_tutor.engine.grading.inplace import check_exercise\n"
        "except ImportError:\n"
        f"    print('llm-tutor is not installed here: check it with `llm-tutor grade {lesson.id} {ex.id} --file FILE`')\n"
        "else:\n"
        f"    check_exercise({args})\n"
    )


def _bundled(path: Path) -> bool:
    from llm_tutor.engine.course.catalog import default_lessons_dir

    try:
        path.resolve().relative_to(default_lessons_dir().resolve())
    except ValueError:
        return False
    return True


def _blocks(lesson: Lesson, work: LearnerWork) -> list[_Block]:
    """The lesson as an ordered list of Markdown and code blocks."""
    grade = f"llm-tutor grade {lesson.id} EXERCISE --file FILE"
    blocks = [
        _Block(
            "markdown",
            "llm-tutor-about",
            f"*Exported from llm-tutor: lesson `{lesson.id}` ({lesson.lang}). Exercises hold your own code; "
            f"solutions and checks are not included. Check an exercise with `{grade}`, or with the optional "
            "cell under it where llm-tutor is installed.*",
        ),
        _Block("code", "llm-tutor-setup", SETUP_CODE),
    ]
    for seg in lesson.segments:
        if isinstance(seg, Prose):
            blocks.append(_Block("markdown", "", seg.text))
        elif isinstance(seg, Show):
            blocks.append(_Block("markdown", "", f"```python\n{seg.code}\n```"))
        elif isinstance(seg, Cell):
            if seg.raises:
                blocks.append(_Block("markdown", "", _on_purpose(seg.raises, "The next cell")))
            blocks.append(_Block("code", seg.id, seg.code, raises=seg.raises))
        elif isinstance(seg, Predict):
            text = "**Predict** what this shows before you run it."
            answer = work.predict_answers.get(seg.id)
            if answer:
                text += f" Your answer in the tutor: `{answer}`"
            blocks.append(_Block("markdown", "", text))
            blocks.append(_Block("code", seg.id, seg.code))
        elif isinstance(seg, Exercise):
            code = work.code(seg)
            # the learner's own code is theirs to run as it is; only the untouched starter is known to raise
            raises = seg.raises if code.strip() == seg.starter.strip() else ""
            text = f"### Exercise: {seg.title}\n\nCheck it with `llm-tutor grade {lesson.id} {seg.id} --file FILE`."
            for n, hint in enumerate(seg.hints[: work.hints_revealed.get(seg.id, 0)], start=1):
                text += f"\n\n> **Hint {n}.** " + hint.replace("\n", "\n> ")
            if raises:
                text += "\n\n" + _on_purpose(raises, "The starter below") + " Fixing it is the exercise."
            blocks.append(_Block("markdown", "", text))
            blocks.append(_Block("code", seg.id, code, raises=raises))
            blocks.append(_Block("code", f"{seg.id}-check", _check_cell(lesson, seg)))
    return blocks


def _unique_ids(blocks: list[_Block]) -> list[str]:
    """nbformat cell ids: 1-64 of [A-Za-z0-9_-], unique; the lesson's own ids where it has them."""
    taken = {b.id for b in blocks if b.id}
    ids: list[str] = []
    n = 0
    for block in blocks:
        if block.id:
            ids.append(_CELL_ID_RE.sub("-", block.id)[:64])
            continue
        n += 1
        while f"md-{n}" in taken:
            n += 1
        ids.append(f"md-{n}")
    return ids


def to_notebook(lesson: Lesson, work: LearnerWork | None = None) -> dict[str, Any]:
    """The lesson as an nbformat 4.5 notebook (a JSON-ready dict)."""
    blocks = _blocks(lesson, work or LearnerWork())
    cells: list[dict[str, Any]] = []
    for block, cell_id in zip(blocks, _unique_ids(blocks)):
        if block.kind == "markdown":
            cells.append({"cell_type": "markdown", "id": cell_id, "metadata": {}, "source": block.source})
        else:
            metadata: dict[str, Any] = {"tags": ["raises-exception"]} if block.raises else {}
            cells.append({
                "cell_type": "code",
                "execution_count": None,
                "id": cell_id,
                "metadata": metadata,
                "outputs": [],
                "source": block.source.rstrip("\n"),
            })
    return {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
            "llm_tutor": {"lesson": lesson.id, "lang": lesson.lang, "title": lesson.title},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def to_script(lesson: Lesson, work: LearnerWork | None = None) -> str:
    """The lesson as a Python script in the percent format (``# %%`` cells) that editors run cell by cell.

    Code meant to raise is wrapped in try/except that prints the error, so the script runs from top
    to bottom.
    """
    out: list[str] = []
    for block in _blocks(lesson, work or LearnerWork()):
        if block.kind == "markdown":
            lines = [f"# {line}".rstrip() for line in block.source.splitlines()]
            out.append("# %% [markdown]\n" + "\n".join(lines) + "\n")
        elif block.raises:
            body = "\n".join(f"    {line}".rstrip() for line in block.source.rstrip("\n").splitlines())
            name = block.raises.rsplit(".", 1)[-1]  # matched by class name, as the tutor's checker does
            out.append(
                f"# %%\ntry:\n{body}\nexcept Exception as error:\n"
                f"    if type(error).__name__ != {name!r}:\n        raise\n"
                f"    print(f\"{name} (raised on purpose): {{error}}\")\n"
            )
        else:
            out.append("# %%\n" + block.source.rstrip("\n") + "\n")
    return "\n".join(out)


def file_name(lesson: Lesson, fmt: str) -> str:
    """The name `export --all` gives a lesson's file: its own file name (course order), `.ipynb` or `.py`."""
    return f"{lesson.path.stem}.{fmt}"

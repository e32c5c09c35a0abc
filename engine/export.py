"""Provides the export of a lesson, with the learner's own code, as a Jupyter notebook or a Python script.

Prose becomes Markdown, cells become code, exercises hold the learner's draft (or the starter);
solutions and checks are never exported. A setup cell at the top defines what the tutor's kernel
provides (`device`, `track`), so the file runs anywhere. The notebook is plain nbformat 4.5 JSON
with stable cell ids (the lesson's own ids), so exporting twice gives the same file.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from llm_tutor.engine.lesson import Cell, Exercise, Lesson, Predict, Prose, Show

SETUP_CODE = '''\
# Set up by llm-tutor: in the tutor's kernel these two names already exist.
device = "cpu"  # "cuda" or "mps" if this machine has one


def track(step=None, **metrics):
    """In llm-tutor this streams numbers to the loss panel; here it does nothing."""
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


def _blocks(lesson: Lesson, work: LearnerWork) -> list[_Block]:
    """The lesson as an ordered list of Markdown and code blocks."""
    grade = f"llm-tutor grade {lesson.id} EXERCISE --file FILE"
    blocks = [
        _Block(
            "markdown",
            "llm-tutor-about",
            f"*Exported from llm-tutor: lesson `{lesson.id}` ({lesson.lang}). Exercises hold your own code; "
            f"solutions and checks are not included. Check an exercise with `{grade}`.*",
        ),
        _Block("code", "llm-tutor-setup", SETUP_CODE),
    ]
    for seg in lesson.segments:
        if isinstance(seg, Prose):
            blocks.append(_Block("markdown", "", seg.text))
        elif isinstance(seg, Show):
            blocks.append(_Block("markdown", "", f"```python\n{seg.code}\n```"))
        elif isinstance(seg, Cell):
            source = seg.code
            if seg.raises:
                source = f"# This cell raises {seg.raises} on purpose.\n{source}"
            blocks.append(_Block("code", seg.id, source, raises=seg.raises))
        elif isinstance(seg, Predict):
            text = "**Predict** what this shows before you run it."
            answer = work.predict_answers.get(seg.id)
            if answer:
                text += f" Your answer in the tutor: `{answer}`"
            blocks.append(_Block("markdown", "", text))
            blocks.append(_Block("code", seg.id, seg.code))
        elif isinstance(seg, Exercise):
            text = f"### Exercise: {seg.title}\n\nCheck it with `llm-tutor grade {lesson.id} {seg.id} --file FILE`."
            for n, hint in enumerate(seg.hints[: work.hints_revealed.get(seg.id, 0)], start=1):
                text += f"\n\n> **Hint {n}.** " + hint.replace("\n", "\n> ")
            blocks.append(_Block("markdown", "", text))
            blocks.append(_Block("code", seg.id, work.code(seg)))
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

    Cells meant to raise are wrapped in try/except, so the script runs from top to bottom.
    """
    out: list[str] = []
    for block in _blocks(lesson, work or LearnerWork()):
        if block.kind == "markdown":
            lines = [f"# {line}".rstrip() for line in block.source.splitlines()]
            out.append("# %% [markdown]\n" + "\n".join(lines) + "\n")
        elif block.raises:
            body = "\n".join(f"    {line}".rstrip() for line in block.source.rstrip("\n").splitlines())
            out.append(f"# %%\ntry:\n{body}\nexcept {block.raises} as error:\n    print(f\"{block.raises}: {{error}}\")\n")
        else:
            out.append("# %%\n" + block.source.rstrip("\n") + "\n")
    return "\n".join(out)

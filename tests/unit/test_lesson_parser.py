"""The lesson parser: good lessons parse into segments; broken ones name file, line and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from llm_tutor.engine.course.catalog import load_course, parity
from llm_tutor.engine.course.lesson import Cell, Exercise, LessonError, Predict, Prose, parse_file, parse_text


def test_example_lesson_parses_into_segments(fixtures: Path) -> None:
    lesson = parse_file(fixtures / "good" / "00-example.md")
    assert (lesson.id, lesson.title, lesson.order) == ("example", "A first tensor", 0)
    kinds = [type(s).__name__ for s in lesson.segments]
    assert kinds == ["Prose", "Cell", "Prose", "Predict", "Prose", "Cell", "Prose", "Exercise"]
    make = lesson.cells[0]
    assert make.id == "make" and make.line == 11 and "torch.tensor" in make.code
    assert lesson.cells[1].raises == "RuntimeError"
    ex = lesson.exercises[0]
    assert ex.starter.startswith("x = None")
    assert "torch.ones(2, 3)" in ex.solution
    assert ex.checks.count("expect.") == 3
    assert len(ex.hints) == 2 and ex.hints[0].startswith("Which function")
    assert lesson.structure() == {"cells": ["make", "view-error"], "exercises": ["ones"], "predicts": ["shape-of-product"]}


def test_learner_never_sees_solution_or_checks_in_prose(fixtures: Path) -> None:
    lesson = parse_file(fixtures / "good" / "00-example.md")
    prose = "\n".join(s.text for s in lesson.segments if isinstance(s, Prose))
    assert "torch.ones(2, 3)" not in prose
    assert "expect." not in prose


@pytest.mark.parametrize(
    ("name", "line", "fragment"),
    [
        ("no-front-matter.md", 1, "expected front matter"),
        ("unknown-kind.md", 9, "unknown block kind 'runnable'"),
        ("unclosed-fence.md", 7, "never closed"),
        ("solution-before-exercise.md", 7, "no exercise 'ex' above this line"),
        ("missing-checks.md", 7, "has no checks"),
        ("duplicate-id.md", 11, "already used on line 7"),
        ("bad-yaml.md", 3, "not valid YAML"),
        ("unknown-attribute.md", 7, "unknown attribute 'colour'"),
        ("missing-id.md", 7, "needs id=<id>"),
        ("unknown-front-key.md", 5, "unknown front matter key 'author'"),
    ],
)
def test_broken_lessons_report_file_line_and_expectation(fixtures: Path, name: str, line: int, fragment: str) -> None:
    path = fixtures / "broken" / name
    with pytest.raises(LessonError) as info:
        parse_file(path)
    err = info.value
    assert err.path == path
    assert err.line == line, str(err)
    assert fragment in err.message
    assert str(err).startswith(f"{path}:{line}: ")


def test_plain_fences_are_prose_and_python_needs_a_kind() -> None:
    lesson = parse_text("---\nid: a\ntitle: A\norder: 1\n---\n\n```text\nhello\n```\n")
    assert isinstance(lesson.segments[0], Prose) and "hello" in lesson.segments[0].text
    with pytest.raises(LessonError, match="needs a kind"):
        parse_text("---\nid: a\ntitle: A\norder: 1\n---\n\n```python\n1\n```\n")


def test_attributes_with_quotes_and_flags() -> None:
    src = (
        "---\nid: a\ntitle: A\norder: 1\n---\n\n"
        '```python exercise id=e title="Make a tensor" starter-passes\nx = 1\n```\n\n'
        "```python solution for=e\nx = 1\n```\n\n```python check for=e\nexpect.equal(x, 1)\n```\n\n"
        '```python predict id=p answer="(2, 2)"\n(2, 2)\n```\n\n```python cell id=c timeout=5 raises=ValueError\nraise ValueError\n```\n'
    )
    lesson = parse_text(src)
    ex = lesson.segments[0]
    assert isinstance(ex, Exercise) and ex.title == "Make a tensor" and ex.starter_passes
    pred = lesson.segments[1]
    assert isinstance(pred, Predict) and pred.answer == "(2, 2)"
    cell = lesson.segments[2]
    assert isinstance(cell, Cell) and cell.timeout == 5.0 and cell.raises == "ValueError"


def test_course_lists_broken_lessons_after_good_ones(fixtures: Path) -> None:
    items = load_course(fixtures / "broken")
    assert len(items) == 10
    assert all(hasattr(i, "error") for i in items)
    good = load_course(fixtures / "good")
    assert [l.id for l in good] == ["example"]


def test_parity_reports_mismatched_ids(tmp_path: Path, fixtures: Path) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "tr").mkdir()
    src = (fixtures / "good" / "00-example.md").read_text()
    (tmp_path / "en" / "00-example.md").write_text(src)
    (tmp_path / "tr" / "00-example.md").write_text(src.replace("id=view-error", "id=view-hata"))
    problems = parity(tmp_path)
    assert len(problems) == 1 and "cells differ" in problems[0] and "view-hata" in problems[0]
    (tmp_path / "tr" / "00-example.md").write_text(src)
    assert parity(tmp_path) == []


def test_bundled_course_parses() -> None:
    for lang in ("en", "tr"):
        for item in load_course(lang=lang):
            assert not hasattr(item, "error"), str(getattr(item, "error", ""))


def test_every_problem_of_a_file_is_found_in_one_pass(fixtures: Path) -> None:
    path = fixtures / "many-problems" / "00-four-mistakes.md"
    with pytest.raises(LessonError) as info:
        parse_file(path)
    found = [(e.line, e.message.split(" (")[0]) for e in info.value.errors]
    assert found == [
        (5, "unknown front matter key 'author'"),
        (14, "unknown block kind 'runnable'"),
        (18, "unknown attribute 'colour' for a cell block"),
        (22, "exercise 'ones' has no checks: expected a ```python check for=ones block"),
    ]
    assert info.value.line == 5 and "and 3 more problems in this file" in str(info.value)
    assert all(str(e).startswith(f"{path}:{e.line}: ") for e in info.value.errors)

"""The bundled course as content: one Turkish term per concept, hints that stop short of the solution, the new
lessons' shape, and Turkish cells that print Turkish. Static checks of the lesson files; nothing runs."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from llm_tutor.engine.course.catalog import LANGS, lesson_files, load_course
from llm_tutor.engine.course.lesson import Cell, Exercise, Lesson, Predict, parse_file
from llm_tutor.lessons import LESSONS_DIR

GLOSSARY = LESSONS_DIR / "tr" / "_glossary.md"


def glossary_rows(path: Path = GLOSSARY) -> list[tuple[str, str, list[str]]]:
    """(English, Turkish term, rejected variants) for every row of the glossary's table."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not line.startswith("|") or set(cells[0]) <= {"-"} or cells[0] == "English":
            continue
        rows.append((cells[0], cells[1], [v.strip() for v in cells[2].split(";") if v.strip()]))
    return rows


def rejected_uses(text: str, rows: list[tuple[str, str, list[str]]]) -> list[tuple[int, str, str]]:
    """(line, variant used, the glossary's term) for every rejected variant in `text`, matched at a word start,
    as written or capitalised (not with re.IGNORECASE, which folds Turkish ı into i: 'tokenı' would match 'tokenizer')."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        for _english, term, variants in rows:
            for variant in variants:
                forms = {variant, variant[:1].upper() + variant[1:]}
                if any(re.search(r"(?<!\w)" + re.escape(form), line) for form in forms):
                    found.append((number, variant, term))
    return found


def test_the_glossary_is_not_a_lesson() -> None:
    assert GLOSSARY.is_file()
    assert GLOSSARY not in lesson_files(LESSONS_DIR, "tr")
    assert all(getattr(item, "path", None) != GLOSSARY for item in load_course(lang="tr"))


def test_the_glossary_names_one_term_per_concept() -> None:
    rows = glossary_rows()
    assert len(rows) >= 20
    english = [r[0] for r in rows]
    assert len(english) == len(set(english)), "a concept is listed twice"
    for _english, term, variants in rows:
        assert term and all(v.lower() not in term.lower() for v in variants), (term, variants)


def test_the_glossary_check_finds_rejected_variants() -> None:
    text = "Bir tensörün öğeleri\nmatrisin transpozunu alın\nBuna aşırı uyum denir\ndevriğini alın; tokenizer\n"
    found = rejected_uses(text, glossary_rows())
    assert [(n, v) for n, v, _ in found] == [(1, "öğe"), (2, "transpoz"), (3, "aşırı uyum")]


@pytest.mark.parametrize("path", lesson_files(LESSONS_DIR, "tr"), ids=lambda p: p.name)
def test_turkish_lessons_use_the_glossary_terms(path: Path) -> None:
    found = rejected_uses(path.read_text(encoding="utf-8"), glossary_rows())
    assert not found, "\n".join(f"{path}:{n}: '{variant}' (the glossary's term: {term})" for n, variant, term in found)


# -- hints ------------------------------------------------------------------------------------------


def _norm(line: str) -> str:
    return re.sub(r"\s+", "", re.sub(r"#.*", "", line))


def _gives_away(ex: Exercise) -> bool:
    """Whether the last hint holds every line the solution changes from the starter (or its right-hand side)."""
    starter = {_norm(line) for line in ex.starter.splitlines()}
    changed = [_norm(line) for line in ex.solution.splitlines() if _norm(line) and _norm(line) not in starter]
    last = re.sub(r"\s+", "", ex.hints[-1].replace("`", ""))

    def given(line: str) -> bool:
        rhs = re.match(r"^[\w.\[\], ]+?(?:[-+*/]?=)(?!=)(.+)$", line)
        return line in last or bool(rhs and len(rhs.group(1)) >= 8 and rhs.group(1) in last)

    return bool(changed) and all(given(line) for line in changed)


def course() -> list[Lesson]:
    return [item for lang in LANGS for item in load_course(lang=lang) if isinstance(item, Lesson)]


def test_every_exercise_has_graded_hints_and_the_last_stops_short_of_the_solution() -> None:
    problems = []
    for les in course():
        for ex in les.exercises:
            if len(ex.hints) < 3:
                problems.append(f"{les.path}:{ex.line}: '{ex.id}' has {len(ex.hints)} hints (at least 3)")
            elif _gives_away(ex):
                problems.append(f"{les.path}:{ex.line}: the last hint of '{ex.id}' is the solution itself")
    assert not problems, "\n".join(problems)


def test_the_hint_rule_catches_a_hint_that_is_the_solution() -> None:
    ex = Exercise("e", "e", "x = None", 1, solution="x = torch.ones(2, 3)  # (2, 3)", hints=["a", "b", "`x = torch.ones(2, 3)`"])
    assert _gives_away(ex)
    ex.hints[-1] = "`torch.ones` takes the size of each dimension: two rows, three columns."
    assert not _gives_away(ex)


# -- the new lessons ---------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("name", ["07-datasets.md", "08-training-loop.md", "09-save-load.md"])
def test_new_lessons_have_exercises_and_a_predict_question(lang: str, name: str) -> None:
    les = parse_file(LESSONS_DIR / lang / name)
    assert len(les.exercises) >= 3 and len(les.predicts) >= 1
    assert any("track(" in c.code for c in les.cells) == (les.id == "training-loop")


def test_course_order_puts_the_new_lessons_between_backprop_and_train_a_gpt() -> None:
    for lang in LANGS:
        ids = [les.id for les in load_course(lang=lang) if isinstance(les, Lesson)]
        start = ids.index("backprop")
        assert ids[start : start + 5] == ["backprop", "datasets", "training-loop", "save-load", "train-a-gpt"], ids


# -- Turkish output ----------------------------------------------------------------------------------

ENGLISH = {
    "the", "of", "and", "with", "after", "before", "again", "without", "from", "per", "same", "one", "two", "loss",
    "step", "steps", "train", "parameters", "tokens", "characters", "memory", "total", "zero", "value", "method",
    "rounded", "initial", "mode", "equal", "accuracy", "output", "outputs", "input", "target", "vocabulary", "size",
    "length", "fraction", "mean", "check", "saved", "untied", "tied", "heads", "layers", "dimension", "device",
    "element", "labels", "batch", "batches", "correct", "predictions", "probabilities", "class", "keys", "bytes",
}


def printed_text(code: str) -> list[tuple[int, str]]:
    """The constant text of every `print(...)` argument (f-strings without their fields), with its line."""
    out = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
            for arg in node.args:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    out.append((node.lineno, arg.value))
                elif isinstance(arg, ast.JoinedStr):
                    out.append((node.lineno, " ".join(v.value for v in arg.values if isinstance(v, ast.Constant))))
    return out


def test_turkish_cells_print_turkish() -> None:
    problems = []
    for les in load_course(lang="tr"):
        for seg in getattr(les, "segments", []):
            if isinstance(seg, (Cell, Predict)):
                for lineno, text in printed_text(seg.code):
                    words = {w.lower() for w in re.findall(r"[\w.()\[\]]+", text) if w.isascii() and w.isalpha()} & ENGLISH
                    if words:
                        problems.append(f"{les.path}:{seg.line + lineno}: {text!r} ({', '.join(sorted(words))})")
    assert not problems, "\n".join(problems)

"""`llm-tutor grade`: a file checked headless in a real kernel, every failure shown, the attempt recorded."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from llm_tutor.engine.course.lesson import parse_file
from llm_tutor.engine.learner.store import ProgressStore
from llm_tutor.engine.learner.workspace import Workspace
from tests.conftest import FIXTURES, llm_tutor_cmd

GOOD = FIXTURES / "good"


def grade(*args: str, data: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*llm_tutor_cmd(), "grade", *args, "--lessons", str(GOOD), "--data-dir", str(data), "--device", "cpu"],
        capture_output=True, text=True, timeout=180,
    )


def test_a_wrong_answer_lists_every_failed_expectation_and_counts_the_attempt(tmp_path: Path) -> None:
    answer = tmp_path / "answer.py"
    answer.write_text("x = torch.zeros(2, 2, dtype=torch.int64)\n")
    proc = grade("example", "ones", "--file", str(answer), data=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    failures = [line for line in proc.stdout.splitlines() if line.startswith("  - ")]
    assert len(failures) == 3
    assert "wrong shape; got shape (2, 2); expected shape (2, 3)" in failures[0]
    assert "wrong dtype; got dtype int64; expected dtype float32" in failures[1]
    assert "wrong shape" in failures[2] and "tensor([[1., 1., 1.]" not in failures[2]
    assert "attempt 1; lesson 'example': 0/1 exercises solved" in proc.stdout
    with ProgressStore.open(tmp_path) as store:
        ex = store.exercise("example", "ones")
        assert (ex.status, ex.attempts) == ("attempted", 1)
        assert store.load_draft("example", "ones") == "x = torch.zeros(2, 2, dtype=torch.int64)\n"


def test_a_wrong_value_is_named_and_its_expected_value_waits_for_the_third_attempt(tmp_path: Path) -> None:
    answer = tmp_path / "answer.py"
    answer.write_text("x = -torch.ones(2, 3)\n")
    for attempt in (1, 2, 3):
        proc = grade("example", "ones", "--file", str(answer), data=tmp_path)
        failures = [line for line in proc.stdout.splitlines() if line.startswith("  - ")]
        assert len(failures) == 1 and "the sign is flipped" in failures[0], proc.stdout
        assert ("expected tensor([[1., 1., 1.]" in failures[0]) == (attempt == 3), proc.stdout


def test_the_workspace_file_passes_and_is_recorded_as_solved(tmp_path: Path) -> None:
    lesson = parse_file(GOOD / "00-example.md")
    path = Workspace.open(tmp_path).ensure("example", lesson.exercises[0], code="x = torch.ones(2, 3)")
    proc = grade("example", "ones", "--json", data=tmp_path)  # no --file: the workspace file
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["passed"] is True and report["file"] == str(path) and report["saved"] is True
    assert len(report["expectations"]) == 3 and all(e["passed"] for e in report["expectations"])
    with ProgressStore.open(tmp_path) as store:
        assert store.exercise("example", "ones").status == "solved"
        assert store.load_draft("example", "ones") == "x = torch.ones(2, 3)\n"  # without the header


def test_code_that_raises_is_shown_as_an_error(tmp_path: Path) -> None:
    answer = tmp_path / "answer.py"
    answer.write_text("x = not_defined + 1\n")
    proc = grade("example", "ones", "--file", str(answer), data=tmp_path)
    assert proc.returncode == 1
    assert "your code raised NameError: name 'not_defined' is not defined" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope", "ones", "--file", "{f}"], "unknown lesson 'nope'"),
        (["example", "nope", "--file", "{f}"], "lesson 'example' has no exercise 'nope' (exercises: ones)"),
        (["example", "ones", "--file", "{d}/missing.py"], "no such file: {d}/missing.py"),
        (["example", "ones"], "no --file given and no workspace file at {d}/workspace/example/ones.en.py"),
        (["example", "ones", "--file", "{f}", "--timeout", "0"], "--timeout must be a positive number"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_no_attempt(tmp_path: Path, args: list[str], message: str) -> None:
    answer = tmp_path / "answer.py"
    answer.write_text("x = 1\n")
    args = [a.format(f=answer, d=tmp_path) for a in args]
    proc = grade(*args, data=tmp_path)
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert message.format(d=tmp_path) in line
    with ProgressStore.open(tmp_path) as store:
        assert store.exercise("example", "ones").attempts == 0


# -- in Turkish -------------------------------------------------------------------------------------


def test_the_grade_words_hold_the_same_keys_and_placeholders_in_both_languages() -> None:
    import string

    from llm_tutor.engine.grading.feedback import ENGLISH
    from llm_tutor.engine.grading.words import TEXT
    from llm_tutor.engine.grading.hints import ENGLISH as HINTS

    def fields(text: str) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}

    assert set(TEXT) == {"en", "tr"}
    assert TEXT["en"].keys() == TEXT["tr"].keys()
    assert {k[5:] for k in TEXT["en"] if k.startswith("diag_")} == set(ENGLISH)  # every diagnosis has its words
    assert {k[5:] for k in TEXT["en"] if k.startswith("hint_")} == set(HINTS)  # and every error note
    for key, english in TEXT["en"].items():
        if key.startswith("hint_"):  # a note may leave out what the kernel adds
            assert fields(TEXT["tr"][key]) <= fields(english) | {"n"}, key
        else:
            assert fields(TEXT["tr"][key]) == fields(english), key
        assert TEXT["tr"][key] != english, key  # nothing left untranslated


ENGLISH_FRAMING = re.compile(
    r"\b(expected|got|attempt|exercises?|did not pass|passed|lesson|solved|sign|flipped|hint|check|value|shows)\b",
)


def test_grade_in_turkish_says_everything_of_its_own_in_turkish(tmp_path: Path) -> None:
    course = tmp_path / "course" / "tr"
    course.mkdir(parents=True)
    text = (GOOD / "00-example.md").read_text().replace('title="A (2, 3) tensor of ones"', 'title="Birlerden bir tensör"')
    (course / "00-example.md").write_text(text)
    answer = tmp_path / "answer.py"

    def grade_tr(code: str) -> subprocess.CompletedProcess[str]:
        answer.write_text(code)
        return subprocess.run(
            [*llm_tutor_cmd(), "grade", "example", "ones", "--file", str(answer), "--lessons", str(course.parent),
             "--data-dir", str(tmp_path / "data"), "--device", "cpu"],
            capture_output=True, text=True, timeout=180, env={**os.environ, "LLM_TUTOR_LANG": "tr"},
        )

    raised = grade_tr("x = not_defined + 1\n")
    assert "kodunuz bir hata verdi: NameError" in raised.stdout, raised.stdout + raised.stderr
    assert "ipucu: 'not_defined' (henüz) yok" in raised.stdout  # the kernel's note, in the app's Turkish words
    proc = grade_tr("x = -torch.ones(2, 3)\n")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = proc.stdout
    assert "✗ 'ones' alıştırması (Birlerden bir tensör) geçmedi" in out
    assert "işaret ters; gelen" in out and "(beklenen değer 3. denemeden sonra görünür)" in out
    assert "2. deneme; 'example' dersi: 0/1 alıştırma çözüldü" in out
    assert not ENGLISH_FRAMING.findall(out), out
    with ProgressStore.open(tmp_path / "data") as store:
        assert store.load_draft("example", "ones", "tr") == "x = -torch.ones(2, 3)\n"
        assert store.load_draft("example", "ones", "en") is None

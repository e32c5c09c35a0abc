"""`llm-tutor check` as a course author runs it: real processes, real exit codes, JUnit and JSON reports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from tests.conftest import llm_tutor_cmd


def run_cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*llm_tutor_cmd(), *args], capture_output=True, text=True, timeout=timeout)


def test_good_lesson_passes(fixtures: Path) -> None:
    proc = run_cli("check", str(fixtures / "good"), "--device", "cpu")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "✓ example (en)" in proc.stdout
    assert "0 lessons failing" in proc.stdout


@pytest.fixture(scope="module")
def checker_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], dict, Path]:
    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "lessons" / "checker"
    out = tmp_path_factory.mktemp("junit") / "report.xml"
    proc = run_cli("check", str(fixtures), "--timeout", "2", "--junit", str(out), "--json")
    return proc, json.loads(proc.stdout), out


def _items(report: dict, lesson_id: str) -> list[dict]:
    return next(l for l in report["lessons"] if l["lesson_id"] == lesson_id)["items"]


def test_checker_exits_1_when_a_check_fails(checker_report) -> None:
    proc, report, _ = checker_report
    assert proc.returncode == 1, proc.stderr
    assert report["ok"] is False


def test_starter_that_passes_is_reported(checker_report) -> None:
    _, report, _ = checker_report
    starter = next(i for i in _items(report, "starter-passes") if i["kind"] == "starter")
    assert not starter["ok"] and "already passes" in starter["message"]
    solution = next(i for i in _items(report, "starter-passes") if i["kind"] == "solution")
    assert solution["ok"]


def test_a_starter_raises_only_what_it_declares(checker_report) -> None:
    """A starter that raises must say so (raises=...), so exported lessons run on past it; and raise that."""
    _, report, _ = checker_report
    starters = {i["id"]: i for i in _items(report, "starter-raises") if i["kind"] == "starter"}
    assert not starters["unmarked"]["ok"] and "the starter raises NameError; if that is the exercise, mark it " \
        "raises=NameError" in starters["unmarked"]["message"]
    assert not starters["wrong-kind"]["ok"]
    assert "should raise ValueError (raises=ValueError) but raised ZeroDivisionError" in starters["wrong-kind"]["message"]
    assert starters["marked"]["ok"], starters["marked"]


def test_solution_that_fails_lists_every_expectation(checker_report) -> None:
    _, report, _ = checker_report
    solution = next(i for i in _items(report, "solution-fails") if i["kind"] == "solution")
    assert not solution["ok"]
    assert "t: expected shape (2, 3, 4), got shape (2, 3)" in solution["message"]
    assert "expected dtype int64, got dtype float32" in solution["message"]


def test_cell_that_raises_names_file_and_line(checker_report) -> None:
    _, report, _ = checker_report
    boom = next(i for i in _items(report, "cell-raises") if i["id"] == "boom")
    assert not boom["ok"] and "ZeroDivisionError" in boom["message"]
    assert boom["line"] == 12  # the fence is on line 11; the error on the cell's first line


def test_cell_that_hangs_is_interrupted_and_the_rest_still_runs(checker_report) -> None:
    _, report, _ = checker_report
    forever, after = _items(report, "cell-hangs")
    assert not forever["ok"] and "did not finish within 2 s" in forever["message"]
    assert after["ok"]


def test_cell_marked_raises_must_raise(checker_report) -> None:
    _, report, _ = checker_report
    (calm,) = _items(report, "expected-error-missing")
    assert not calm["ok"] and "should raise ValueError" in calm["message"]


def test_junit_report_has_a_case_per_item(checker_report) -> None:
    _, report, junit = checker_report
    root = ET.parse(junit).getroot()
    cases = root.findall(".//testcase")
    assert len(cases) == sum(len(l["items"]) for l in report["lessons"])
    failures = root.findall(".//failure")
    assert len(failures) == sum(1 for l in report["lessons"] for i in l["items"] if not i["ok"])


def test_broken_lesson_exits_2_with_one_clear_line(fixtures: Path) -> None:
    proc = run_cli("check", str(fixtures / "broken" / "unknown-kind.md"))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "unknown-kind.md:9: unknown block kind 'runnable'" in lines[0]


def test_bad_usage_exits_2_with_one_line() -> None:
    proc = run_cli("check", "--lang", "xx")
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "invalid choice" in proc.stderr
    proc = run_cli("check", "/no/such/path")
    assert proc.returncode == 2 and proc.stderr.strip() == "llm-tutor: error: no such lesson file or folder: /no/such/path"


def test_lessons_json_lists_contract_fields(fixtures: Path) -> None:
    proc = run_cli("lessons", "--lessons", str(fixtures / "good"), "--json")
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads(proc.stdout)
    assert set(row) >= {"id", "title", "lang", "order", "cells", "exercises", "status"}
    assert row["id"] == "example" and row["exercises"] == ["ones"] and row["cells"] == 2


def test_check_never_loads_textual(fixtures: Path) -> None:
    code = (
        "import sys\n"
        "from llm_tutor.tui.launch import main\n"
        f"rc = main(['check', {str(fixtures / 'good')!r}, '--device', 'cpu'])\n"
        "assert 'textual' not in sys.modules, 'check loaded textual'\n"
        "assert 'torch' not in sys.modules, 'check loaded torch in the CLI process'\n"
        "sys.exit(rc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_run_plain_prints_a_transcript(fixtures: Path) -> None:
    proc = run_cli("run", str(fixtures / "good" / "00-example.md"), "--plain", "--device", "cpu")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "── cell make" in proc.stdout
    assert "tensor([[1, 2]," in proc.stdout
    assert "RuntimeError" in proc.stdout  # the view-error cell shows its (expected) error


def test_check_lists_every_format_error_of_a_file_in_one_run(fixtures: Path) -> None:
    path = fixtures / "many-problems" / "00-four-mistakes.md"
    proc = run_cli("check", str(path))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    prefix = f"llm-tutor: error: {path}:"
    assert all(line.startswith(prefix) for line in lines), lines
    assert [int(line[len(prefix):].split(":", 1)[0]) for line in lines] == [5, 14, 18, 22]


def test_a_check_reading_a_name_only_the_solution_defines_is_reported_at_the_check(checker_report) -> None:
    _, report, _ = checker_report
    items = _items(report, "check-reads-solution-name")
    (names,) = [i for i in items if i["kind"] == "names"]
    assert not names["ok"] and names["line"] == 24  # the fence is on line 23; the name on the check's first line
    assert "`expected_double`" in names["message"] and "only the solution defines it" in names["message"]
    solution = next(i for i in items if i["kind"] == "solution")
    assert solution["ok"]  # exactly the trap: the solution passes, no learner can


def test_a_check_reading_a_misspelt_name_blames_the_check_not_the_solution(checker_report) -> None:
    _, report, _ = checker_report
    items = _items(report, "check-misspelt-name")
    (names,) = [i for i in items if i["kind"] == "names"]
    assert names["line"] == 22 and "`refrence`" in names["message"] and "nothing defines it" in names["message"]
    solution = next(i for i in items if i["kind"] == "solution")
    assert not solution["ok"] and solution["line"] == 22 and "the check itself fails" in solution["message"]


def test_lessons_checked_at_once_keep_their_order_and_their_own_folders(tmp_path: Path) -> None:
    """--jobs 2: two kernels at once, each in a folder of its own (lessons write files), reports in lesson order."""
    for n in range(3):
        (tmp_path / f"0{n}-l{n}.md").write_text(
            f"---\nid: l{n}\ntitle: L{n}\norder: {n}\n---\n\n"
            "```python cell id=write\nimport os, time\nopen('shared.txt', 'w').write(" f"'l{n}'" ")\n"
            "time.sleep(0.4)  # the other kernel writes its own shared.txt meanwhile, if it shares the folder\n"
            f"assert open('shared.txt').read() == 'l{n}', 'another lesson wrote into this one'\n"
            "print(os.getcwd())\n```\n")
    proc = run_cli("check", str(tmp_path), "--device", "cpu", "--jobs", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    marks = [line.split()[1] for line in proc.stdout.splitlines() if line.startswith("✓")]
    assert marks == ["l0", "l1", "l2"]
    assert "3 lessons" in proc.stdout and "0 lessons failing" in proc.stdout


def test_jobs_must_be_positive(fixtures: Path) -> None:
    proc = run_cli("check", str(fixtures / "good"), "--jobs", "0")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["llm-tutor: error: --jobs must be at least 1"]

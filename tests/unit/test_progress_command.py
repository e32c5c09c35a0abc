"""`llm-tutor progress` as learners and instructors run it: real processes, real files, a real pty."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
from pathlib import Path

import pytest

from llm_tutor.engine.course.lesson import parse_file
from llm_tutor.engine.learner.sidefile import RESERVE_NAME
from llm_tutor.engine.learner.paths import DB_NAME
from llm_tutor.engine.learner.store import ProgressStore
from llm_tutor.engine.learner.workspace import Workspace
from tests.conftest import FIXTURES, llm_tutor_cmd

GOOD = FIXTURES / "good"


def cli(*args: str, data: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*llm_tutor_cmd(), "progress", "--lessons", str(GOOD), "--data-dir", str(data), *args],
        capture_output=True, text=True, timeout=120, input=stdin, env={**os.environ, "NO_COLOR": "1"},
    )


def cli_on_a_tty(*args: str, data: Path, answer: str = "") -> tuple[int, str]:
    """Run the command with a pseudo-terminal as stdin/stdout/stderr; type `answer` when it asks."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [*llm_tutor_cmd(), "progress", "--lessons", str(GOOD), "--data-dir", str(data), *args],
        stdin=slave, stdout=slave, stderr=slave, env={**os.environ, "NO_COLOR": "1", "COLUMNS": "120"},
    )
    os.close(slave)
    out = b""
    answered = False
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            proc.kill()
            break
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
        if not answered and b"[y/N]" in out:
            os.write(master, answer.encode() + b"\n")
            answered = True
    os.close(master)
    return proc.wait(timeout=60), out.decode(errors="replace").replace("\r\n", "\n")


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A data directory where the fixture lesson's exercise was tried twice, solved, and a file exists."""
    lesson = parse_file(GOOD / "00-example.md")
    with ProgressStore.open(tmp_path) as store:
        store.record_attempt("example", "ones", passed=False, code="x = 0")
        store.record_attempt("example", "ones", passed=True, code="x = torch.ones(2, 3)")
        store.reveal_hint("example", "ones", total=2)
        store.add_time("example", 125.0, exercise_id="ones")
        store.set_position("example", "make")
    Workspace.open(tmp_path).ensure("example", lesson.exercises[0], code="x = torch.ones(2, 3)")
    return tmp_path


def test_plain_lines_when_piped(data: Path) -> None:
    proc = cli(data=data)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:4] == ["example", "1/1", "solved", "completed"]
    assert "attempts 2" in lines[0] and "hints 1" in lines[0] and "time 2m" in lines[0]
    assert lines[-1] == "overall: 1/1 exercises solved, 1/1 lessons completed, 2m spent; last opened: example"


def test_json(data: Path) -> None:
    proc = cli("--json", data=data)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["overall"]["solved"] == 1 and report["overall"]["fraction"] == 1.0
    assert report["last_position"] == {"lesson_id": "example", "cell_id": "make"}
    (lesson,) = report["lessons"]
    assert (lesson["lesson_id"], lesson["title"], lesson["status"], lesson["attempts"]) == (
        "example", "A first tensor", "completed", 2)
    assert lesson["exercises"][0]["status"] == "solved"


def test_a_fresh_data_directory_shows_nothing_started_and_creates_nothing(tmp_path: Path) -> None:
    proc = cli("--json", data=tmp_path / "new")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["lessons"][0]["status"] == "not_started"
    assert not (tmp_path / "new").exists()


def test_a_table_on_a_terminal(data: Path) -> None:
    code, out = cli_on_a_tty(data=data)
    assert code == 0, out
    assert "Lesson" in out and "Attempts" in out and "✓ completed" in out
    assert "overall: 1/1 exercises solved" in out


def test_reset_without_a_terminal_needs_yes(data: Path) -> None:
    proc = cli("--reset", "example", data=data)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "llm-tutor: error: resetting lesson 'example' needs confirmation: run it in a terminal or add --yes"
    ]
    with ProgressStore.open(data) as store:
        assert store.exercise("example", "ones").status == "solved"


def test_reset_with_yes_forgets_progress_and_keeps_the_file_as_a_backup(data: Path) -> None:
    proc = cli("--reset", "example:ones", "--yes", data=data)
    assert proc.returncode == 0, proc.stderr
    assert "reset exercise 'ones' of lesson 'example'; 1 workspace file(s) kept as .bak" in proc.stdout
    with ProgressStore.open(data) as store:
        assert store.exercise("example", "ones").status == "not_started"
        assert store.load_draft("example", "ones") is None
        assert store.lesson_position("example") == "make"  # only the exercise was reset
    folder = data / "workspace" / "example"
    assert not (folder / "ones.en.py").exists() and "torch.ones(2, 3)" in (folder / "ones.en.py.bak").read_text()


def test_reset_asks_on_a_terminal(data: Path) -> None:
    code, out = cli_on_a_tty("--reset", "example", data=data, answer="n")
    assert code == 1 and "cancelled: nothing was reset" in out
    with ProgressStore.open(data) as store:
        assert store.exercise("example", "ones").status == "solved"
    code, out = cli_on_a_tty("--reset", "example", data=data, answer="y")
    assert code == 0 and "reset lesson 'example'" in out, out
    with ProgressStore.open(data) as store:
        assert store.lesson_status("example", ["ones"]).status == "not_started"
        assert store.last_position() is not None  # "which lesson was open" is not lesson progress


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("nope", "unknown lesson 'nope'"),
        ("example:nope", "lesson 'example' has no exercise 'nope' (exercises: ones)"),
    ],
)
def test_reset_of_something_unknown_is_bad_input(data: Path, target: str, message: str) -> None:
    proc = cli("--reset", target, "--yes", data=data)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert message in proc.stderr


def test_a_corrupt_database_is_reported_not_crashed_on(tmp_path: Path) -> None:
    (tmp_path / DB_NAME).write_bytes(b"garbage" * 1000)
    proc = cli(data=tmp_path)
    assert proc.returncode == 0
    assert "damaged" in proc.stderr and "0/1 solved" in proc.stdout


def _student(root: Path, name: str, solved: bool) -> Path:
    folder = root / "users" / name
    with ProgressStore.open(folder) as store:
        store.record_attempt("example", "ones", passed=solved)
        store.set_position("example", "make")
        store.add_time("example", 600.0)
    return folder


def test_all_students_on_a_lab_server_read_only(tmp_path: Path) -> None:
    alice = _student(tmp_path, "alice", solved=True)
    _student(tmp_path, "bob", solved=False)
    broken = tmp_path / "users" / "carol"
    broken.mkdir()
    (broken / DB_NAME).write_bytes(b"not a database" * 100)
    before = {p: sorted(os.listdir(p)) for p in (tmp_path / "users").iterdir()}

    proc = cli("--all", "--json", data=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = {r["student"]: r for r in json.loads(proc.stdout)["students"]}
    assert (rows["alice"]["solved"], rows["alice"]["completed_lessons"]) == (1, 1)
    assert (rows["bob"]["solved"], rows["bob"]["last_lesson"], rows["bob"]["time_s"]) == (0, "example", 600.0)
    assert rows["alice"]["last_active"] is not None
    assert "damaged" in rows["carol"]["problems"][0]
    # read-only: not a file created, moved or changed in any student's folder
    assert {p: sorted(os.listdir(p)) for p in (tmp_path / "users").iterdir()} == before
    assert (broken / DB_NAME).read_bytes().startswith(b"not a database")

    proc = cli("--all", data=tmp_path)
    assert proc.returncode == 0
    assert [line.split()[0] for line in proc.stdout.splitlines()] == ["alice", "bob", "carol"]
    assert proc.stdout.splitlines()[0].split()[1:3] == ["1/1", "solved"]
    assert sorted(os.listdir(alice)) == sorted([DB_NAME, RESERVE_NAME])  # what the student's own store made


def test_all_cannot_reset(tmp_path: Path) -> None:
    proc = cli("--all", "--reset", "example", data=tmp_path)
    assert proc.returncode == 2 and "cannot be combined" in proc.stderr

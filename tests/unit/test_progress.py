"""The progress store's API on a real SQLite file: statuses, counters, drafts, position, migrations."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from llm_tutor.engine.learner.paths import DB_NAME, student_databases
from llm_tutor.engine.learner.schema import MIGRATIONS, SCHEMA_VERSION, migrate
from llm_tutor.engine.learner.status import EXERCISE_STATUSES, STATUS_AFTER_ATTEMPT_SQL, status_after_attempt
from llm_tutor.engine.learner.store import ProgressStore


@pytest.fixture
def store(tmp_path: Path):
    with ProgressStore.open(tmp_path) as s:
        yield s


def test_open_creates_a_wal_database_at_the_current_schema(tmp_path: Path) -> None:
    with ProgressStore.open(tmp_path) as store:
        assert store.persistent and store.path == tmp_path / DB_NAME
        assert store.schema_version() == SCHEMA_VERSION == len(MIGRATIONS)
        assert store.notices == []
    conn = sqlite3.connect(tmp_path / DB_NAME)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_data_dir_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_TUTOR_DATA_DIR", str(tmp_path / "env-dir"))
    with ProgressStore.open() as store:
        store.save_draft("tensors", "ones", "x = 1")
    assert (tmp_path / "env-dir" / DB_NAME).is_file()


def test_attempts_move_status_from_not_started_to_solved_and_stay_solved(store: ProgressStore) -> None:
    assert store.exercise("tensors", "ones").status == "not_started"
    first = store.record_attempt("tensors", "ones", passed=False, code="x = None")
    assert (first.status, first.attempts, first.solved_at) == ("attempted", 1, None)
    second = store.record_attempt("tensors", "ones", passed=True, code="x = torch.ones(2, 3)")
    assert (second.status, second.attempts) == ("solved", 2)
    assert second.solved_at is not None
    third = store.record_attempt("tensors", "ones", passed=False, code="x = 0")
    assert (third.status, third.attempts, third.solved_at) == ("solved", 3, second.solved_at)
    assert store.load_draft("tensors", "ones") == "x = 0"


@pytest.mark.parametrize("passed", [False, True])
@pytest.mark.parametrize("before", EXERCISE_STATUSES)
def test_the_solved_rule_is_the_same_in_sql_and_in_python(before: str, passed: bool) -> None:
    conn = sqlite3.connect(":memory:")
    (after,) = conn.execute(
        f"SELECT {STATUS_AFTER_ATTEMPT_SQL} FROM (SELECT :status AS status)", {"passed": passed, "status": before}
    ).fetchone()
    assert after == status_after_attempt(before, passed)
    assert after == ("solved" if passed or before == "solved" else "attempted")


def test_hints_are_counted_and_capped_at_the_number_of_hints(store: ProgressStore) -> None:
    assert [store.reveal_hint("tensors", "ones", total=2) for _ in range(4)] == [1, 2, 2, 2]
    assert store.reveal_hint("tensors", "other") == 1
    assert store.exercise("tensors", "ones").hints == 2


def test_drafts_keep_the_newest_text(store: ProgressStore) -> None:
    assert store.load_draft("tensors", "ones") is None
    store.save_draft("tensors", "ones", "a")
    store.save_draft("tensors", "ones", "ab")
    draft = store.draft("tensors", "ones")
    assert draft is not None and draft.code == "ab" and draft.updated_at > 0


def test_position_remembers_the_last_lesson_and_each_lessons_cell(store: ProgressStore) -> None:
    assert store.last_position() is None
    store.set_position("tensors", "make")
    store.set_position("autograd", "backward")
    store.set_position("tensors")  # reopened: keeps its cell
    pos = store.last_position()
    assert pos is not None and (pos.lesson_id, pos.cell_id) == ("tensors", "make")
    assert store.lesson_position("autograd") == "backward"


def test_lesson_status_is_derived_from_its_exercises(store: ProgressStore) -> None:
    ids = ["a", "b", "c"]
    assert store.lesson_status("tensors", ids).status == "not_started"
    store.record_attempt("tensors", "a", passed=True)
    store.record_attempt("tensors", "b", passed=False)
    store.add_time("tensors", 30.0, exercise_id="b")
    progress = store.lesson_status("tensors", ids)
    assert (progress.status, progress.solved, progress.total, progress.attempts) == ("in_progress", 1, 3, 2)
    assert progress.time_s == 30.0 and progress.exercises[1].time_s == 30.0
    assert progress.fraction == pytest.approx(1 / 3)
    store.record_attempt("tensors", "b", passed=True)
    store.record_attempt("tensors", "c", passed=True)
    assert store.lesson_status("tensors", ids).status == "completed"
    # an exercise removed from the lesson no longer counts
    store.record_attempt("tensors", "old", passed=False)
    assert store.lesson_status("tensors", ids).total == 3


def test_a_lesson_without_exercises_is_completed_once_opened(store: ProgressStore) -> None:
    assert store.lesson_status("intro", []).status == "not_started"
    store.set_position("intro", "first")
    assert store.lesson_status("intro", []).status == "completed"


def test_summary_over_lessons(store: ProgressStore) -> None:
    store.record_attempt("tensors", "a", passed=True)
    store.set_position("intro")
    course = store.summary([("intro", []), ("tensors", ["a", "b"]), ("autograd", ["g"])])
    assert [p.status for p in course.lessons] == ["completed", "in_progress", "not_started"]
    assert (course.solved, course.total, course.completed_lessons) == (1, 3, 1)
    assert course.to_dict()["fraction"] == pytest.approx(1 / 3)


def test_summary_accepts_parsed_lessons(store: ProgressStore) -> None:
    from llm_tutor.engine.course.lesson import parse_file

    lesson = parse_file(Path(__file__).parents[1] / "fixtures/lessons/good/00-example.md")
    store.record_attempt(lesson.id, "ones", passed=True)
    course = store.summary([lesson])
    assert (course.solved, course.total, course.lessons[0].status) == (1, 1, "completed")


def test_predict_answers_are_kept(store: ProgressStore) -> None:
    store.record_predict("tensors", "shape", "(2, 2)")
    store.record_predict("tensors", "shape", "torch.Size([2, 2])", correct=True)
    answers = store.predict_answers("tensors")
    assert answers["shape"].answer == "torch.Size([2, 2])" and answers["shape"].correct is True


def test_reset_one_exercise_or_a_whole_lesson(store: ProgressStore) -> None:
    for ex in ("a", "b"):
        store.record_attempt("tensors", ex, passed=True, code=f"{ex} = 1")
    store.record_predict("tensors", "p", "1")
    store.set_position("tensors", "c1")
    store.record_attempt("autograd", "g", passed=True)
    assert store.reset("tensors", "a") == 2  # the exercise row and its draft
    assert store.exercise("tensors", "a").status == "not_started"
    assert store.load_draft("tensors", "a") is None
    assert store.exercise("tensors", "b").status == "solved"
    store.reset("tensors")
    assert store.lesson_status("tensors", ["a", "b"]).status == "not_started"
    assert store.predict_answers("tensors") == {} and store.lesson_position("tensors") is None
    assert store.exercise("autograd", "g").status == "solved"


def test_export_holds_everything_as_plain_data(store: ProgressStore) -> None:
    import json

    store.record_attempt("tensors", "a", passed=True, code="a = 1")
    store.set_position("tensors", "c1")
    data = json.loads(json.dumps(store.export()))
    assert data["schema_version"] == SCHEMA_VERSION
    assert data["exercises"][0]["exercise_id"] == "a" and data["exercises"][0]["status"] == "solved"
    assert data["drafts"][0]["code"] == "a = 1"
    assert data["last_position"] == {"lesson_id": "tensors", "cell_id": "c1"}


def test_progress_survives_reopening(tmp_path: Path) -> None:
    with ProgressStore.open(tmp_path) as store:
        store.record_attempt("tensors", "a", passed=True, code="a = 1")
    with ProgressStore.open(tmp_path) as store:
        assert store.exercise("tensors", "a").attempts == 1
        assert store.load_draft("tensors", "a") == "a = 1"


def test_migration_from_v1_keeps_the_data(tmp_path: Path) -> None:
    path = tmp_path / DB_NAME
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate(conn, target=1) == 0
    conn.execute(
        "INSERT INTO exercise (lesson_id, exercise_id, status, attempts, hints) VALUES ('tensors', 'a', 'solved', 3, 1)"
    )
    conn.execute("INSERT INTO draft VALUES ('tensors', 'a', 'a = 1', 5.0)")
    conn.execute("INSERT INTO meta VALUES ('last_lesson', 'tensors')")
    conn.close()

    with ProgressStore.open(tmp_path) as store:
        assert store.schema_version() == SCHEMA_VERSION
        ex = store.exercise("tensors", "a")
        assert (ex.status, ex.attempts, ex.hints, ex.solved_at) == ("solved", 3, 1, None)
        assert store.load_draft("tensors", "a") == "a = 1"
        assert store.last_position() is not None
        store.record_predict("tensors", "p", "3")  # a v2 table
        assert store.predict_answers("tensors")["p"].answer == "3"
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_a_database_from_a_newer_version_is_never_written(tmp_path: Path) -> None:
    path = tmp_path / DB_NAME
    with ProgressStore.open(tmp_path) as store:
        store.record_attempt("tensors", "a", passed=True)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.close()
    with ProgressStore.open(tmp_path) as store:
        assert not store.persistent
        assert "newer llm-tutor" in store.notices[0].message
        assert store.exercise("tensors", "a").status == "solved"  # still shown
        store.record_attempt("tensors", "b", passed=True)  # kept in memory only
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM exercise").fetchone()[0] == 1
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 5


def test_student_databases_on_a_lab_server(tmp_path: Path) -> None:
    for name in ("bob", "alice"):
        with ProgressStore.open(tmp_path / "users" / name) as store:
            store.record_attempt("tensors", "a", passed=name == "alice")
    (tmp_path / "users" / "empty").mkdir()
    found = student_databases(tmp_path)
    assert [name for name, _ in found] == ["alice", "bob"]
    with ProgressStore.open(found[0][1].parent, read_only=True) as store:
        assert not store.persistent and store.exercise("tensors", "a").status == "solved"


def test_drafts_are_kept_per_language_and_progress_is_shared(tmp_path: Path) -> None:
    with ProgressStore.open(tmp_path) as store:
        store.save_draft("tensors", "a", "a = 1  # english", lang="en")
        store.save_draft("tensors", "a", "a = 1  # türkçe", lang="tr")
        store.record_attempt("tensors", "a", passed=False, code="a = 2  # türkçe", lang="tr")
        assert store.load_draft("tensors", "a", "en") == "a = 1  # english"
        assert store.load_draft("tensors", "a", "tr") == "a = 2  # türkçe"
        assert store.load_draft("tensors", "a") == "a = 1  # english"  # no language given: English
        assert store.exercise("tensors", "a").attempts == 1
        assert sorted(d["lang"] for d in store.export()["drafts"]) == ["en", "tr"]
        store.reset("tensors", "a")
        assert store.load_draft("tensors", "a", "en") is None and store.load_draft("tensors", "a", "tr") is None


V3_FOLDER = Path(__file__).resolve().parents[1] / "fixtures" / "progress-v3"
"""A data directory written by llm-tutor with schema 3: one draft and one exercise file, neither with a language."""


def test_a_v3_data_directory_becomes_english_drafts_and_files(tmp_path: Path) -> None:
    from llm_tutor.engine.course.lesson import Exercise
    from llm_tutor.engine.learner.workspace import Workspace, latest_code

    data = tmp_path / "data"
    shutil.copytree(V3_FOLDER, data)
    old_file = data / "workspace" / "sums" / "total.py"
    os.utime(old_file, (1000.0, 1000.0))  # saved before the draft (git keeps no times)
    conn = sqlite3.connect(data / DB_NAME)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 3
    conn.close()

    total_en = Exercise(id="total", title="The total", starter="total = 0  # your code here", line=1)
    total_tr = Exercise(id="total", title="Toplam", starter="total = 0  # kodunuz buraya", line=1)
    with ProgressStore.open(data) as store:
        assert store.schema_version() == SCHEMA_VERSION == 4
        ex = store.exercise("sums", "total")
        assert (ex.status, ex.attempts, ex.hints) == ("attempted", 1, 1)  # shared by the languages
        assert store.load_draft("sums", "total", "en") == "total = sum(numbers)  # my draft"
        assert store.load_draft("sums", "total", "tr") is None
        ws = Workspace.open(data)
        assert latest_code(store, ws, "sums", "total", total_tr.starter, lang="tr") is None
        ws.ensure("sums", total_tr, lang="tr")
        assert latest_code(store, ws, "sums", "total", total_en.starter, lang="en") == (
            "total = sum(numbers)  # my draft",
            "draft",
        )
    assert not old_file.exists()
    assert "# my file" in (data / "workspace" / "sums" / "total.en.py").read_text()
    assert "kodunuz buraya" in (data / "workspace" / "sums" / "total.tr.py").read_text()

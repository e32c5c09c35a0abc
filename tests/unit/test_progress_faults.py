"""Faults of the progress store on real files and real processes: concurrency, locks, corruption,
read-only data directories, kill -9 while saving, and a full disk. Nothing may be lost silently."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from llm_tutor.engine.learner.paths import DB_NAME, PENDING_NAME
from llm_tutor.engine.learner.store import ProgressStore


def _python(code: str, data_dir: Path, **kwargs: object) -> subprocess.Popen[str]:
    """Start a Python process running `code` with the data directory in `DATA`."""
    env = {**os.environ, "LLM_TUTOR_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(  # type: ignore[call-overload]
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **kwargs,
    )


def _holder(path: Path) -> subprocess.Popen[str]:
    """A process that takes the database's write lock, says "locked", and commits on a line of stdin."""
    proc = _python(
        f"""
        import sqlite3, sys
        conn = sqlite3.connect({str(path)!r}, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO meta VALUES ('holder', 'x') ON CONFLICT DO NOTHING")
        print("locked", flush=True)
        sys.stdin.readline()
        conn.execute("COMMIT")
        print("released", flush=True)
        """,
        path.parent,
        stdin=subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "locked", proc.stderr.read() if proc.stderr else ""
    return proc


def _release(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("\n")
    proc.stdin.flush()
    assert proc.stdout.readline().strip() == "released"
    assert proc.wait(timeout=30) == 0


def test_two_processes_never_lose_each_others_updates(tmp_path: Path) -> None:
    ProgressStore.open(tmp_path).close()
    go = tmp_path / "go"
    code = f"""
        import os, time
        from llm_tutor.engine.learner.store import ProgressStore
        store = ProgressStore.open(lock_timeout=30)
        while not os.path.exists({str(go)!r}):
            time.sleep(0.01)
        for i in range(60):
            store.record_attempt("tensors", "ones", passed=False, code=f"{{os.getpid()}} {{i}}")
            store.reveal_hint("tensors", "ones")
            store.add_time("tensors", 1.0, exercise_id="ones")
        store.close()
        print(store.pending, len(store.notices))
        """
    procs = [_python(code, tmp_path) for _ in range(2)]
    go.touch()
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert out.split() == ["0", "0"]  # nothing queued, nothing to report
    with ProgressStore.open(tmp_path) as store:
        ex = store.exercise("tensors", "ones")
        assert (ex.attempts, ex.hints, ex.time_s) == (120, 120, 120.0)
        assert store.lesson_status("tensors", ["ones"]).time_s == 120.0


def test_a_short_lock_is_waited_out(tmp_path: Path) -> None:
    ProgressStore.open(tmp_path).close()
    holder = _python(
        f"""
        import sqlite3, time
        conn = sqlite3.connect({str(tmp_path / DB_NAME)!r}, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        print("locked", flush=True)
        time.sleep(0.3)
        conn.execute("COMMIT")
        """,
        tmp_path,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    with ProgressStore.open(tmp_path, lock_timeout=30) as store:
        progress = store.record_attempt("tensors", "ones", passed=True)
        assert store.pending == 0 and store.notices == []
        assert progress.attempts == 1
    assert holder.wait(timeout=30) == 0


def test_a_long_lock_queues_the_write_and_reports_it(tmp_path: Path) -> None:
    ProgressStore.open(tmp_path).close()
    notices = []
    store = ProgressStore.open(tmp_path, lock_timeout=0.2, on_notice=notices.append)
    holder = _holder(tmp_path / DB_NAME)
    try:
        progress = store.record_attempt("tensors", "ones", passed=True, code="x = 1")
        assert (progress.status, progress.attempts) == ("solved", 1)  # what it will be
        store.save_draft("tensors", "ones", "x = 2")
        assert store.pending == 2
        assert "locked by another llm-tutor process" in notices[0].message
        assert not store.flush_pending()
    finally:
        _release(holder)
    assert store.flush_pending()
    assert store.pending == 0 and notices[-1].level == "info"
    assert store.exercise("tensors", "ones").attempts == 1
    assert store.load_draft("tensors", "ones") == "x = 2"  # in order: the later draft wins
    store.close()


def test_writes_still_locked_at_close_are_kept_for_the_next_session(tmp_path: Path) -> None:
    ProgressStore.open(tmp_path).close()
    store = ProgressStore.open(tmp_path, lock_timeout=0.1)
    holder = _holder(tmp_path / DB_NAME)
    try:
        store.record_attempt("tensors", "ones", passed=True, code="x = 1")
        store.close()
        assert (tmp_path / PENDING_NAME).is_file()
        assert "saved next time" in store.notices[-1].message
    finally:
        _release(holder)
    with ProgressStore.open(tmp_path) as store:
        assert store.exercise("tensors", "ones").status == "solved"
        assert store.load_draft("tensors", "ones") == "x = 1"
        assert "earlier session were saved" in store.notices[-1].message
    assert not (tmp_path / PENDING_NAME).exists()


def test_queued_writes_are_applied_exactly_once_even_if_still_locked_at_the_next_open(tmp_path: Path) -> None:
    ProgressStore.open(tmp_path).close()
    holder = _holder(tmp_path / DB_NAME)
    try:
        with ProgressStore.open(tmp_path, lock_timeout=0.1) as store:
            store.record_attempt("tensors", "ones", passed=False)
            store.reveal_hint("tensors", "ones")
        with ProgressStore.open(tmp_path, lock_timeout=0.1) as store:  # still locked: back into the file
            assert "2 change(s) kept in" in store.notices[-1].message
        lines = (tmp_path / PENDING_NAME).read_text().splitlines()
        assert [json.loads(line)["op"] for line in lines] == ["record_attempt", "reveal_hint"]
    finally:
        _release(holder)
    with ProgressStore.open(tmp_path) as store:
        ex = store.exercise("tensors", "ones")
        assert (ex.attempts, ex.hints) == (1, 1)
    assert sorted(p.name for p in tmp_path.iterdir() if "pending" in p.name) == []


def test_a_file_that_is_not_a_database_is_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / DB_NAME
    path.write_bytes(b"this is not sqlite\n" * 200)
    notices = []
    with ProgressStore.open(tmp_path, on_notice=notices.append) as store:
        assert store.persistent and store.integrity_ok()
        store.record_attempt("tensors", "ones", passed=True)
        assert store.exercise("tensors", "ones").status == "solved"
    moved = [p for p in tmp_path.iterdir() if p.name.startswith(DB_NAME + ".corrupt-")]
    assert len(moved) == 1 and moved[0].read_bytes().startswith(b"this is not sqlite")
    assert notices[0].level == "error" and moved[0].name in notices[0].message


def test_a_damaged_page_is_detected_and_moved_aside(tmp_path: Path) -> None:
    with ProgressStore.open(tmp_path) as store:
        for i in range(300):
            store.save_draft("tensors", f"ex-{i}", "x = 1\n" * 50)
    path = tmp_path / DB_NAME
    data = bytearray(path.read_bytes())
    page = 4096
    assert len(data) > 10 * page
    data[3 * page : 6 * page] = os.urandom(3 * page)  # scribble over b-tree pages
    path.write_bytes(bytes(data))
    with ProgressStore.open(tmp_path) as store:
        assert store.persistent and store.integrity_ok()
        assert "damaged" in store.notices[0].message
        assert store.load_draft("tensors", "ex-1") is None  # a fresh database
    assert any(p.name.startswith(DB_NAME + ".corrupt-") for p in tmp_path.iterdir())


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder any user can enter (so a process dropped to `nobody` reaches it)."""
    base = Path(tempfile.mkdtemp(prefix="llm-tutor-ro-"))
    base.chmod(0o755)
    try:
        yield base
    finally:
        for root, dirs, _ in os.walk(base):
            for d in dirs:
                os.chmod(os.path.join(root, d), 0o755)
        shutil.rmtree(base, ignore_errors=True)


def test_a_read_only_data_directory_keeps_the_app_running_in_memory(shared_dir: Path) -> None:
    data = shared_dir / "data"
    with ProgressStore.open(data) as store:
        store.record_attempt("tensors", "ones", passed=True, code="x = 1")
    data.chmod(0o555)
    (data / DB_NAME).chmod(0o444)
    # root may write anywhere, so as root the reading process drops to `nobody` first
    proc = _python(
        """
        import json, os
        from llm_tutor.engine.learner.store import ProgressStore
        if os.geteuid() == 0:
            os.setgid(65534); os.setuid(65534)
        store = ProgressStore.open()
        before = store.exercise("tensors", "ones").status
        store.record_attempt("tensors", "other", passed=True)
        after = store.exercise("tensors", "other").status
        store.close()
        print(json.dumps({"persistent": store.persistent, "before": before, "after": after,
                          "notices": [n.message for n in store.notices]}))
        """,
        data,
    )
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    result = json.loads(out)
    assert result["persistent"] is False
    assert (result["before"], result["after"]) == ("solved", "solved")
    assert "read-only" in result["notices"][0] and "will not be saved" in result["notices"][0]
    with sqlite3.connect(data / DB_NAME) as conn:  # the file was not touched
        assert conn.execute("SELECT COUNT(*) FROM exercise").fetchone()[0] == 1


def test_an_uncreatable_data_directory_keeps_the_app_running(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    with ProgressStore.open(tmp_path / "file" / "data") as store:
        assert not store.persistent
        assert "cannot create the data directory" in store.notices[0].message
        store.record_attempt("tensors", "ones", passed=True)
        assert store.exercise("tensors", "ones").status == "solved"


def test_kill_9_while_saving_drafts_never_corrupts_the_database(tmp_path: Path) -> None:
    ProgressStore.open(tmp_path).close()
    proc = _python(
        """
        from llm_tutor.engine.learner.store import ProgressStore
        store = ProgressStore.open()
        i = 0
        while True:
            store.save_draft("tensors", "ones", f"draft {i}\\n" + "x = 1\\n" * (i % 500))
            print(i, flush=True)
            i += 1
        """,
        tmp_path,
    )
    assert proc.stdout is not None
    last = -1
    for line in proc.stdout:
        last = int(line)
        if last >= 150:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    for line in proc.stdout:  # commits printed before the kill landed
        last = int(line)
    with ProgressStore.open(tmp_path) as store:
        assert store.notices == []
        assert store.integrity_ok()
        draft = store.load_draft("tensors", "ones")
        assert draft is not None
        saved = int(draft.split()[1])
        assert saved in (last, last + 1)  # the last committed draft (a commit may beat its print)


def test_a_full_disk_gives_a_clear_error_and_no_corruption(tmp_path: Path) -> None:
    with ProgressStore.open(tmp_path) as store:
        store.save_draft("tensors", "ones", "small draft")
    proc = _python(
        """
        import json, os, resource, signal
        from llm_tutor.engine.learner.store import ProgressStore
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
        store = ProgressStore.open()
        store.save_draft("tensors", "ones", "small draft 2")
        folder = os.environ["LLM_TUTOR_DATA_DIR"]
        biggest = max(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
        resource.setrlimit(resource.RLIMIT_FSIZE, (biggest + 8192, resource.RLIM_INFINITY))
        store.save_draft("tensors", "ones", "x = 1\\n" * 400_000)
        pending = store.pending
        store.close()
        print(json.dumps({"pending": pending, "notices": [[n.level, n.message] for n in store.notices]}))
        """,
        tmp_path,
    )
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    result = json.loads(out)
    assert result["pending"] == 1
    levels, messages = zip(*result["notices"])
    assert "progress not saved yet" in messages[0] and "disk" in messages[0]
    assert levels[-1] == "error" and "could not be saved" in messages[-1]  # said plainly, not hidden
    with ProgressStore.open(tmp_path) as store:
        assert store.integrity_ok()
        assert store.load_draft("tensors", "ones") == "small draft 2"


def test_the_side_file_appends_and_the_reserve_is_allocated(tmp_path: Path) -> None:
    from llm_tutor.engine.learner.sidefile import RESERVE_BYTES, RESERVE_NAME, append_whole, keep, reserve

    side = tmp_path / PENDING_NAME
    append_whole(side, ["one\n"])
    with pytest.raises(OSError):
        append_whole(tmp_path / "no-such-folder" / PENDING_NAME, ["two\n"])
    assert not (tmp_path / "no-such-folder").exists()
    reserve(tmp_path)
    assert (tmp_path / RESERVE_NAME).stat().st_blocks * 512 >= RESERVE_BYTES
    keep(side, ["two\n"])
    assert side.read_text() == "one\ntwo\n"

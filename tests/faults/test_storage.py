"""The progress database misbehaves under the running app and CLI: deleted, locked, written by a second session,
or the disk full. The app stays responsive, says what happened, and every change reaches the file in the end.

Already covered elsewhere, and not repeated here: a corrupt, read-only or uncreatable store in the app
(tests/functional/test_progress_app.py), `kill -9` of the app while typing (tests/e2e/test_progress_kill.py),
and the store's own lock, corruption and full-disk handling (tests/unit/test_progress_faults.py).
"""

from __future__ import annotations

import os
import resource
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from textual.message import Message
from textual.notifications import Notify

from llm_tutor.engine.learner.paths import DB_NAME, PENDING_NAME
from llm_tutor.engine.learner.store import ProgressStore
from llm_tutor.tui.app import TutorApp, make_app
from llm_tutor.tui.screens.lesson import LessonScreen
from llm_tutor.tui.widgets.lesson.exercise import CodeEditor, ExerciseView
from tests.conftest import FIXTURES, llm_tutor_cmd
from tests.faults.conftest import PtyApp, eventually
from tests.functional.conftest import wait_for

pytestmark = pytest.mark.slow

COURSE = FIXTURES / "progress"


class Notices:
    """A `message_hook` keeping the text of every notification shown."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def __call__(self, message: Message) -> None:
        if isinstance(message, Notify):
            self.texts.append(str(message.notification.message))

    def any(self, *words: str) -> bool:
        return any(all(w in text for w in words) for text in self.texts)


def app_for(data: Path) -> TutorApp:
    return make_app(lessons_dir=COURSE, device="cpu", data_dir=data, autostart_kernel=False)


async def sums_exercise(pilot: Any, app: TutorApp, exercise_id: str = "total") -> ExerciseView:
    assert await wait_for(pilot, lambda: app.progress.ready)
    app.open_lesson_key("sums")
    assert await wait_for(pilot, lambda: isinstance(app.screen, LessonScreen) and bool(app.screen.query(".block")))
    view = app.screen.query_one(f"#exercise-{exercise_id}", ExerciseView)
    view.focus()
    await pilot.pause()
    return view


def saved(app: TutorApp) -> bool:
    return app.progress.session is not None and not app.progress.session.busy


def hints_of(data: Path, exercise_id: str = "total") -> int:
    with ProgressStore.open(data) as store:
        return store.exercise("sums", exercise_id).hints


async def test_a_data_folder_deleted_while_the_app_runs_is_written_again(tmp_path: Path) -> None:
    data = tmp_path / "data"
    notices = Notices()
    app = app_for(data)
    async with app.run_test(size=(100, 40), message_hook=notices) as pilot:
        view = await sums_exercise(pilot, app)
        await pilot.press("h")
        assert await wait_for(pilot, lambda: saved(app))
        shutil.rmtree(data)  # the learner (or a cleanup job) removes the whole folder
        await pilot.press("h")
        assert view.hints_shown == 2
        assert await wait_for(pilot, lambda: notices.any("deleted", "nothing was lost"), timeout=30), notices.texts
    assert (data / DB_NAME).is_file()
    assert hints_of(data) == 2, "the hint shown before the folder went is kept too"


async def test_a_locked_database_keeps_the_app_responsive_and_is_written_when_free(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ProgressStore.open(data).close()
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sqlite3, sys\n"
         f"c = sqlite3.connect({str(data / DB_NAME)!r}, isolation_level=None)\n"
         "c.execute('BEGIN EXCLUSIVE')\n"
         "print('locked', flush=True)\n"
         "sys.stdin.read()\n"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        notices = Notices()
        app = app_for(data)
        async with app.run_test(size=(100, 40), message_hook=notices) as pilot:
            total = await sums_exercise(pilot, app)
            await pilot.press("h")
            # the write waits for the lock off the UI thread: the app keeps answering keys meanwhile
            largest = app.screen.query_one("#exercise-largest", ExerciseView)
            largest.focus()
            await pilot.press("h")
            assert total.hints_shown == 1 and largest.hints_shown == 1
            assert await wait_for(pilot, lambda: notices.any("locked"), timeout=30), notices.texts
            holder.communicate("", timeout=10)  # the other process lets go
            editor = total.query_one(CodeEditor)
            editor.focus()
            await pilot.press("end", "space", "#", "x")
            assert await wait_for(pilot, lambda: saved(app), timeout=30)
    finally:
        if holder.poll() is None:
            holder.kill()
    assert hints_of(data, "total") == 1 and hints_of(data, "largest") == 1


async def test_two_sessions_of_one_user_write_at_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ProgressStore.open(data).close()
    other = subprocess.Popen(
        [sys.executable, "-c",
         "from llm_tutor.engine.learner.store import ProgressStore\n"
         f"store = ProgressStore.open({str(data)!r})\n"
         "for i in range(300):\n"
         "    store.record_attempt('sums', 'largest', False, f'largest = {i}')\n"
         "    store.set_position('other', f'cell-{i}')\n"
         "store.close()\n"],
    )
    app = app_for(data)
    async with app.run_test(size=(100, 40)) as pilot:
        total = await sums_exercise(pilot, app)
        for _ in range(2):
            await pilot.press("h")
        editor = total.query_one(CodeEditor)
        editor.focus()
        await pilot.press("end", *"  # mine")
        await pilot.pause(0.1)
        await pilot.press(*" and more")
        assert await wait_for(pilot, lambda: saved(app), timeout=60)
        assert other.wait(timeout=120) == 0
    with ProgressStore.open(data) as store:
        assert store.exercise("sums", "largest").attempts == 300, "every write of the other session"
        assert store.exercise("sums", "total").hints == 2, "and every write of this one"
        assert (store.load_draft("sums", "total") or "").endswith("# mine and more")
        assert store.integrity_ok()


def test_a_full_disk_at_start_gives_the_cli_one_clear_error_and_changes_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with ProgressStore.open(data) as store:
        store.record_attempt("tensors", "make-234", False, "x = 1")

    def no_room() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))  # as if the disk had 4 kB left

    env = dict(os.environ, LLM_TUTOR_DATA_DIR=str(data))
    proc = subprocess.run([*llm_tutor_cmd(), "progress", "--reset", "tensors", "--yes"], capture_output=True,
                          text=True, env=env, preexec_fn=no_room, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert "is it full?" in proc.stderr and "cannot reset lesson 'tensors'" in proc.stderr
    assert "Traceback" not in proc.stderr
    with sqlite3.connect(data / DB_NAME) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with ProgressStore.open(data) as store:
        assert store.exercise("tensors", "make-234").attempts == 1, "refused, so nothing half-done"


def test_the_disk_full_while_the_app_saves_says_so_and_loses_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ProgressStore.open(data).close()

    def small_files() -> None:
        # the database opens (its 32 kB shared-memory file fits), then the log fills after a few writes
        resource.setrlimit(resource.RLIMIT_FSIZE, (32768, 32768))

    env = dict(os.environ, LLM_TUTOR_DATA_DIR=str(data), TERM="xterm-256color", LLM_TUTOR_KERNEL_MEMORY_MB="0")
    app = PtyApp([*llm_tutor_cmd(), "sums", "--lessons", str(COURSE), "--device", "cpu"], env, size=(120, 40),
                 in_child=small_files)
    try:
        assert eventually(lambda: app.seen("The total of the numbers"), 60), bytes(app.output[-1500:])
        app.keys("j")  # from the first cell to the exercise
        assert eventually(lambda: app.seen("total = 0"), 10)
        app.keys("h")
        assert eventually(lambda: app.seen("built-in"), 20), "the hint shows although it cannot be saved"
        assert eventually(lambda: app.seen("full"), 30), bytes(app.output[-3000:])
        app.keys("q")
        assert eventually(lambda: app.proc.poll() is not None, 30)
    finally:
        app.kill()
    assert b"Traceback" not in bytes(app.output)
    # The write that failed may succeed when it is retried at exit (the log was checkpointed meanwhile);
    # if it still cannot, it is kept in the side file and the last line says where.
    if (data / PENDING_NAME).is_file():
        assert f"kept in {data / PENDING_NAME}".encode() in bytes(app.output).replace(b"\r\n", b"")
    assert hints_of(data) == 1, "the hint saved at exit, or written from the side file at the next start"


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Any:
    """A 4 MB tmpfs of its own, to fill for real (ENOSPC, no mocks); skipped where it cannot be mounted."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode(errors='replace').strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(folder: Path) -> Path:
    """Write a file until the disk is full; returns it."""
    filler = folder / "filler"
    with open(filler, "wb") as out:
        try:
            while True:
                out.write(b"\0" * 65536)
                out.flush()
        except OSError:
            pass
    return filler


def test_the_disk_full_at_quit_keeps_the_changes_in_the_side_file_and_says_where(tiny_disk: Path) -> None:
    data = tiny_disk / "data"
    ProgressStore.open(data).close()
    env = dict(os.environ, LLM_TUTOR_DATA_DIR=str(data), TERM="xterm-256color", LLM_TUTOR_KERNEL_MEMORY_MB="0")
    app = PtyApp([*llm_tutor_cmd(), "sums", "--lessons", str(COURSE), "--device", "cpu"], env, size=(120, 40))
    filler = None
    try:
        assert eventually(lambda: app.seen("The total of the numbers"), 60), bytes(app.output[-1500:])
        app.keys("j")
        assert eventually(lambda: app.seen("total = 0"), 10)
        filler = fill(tiny_disk)
        app.keys("h")
        assert eventually(lambda: app.seen("built-in"), 20)
        assert eventually(lambda: app.seen("full"), 30), bytes(app.output[-3000:])
        app.keys("q")
        assert eventually(lambda: app.proc.poll() is not None, 30)
    finally:
        app.kill()
    side = data / PENDING_NAME
    assert side.is_file() and side.stat().st_size > 0, "the queued changes are in the side file, not 0 bytes"
    assert app.seen(f"kept in {side}"), bytes(app.output[-1500:])
    assert b"Traceback" not in bytes(app.output)
    assert filler is not None
    filler.unlink()
    assert hints_of(data) == 1, "the hint written at the next start"
    assert not side.exists()

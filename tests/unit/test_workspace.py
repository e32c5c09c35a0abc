"""The exercise workspace: real `.py` files under the data directory, never clobbered."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from llm_tutor.engine.course.lesson import Exercise
from llm_tutor.engine.learner.store import ProgressStore
from llm_tutor.engine.learner.workspace import HEADER_PREFIX, Workspace, WorkspaceError, latest_code

ONES = Exercise(id="ones", title="A (2, 3) tensor of ones", starter="x = None  # your code here", line=1)


def test_ensure_writes_the_starter_with_a_header_once(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path)
    path = ws.ensure("tensors", ONES)
    assert path == tmp_path / "workspace" / "tensors" / "ones.en.py"
    text = path.read_text()
    assert text.startswith(HEADER_PREFIX)
    assert f"llm-tutor grade tensors ones --lang en --file {path}" in text
    assert text.endswith("x = None  # your code here\n")
    assert ws.read("tensors", "ones") == "x = None  # your code here\n"
    path.write_text(text + "x = 1\n")
    assert ws.ensure("tensors", ONES) == path
    assert ws.read("tensors", "ones").endswith("x = 1\n")  # type: ignore[union-attr]


def test_ensure_can_start_from_the_learners_draft(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path)
    ws.ensure("tensors", ONES, code="x = torch.ones(2, 3)")
    assert ws.read("tensors", "ones") == "x = torch.ones(2, 3)\n"


def test_write_replaces_the_code_and_keeps_the_header(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path)
    ws.ensure("tensors", ONES)
    path = ws.write("tensors", ONES, "x = 2\n")
    assert path.read_text().startswith(HEADER_PREFIX) and ws.read("tensors", "ones") == "x = 2\n"
    assert [p.name for p in path.parent.iterdir()] == ["ones.en.py"]  # no temporary file left


def test_reset_restores_the_starter_and_keeps_a_backup(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path)
    ws.write("tensors", ONES, "x = 'mine'\n")
    path = ws.reset("tensors", ONES)
    assert ws.read("tensors", "ones") == "x = None  # your code here\n"
    assert "x = 'mine'" in path.with_name("ones.en.py.bak").read_text()


def test_ids_cannot_escape_the_workspace(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path)
    with pytest.raises(ValueError, match="not a lesson or exercise id"):
        ws.path("..", "ones")
    with pytest.raises(ValueError):
        ws.path("tensors", "../../etc/passwd")


def test_exercise_of_maps_a_file_back_to_its_exercise(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path)
    assert ws.exercise_of(ws.path("tensors", "ones")) == ("tensors", "ones", "en")
    assert ws.exercise_of(tmp_path / "elsewhere.py") is None
    assert ws.exercise_of(ws.root / "tensors" / "notes.txt") is None


def test_an_unwritable_workspace_raises_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "workspace").write_text("a file where the folder should be")
    ws = Workspace.open(tmp_path)
    with pytest.raises(WorkspaceError, match="cannot write"):
        ws.ensure("tensors", ONES)


def test_latest_code_takes_whichever_was_changed_last(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path)
    with ProgressStore.open(tmp_path) as store:
        assert latest_code(store, ws, "tensors", "ones") is None
        path = ws.ensure("tensors", ONES)
        assert latest_code(store, ws, "tensors", "ones") == (ONES.starter + "\n", "file")
        # an untouched starter file never hides the learner's draft
        store.save_draft("tensors", "ones", "x = 'draft'")
        os.utime(path, (1e10, 1e10))  # the file looks newer
        assert latest_code(store, ws, "tensors", "ones", starter=ONES.starter) == ("x = 'draft'", "draft")
        # edited in the learner's own editor after the draft: the file wins
        ws.write("tensors", ONES, "x = 'file'\n")
        os.utime(path, (1e10, 1e10))
        assert latest_code(store, ws, "tensors", "ones", starter=ONES.starter) == ("x = 'file'\n", "file")
        # typed in the app after that: the draft wins
        os.utime(path, (1.0, 1.0))
        assert latest_code(store, ws, "tensors", "ones") == ("x = 'draft'", "draft")


def test_a_fifo_socket_or_device_at_an_exercise_path_is_refused_without_blocking(tmp_path: Path) -> None:
    import socket

    ws = Workspace.open(tmp_path)
    folder = ws.path("tensors", "ones").parent
    folder.mkdir(parents=True)
    os.mkfifo(ws.path("tensors", "ones"))  # opened for reading, it would wait for a writer for ever
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(ws.path("tensors", "sock")))
    os.symlink("/dev/zero", ws.path("tensors", "zero"))  # endless
    try:
        for exercise_id, kind in (("ones", "a FIFO (named pipe)"), ("sock", "a socket"), ("zero", "a device")):
            with pytest.raises(WorkspaceError, match=re.escape(f"is {kind}, not a file: remove it")) as error:
                ws.read("tensors", exercise_id)
            assert "rm " in str(error.value)
            assert ws.mtime("tensors", exercise_id) is not None
        assert ws.ensure("tensors", ONES) == ws.path("tensors", "ones")  # there already: left alone, not opened
    finally:
        server.close()


def test_an_exercise_file_past_the_cap_is_refused(tmp_path: Path) -> None:
    from llm_tutor.engine.learner.workspace import MAX_EXERCISE_BYTES

    ws = Workspace.open(tmp_path)
    path = ws.ensure("tensors", ONES)
    os.truncate(path, MAX_EXERCISE_BYTES + 1)
    with pytest.raises(WorkspaceError, match="over the 1.0 MB allowed"):
        ws.read("tensors", "ones")


# -- one file per language -----------------------------------------------------------------------

ONES_TR = Exercise(id="ones", title="Birlerden bir (2, 3) tensör", starter="x = None  # kodunuz buraya", line=1)


def test_each_language_has_its_own_file_with_its_own_starter(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path)
    english, turkish = ws.ensure("tensors", ONES, lang="en"), ws.ensure("tensors", ONES_TR, lang="tr")
    assert (english.name, turkish.name) == ("ones.en.py", "ones.tr.py")
    ws.write("tensors", ONES, "x = torch.ones(2, 3)  # mine", lang="en")
    assert ws.read("tensors", "ones", "tr") == "x = None  # kodunuz buraya\n"
    assert ws.read("tensors", "ones", "en") == "x = torch.ones(2, 3)  # mine\n"
    assert "--lang tr --file" in turkish.read_text()
    assert ws.exercise_of(turkish) == ("tensors", "ones", "tr")
    ws.reset("tensors", ONES_TR, lang="tr")
    assert turkish.with_name("ones.tr.py.bak").exists() and not english.with_name("ones.en.py.bak").exists()
    with pytest.raises(ValueError):
        ws.path("tensors", "ones", "../x")


def test_an_older_file_without_a_language_becomes_the_english_one(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path)
    old = ws.root / "tensors" / "ones.py"
    old.parent.mkdir(parents=True)
    old.write_text(f"{HEADER_PREFIX} lesson tensors, exercise ones\nx = 'from before'\n")
    os.utime(old, (1000.0, 1000.0))
    assert ws.exercise_of(old) == ("tensors", "ones", "en")  # a save there is the English exercise's
    assert ws.read("tensors", "ones", "tr") is None  # Turkish starts from its own starter
    assert ws.ensure("tensors", ONES_TR, lang="tr").exists() and old.exists()
    assert ws.read("tensors", "ones", "en") == "x = 'from before'\n"
    assert not old.exists() and ws.mtime("tensors", "ones", "en") == 1000.0  # its age kept: a newer draft still wins
    assert ws.ensure("tensors", ONES, lang="en") == ws.path("tensors", "ones", "en")
    assert ws.read("tensors", "ones", "en") == "x = 'from before'\n"


def test_latest_code_reads_the_draft_and_file_of_the_language(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path)
    with ProgressStore.open(tmp_path) as store:
        ws.ensure("tensors", ONES, lang="en")
        ws.ensure("tensors", ONES_TR, lang="tr")
        store.save_draft("tensors", "ones", "x = 'english draft'", lang="en")
        assert latest_code(store, ws, "tensors", "ones", ONES.starter, lang="en") == ("x = 'english draft'", "draft")
        assert latest_code(store, ws, "tensors", "ones", ONES_TR.starter, lang="tr") == (
            "x = None  # kodunuz buraya\n",
            "file",
        )

"""The workspace watcher on real files, with watchfiles' notifications and with its own polling."""

from __future__ import annotations

import os
import queue
import shutil
from pathlib import Path

import pytest

from llm_tutor.engine.learner.watch import Watcher, on_network_fs, watch

BACKENDS = ["watchfiles", "poll"]


def _next(changes: queue.Queue[set[Path]], want: Path) -> set[Path]:
    """Every path reported until `want` shows up (a generous bound; the test asserts on the result)."""
    seen: set[Path] = set()
    while want not in seen:
        seen |= changes.get(timeout=15)
    return seen


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_saved_file_is_reported(tmp_path: Path, backend: str) -> None:
    lesson = tmp_path / "tensors"
    lesson.mkdir()
    target = lesson / "ones.py"
    target.write_text("x = 1\n")
    changes: queue.Queue[set[Path]] = queue.Queue()
    with Watcher(tmp_path, changes.put, backend=backend) as watcher:
        assert watcher.backend == backend
        target.write_text("x = 2\n")  # same size, likely the same second: polling compares contents
        assert target in _next(changes, target)


@pytest.mark.parametrize("backend", BACKENDS)
def test_new_files_in_new_folders_and_replaced_files_are_reported(tmp_path: Path, backend: str) -> None:
    changes: queue.Queue[set[Path]] = queue.Queue()
    watcher = watch(tmp_path, changes.put, backend=backend)
    try:
        (tmp_path / "autograd").mkdir()
        new = tmp_path / "autograd" / "grad.py"
        new.write_text("g = 1\n")
        assert new in _next(changes, new)
        # editors that save by writing a temporary file and renaming it over the original
        swap = tmp_path / "autograd" / ".grad.py.swp"
        swap.write_text("g = 2\n")
        os.replace(swap, new)
        seen = _next(changes, new)
        assert not any(p.name.startswith(".") for p in seen)
    finally:
        watcher.stop()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_folder_that_cannot_be_made_yet_is_watched_once_it_appears(tmp_path: Path, backend: str) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("a file where the data folder should be")
    root = blocker / "workspace"
    changes: queue.Queue[set[Path]] = queue.Queue()
    with Watcher(root, changes.put, backend=backend):
        blocker.unlink()
        (root / "tensors").mkdir(parents=True)
        target = root / "tensors" / "ones.py"
        target.write_text("x = 1\n")
        assert target in _next(changes, target)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_removed_folder_made_again_is_watched_again(tmp_path: Path, backend: str) -> None:
    root = tmp_path / "workspace"
    old = root / "tensors" / "ones.py"
    changes: queue.Queue[set[Path]] = queue.Queue()
    with Watcher(root, changes.put, backend=backend):
        old.parent.mkdir(parents=True)
        old.write_text("x = 1\n")
        _next(changes, old)
        shutil.rmtree(root)
        target = root / "autograd" / "grad.py"
        target.parent.mkdir(parents=True)
        target.write_text("g = 1\n")
        assert target in _next(changes, target)


def test_auto_polls_when_asked_through_watchfiles_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHFILES_FORCE_POLLING", "1")
    assert Watcher(tmp_path, print).backend == "poll"
    monkeypatch.delenv("WATCHFILES_FORCE_POLLING")
    assert Watcher(tmp_path, print).backend == ("poll" if on_network_fs(tmp_path) else "watchfiles")


@pytest.mark.parametrize("backend", BACKENDS)
def test_other_files_are_ignored(tmp_path: Path, backend: str) -> None:
    changes: queue.Queue[set[Path]] = queue.Queue()
    with Watcher(tmp_path, changes.put, backend=backend):
        (tmp_path / "notes.txt").write_text("not code")
        (tmp_path / "ones.py~").write_text("backup")
        target = tmp_path / "ones.py"
        target.write_text("x = 1\n")
        assert _next(changes, target) == {target}


def test_an_unknown_backend_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown watcher backend"):
        Watcher(tmp_path, print, backend="inotify")

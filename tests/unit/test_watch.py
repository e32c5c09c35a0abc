"""The workspace watcher on real files, with mtime polling and (when installed) watchfiles."""

from __future__ import annotations

import os
import queue
from pathlib import Path

import pytest

from llm_tutor.engine.learner.watch import Watcher, watch, watchfiles_available

BACKENDS = [
    "poll",
    pytest.param(
        "watchfiles", marks=pytest.mark.skipif(not watchfiles_available(), reason="watchfiles is not installed")
    ),
]


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
        target.write_text("x = 2\n")  # same size, likely the same clock tick: content is compared
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


def test_polling_works_on_a_folder_made_after_the_start(tmp_path: Path) -> None:
    root = tmp_path / "workspace"
    changes: queue.Queue[set[Path]] = queue.Queue()
    with Watcher(root, changes.put, backend="poll"):
        (root / "tensors").mkdir(parents=True)
        target = root / "tensors" / "ones.py"
        target.write_text("x = 1\n")
        assert _next(changes, target) == {target}


def test_other_files_are_ignored(tmp_path: Path) -> None:
    changes: queue.Queue[set[Path]] = queue.Queue()
    with Watcher(tmp_path, changes.put, backend="poll"):
        (tmp_path / "notes.txt").write_text("not code")
        (tmp_path / "ones.py~").write_text("backup")
        target = tmp_path / "ones.py"
        target.write_text("x = 1\n")
        assert _next(changes, target) == {target}


def test_an_unknown_backend_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown watcher backend"):
        Watcher(tmp_path, print, backend="inotify")

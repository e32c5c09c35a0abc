"""Helpers for the fault-injection suite: lesson folders written on the fly, processes found in /proc."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test here is marked `faults`, so `pytest -m faults` runs the suite alone."""
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.faults)


def write_lesson(folder: Path, body: str, lesson_id: str = "faults", order: int = 0, title: str = "Faults") -> Path:
    """A one-file lesson folder: front matter, then `body` (Markdown with cells)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{order:02d}-{lesson_id}.md"
    path.write_text(f"---\nid: {lesson_id}\ntitle: {title}\norder: {order}\n---\n\n{body}")
    return path


def cells(**codes: str) -> str:
    """Markdown with one runnable cell per keyword (cell id = keyword, '_' becomes '-')."""
    return "\n".join(f"```python cell id={name.replace('_', '-')}\n{code}\n```\n" for name, code in codes.items())


def alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def descendants(pid: int) -> set[int]:
    """Every living process below `pid` (children, grandchildren...)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] in ("Z", "X"):
            continue
        parents.setdefault(int(fields[1]), []).append(int(entry))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def eventually(condition: Callable[[], bool], timeout: float = 10.0, step: float = 0.05) -> bool:
    """Poll `condition` until it holds or `timeout` passes (processes end asynchronously)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()

"""The parsed-lesson cache: a hit needs neither YAML nor markdown-it, an edit is parsed again, each folder has
its own file, and lessons that are gone leave it."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

from llm_tutor.engine.course.catalog import load_course

LESSON = "---\nid: {id}\ntitle: {title}\norder: {order}\n---\n\nSome prose.\n\n```python cell id=c\n1 + 1\n```\n"


def write(folder: Path, name: str, lesson_id: str, title: str, order: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(LESSON.format(id=lesson_id, title=title, order=order))
    return path


def caches(root: Path) -> list[Path]:
    return sorted((root / "llm-tutor").glob("lessons-*.pickle"))


def test_a_cached_course_loads_without_the_parsers_and_an_edit_is_parsed_again(tmp_path: Path, monkeypatch) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    lessons = tmp_path / "lessons"
    write(lessons, "00-a.md", "a", "First")
    write(lessons, "01-b.md", "b", "Second", 1)
    assert [lesson.title for lesson in load_course(lessons)] == ["First", "Second"]
    code = (
        "import sys\n"
        "from llm_tutor.engine.course.catalog import load_course\n"
        f"course = load_course({str(lessons)!r})\n"
        "print([l.title for l in course], 'markdown_it' in sys.modules, 'yaml' in sys.modules)\n"
    )
    env = dict(os.environ, XDG_CACHE_HOME=str(cache))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert out.strip() == "['First', 'Second'] False False"
    write(lessons, "01-b.md", "b", "Second, edited", 1)
    assert [lesson.title for lesson in load_course(lessons)] == ["First", "Second, edited"]


def test_each_folder_has_its_own_cache_and_deleted_lessons_leave_it(tmp_path: Path, monkeypatch) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    one, two = tmp_path / "one", tmp_path / "two"
    write(one, "00-a.md", "a", "A")
    gone = write(one, "01-b.md", "b", "B", 1)
    write(two, "00-c.md", "c", "C")
    load_course(one)
    load_course(two)
    assert len(caches(cache)) == 2
    gone.unlink()
    assert [lesson.id for lesson in load_course(one)] == ["a"]
    entries = [pickle.loads(p.read_bytes()) for p in caches(cache)]
    assert sorted(len(e) for e in entries) == [1, 1]  # b left the first folder's cache; c stays in its own
    assert not list((cache / "llm-tutor").glob("*.tmp"))

"""Provides discovery of lessons on disk: the bundled course or an author's own folder."""

from __future__ import annotations

import hashlib
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

from llm_tutor.engine.course.lesson import FORMAT_VERSION, Lesson, LessonError, parse_file

LANGS = ("en", "tr")


@dataclass(frozen=True)
class BrokenLesson:
    """A lesson file that failed to parse: listed with its error instead of being hidden."""

    path: Path
    error: LessonError

    @property
    def id(self) -> str:
        return self.path.stem

    @property
    def title(self) -> str:
        return self.path.name


def default_lessons_dir() -> Path:
    from llm_tutor.lessons import LESSONS_DIR

    return LESSONS_DIR


def lesson_files(root: Path, lang: str) -> list[Path]:
    """The lesson files of one language under `root` (`root/<lang>/*.md`, or `root/*.md`)."""
    root = Path(root)
    if root.is_file():
        return [root]
    sub = root / lang
    folder = sub if sub.is_dir() else root
    return sorted(p for p in folder.glob("*.md") if p.is_file() and not p.name.startswith(("_", ".")))


CACHE_VERSION = 3
"""Bump when the parsed form of a lesson changes (the pickle cache is then rebuilt)."""


def _cache_file(paths: list[Path], lang: str) -> Path | None:
    """One cache file per lesson folder and language: the app reads only the lessons it shows (the bundled
    course's 8 lessons), not every folder ever opened."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folders = sorted({str(p.resolve().parent) for p in paths})
    digest = hashlib.sha1("\0".join([*folders, lang]).encode()).hexdigest()[:16]
    return Path(base) / "llm-tutor" / f"lessons-v{CACHE_VERSION}-f{FORMAT_VERSION}-{digest}.pickle"


def _load_cache(path: Path | None) -> dict:
    if path is None:
        return {}
    try:
        with open(path, "rb") as fh:
            data = pickle.load(fh)
        return data if isinstance(data, dict) else {}
    except Exception:  # noqa: BLE001 - a missing or stale cache is simply rebuilt
        return {}


def _save_cache(path: Path | None, data: dict) -> None:
    if path is None:
        return
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            pickle.dump(data, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
        tmp = None
    except OSError:
        pass
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def parse_cached(paths: list[Path], lang: str) -> list[Lesson | BrokenLesson]:
    """Parse lesson files, reusing earlier results for files whose size and mtime are unchanged.

    Parsing needs YAML and markdown-it; the cache lets the app paint its first screen without
    importing either. A stale or unreadable cache is ignored and rewritten; it keeps only the files
    asked for now, so a lesson deleted or renamed leaves it at the next write.
    """
    cache_path = _cache_file(paths, lang) if paths else None
    cache = _load_cache(cache_path)
    fresh: dict = {}
    out: list[Lesson | BrokenLesson] = []
    changed = False
    for path in paths:
        try:
            st = path.stat()
        except OSError as exc:
            out.append(BrokenLesson(path, LessonError(path, 1, f"cannot read the file: {exc.strerror or exc}")))
            continue
        key = (str(path.resolve()), lang)
        stamp = (st.st_mtime_ns, st.st_size)
        hit = cache.get(key)
        if hit is not None and hit[0] == stamp:
            fresh[key] = hit
            out.append(hit[1])
            continue
        try:
            item: Lesson | BrokenLesson = parse_file(path, lang=lang)
        except LessonError as exc:
            item = BrokenLesson(path, exc)
        fresh[key] = (stamp, item)
        changed = True
        out.append(item)
    if changed or len(fresh) != len(cache):
        _save_cache(cache_path, fresh)
    return out


def load_course(root: Path | None = None, lang: str = "en") -> list[Lesson | BrokenLesson]:
    """Every lesson of a language, sorted by `order`; broken files come last, with their error."""
    root = Path(root) if root is not None else default_lessons_dir()
    good: list[Lesson] = []
    bad: list[BrokenLesson] = []
    inside, outside = split_escaping(root, lesson_files(root, lang))
    bad.extend(outside)
    for item in parse_cached(inside, lang):
        if isinstance(item, BrokenLesson):
            bad.append(item)
        else:
            good.append(item)
    good.sort(key=lambda lesson: (lesson.order, lesson.id))
    return [*good, *bad]


def split_escaping(root: Path, paths: list[Path]) -> tuple[list[Path], list[BrokenLesson]]:
    """Lesson files inside `root`, and those that are links to somewhere outside it (never read)."""
    if not root.is_dir():
        return paths, []
    try:
        base = root.resolve()
    except OSError:
        return paths, []
    inside: list[Path] = []
    outside: list[BrokenLesson] = []
    for path in paths:
        try:
            target = path.resolve()
        except OSError:
            target = path
        if target == base or base in target.parents:
            inside.append(path)
        else:
            outside.append(BrokenLesson(path, LessonError(path, 1, "this file is a link to outside the lessons folder, so it is not read; copy the lesson into the folder instead")))
    return inside, outside


def find_lesson(lesson_id: str, root: Path | None = None, lang: str = "en") -> Lesson:
    """The lesson with `lesson_id` (or a path to a lesson file); raises `KeyError` or `LessonError`."""
    candidate = Path(lesson_id)
    if candidate.suffix == ".md" and candidate.is_file():
        return parse_file(candidate, lang=None)
    for item in load_course(root, lang):
        if isinstance(item, Lesson) and item.id == lesson_id:
            return item
        if isinstance(item, BrokenLesson) and _stem_id(item.path) == lesson_id:
            raise item.error
    raise KeyError(lesson_id)


def _stem_id(path: Path) -> str:
    stem = path.stem
    head, _, tail = stem.partition("-")
    return tail if head.isdigit() and tail else stem


def parity(root: Path | None = None, langs: tuple[str, ...] = LANGS) -> list[str]:
    """Differences between languages: missing lessons and mismatched cell/exercise ids."""
    by_lang: dict[str, dict[str, Lesson]] = {}
    for lang in langs:
        by_lang[lang] = {l.id: l for l in load_course(root, lang) if isinstance(l, Lesson)}
    problems: list[str] = []
    base_lang, *others = langs
    base = by_lang[base_lang]
    for other in others:
        theirs = by_lang[other]
        if not theirs and not any(lesson_files(Path(root or default_lessons_dir()), other)):
            continue
        for lid in sorted(set(base) - set(theirs)):
            problems.append(f"lesson '{lid}' exists in {base_lang} but not in {other}")
        for lid in sorted(set(theirs) - set(base)):
            problems.append(f"lesson '{lid}' exists in {other} but not in {base_lang}")
        for lid in sorted(set(base) & set(theirs)):
            a, b = base[lid].structure(), theirs[lid].structure()
            for key in a:
                if a[key] != b[key]:
                    problems.append(
                        f"lesson '{lid}': {key} differ: {base_lang} {a[key]} vs {other} {b[key]} ({theirs[lid].path})"
                    )
    return problems

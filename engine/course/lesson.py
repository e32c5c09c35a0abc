"""Provides the lesson model and the parser of lesson files (format v1, see docs/lesson-format.md).

A lesson is a Markdown file with YAML front matter. Fenced code blocks whose info string names a
*kind* are the lesson's interactive parts: runnable cells, exercises (starter, solution, checks,
hints) and predict-the-output questions. Every problem is reported as a `LessonError` naming the
file, the line and what was expected; nothing is silently ignored.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

from llm_tutor.engine.course.files import NotRegularFile, read_regular


FORMAT_VERSION = 1

PYTHON_LANGS = {"python", "py", "python3"}
PYTHON_KINDS = {"cell", "exercise", "solution", "check", "predict", "show"}
"""Block kinds that hold Python code."""
TEXT_KINDS = {"hint"}
"""Block kinds that hold Markdown text (the info string starts with the kind itself)."""

_ALLOWED_ATTRS: dict[str, set[str]] = {
    "cell": {"id", "raises", "timeout"},
    "exercise": {"id", "title", "starter-passes", "raises"},
    "solution": {"for"},
    "check": {"for"},
    "hint": {"for"},
    "predict": {"id", "answer"},
    "show": set(),
}
_FLAG_ATTRS = {"starter-passes"}
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_REQUIRED_FRONT = ("id", "title", "order")
_ALLOWED_FRONT = {"id", "title", "order", "prerequisites", "lang", "summary", "format", "minutes"}


MAX_LESSON_BYTES = 2_000_000
"""A lesson file past this is refused before it is read (the longest bundled lesson is ~30 kB)."""
MAX_MESSAGE = 400
"""Characters of a `LessonError` message; values quoted from the file are cut to keep it one short line."""


class LessonError(Exception):
    """A lesson file is malformed. `str()` gives ``file:line: message``, always on one line."""

    def __init__(self, path: Path | str, line: int, message: str) -> None:
        self.path = Path(path)
        self.line = line
        message = " ".join(re.sub(r"[\x00-\x1f\x7f]", " ", message).split())
        if len(message) > MAX_MESSAGE:
            message = message[: MAX_MESSAGE - 1] + "…"
        self.message = message
        self.errors: list[LessonError] = [self]
        """Every problem found in the file, in line order (this one first); `llm-tutor check` lists them all."""
        super().__init__(f"{self.path}:{line}: {message}")

    @classmethod
    def collected(cls, errors: list[LessonError]) -> LessonError:
        """One error standing for all of `errors`: the first by line, saying how many more there are."""
        ordered = sorted(errors, key=lambda e: e.line)
        first = ordered[0]
        if len(ordered) == 1:
            return first
        more = len(ordered) - 1
        note = f" (and {more} more problem{'s' if more > 1 else ''} in this file: llm-tutor check lists them all)"
        head = cls(first.path, first.line, first.message[: MAX_MESSAGE - len(note)] + note)
        head.errors = ordered
        return head


def _brief(value: object) -> str:
    """A short repr of a value from the file (which may be a huge or deeply aliased YAML structure)."""
    import reprlib

    short = reprlib.Repr()
    short.maxlevel, short.maxlist, short.maxdict, short.maxstring, short.maxother = 2, 4, 4, 40, 40
    return short.repr(value)


@dataclass(frozen=True)
class Prose:
    """Markdown shown to the learner as it is."""

    text: str
    line: int


@dataclass(frozen=True)
class Cell:
    """A runnable code cell. `raises` names an exception the cell is meant to show."""

    id: str
    code: str
    line: int
    raises: str = ""
    timeout: float | None = None


@dataclass(frozen=True)
class Show:
    """Python code shown with highlighting but never run."""

    code: str
    line: int


@dataclass(frozen=True)
class Predict:
    """A predict-the-output question: the learner answers, then the code runs and reveals it."""

    id: str
    code: str
    line: int
    answer: str = ""
    """Optional fixed answer; by default the answer is the live result of the code."""


@dataclass
class Exercise:
    """An exercise: the learner edits `starter` until `checks` pass; `solution` must pass them."""

    id: str
    title: str
    starter: str
    line: int
    solution: str = ""
    checks: str = ""
    hints: list[str] = field(default_factory=list)
    starter_passes: bool = False
    """Opt-out of the rule that a starter must fail its checks."""
    raises: str = ""
    """The exception the starter raises on purpose (the exercise is to fix it); exports run on past it."""
    solution_line: int = 0
    checks_line: int = 0


Segment = Union[Prose, Cell, Show, Predict, Exercise]


@dataclass
class Lesson:
    """One lesson in one language."""

    id: str
    title: str
    order: int
    lang: str
    path: Path
    segments: list[Segment] = field(default_factory=list)
    prerequisites: list[str] = field(default_factory=list)
    summary: str = ""

    @property
    def cells(self) -> list[Cell]:
        return [s for s in self.segments if isinstance(s, Cell)]

    @property
    def exercises(self) -> list[Exercise]:
        return [s for s in self.segments if isinstance(s, Exercise)]

    @property
    def predicts(self) -> list[Predict]:
        return [s for s in self.segments if isinstance(s, Predict)]

    def exercise(self, exercise_id: str) -> Exercise:
        for ex in self.exercises:
            if ex.id == exercise_id:
                return ex
        raise KeyError(exercise_id)

    def runnable(self) -> list[Cell | Predict]:
        """Cells and predict questions in lesson order: what "run all" runs."""
        return [s for s in self.segments if isinstance(s, (Cell, Predict))]

    def structure(self) -> dict[str, list[str]]:
        """The ids that must match across languages."""
        return {
            "cells": [c.id for c in self.cells],
            "exercises": [e.id for e in self.exercises],
            "predicts": [p.id for p in self.predicts],
        }


_md = None


def _markdown():  # type: ignore[no-untyped-def]
    """The CommonMark parser, imported on first use (it is not needed to paint the lesson list from cache)."""
    global _md
    if _md is None:
        from markdown_it import MarkdownIt

        _md = MarkdownIt("commonmark")
    return _md


def parse_file(path: Path | str, lang: str | None = None) -> Lesson:
    """Parse one lesson file; raises `LessonError` with file and line on any problem."""
    path = Path(path)
    try:
        text = read_regular(path, MAX_LESSON_BYTES).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LessonError(path, 1, f"the file is not UTF-8 text ({exc.reason})") from None
    except NotRegularFile as exc:
        what = str(exc).removeprefix(f"{path} ")
        advice = " for a lesson (split it into several lessons)" if "allowed" in what else ""
        raise LessonError(path, 1, f"not read: the file {what}{advice}") from None
    except OSError as exc:
        raise LessonError(path, 1, f"cannot read the file: {exc.strerror or exc}") from None
    if lang is None:
        lang = path.parent.name if path.parent.name in {"en", "tr"} else "en"
    return parse_text(text, path=path, lang=lang)


def parse_text(text: str, path: Path | str = "<lesson>", lang: str = "en") -> Lesson:
    """Parse lesson source text (see `parse_file`). Every problem in the file is found in one pass: the
    `LessonError` raised names the first and carries them all in `.errors`."""
    path = Path(path)
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    errors: list[LessonError] = []
    try:
        from llm_tutor.engine.course.frontmatter import read_front_matter

        meta, body, body_line = read_front_matter(text, path, errors)
        lesson = Lesson(
            id=str(meta.get("id") or ""),
            title=str(meta.get("title") or ""),
            order=meta.get("order") if isinstance(meta.get("order"), int) else 0,
            lang=str(meta.get("lang") or lang),
            path=path,
            prerequisites=meta.get("prerequisites") or [],
            summary=str(meta.get("summary") or ""),
        )
        _parse_body(lesson, body, body_line, path, errors)
    except LessonError as exc:  # a problem after which nothing more can be read
        errors.append(exc)
    except RecursionError:
        errors.append(LessonError(path, 1, "the file is nested too deeply to read (lists, quotes or brackets inside each other)"))
    except Exception as exc:  # noqa: BLE001 - the contract: a bad file gives a LessonError, never a traceback
        errors.append(LessonError(path, 1, f"cannot read this file as a lesson ({type(exc).__name__}: {exc})"))
    if errors:
        raise LessonError.collected(errors) from None
    return lesson


def _parse_attrs(rest: str, kind: str, path: Path, line: int) -> dict[str, str]:
    try:
        words = shlex.split(rest)
    except ValueError as exc:
        raise LessonError(path, line, f"cannot read the block's attributes ({exc}): expected key=value pairs") from None
    attrs: dict[str, str] = {}
    for word in words:
        key, eq, value = word.partition("=")
        if key not in _ALLOWED_ATTRS[kind]:
            allowed = ", ".join(sorted(_ALLOWED_ATTRS[kind])) or "none"
            raise LessonError(path, line, f"unknown attribute '{key}' for a {kind} block (allowed: {allowed})")
        if not eq and key not in _FLAG_ATTRS:
            raise LessonError(path, line, f"attribute '{key}' needs a value: {key}=...")
        if key in attrs:
            raise LessonError(path, line, f"attribute '{key}' given twice")
        attrs[key] = value if eq else "true"
    return attrs


def _need_id(attrs: dict[str, str], key: str, kind: str, path: Path, line: int) -> str:
    value = attrs.get(key, "")
    if not value:
        raise LessonError(path, line, f"a {kind} block needs {key}=<id> (e.g. ```python {kind} {key}=my-{kind})")
    if not _ID_RE.match(value):
        raise LessonError(path, line, f"{key}={value!r} is not a valid id: use lower-case letters, digits, '-' or '_'")
    return value


def _parse_body(lesson: Lesson, body: str, first_line: int, path: Path, errors: list[LessonError]) -> None:
    """Read the kind blocks into `lesson.segments`. A block with a problem is reported to `errors` and skipped, so
    one pass finds every problem of the file."""
    lines = body.split("\n")
    tokens = _markdown().parse(body)
    fences = [t for t in tokens if t.type == "fence" and t.map is not None]
    state = _BodyState(lesson=lesson, lines=lines, first_line=first_line, path=path)
    for tok in fences:
        try:
            state.block(tok)
        except LessonError as exc:
            errors.append(exc)
    state.add_prose(state.prose_start, len(lines))
    for ex in state.exercises.values():
        if not ex.solution_line:
            errors.append(LessonError(path, ex.line, f"exercise '{ex.id}' has no solution: expected a ```python solution for={ex.id} block"))
        if not ex.checks_line:
            errors.append(LessonError(path, ex.line, f"exercise '{ex.id}' has no checks: expected a ```python check for={ex.id} block"))
    lesson.segments = state.segments


@dataclass
class _BodyState:
    """What `_parse_body` has read so far."""

    lesson: Lesson
    lines: list[str]
    first_line: int
    path: Path
    seen_ids: dict[str, int] = field(default_factory=dict)
    exercises: dict[str, Exercise] = field(default_factory=dict)
    segments: list[Segment] = field(default_factory=list)
    prose_start: int = 0

    def add_prose(self, start: int, end: int) -> None:
        chunk = "\n".join(self.lines[start:end]).strip("\n")
        if chunk.strip():
            self.segments.append(Prose(chunk, self.first_line + start))

    def block(self, tok) -> None:  # type: ignore[no-untyped-def]
        """Read one fenced block; raises `LessonError` for a bad one (which is then left out)."""
        path, lines = self.path, self.lines
        assert tok.map is not None
        start, end = tok.map
        line = self.first_line + start
        info = tok.info.strip()
        words = info.split(None, 2)
        lang_word = words[0].lower() if words else ""
        if lang_word in TEXT_KINDS:
            kind, rest = lang_word, info[len(words[0]) :]
        elif lang_word in PYTHON_LANGS:
            if len(words) < 2:
                kinds = ", ".join(sorted(PYTHON_KINDS))
                raise LessonError(path, line, f"a python block needs a kind after 'python' (one of: {kinds})")
            kind = words[1]
            rest = words[2] if len(words) > 2 else ""
            if kind not in PYTHON_KINDS:
                kinds = ", ".join(sorted(PYTHON_KINDS))
                raise LessonError(path, line, f"unknown block kind '{kind}' (expected one of: {kinds})")
        else:
            if len(words) > 1 and (words[1] in PYTHON_KINDS or words[1] in TEXT_KINDS or "=" in info):
                raise LessonError(path, line, f"a {words[1].split('=')[0]} block must be 'python' code, not '{words[0]}'")
            return  # a plain fenced block (text, console, json...): part of the prose
        if not _fence_closed(lines, start, end, tok.markup):
            raise LessonError(path, line, f"code fence opened here is never closed: expected a closing {tok.markup}")
        attrs = _parse_attrs(rest, kind, path, line)
        code = tok.content.rstrip("\n")
        self.add_prose(self.prose_start, start)
        self.prose_start = end
        if kind in {"cell", "exercise", "predict"}:
            self._runnable(kind, attrs, code, line)
        elif kind == "show":
            self.segments.append(Show(code, line))
        else:
            self._attached(kind, attrs, code, line)

    def _runnable(self, kind: str, attrs: dict[str, str], code: str, line: int) -> None:
        path = self.path
        block_id = _need_id(attrs, "id", kind, path, line)
        if block_id in self.seen_ids:
            raise LessonError(path, line, f"id '{block_id}' is already used on line {self.seen_ids[block_id]}")
        self.seen_ids[block_id] = line
        if kind == "cell":
            timeout = None
            if "timeout" in attrs:
                try:
                    timeout = float(attrs["timeout"])
                except ValueError:
                    raise LessonError(path, line, f"timeout={attrs['timeout']!r} must be a number of seconds") from None
            raises = attrs.get("raises", "")
            if raises and not re.match(r"^[A-Za-z_][A-Za-z0-9_.]*$", raises):
                raise LessonError(path, line, f"raises={raises!r} must name an exception class, e.g. raises=ValueError")
            self.segments.append(Cell(block_id, code, line, raises=raises, timeout=timeout))
        elif kind == "predict":
            if not code.strip():
                raise LessonError(path, line, "a predict block needs the code whose output the learner predicts")
            self.segments.append(Predict(block_id, code, line, answer=attrs.get("answer", "")))
        else:
            raises = attrs.get("raises", "")
            if raises and not re.match(r"^[A-Za-z_][A-Za-z0-9_.]*$", raises):
                raise LessonError(path, line, f"raises={raises!r} must name an exception class, e.g. raises=ValueError")
            ex = Exercise(id=block_id, title=attrs.get("title", block_id), starter=code, line=line,
                          starter_passes="starter-passes" in attrs, raises=raises)
            self.exercises[block_id] = ex
            self.segments.append(ex)

    def _attached(self, kind: str, attrs: dict[str, str], code: str, line: int) -> None:
        """A solution, check or hint: attached to the exercise it names."""
        path = self.path
        target = _need_id(attrs, "for", kind, path, line)
        if target not in self.exercises:
            raise LessonError(path, line, f"{kind} for={target}: no exercise '{target}' above this line (write the exercise block first)")
        ex = self.exercises[target]
        if kind == "solution":
            if ex.solution_line:
                raise LessonError(path, line, f"exercise '{target}' already has a solution on line {ex.solution_line}")
            ex.solution, ex.solution_line = code, line
        elif kind == "check":
            if ex.checks_line:
                raise LessonError(path, line, f"exercise '{target}' already has checks on line {ex.checks_line}")
            if not code.strip():
                raise LessonError(path, line, "a check block is empty: expected expect.*(...) lines")
            ex.checks, ex.checks_line = code, line
        else:
            if not code.strip():
                raise LessonError(path, line, "a hint block is empty")
            ex.hints.append(code.strip())


def _fence_closed(lines: list[str], start: int, end: int, markup: str) -> bool:
    last = lines[end - 1].strip() if end - 1 < len(lines) and end - 1 > start else ""
    return last.startswith(markup[0] * len(markup)) and set(last) <= {markup[0]}

"""Provides the reader of a lesson file's YAML front matter (id, title, order and the optional keys).

Every problem with a single key is collected, so that `llm-tutor check` lists them all in one run; only a file
whose front matter cannot be found at all stops the reading.
"""

from __future__ import annotations

import re
from pathlib import Path

from llm_tutor.engine.course.lesson import _ALLOWED_FRONT, _ID_RE, _REQUIRED_FRONT, FORMAT_VERSION, LessonError, _brief


def read_front_matter(text: str, path: Path, errors: list[LessonError]) -> tuple[dict, str, int]:
    """The front matter's keys, the body and its first line. Problems with single keys go to `errors` (the body is
    still read); a file whose front matter cannot be found at all raises."""
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        raise LessonError(path, 1, "expected front matter: a first line '---', then id, title, order, then '---'")
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        raise LessonError(path, 1, "front matter is not closed: expected a line '---' after it") from None
    body = "\n".join(lines[end + 1 :])
    source = "\n".join(lines[1:end])
    import yaml

    def fail(line: int, message: str) -> tuple[dict, str, int]:
        errors.append(LessonError(path, line, message))
        return {}, body, end + 2

    try:
        meta = yaml.safe_load(source) if source.strip() else {}
    except RecursionError:
        return fail(2, "front matter is nested too deeply (brackets inside brackets)")
    except ValueError as exc:  # e.g. an integer with thousands of digits
        return fail(2, f"front matter has a value that cannot be read: {exc}")
    except yaml.YAMLError as exc:
        # the context mark is where the broken construct began (an unclosed '[' on its own line)
        mark = getattr(exc, "context_mark", None) or getattr(exc, "problem_mark", None)
        line = 2 + (mark.line if mark is not None else 0)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        context = getattr(exc, "context", None)
        if context:
            problem = f"{problem} ({context})"
        return fail(line, f"front matter is not valid YAML: {problem}")
    if not isinstance(meta, dict):
        return fail(2, "front matter must be 'key: value' lines (id, title, order)")

    def key_line(key: str) -> int:
        for i in range(1, end):
            if lines[i].split(":", 1)[0].strip() == key:
                return i + 1
        return 2

    def bad(key: str, line: int, message: str) -> None:
        errors.append(LessonError(path, line, message))
        meta.pop(key, None)

    for key in _REQUIRED_FRONT:
        if key not in meta or meta[key] in (None, ""):
            errors.append(LessonError(path, 2, f"front matter is missing '{key}' (required: id, title, order)"))
    for key in list(meta):
        if key not in _ALLOWED_FRONT:
            allowed = ", ".join(sorted(_ALLOWED_FRONT))
            bad(key, key_line(str(key)), f"unknown front matter key {_brief(key)} (expected one of: {allowed})")
    seen: dict[str, int] = {}
    for i in range(1, end):
        head = re.match(r"^([A-Za-z_][\w-]*)\s*:", lines[i])
        if head:
            if head.group(1) in seen:
                errors.append(LessonError(path, i + 1, f"front matter key '{head.group(1)}' is given twice (first on line {seen[head.group(1)]})"))
            seen[head.group(1)] = i + 1
    if "id" in meta and (not isinstance(meta["id"], str) or not _ID_RE.match(meta["id"])):
        bad("id", key_line("id"), "'id' must be lower-case letters, digits, '-' or '_' (e.g. tensors)")
    if "title" in meta and not isinstance(meta["title"], str):
        bad("title", key_line("title"), "'title' must be text")
    if "order" in meta and (isinstance(meta["order"], bool) or not isinstance(meta["order"], int)):
        bad("order", key_line("order"), f"'order' must be a whole number, got {_brief(meta['order'])}")
    for key in ("summary", "lang"):
        if meta.get(key) is not None and not isinstance(meta[key], str):
            bad(key, key_line(key), f"'{key}' must be text, got {_brief(meta[key])}")
    if meta.get("minutes") is not None and (isinstance(meta["minutes"], bool) or not isinstance(meta["minutes"], (int, float))):
        bad("minutes", key_line("minutes"), f"'minutes' must be a number, got {_brief(meta['minutes'])}")
    prereq = meta.get("prerequisites") or []
    if isinstance(prereq, str):
        prereq = [prereq]
    if not isinstance(prereq, list) or not all(isinstance(p, str) for p in prereq):
        bad("prerequisites", key_line("prerequisites"), "'prerequisites' must be a list of lesson ids")
        prereq = []
    meta["prerequisites"] = prereq
    if "format" in meta and meta["format"] != FORMAT_VERSION:
        bad("format", key_line("format"), f"unsupported format {_brief(meta['format'])} (this version reads {FORMAT_VERSION})")
    return meta, body, end + 2

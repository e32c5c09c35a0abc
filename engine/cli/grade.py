"""Provides `llm-tutor grade LESSON EXERCISE --file F`: check an exercise solved in your own editor.

The file runs headless in a kernel after the lesson's cells above the exercise, then the
exercise's checks run; every failed expectation is printed as expected vs got, and the attempt is
recorded in the progress store. Exit status 0: passed, 1: failed, 2: bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from llm_tutor.engine.cli.common import (
    UsageError,
    add_data_dir,
    add_device,
    add_lang,
    add_lessons_dir,
    lessons_root,
    resolve_device,
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "grade",
        help="check an exercise from a file and record the attempt",
        description="Check a file against an exercise's checks, print every failed expectation (expected vs got) and "
        "record the attempt. Exit status 0: passed, 1: failed, 2: bad input.",
    )
    p.add_argument("lesson", metavar="LESSON", help="lesson id (see `llm-tutor lessons`)")
    p.add_argument("exercise", metavar="EXERCISE", help="exercise id (see `llm-tutor lessons --json`)")
    p.add_argument("--file", "-f", type=Path, metavar="F",
                   help="your code (default: the exercise's workspace file of the language, "
                   "DATA_DIR/workspace/LESSON/EXERCISE.LANG.py)")
    add_data_dir(p)
    add_lang(p)
    add_lessons_dir(p)
    add_device(p)
    p.add_argument("--timeout", type=float, default=30.0, metavar="S", help="seconds for each cell and the check (default 30)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--no-sandbox", action="store_true",
                   help="run the file unconfined (by default it may read only the lessons and Python, and write only "
                   "a scratch folder, where the kernel has Landlock)")
    p.set_defaults(func=run)


def _read_code(args: argparse.Namespace, lesson_id: str, exercise_id: str, lang: str) -> tuple[Path, str]:
    from llm_tutor.engine.course.files import NotRegularFile, read_regular
    from llm_tutor.engine.learner.workspace import MAX_EXERCISE_BYTES, Workspace, WorkspaceError, strip_header

    workspace = Workspace.open(args.data_dir)
    if args.file is None:
        try:
            workspace.mtime(lesson_id, exercise_id, lang)  # an older llm-tutor's file becomes the English one
        except WorkspaceError as exc:
            raise UsageError(str(exc)) from None
    path = args.file or workspace.path(lesson_id, exercise_id, lang)
    if not path.exists():
        if args.file is None:
            raise UsageError(f"no --file given and no workspace file at {path}")
        raise UsageError(f"no such file: {path}")
    try:
        text = read_regular(path, MAX_EXERCISE_BYTES).decode("utf-8")
    except NotRegularFile as exc:
        raise UsageError(str(exc)) from None
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    return path, strip_header(text)


def _failed_line(e: Any, attempts: int, lang: str) -> str:
    """What is wrong and what the code gave; the expected value after several attempts (`engine.grading.feedback`)."""
    from llm_tutor.engine.grading.feedback import REVEAL_AFTER_ATTEMPTS, describe, reveals_answer
    from llm_tutor.engine.grading.words import TEXT, say

    label = say(lang, "check_label") if e.label in ("check", "checks") else e.label
    if not e.diagnosis:
        line = say(lang, "expected_got", label=label, expected=e.expected, got=e.got)
        return line + (f" ({e.detail})" if e.detail else "")
    diagnoses = {key[5:]: text for key, text in TEXT.get(lang, {}).items() if key.startswith("diag_")}
    line = f"{label}: {describe(e.diagnosis, e.args, diagnoses)}"
    if e.diagnosis != "missing":
        line += "; " + say(lang, "got", got=e.got)
        if attempts >= REVEAL_AFTER_ATTEMPTS or not reveals_answer(e.diagnosis):
            line += "; " + say(lang, "expected", expected=e.expected)
        else:
            line += " " + say(lang, "expected_later", n=REVEAL_AFTER_ATTEMPTS)
    return line


def run(args: argparse.Namespace) -> int:
    from llm_tutor.engine.course.checker import describe_error, run_exercise
    from llm_tutor.engine.settings import default_lang
    from llm_tutor.engine.course.catalog import find_lesson
    from llm_tutor.engine.grading.words import error_note, say
    from llm_tutor.engine.kernel import BlockingKernel
    from llm_tutor.engine.course.lesson import LessonError
    from llm_tutor.engine.learner.store import ProgressStore

    if args.timeout <= 0:
        raise UsageError("--timeout must be a positive number of seconds")
    device = resolve_device(args.device)
    try:
        lesson = find_lesson(args.lesson, lessons_root(args.lessons), default_lang(args.lang))
    except KeyError:
        raise UsageError(f"unknown lesson {args.lesson!r} (see `llm-tutor lessons`)") from None
    except LessonError as exc:
        raise UsageError(str(exc)) from None
    try:
        exercise = lesson.exercise(args.exercise)
    except KeyError:
        ids = ", ".join(e.id for e in lesson.exercises) or "none"
        raise UsageError(f"lesson {lesson.id!r} has no exercise {args.exercise!r} (exercises: {ids})") from None
    path, code = _read_code(args, lesson.id, exercise.id, lesson.lang)

    from llm_tutor.engine.sandbox.grading import confined_kernel

    with confined_kernel([Path(lesson.path).parent] if getattr(lesson, "path", None) else [],
                         enabled=not args.no_sandbox) as confined:
        kernel = BlockingKernel(device=device, **confined)
        try:
            try:
                kernel.start()
            except RuntimeError as exc:
                raise UsageError(f"cannot start the kernel: {exc}") from None
            check, reply, problems = run_exercise(lesson, exercise.id, code, kernel, args.timeout)
        finally:
            kernel.shutdown()

    passed = reply.status == "ok" and check is not None and check.passed
    with ProgressStore.open(args.data_dir) as store:
        progress = store.record_attempt(lesson.id, exercise.id, passed, code, lang=lesson.lang)
        lesson_progress = store.lesson_status(lesson.id, [e.id for e in lesson.exercises])
    for notice in store.notices:
        print(f"llm-tutor: {notice.level}: {notice.message}", file=sys.stderr)

    failed = [e for e in check.expectations if not e.passed] if check is not None else []
    error = check.error if check is not None else reply.error
    if args.json:
        data: dict[str, Any] = {
            "lesson": lesson.id,
            "exercise": exercise.id,
            "file": str(path),
            "passed": passed,
            "status": reply.status,
            "expectations": [vars(e) for e in check.expectations] if check is not None else [],
            "error": describe_error(error) if error is not None else None,
            "problems_above": [p.message for p in problems],
            "attempts": progress.attempts,
            "saved": store.persistent and not store.pending,
        }
        json.dump(data, sys.stdout, ensure_ascii=False, indent=2)
        print()
        return 0 if passed else 1

    lang = lesson.lang
    name = say(lang, "exercise", id=exercise.id, title=exercise.title)
    if passed:
        assert check is not None
        print(say(lang, "passed", name=name, n=len(check.expectations)))
    else:
        print(say(lang, "failed", name=name))
        if reply.status == "timeout":
            print("  " + say(lang, "timeout", seconds=f"{args.timeout:g}"))
        elif reply.status == "dead" and reply.died is not None:
            print("  " + say(lang, "kernel_stopped", reason=reply.died.reason))
        elif error is not None:
            print("  " + say(lang, "raised", error=describe_error(error)))
            for line in error.traceback[-6:]:
                print("    " + line.rstrip("\n"))
            if error.hint:
                print("  " + say(lang, "hint", hint=error_note(lang, error)))
        for e in failed:
            print("  - " + _failed_line(e, progress.attempts, lang))
        if check is not None and not check.expectations and error is None:
            print("  " + say(lang, "no_expectation"))
    for item in problems:
        print("  " + say(lang, "cell_above", what=item.message or item.id))
    saved = "" if store.persistent and not store.pending else say(lang, "not_saved")
    print(say(lang, "summary", attempts=progress.attempts, lesson=lesson.id, solved=lesson_progress.solved,
              total=lesson_progress.total, saved=saved))
    return 0 if passed else 1

"""Provides `llm-tutor export LESSON --to ipynb|py -o FILE` and `export --all DIR`: lessons with your code, to run elsewhere."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from llm_tutor.engine.cli.common import UsageError, add_data_dir, add_lang, add_lessons_dir, lessons_root


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "export",
        help="export a lesson (or every lesson) with your code as a notebook or a script",
        description="Write a lesson as a Jupyter notebook or a Python script (# %% cells): prose, cells, and your "
        "own code for each exercise (or its starter). Solutions and checks are never exported. --all DIR writes "
        "every lesson of the language in both formats (or the one --to names), e.g. to hand out a course.",
    )
    p.add_argument("lesson", metavar="LESSON", nargs="?", help="lesson id (see `llm-tutor lessons`) or a lesson file")
    p.add_argument("--to", choices=["ipynb", "py"], default=None, help="the format (default: from FILE's suffix; "
                   "with --all: both)")
    p.add_argument("-o", "--output", metavar="FILE", help="where to write ('-' for standard output)")
    p.add_argument("--all", metavar="DIR", dest="all_dir", type=Path,
                   help="write every lesson to DIR as NN-LESSON.ipynb and NN-LESSON.py")
    add_lang(p)
    add_data_dir(p)
    add_lessons_dir(p)
    p.set_defaults(func=run)


def _format(args: argparse.Namespace) -> str:
    if args.to:
        return str(args.to)
    suffix = Path(args.output).suffix.lower()
    if suffix in (".ipynb", ".py"):
        return suffix[1:]
    raise UsageError("say which format with --to ipynb or --to py (or name the file .ipynb or .py)")


def _render(lesson: Any, work: Any, fmt: str) -> str:
    from llm_tutor.engine.course.export import to_notebook, to_script

    if fmt == "ipynb":
        return json.dumps(to_notebook(lesson, work), ensure_ascii=False, indent=1) + "\n"
    return to_script(lesson, work)


def _learner_work(lesson: Any, store: Any, workspace: Any) -> tuple[Any, int]:
    """The learner's drafts, revealed hints and predict answers for a lesson; and how many exercises have code."""
    from llm_tutor.engine.course.export import LearnerWork
    from llm_tutor.engine.learner.workspace import latest_code

    drafts: dict[str, str] = {}
    hints: dict[str, int] = {}
    for ex in lesson.exercises:
        found = latest_code(store, workspace, lesson.id, ex.id, starter=ex.starter, lang=lesson.lang)
        if found is not None:
            drafts[ex.id] = found[0]
        hints[ex.id] = store.exercise(lesson.id, ex.id).hints
    answers = {pid: a.answer for pid, a in store.predict_answers(lesson.id).items()}
    return LearnerWork(code=lambda ex: drafts.get(ex.id, ex.starter), hints_revealed=hints,
                       predict_answers=answers), len(drafts)


def run(args: argparse.Namespace) -> int:
    from llm_tutor.engine.settings import default_lang
    from llm_tutor.engine.course.catalog import find_lesson, load_course
    from llm_tutor.engine.course.export import file_name
    from llm_tutor.engine.course.lesson import Lesson, LessonError
    from llm_tutor.engine.learner.store import ProgressStore
    from llm_tutor.engine.learner.workspace import Workspace

    lang = default_lang(args.lang)
    if args.all_dir is not None:
        if args.lesson or args.output:
            raise UsageError("--all DIR writes every lesson: leave out LESSON and -o")
        if not args.all_dir.is_dir():
            raise UsageError(f"no such folder: {args.all_dir} (make it first)")
        items = load_course(lessons_root(args.lessons), lang)
        for item in items:
            if not isinstance(item, Lesson):
                raise UsageError(str(item.error))
        lessons: list[Any] = list(items)
        if not lessons:
            raise UsageError(f"no lessons in {args.lessons or 'the course'} for --lang {lang}")
        formats = [args.to] if args.to else ["ipynb", "py"]
    else:
        if not args.lesson:
            raise UsageError("name a LESSON to export (or --all DIR for every lesson)")
        if not args.output:
            raise UsageError("say where to write with -o FILE ('-' for standard output)")
        formats = [_format(args)]
        output = None if args.output == "-" else Path(args.output)
        if output is not None and not output.parent.is_dir():
            raise UsageError(f"no such folder for the output: {output.parent}")
        try:
            lessons = [find_lesson(args.lesson, lessons_root(args.lessons), lang)]
        except KeyError:
            raise UsageError(f"unknown lesson {args.lesson!r} (see `llm-tutor lessons`)") from None
        except LessonError as exc:
            raise UsageError(str(exc)) from None

    workspace = Workspace.open(args.data_dir)
    with ProgressStore.open(args.data_dir, read_only=True) as store:
        works = [_learner_work(lesson, store, workspace) for lesson in lessons]
        for notice in store.notices:
            print(f"llm-tutor: {notice.level}: {notice.message}", file=sys.stderr)

    if args.all_dir is None:
        (lesson,), ((work, mine),), (fmt,) = lessons, works, formats
        text = _render(lesson, work, fmt)
        if output is None:
            sys.stdout.write(text)
            return 0
        _write(output, text)
        print(f"wrote {output} ({fmt}; {len(lesson.exercises)} exercises, {mine} with your code)", file=sys.stderr)
        return 0
    written = 0
    for lesson, (work, _) in zip(lessons, works):
        for fmt in formats:
            _write(args.all_dir / file_name(lesson, fmt), _render(lesson, work, fmt))
            written += 1
    mine = sum(m for _, m in works)
    print(f"wrote {written} files to {args.all_dir} ({len(lessons)} lessons, {lang}, {' and '.join(formats)}; "
          f"{mine} exercises with your code)", file=sys.stderr)
    return 0


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None

"""Provides `llm-tutor export LESSON --to ipynb|py -o FILE`: a lesson with your own code, to run elsewhere."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from llm_tutor.engine.commands._common import UsageError, add_data_dir, add_lang, add_lessons_dir, lessons_root


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "export",
        help="export a lesson with your code as a notebook or a script",
        description="Write a lesson as a Jupyter notebook or a Python script (# %% cells): prose, cells, and your "
        "own code for each exercise (or its starter). Solutions and checks are never exported.",
    )
    p.add_argument("lesson", metavar="LESSON", help="lesson id (see `llm-tutor lessons`) or a lesson file")
    p.add_argument("--to", choices=["ipynb", "py"], default=None, help="the format (default: from FILE's suffix)")
    p.add_argument("-o", "--output", metavar="FILE", required=True, help="where to write ('-' for standard output)")
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


def run(args: argparse.Namespace) -> int:
    from llm_tutor.engine.config import default_lang
    from llm_tutor.engine.course import find_lesson
    from llm_tutor.engine.export import LearnerWork, to_notebook, to_script
    from llm_tutor.engine.lesson import Exercise, LessonError
    from llm_tutor.engine.progress import ProgressStore
    from llm_tutor.engine.workspace import Workspace, latest_code

    fmt = _format(args)
    output = None if args.output == "-" else Path(args.output)
    if output is not None and not output.parent.is_dir():
        raise UsageError(f"no such folder for the output: {output.parent}")
    try:
        lesson = find_lesson(args.lesson, lessons_root(args.lessons), default_lang(args.lang))
    except KeyError:
        raise UsageError(f"unknown lesson {args.lesson!r} (see `llm-tutor lessons`)") from None
    except LessonError as exc:
        raise UsageError(str(exc)) from None

    workspace = Workspace.open(args.data_dir)
    with ProgressStore.open(args.data_dir, read_only=True) as store:
        drafts: dict[str, str] = {}
        hints: dict[str, int] = {}
        for ex in lesson.exercises:
            found = latest_code(store, workspace, lesson.id, ex.id, starter=ex.starter)
            if found is not None:
                drafts[ex.id] = found[0]
            hints[ex.id] = store.exercise(lesson.id, ex.id).hints
        answers = {pid: a.answer for pid, a in store.predict_answers(lesson.id).items()}
        for notice in store.notices:
            print(f"llm-tutor: {notice.level}: {notice.message}", file=sys.stderr)

    def code(ex: Exercise) -> str:
        mine = drafts.get(ex.id)
        return ex.starter if mine is None else mine

    work = LearnerWork(code=code, hints_revealed=hints, predict_answers=answers)
    if fmt == "ipynb":
        text = json.dumps(to_notebook(lesson, work), ensure_ascii=False, indent=1) + "\n"
    else:
        text = to_script(lesson, work)
    if output is None:
        sys.stdout.write(text)
        return 0
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None
    mine = len(drafts)
    print(f"wrote {output} ({fmt}; {len(lesson.exercises)} exercises, {mine} with your code)", file=sys.stderr)
    return 0

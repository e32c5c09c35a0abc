"""Provides `llm-tutor check`: run lessons headless, as rustlings' `dev check` does for its exercises."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from llm_tutor.engine.cli.common import UsageError, add_device, add_lang, resolve_device


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "check",
        help="run every lesson headless: cells run, solutions pass, starters fail",
        description="Run lessons headless. Every cell must run, every exercise's solution must pass its checks and "
        "its starter must fail them. Exit status 0: all passed, 1: a check failed, 2: bad input.",
    )
    p.add_argument("paths", nargs="*", type=Path, metavar="PATH", help="lesson files or folders (default: the bundled course)")
    add_lang(p, allow_all=True)
    add_device(p)
    p.add_argument("--timeout", type=float, default=30.0, metavar="S", help="seconds per cell before it is interrupted (default 30)")
    p.add_argument("--junit", type=Path, metavar="FILE", help="write a JUnit XML report")
    p.add_argument("--json", action="store_true", help="print a JSON report instead of the summary")
    p.add_argument("--jobs", "-j", type=int, default=None, metavar="N",
                   help="lessons checked at once, each in its own kernel (default: the CPU count, at most 4)")
    p.add_argument("--no-sandbox", action="store_true",
                   help="run the cells unconfined (by default they may read only the lessons and Python, and write "
                   "only a scratch folder, where the kernel has Landlock)")
    p.set_defaults(func=run)


def _collect(paths: list[Path], langs: list[str]) -> tuple[list[tuple[Path, str]], list[Path], list[tuple[Path, str, str]]]:
    """Lesson files to check as (path, lang); roots to check for language parity; files refused as (path, lang,
    reason): in a folder, links to outside it, as `lessons` refuses them."""
    from llm_tutor.engine.course.catalog import default_lessons_dir, lesson_files, split_escaping

    files: list[tuple[Path, str]] = []
    roots: list[Path] = []
    refused: list[tuple[Path, str, str]] = []

    def add(folder: Path, found: list[Path], lang: str) -> None:
        inside, outside = split_escaping(folder, found)
        files.extend((f, lang) for f in inside)
        refused.extend((b.path, lang, str(b.error)) for b in outside)

    targets = paths or [default_lessons_dir()]
    for target in targets:
        if not target.exists():
            raise UsageError(f"no such lesson file or folder: {target}")
        if target.is_file():
            lang = target.parent.name if target.parent.name in ("en", "tr") else langs[0]
            files.append((target, lang))
            continue
        has_lang_dirs = any((target / l).is_dir() for l in ("en", "tr"))
        if has_lang_dirs:
            roots.append(target)
            for lang in langs:
                add(target, [f for f in lesson_files(target, lang) if f.parent.name == lang], lang)
        else:
            found = lesson_files(target, langs[0])
            if not found:
                raise UsageError(f"no lesson files (*.md) in {target}")
            add(target, found, langs[0])
    return files, roots, refused


def run(args: argparse.Namespace) -> int:
    from llm_tutor.engine.course.checker import LessonReport, check_lesson, write_junit
    from llm_tutor.engine.settings import default_lang
    from llm_tutor.engine.course.catalog import parity
    from llm_tutor.engine.course.lesson import LessonError, parse_file

    langs = ["en", "tr"] if args.lang == "all" else [default_lang(args.lang)]
    if args.timeout <= 0:
        raise UsageError("--timeout must be a positive number of seconds")
    device = resolve_device(args.device)
    files, roots, refused = _collect(args.paths, langs)

    lessons = []
    parse_errors = [LessonReport(path.stem, lang, str(path), error=reason) for path, lang, reason in refused]
    for path, lang in files:
        try:
            lessons.append(parse_file(path, lang=lang))
        except LessonError as exc:
            problems = [str(e) for e in exc.errors]
            parse_errors.append(LessonReport(path.stem, lang, str(path), error=problems[0], errors=problems))
    if parse_errors and not lessons and not args.json:
        # nothing runnable: a bad-input failure, one clear line per file
        for rep in parse_errors:  # every problem of every file, one line each
            for problem in rep.errors or [rep.error]:
                print(f"llm-tutor: error: {problem}", file=sys.stderr)
        if args.junit:
            write_junit(parse_errors, args.junit)
        return 2

    parity_problems: list[str] = []
    if len(langs) > 1:
        for root in roots:
            parity_problems.extend(parity(root, tuple(langs)))

    reports: list[LessonReport] = []
    start = time.perf_counter()
    if lessons:
        from llm_tutor.engine.course.checker import check_lessons

        jobs = _jobs(args.jobs, len(lessons))
        threads = _threads() or max(1, (os.cpu_count() or 1) // jobs)
        read = sorted({path.parent for path, _ in files} | set(roots))
        reports = check_lessons(lessons, lambda: _kernel(device, threads, read, not args.no_sandbox), args.timeout,
                                jobs=jobs, on_report=None if args.json else _print_report)
    reports.extend(parse_errors)
    total = time.perf_counter() - start

    if args.junit:
        write_junit(reports, args.junit)
    failed = [r for r in reports if not r.ok]
    if args.json:
        json.dump(
            {"ok": not failed and not parity_problems, "duration_s": round(total, 3), "parity": parity_problems,
             "lessons": [r.to_dict() for r in reports]},
            sys.stdout, ensure_ascii=False, indent=2,
        )
        print()
    else:
        for rep in parse_errors:
            print(f"✗ {rep.path}")
            for problem in rep.errors or [rep.error]:
                print(f"    {problem}")
        for problem in parity_problems:
            print(f"✗ parity: {problem}")
        n_items = sum(len(r.items) for r in reports)
        verdict = "ok" if not failed and not parity_problems else "FAILED"
        print(f"{len(reports)} lessons, {n_items} checks, {len(failed)} lessons failing, "
              f"{len(parity_problems)} parity problems: {verdict} ({total:.1f} s)")
    if parse_errors:
        return 2
    return 1 if failed or parity_problems else 0


def _jobs(asked: int | None, lessons: int) -> int:
    if asked is not None and asked < 1:
        raise UsageError("--jobs must be at least 1")
    return max(1, min(asked or min(os.cpu_count() or 1, 4), lessons))


@contextmanager
def _kernel(device: str, threads: int, read: list[Path], confined: bool) -> Iterator[Any]:
    """One started kernel with a scratch folder of its own (lessons write files: two at once must not meet)."""
    from llm_tutor.engine.kernel import BlockingKernel
    from llm_tutor.engine.sandbox.grading import confined_kernel

    with confined_kernel(read, enabled=confined) as kwargs, tempfile.TemporaryDirectory(prefix="llm-tutor-check-") as cwd:
        kwargs.setdefault("cwd", cwd)
        kernel = BlockingKernel(device=device, threads=threads, **kwargs)
        try:
            kernel.start()
            yield kernel
        finally:
            kernel.shutdown()


def _threads() -> int | None:
    value = os.environ.get("LLM_TUTOR_THREADS")
    return int(value) if value and value.isdigit() else None


def _print_report(rep: LessonReport) -> None:
    mark = "✓" if rep.ok else "✗"
    cells = sum(1 for i in rep.items if i.kind in ("cell", "predict"))
    exercises = sum(1 for i in rep.items if i.kind == "solution")
    print(f"{mark} {rep.lesson_id} ({rep.lang})  {cells} cells, {exercises} exercises  {rep.duration_s:.1f} s")
    for item in rep.failures:
        print(f"    {rep.path}:{item.line}: {item.message}")
    sys.stdout.flush()

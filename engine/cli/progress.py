"""Provides `llm-tutor progress`: the learner's progress per lesson, a reset, and a lab server's overview.

On a terminal it prints a Rich table; piped, plain lines; with `--json`, one JSON document.
The text forms end with a small bar chart of attempts per lesson over time (plotext, see
`engine.cli.charts`): on a terminal, or with `--plot`; `--no-plot` leaves it out.
`--all` reads every student's database under a lab server's data root, read-only.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from llm_tutor.engine.cli.common import UsageError, add_data_dir, add_lang, add_lessons_dir, lessons_root


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "progress",
        help="show (or reset) your progress per lesson",
        description="Show progress per lesson and overall. --reset forgets a lesson's (or one exercise's) progress, "
        "drafts and workspace file (kept as .bak). --all: one row per student under a lab server's data root.",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--all", action="store_true", help="every student under DATA_DIR/users/ (read-only; for instructors)")
    p.add_argument("--reset", metavar="LESSON[:EXERCISE]", help="forget the progress of a lesson or of one exercise")
    p.add_argument("--yes", "-y", action="store_true", help="reset without asking")
    plot = p.add_mutually_exclusive_group()
    plot.add_argument("--plot", action="store_true", default=None,
                      help="end the text form with the attempts chart even when stdout is not a terminal")
    plot.add_argument("--no-plot", dest="plot", action="store_false", help="no attempts chart")
    add_data_dir(p)
    add_lang(p)
    add_lessons_dir(p)
    p.set_defaults(func=run)


def format_time(seconds: float) -> str:
    """Minutes, or hours and minutes: "0m", "12m", "1h 05m"."""
    minutes = int(round(seconds / 60))
    return f"{minutes // 60}h {minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m"


def _when(stamp: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(stamp)) if stamp else "-"


def _course(args: argparse.Namespace) -> list[Any]:
    from llm_tutor.engine.settings import default_lang
    from llm_tutor.engine.course.catalog import load_course
    from llm_tutor.engine.course.lesson import Lesson

    return [item for item in load_course(lessons_root(args.lessons), default_lang(args.lang)) if isinstance(item, Lesson)]


def _report_notices(notices: list[Any]) -> None:
    for notice in notices:
        print(f"llm-tutor: {notice.level}: {notice.message}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    if args.all and args.reset:
        raise UsageError("--all shows every student read-only; it cannot be combined with --reset")
    if args.all:
        return _run_all(args)
    if args.reset:
        return _run_reset(args)
    return _run_show(args)


# -- one learner ---------------------------------------------------------------------------------


def _run_show(args: argparse.Namespace) -> int:
    from llm_tutor.engine.learner.store import ProgressStore

    lessons = _course(args)
    with ProgressStore.open(args.data_dir, read_only=True) as store:
        course = store.summary(lessons)
        titles = {lesson.id: lesson.title for lesson in lessons}
        # progress kept for lessons this course no longer has (renamed, another --lessons folder)
        extra = [store.lesson_status(lid) for lid in store.lesson_ids() if lid not in titles]
        position = store.last_position()
        attempts = store.attempt_log()
        notices = list(store.notices)
        path = store.path
    _report_notices(notices)
    rows = [(p, titles.get(p.lesson_id, "")) for p in course.lessons] + [(p, "(not in this course)") for p in extra]
    if args.json:
        data = {
            "database": str(path) if path else None,
            "last_position": {"lesson_id": position.lesson_id, "cell_id": position.cell_id} if position else None,
            "overall": {k: v for k, v in course.to_dict().items() if k != "lessons"},
            "lessons": [{**p.to_dict(), "title": title} for p, title in rows],
        }
        json.dump(data, sys.stdout, ensure_ascii=False, indent=2)
        print()
        return 0
    overall = (
        f"overall: {course.solved}/{course.total} exercises solved, "
        f"{course.completed_lessons}/{len(course.lessons)} lessons completed, {format_time(course.time_s)} spent"
    )
    if position:
        overall += f"; last opened: {position.lesson_id}"
    if sys.stdout.isatty():
        _print_table(rows, overall)
    else:
        for p, title in rows:
            print(
                f"{p.lesson_id:<20} {p.solved}/{p.total} solved  {p.status:<12} attempts {p.attempts}  "
                f"hints {p.hints}  time {format_time(p.time_s)}  {title}"
            )
        print(overall)
    plot = getattr(args, "plot", None)
    if plot or (plot is None and sys.stdout.isatty()):
        chart = attempts_chart(attempts, [p.lesson_id for p, _ in rows])
        if chart:
            print("\n" + chart)
    return 0


def attempts_chart(log: list[tuple[str, float, int]], order: list[str], now: float | None = None,
                   style: Any = None) -> str:
    """Attempts per lesson over time as stacked bars: one bar per day (per week, or per several days,
    when the span is too long for the width), one layer per lesson; "" without attempts."""
    import datetime as dt

    from llm_tutor.engine.cli.charts import ChartStyle, bar_chart

    if not log:
        return ""
    style = style or ChartStyle.detect(sys.stdout, height=10)
    day = lambda stamp: dt.date.fromtimestamp(stamp)  # noqa: E731 - local calendar days
    first = day(log[0][1])
    last = max(day(now if now is not None else time.time()), day(log[-1][1]))
    span = (last - first).days + 1
    room = max(1, (style.width - 8) // 6)  # a bar and its date label need about six columns
    size = 1 if span <= room else 7 if -(-span // 7) <= room else -(-span // room)
    buckets = -(-span // size)
    start = last - dt.timedelta(days=buckets * size - 1)  # the last bar ends today
    labels = [(start + dt.timedelta(days=i * size)).strftime("%m-%d") for i in range(buckets)]
    lessons = [lid for lid in order if any(entry[0] == lid for entry in log)]
    lessons += sorted({entry[0] for entry in log} - set(lessons))
    counts = {lid: [0.0] * buckets for lid in lessons}
    for lesson_id, stamp, n in log:
        counts[lesson_id][(day(stamp) - start).days // size] += n
    unit = "day" if size == 1 else "week" if size == 7 else f"{size} days"
    return bar_chart(labels, counts, style, title=f"attempts per {unit}")


def _print_table(rows: list[tuple[Any, str]], overall: str) -> None:
    from rich.console import Console
    from rich.table import Table

    marks = {"completed": "[green]✓ completed[/]", "in_progress": "[yellow]… in progress[/]", "not_started": "[dim]not started[/]"}
    table = Table(title="llm-tutor progress", header_style="bold")
    for name, justify in (("Lesson", "left"), ("Title", "left"), ("Solved", "right"), ("Attempts", "right"),
                          ("Hints", "right"), ("Time", "right"), ("Status", "left")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for p, title in rows:
        table.add_row(p.lesson_id, title, f"{p.solved}/{p.total}", str(p.attempts), str(p.hints),
                      format_time(p.time_s), marks.get(p.status, p.status))
    console = Console()
    console.print(table)
    console.print(overall, highlight=False)


# -- reset -----------------------------------------------------------------------------------------


def _run_reset(args: argparse.Namespace) -> int:
    from llm_tutor.engine.learner.store import ProgressStore
    from llm_tutor.engine.learner.workspace import Workspace

    lesson_id, _, exercise_id = args.reset.partition(":")
    if not lesson_id:
        raise UsageError("--reset needs LESSON or LESSON:EXERCISE")
    lessons = {lesson.id: lesson for lesson in _course(args)}
    lesson = lessons.get(lesson_id)
    with ProgressStore.open(args.data_dir, read_only=True) as peek:
        known_lessons = set(peek.lesson_ids())
        known_exercises = {e.exercise_id for e in peek.lesson_status(lesson_id).exercises}
    if lesson is None and lesson_id not in known_lessons:
        raise UsageError(f"unknown lesson {lesson_id!r}: not in the course and no progress recorded for it")
    if exercise_id:
        in_lesson = lesson is not None and exercise_id in [e.id for e in lesson.exercises]
        if not in_lesson and exercise_id not in known_exercises:
            choices = ", ".join(e.id for e in lesson.exercises) if lesson is not None else ", ".join(sorted(known_exercises))
            raise UsageError(f"lesson {lesson_id!r} has no exercise {exercise_id!r} (exercises: {choices or 'none'})")
    what = f"exercise {exercise_id!r} of lesson {lesson_id!r}" if exercise_id else f"lesson {lesson_id!r}"

    if not args.yes:
        if not sys.stdin.isatty():
            raise UsageError(f"resetting {what} needs confirmation: run it in a terminal or add --yes")
        answer = input(f"Forget your progress, drafts and workspace files of {what}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("cancelled: nothing was reset")
            return 1

    with ProgressStore.open(args.data_dir) as store:
        if not store.persistent:
            _report_notices(store.notices)
            print(f"llm-tutor: error: cannot reset {what}: the progress database cannot be written", file=sys.stderr)
            return 1
        store.reset(lesson_id, exercise_id or None)
        queued = store.pending
    _report_notices(store.notices)
    workspace = Workspace.open(args.data_dir)
    moved = _discard_files(workspace, lesson_id, exercise_id or None)
    kept = f"; {len(moved)} workspace file(s) kept as .bak" if moved else ""
    if queued:
        print(f"reset of {what} queued: it could not be written now (see above); "
              f"it is applied the next time llm-tutor opens your progress{kept}")
    else:
        print(f"reset {what}{kept}")
    return 0


def _discard_files(workspace: Any, lesson_id: str, exercise_id: str | None) -> list[Path]:
    folder = workspace.root / lesson_id
    if exercise_id:  # every language's file, and an older llm-tutor's one without a language
        found = sorted(folder.glob(f"{exercise_id}.*py")) if folder.is_dir() else []
        files = [f for f in found if (owner := workspace.exercise_of(f)) is not None and owner[1] == exercise_id]
    else:
        files = sorted(folder.glob("*.py")) if folder.is_dir() else []
    moved = []
    for file in files:
        if file.is_file():
            backup = file.with_name(file.name + ".bak")
            file.replace(backup)
            moved.append(backup)
    return moved


# -- a lab server's students -------------------------------------------------------------------------


def _run_all(args: argparse.Namespace) -> int:
    from llm_tutor.engine.settings import data_dir
    from llm_tutor.engine.learner.paths import student_databases
    from llm_tutor.engine.learner.store import ProgressStore

    root = data_dir(args.data_dir)
    lessons = _course(args)
    students = student_databases(root)
    rows: list[dict[str, Any]] = []
    for name, db in students:
        with ProgressStore.open(db.parent, read_only=True) as store:
            course = store.summary(lessons)
            position = store.last_position()
            rows.append({
                "student": name,
                "solved": course.solved,
                "total": course.total,
                "completed_lessons": course.completed_lessons,
                "lessons": len(course.lessons),
                "time_s": course.time_s,
                "last_lesson": position.lesson_id if position else None,
                "last_active": store.last_active(),
                "problems": [n.message for n in store.notices],
            })
    if args.json:
        json.dump({"root": str(root), "students": rows}, sys.stdout, ensure_ascii=False, indent=2)
        print()
        return 0
    if not rows:
        print(f"no student progress under {root / 'users'}")
        return 0
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"students under {root}", header_style="bold")
        for name, justify in (("Student", "left"), ("Solved", "right"), ("Lessons done", "right"), ("Time", "right"),
                              ("Last lesson", "left"), ("Last active", "left"), ("Problems", "left")):
            table.add_column(name, justify=justify)  # type: ignore[arg-type]
        for r in rows:
            table.add_row(r["student"], f"{r['solved']}/{r['total']}", f"{r['completed_lessons']}/{r['lessons']}",
                          format_time(r["time_s"]), r["last_lesson"] or "-", _when(r["last_active"]),
                          "; ".join(r["problems"]))
        Console().print(table)
    else:
        for r in rows:
            line = (f"{r['student']:<16} {r['solved']}/{r['total']} solved  {r['completed_lessons']}/{r['lessons']} lessons  "
                    f"time {format_time(r['time_s'])}  last {r['last_lesson'] or '-'}  active {_when(r['last_active'])}")
            if r["problems"]:
                line += "  problems: " + "; ".join(r["problems"])
            print(line)
    return 0

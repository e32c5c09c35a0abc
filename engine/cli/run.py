"""Provides `llm-tutor run LESSON --plain`: a headless transcript of a lesson (code, output, panels as text).

A cell that calls `track(...)` gets its curves as a plotext chart after its output (see `engine.cli.charts`).
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from typing import Any, TextIO

from llm_tutor.engine.cli.common import UsageError, add_device, add_lang, add_lessons_dir, lessons_root, resolve_device


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "run",
        help="run a lesson headless and print a transcript",
        description="Run every cell of a lesson and print the code, its output and the inspector panels as plain text.",
    )
    p.add_argument("lesson", metavar="LESSON", help="lesson id (see `llm-tutor lessons`) or a lesson file")
    add_lang(p)
    add_device(p)
    add_lessons_dir(p)
    p.add_argument("--plain", action="store_true", help="plain text (the default and only format today)")
    p.add_argument("--no-panels", action="store_true", help="leave out the variables and tensor panels")
    p.add_argument("--timeout", type=float, default=60.0, metavar="S", help="seconds per cell (default 60)")
    p.add_argument("--no-plot", action="store_true", help="leave out the charts of cells that call track()")
    p.set_defaults(func=run)


def _rule(title: str) -> str:
    return f"── {title} " + "─" * max(3, 72 - len(title))


def _track_chart(events: list[Any], out: TextIO) -> str:
    """A cell's `track()` points as one chart, every metric a curve (thinned first, as the app does)."""
    from llm_tutor.engine.cli.charts import ChartStyle, line_chart, series_from_metrics

    curves = list(series_from_metrics(events).items())
    chart = line_chart(curves, ChartStyle.detect(out, height=12))
    return _rule("track()") + "\n" + chart if chart else _rule("track(): no finite values to draw")


def run(args: argparse.Namespace) -> int:
    from llm_tutor.engine.kernel import protocol
    from llm_tutor.engine.settings import default_lang
    from llm_tutor.engine.course.catalog import find_lesson
    from llm_tutor.engine.kernel import BlockingKernel
    from llm_tutor.engine.course.lesson import Cell, Exercise, LessonError, Predict, Prose, Show

    lang = default_lang(args.lang)
    try:
        lesson = find_lesson(args.lesson, lessons_root(args.lessons), lang)
    except KeyError:
        raise UsageError(f"unknown lesson {args.lesson!r} (see `llm-tutor lessons`)") from None
    except LessonError as exc:
        raise UsageError(str(exc)) from None
    from llm_tutor.engine.kernel.panels import render_panels
    out = sys.stdout
    failed = 0
    kernel = BlockingKernel(device=resolve_device(args.device))
    try:
        ready = kernel.start()
        print(f"# {lesson.title}  [{lesson.id}, {lesson.lang}]  torch {ready.torch_version} on {ready.device}", file=out)
        for seg in lesson.segments:
            if isinstance(seg, Prose):
                print("\n" + seg.text, file=out)
            elif isinstance(seg, Show):
                print("\n" + textwrap.indent(seg.code, "    "), file=out)
            elif isinstance(seg, Exercise):
                print("\n" + _rule(f"exercise {seg.id}: {seg.title}"), file=out)
                print(textwrap.indent(seg.starter, "    "), file=out)
                print(f"    ({len(seg.hints)} hints; solve it in the app or with `llm-tutor grade {lesson.id} {seg.id} --file F`)", file=out)
            elif isinstance(seg, (Cell, Predict)):
                kind = "predict" if isinstance(seg, Predict) else "cell"
                print("\n" + _rule(f"{kind} {seg.id}"), file=out)
                print(textwrap.indent(seg.code, "    "), file=out)
                reply = kernel.execute(seg.code, seg.id, "run", timeout=args.timeout, inspect=not args.no_panels)
                print(_rule("output"), file=out)
                if reply.stdout:
                    print(reply.stdout.rstrip("\n"), file=out)
                if reply.result is not None:
                    print(reply.result.text, file=out)
                if reply.status == "dead" and reply.died is not None:
                    print(f"[{reply.died.reason}; the kernel was restarted]", file=out)
                elif reply.status == "timeout":
                    print(f"[interrupted after {args.timeout:g} s]", file=out)
                elif reply.error is not None:
                    err = reply.error
                    for line in err.traceback:
                        print(line, file=out)
                    print(f"{err.ename}: {err.evalue}", file=out)
                    if err.hint:
                        print(f"hint: {err.hint}", file=out)
                tracked = [e for e in reply.events if isinstance(e, protocol.Metric)]
                kernel.metrics.clear()  # the reply holds this cell's points; the chart needs no others
                if tracked and not args.no_plot:
                    print(_track_chart(tracked, out), file=out)
                expected_error = isinstance(seg, Cell) and seg.raises and reply.error is not None
                if reply.status != "ok" and not expected_error:
                    failed += 1
                variables = reply.first(protocol.Variables)
                if variables is not None and not args.no_panels:
                    panel = render_panels(variables, kernel)
                    if panel:
                        print(_rule("panels"), file=out)
                        print(panel, file=out)
            out.flush()
    finally:
        kernel.shutdown()
    return 1 if failed else 0

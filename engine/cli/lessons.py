"""Provides `llm-tutor lessons`: the course's lessons, as a table or JSON."""

from __future__ import annotations

import argparse
import json
import sys

from llm_tutor.engine.cli.common import add_data_dir, add_lang, add_lessons_dir, lessons_root


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("lessons", help="list the lessons", description="List the lessons of the course.")
    add_lang(p)
    add_lessons_dir(p)
    add_data_dir(p)
    p.add_argument("--json", action="store_true", help="print JSON: id, title, lang, order, cells, exercises, status")
    p.set_defaults(func=run)


def lesson_status(data_dir: object, lessons: list) -> dict[str, str]:
    """Status per lesson id from the progress store, when it exists; else "not_started"."""
    try:
        from llm_tutor.engine.learner.store import ProgressStore
    except ImportError:
        return {}
    try:
        store = ProgressStore.open(data_dir, read_only=True)  # type: ignore[arg-type]
        try:
            return {l.id: store.lesson_status(l.id, [e.id for e in l.exercises]).status for l in lessons}
        finally:
            store.close()
    except Exception:  # noqa: BLE001 - listing must work without a usable progress store
        return {}


def run(args: argparse.Namespace) -> int:
    from llm_tutor.engine.settings import default_lang
    from llm_tutor.engine.course.catalog import BrokenLesson, load_course

    lang = default_lang(args.lang)
    items = load_course(lessons_root(args.lessons), lang)
    good = [i for i in items if not isinstance(i, BrokenLesson)]
    status = lesson_status(args.data_dir, good)
    rows = []
    for item in items:
        if isinstance(item, BrokenLesson):
            rows.append({"id": item.id, "title": item.title, "lang": lang, "order": None, "cells": 0,
                         "exercises": [], "status": "error", "error": str(item.error)})
        else:
            rows.append({
                "id": item.id,
                "title": item.title,
                "lang": item.lang,
                "order": item.order,
                "cells": len(item.cells),
                "exercises": [e.id for e in item.exercises],
                "status": status.get(item.id, "not_started"),
            })
    if args.json:
        json.dump(rows, sys.stdout, ensure_ascii=False, indent=2)
        print()
        return 0
    for row in rows:
        if row["status"] == "error":
            print(f"  !  {row['title']}: {row['error']}")
        else:
            print(f"{row['order']:>3}  {row['id']:<16} {row['title']:<44} {row['cells']:>3} cells  {len(row['exercises'])} exercises  {row['status']}")
    return 0

"""Provides `check_exercise`: an exported exercise's checks, run in place in a notebook or a script.

An exported lesson carries no checks (they would give the answers away); where llm-tutor is installed,
the optional cell under each exercise calls `check_exercise(lesson, exercise, globals())`, which finds
the exercise's checks in the installed course and runs them, as the tutor's kernel does, on a scratch
copy of the notebook's variables (so a check never changes them), then prints every expectation that
failed as expected vs got, in the words of `llm-tutor grade`. It never raises for a failed check, so
"Run All" goes on. Nothing is recorded: `llm-tutor grade` records attempts.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any


def check_exercise(
    lesson_id: str,
    exercise_id: str,
    namespace: dict[str, Any],
    lang: str = "en",
    source: str | None = None,
) -> bool:
    """Run the exercise's checks on `namespace` (a copy of it) and print the report; returns whether it passed.

    Args:
        lesson_id: the lesson's id.
        exercise_id: the exercise's id.
        namespace: the notebook's or script's variables, `globals()`.
        lang: the lesson's language.
        source: the lesson file it was exported from, used when it still exists (a lesson from outside
            the bundled course); otherwise the installed course is searched by id.
    """
    from llm_tutor.engine.kernel.child.checks import run_checks
    from llm_tutor.engine.course.catalog import find_lesson
    from llm_tutor.engine.kernel.child.namespace import isolated
    from llm_tutor.engine.course.lesson import LessonError

    try:
        if source and Path(source).is_file():
            lesson = find_lesson(source)
        else:
            lesson = find_lesson(lesson_id, None, lang)
        exercise = lesson.exercise(exercise_id)
    except (KeyError, LessonError, OSError) as exc:
        print(f"cannot check exercise '{exercise_id}' of lesson '{lesson_id}' here: "
              f"the installed llm-tutor does not have it ({type(exc).__name__}: {exc})")
        return False
    scratch = isolated(namespace)
    if "torch" in sys.modules:
        scratch["torch"] = sys.modules["torch"]  # the checks' torch, even if the notebook rebound the name
    results = run_checks(exercise.checks, scratch)
    passed = bool(results) and all(r.passed for r in results)
    name = f"exercise '{exercise.id}' ({exercise.title})"
    if passed:
        print(f"✓ {name} passed: {len(results)} expectation(s) met")
        return True
    print(f"✗ {name} did not pass")
    for e in results:
        if not e.passed:
            line = f"  - {e.label}: expected {e.expected}, got {e.got}"
            print(line + (f" ({e.detail})" if e.detail else ""))
    if not results:
        print("  the checks made no expectation")
    return False

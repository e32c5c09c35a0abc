"""Provides the headless lesson checker behind `llm-tutor check` and exercise grading.

Rustlings' rule, for a PyTorch course: every cell runs (a cell marked ``raises=X`` must raise X),
every exercise's solution passes its checks and its starter fails them (unless the exercise opts
out with ``starter-passes``). Reports name the lesson file and line of each problem.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from llm_tutor.engine.kernel import protocol
from llm_tutor.engine.kernel import BlockingKernel, Reply
from llm_tutor.engine.course.lesson import Cell, Exercise, Lesson, Predict

DEFAULT_TIMEOUT = 30.0


@dataclass
class ItemResult:
    """One checked item of a lesson."""

    kind: str
    """"cell", "predict", "solution", "starter", "names" (a check reads a name no learner has)."""
    id: str
    ok: bool
    line: int
    duration_s: float = 0.0
    message: str = ""


@dataclass
class LessonReport:
    """The outcome of checking one lesson file."""

    lesson_id: str
    lang: str
    path: str
    title: str = ""
    items: list[ItemResult] = field(default_factory=list)
    error: str = ""
    """A parse error (file:line: message): the lesson could not be checked at all."""
    errors: list[str] = field(default_factory=list)
    """Every parse error of the file (`error` is the first), each as file:line: message."""
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.error and all(item.ok for item in self.items)

    @property
    def failures(self) -> list[ItemResult]:
        return [item for item in self.items if not item.ok]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        return data


def describe_error(error: protocol.Error | None) -> str:
    if error is None:
        return "no error"
    text = f"{error.ename}: {error.evalue}".strip().rstrip(":")
    return " ".join(text.split())[:400]


def describe_check(result: protocol.CheckResult | None) -> str:
    """Every failed expectation as `label: expected X, got Y`."""
    if result is None:
        return "no check result"
    if result.error is not None:
        return f"the code raised {describe_error(result.error)}"
    failed = [e for e in result.expectations if not e.passed]
    if not result.expectations:
        return "the checks made no expectation"
    parts = []
    for e in failed:
        part = f"{e.label}: expected {e.expected}, got {e.got}"
        if e.detail:
            part += f" ({e.detail})"
        parts.append(part)
    return "; ".join(parts)


def _reply_problem(reply: Reply, what: str, timeout: float) -> str:
    if reply.status == "timeout":
        return f"{what} did not finish within {timeout:g} s (interrupted)"
    if reply.status == "dead":
        assert reply.died is not None
        return f"{what}: {reply.died.reason}"
    if reply.status == "interrupted":
        return f"{what} was interrupted"
    return f"{what} raised {describe_error(reply.error)}"


def _error_line(cell_line: int, error: protocol.Error | None) -> int:
    if error is not None and error.lineno:
        return cell_line + error.lineno
    return cell_line


def namespace_for(lesson: Lesson, purpose: str = "check") -> str:
    return f"{purpose}:{lesson.lang}:{lesson.id}"


def check_lessons(
    lessons: list[Lesson],
    open_kernel: Callable[[], AbstractContextManager[BlockingKernel]],
    timeout: float = DEFAULT_TIMEOUT,
    *,
    jobs: int = 1,
    on_report: Callable[[LessonReport], None] | None = None,
) -> list[LessonReport]:
    """Check `lessons` on `jobs` kernels at once; the reports come back, and go to `on_report`, in the lessons' order.

    Args:
        open_kernel: gives a started kernel for the time of a `with` (one per job, each with its own folder).
        jobs: kernels at once. The later lessons are handed out first: the course grows heavier as it goes (the
            GPT and the multi-process lessons come last), so no kernel is left alone with the longest at the end.
    """
    reports: list[LessonReport | None] = [None] * len(lessons)
    if jobs <= 1:
        with open_kernel() as kernel:
            for i, lesson in enumerate(lessons):
                reports[i] = check_lesson(lesson, kernel, timeout)
                if on_report:
                    on_report(reports[i])  # type: ignore[arg-type]
        return [r for r in reports if r is not None]
    todo = sorted(range(len(lessons)), key=lambda i: -lessons[i].order)
    lock = threading.Lock()
    errors: list[BaseException] = []
    shown = 0

    def show_ready() -> None:  # called with the lock held
        nonlocal shown
        while shown < len(reports) and reports[shown] is not None:
            if on_report:
                on_report(reports[shown])  # type: ignore[arg-type]
            shown += 1

    def work() -> None:
        try:
            with open_kernel() as kernel:
                while True:
                    with lock:
                        if not todo or errors:
                            return
                        i = todo.pop(0)
                    report = check_lesson(lessons[i], kernel, timeout)
                    with lock:
                        reports[i] = report
                        show_ready()
        except BaseException as exc:  # a kernel that cannot start: the other jobs stop too, the error is raised
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=work, name=f"check-{n}", daemon=True) for n in range(min(jobs, len(lessons)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return [r for r in reports if r is not None]


def check_lesson(lesson: Lesson, kernel: BlockingKernel, timeout: float = DEFAULT_TIMEOUT) -> LessonReport:
    """Run a lesson headless in `kernel` and check every cell and exercise."""
    report = LessonReport(lesson.id, lesson.lang, str(lesson.path), lesson.title)
    start = time.perf_counter()
    ns = namespace_for(lesson)
    kernel.reset_namespace(ns)
    above: list[str] = []
    for seg in lesson.segments:
        if isinstance(seg, Cell):
            report.items.append(_check_cell(seg, kernel, ns, timeout))
            above.append(seg.code)
        elif isinstance(seg, Predict):
            report.items.append(_check_predict(seg, kernel, ns, timeout))
            above.append(seg.code)
        elif isinstance(seg, Exercise):
            names = check_names(seg, above)
            report.items.extend(item for item, _ in names)
            report.items.extend(_check_exercise(seg, kernel, ns, timeout, names))
    kernel.reset_namespace(ns)
    report.duration_s = time.perf_counter() - start
    return report


def _check_cell(cell: Cell, kernel: BlockingKernel, ns: str, timeout: float) -> ItemResult:
    limit = cell.timeout or timeout
    reply = kernel.execute(cell.code, cell.id, ns, timeout=limit)
    item = ItemResult("cell", cell.id, True, cell.line, reply.duration_s)
    if cell.raises:
        err = reply.error
        wanted = cell.raises.rsplit(".", 1)[-1]
        if reply.status == "error" and err is not None and err.ename == wanted:
            return item
        item.ok = False
        if reply.status == "ok":
            item.message = f"cell '{cell.id}' should raise {wanted} but ran without error"
        else:
            item.message = f"cell '{cell.id}' should raise {wanted} but " + _reply_problem(reply, "it", limit).removeprefix("it ")
            item.line = _error_line(cell.line, err)
        return item
    if reply.status != "ok":
        item.ok = False
        item.message = _reply_problem(reply, f"cell '{cell.id}'", limit)
        item.line = _error_line(cell.line, reply.error)
    return item


def _check_predict(pred: Predict, kernel: BlockingKernel, ns: str, timeout: float) -> ItemResult:
    reply = kernel.execute(pred.code, pred.id, ns, timeout=timeout)
    item = ItemResult("predict", pred.id, True, pred.line, reply.duration_s)
    if reply.status != "ok":
        item.ok = False
        item.message = _reply_problem(reply, f"predict '{pred.id}'", timeout)
        item.line = _error_line(pred.line, reply.error)
    elif reply.result is None and not reply.stdout.strip():
        item.ok = False
        item.message = f"predict '{pred.id}' shows nothing: end it with an expression whose value the learner predicts"
    elif pred.answer:
        from llm_tutor.engine.course.predict import answers_match

        shown = reply.result.text if reply.result is not None else reply.stdout
        if not answers_match(pred.answer, shown):
            item.ok = False
            item.message = f"predict '{pred.id}': answer={pred.answer!r} does not match the live output {shown.strip()!r}"
    return item


def check_names(ex: Exercise, above: list[str]) -> list[tuple[ItemResult, str]]:
    """One failed item per name the check reads that no learner's namespace holds (see `checknames`),
    at the check's own line."""
    from llm_tutor.engine.course.checknames import unknown_names

    found = unknown_names(ex.checks, above, ex.starter, ex.solution) or []
    out = []
    for unknown in found:
        why = ("only the solution defines it, so the solution passes and no learner can"
               if unknown.solution_only else "nothing defines it")
        message = (f"exercise '{ex.id}': the check reads `{unknown.name}`, which no cell above defines and the "
                   f"starter does not assign ({why}); assign it in the starter, or define it in a cell or in the check")
        out.append((ItemResult("names", ex.id, False, ex.checks_line + unknown.line, message=message), unknown.name))
    return out


def _check_exercise(
    ex: Exercise, kernel: BlockingKernel, ns: str, timeout: float, names: list[tuple[ItemResult, str]] | None = None
) -> list[ItemResult]:
    out = []
    reply = kernel.check_exercise(ex.solution, ex.checks, ex.id, ns, timeout=timeout)
    item = ItemResult("solution", ex.id, True, ex.solution_line, reply.duration_s)
    check = reply.check
    if reply.status not in ("ok", "error") or check is None:
        item.ok = False
        item.message = _reply_problem(reply, f"exercise '{ex.id}': the solution", timeout)
    elif not check.passed:
        item.ok = False
        item.message = f"exercise '{ex.id}': the solution fails its checks: {describe_check(check)}"
        if check.error is not None:
            item.line = _error_line(ex.solution_line, check.error)
        else:
            blamed = _blame_check(check, names or [])
            if blamed is not None:  # the check reads a name nobody is asked for: the check is wrong, not the solution
                item.line = blamed.line
                item.message = f"exercise '{ex.id}': the check itself fails: {describe_check(check)}"
    out.append(item)

    reply = kernel.check_exercise(ex.starter, ex.checks, ex.id, ns, timeout=timeout)
    item = ItemResult("starter", ex.id, True, ex.line, reply.duration_s)
    check = reply.check
    starter_passed = reply.status == "ok" and check is not None and check.passed
    if ex.starter_passes:
        pass
    elif starter_passed:
        item.ok = False
        item.message = (
            f"exercise '{ex.id}': the starter already passes its checks "
            "(make the checks stricter, or mark the exercise starter-passes)"
        )
    elif reply.status in ("timeout", "dead"):
        item.ok = False
        item.message = _reply_problem(reply, f"exercise '{ex.id}': the starter", timeout)
    else:
        raised = check.error.ename if check is not None and check.error is not None else ""
        problem = _starter_raise_problem(ex, raised)
        if problem:
            item.ok = False
            item.message = f"exercise '{ex.id}': {problem}"
    out.append(item)
    return out


def _starter_raise_problem(ex: Exercise, raised: str) -> str:
    """The starter must raise what the exercise declares with `raises=`, and raise nothing otherwise:
    an export runs every starter top to bottom, going on only past those marked."""
    declared = ex.raises.rsplit(".", 1)[-1]
    if declared and raised != declared:
        return f"the starter should raise {ex.raises} (raises={ex.raises}) but " + (
            f"raised {raised}" if raised else "raised nothing")
    if raised and not declared:
        return (f"the starter raises {raised}; if that is the exercise, mark it raises={raised} "
                "(so exported notebooks and scripts run on past it), else make the starter run")
    return ""


def _blame_check(check: protocol.CheckResult, names: list[tuple[ItemResult, str]]) -> ItemResult | None:
    """The first unknown-name item whose name a failed expectation reports as missing."""
    failed = " ".join(f"{e.expected} {e.got}" for e in check.expectations if not e.passed)
    for item, name in names:
        if f"`{name}`" in failed or f"'{name}'" in failed:
            return item
    return None


def run_exercise(
    lesson: Lesson,
    exercise_id: str,
    code: str,
    kernel: BlockingKernel,
    timeout: float = DEFAULT_TIMEOUT,
) -> tuple[protocol.CheckResult | None, Reply, list[ItemResult]]:
    """Run the lesson's cells up to an exercise, then `code` and the exercise's checks.

    Returns the check result (None if the code could not be checked), the reply, and any
    cell above the exercise that failed (the check may then fail for reasons not the learner's).
    """
    ex = lesson.exercise(exercise_id)
    ns = namespace_for(lesson, "grade")
    kernel.reset_namespace(ns)
    problems = []
    for seg in lesson.segments:
        if seg is ex:
            break
        if isinstance(seg, Cell):
            item = _check_cell(seg, kernel, ns, timeout)
            if not item.ok:
                problems.append(item)
    reply = kernel.check_exercise(code, ex.checks, ex.id, ns, timeout=timeout)
    return reply.check, reply, problems


def junit_xml(reports: list[LessonReport]) -> bytes:
    """JUnit XML: a test suite per lesson, a test case per checked item."""
    root = ET.Element("testsuites", name="llm-tutor check")
    for rep in reports:
        suite = ET.SubElement(
            root,
            "testsuite",
            name=f"{rep.lang}/{rep.lesson_id}",
            tests=str(max(1, len(rep.items))),
            failures=str(len(rep.failures)),
            errors="1" if rep.error else "0",
            time=f"{rep.duration_s:.3f}",
            file=rep.path,
        )
        if rep.error:
            case = ET.SubElement(suite, "testcase", classname=f"{rep.lang}.{rep.lesson_id}", name="parse")
            ET.SubElement(case, "error", message=rep.error).text = "\n".join(rep.errors or [rep.error])
            continue
        for item in rep.items:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=f"{rep.lang}.{rep.lesson_id}",
                name=f"{item.kind}:{item.id}",
                time=f"{item.duration_s:.3f}",
                file=rep.path,
                line=str(item.line),
            )
            if not item.ok:
                ET.SubElement(case, "failure", message=item.message).text = f"{rep.path}:{item.line}: {item.message}"
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def write_junit(reports: list[LessonReport], path: Path) -> None:
    Path(path).write_bytes(junit_xml(reports))

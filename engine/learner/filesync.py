"""Provides `FileSync`: the learner's exercise files in the workspace, kept in step with the app's code.

Which code wins when the app's editor and the workspace file both changed: the newest. The app
writes its editor's text to the file shortly after each change (with the draft), and a file saved
by another editor is reported as a `FileSaved` (the app shows it, as one undoable edit, and checks it).

Every method here runs on the session's writer thread (`LearnerSession`), which keeps them in order;
only `exercises` is filled from the UI thread, before the writes that need it are queued.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from llm_tutor.engine.course.lesson import Exercise
from llm_tutor.engine.learner.store import ProgressStore
from llm_tutor.engine.learner.workspace import Workspace, WorkspaceError

_FileStamp = tuple[str, int]
"""(code without the header, mtime in ns) of a workspace file, as last written or handled."""


@dataclass(frozen=True)
class FileSaved:
    """An exercise's file was saved outside the app (or the learner asked to check it)."""

    lesson_id: str
    exercise_id: str
    code: str
    """The file's code as the app's editor shows it (see `editor_text`)."""
    path: str
    forced: bool = False
    """True when the learner asked for it (`f`), not the watcher."""
    lang: str = "en"
    """The language whose file it is (each language has its own)."""


class FileSync:
    """The workspace files of one session.

    Args:
        workspace: the learner's exercise folder.
        store: where a file saved elsewhere is kept as the draft (None: nowhere).
        report: where `FileSaved` goes (any thread).
        warn: how a file that cannot be written is told to the learner (once per message).
        writable: False when the files may be read but not written (the data directory is read-only).
    """

    def __init__(
        self,
        workspace: Workspace,
        store: ProgressStore | None,
        report: Callable[[FileSaved], None],
        warn: Callable[[str], None],
        writable: bool = True,
    ) -> None:
        self.workspace = workspace
        self.store = store
        self.report = report
        self.warn = warn
        self.writable = writable
        self.exercises: dict[tuple[str, str, str], Exercise] = {}
        """The exercises of the lessons opened, by (lesson id, exercise id, lang): only their files are written."""
        self._known: dict[tuple[str, str, str], _FileStamp] = {}
        """Each workspace file as we last wrote or handled it."""

    def ensure(self, lesson_id: str, exercise: Exercise, code: str | None, lang: str) -> None:
        """Make sure the exercise has its file, holding `code` (the learner's newest) when given."""
        key = (lesson_id, exercise.id, lang)
        try:
            path = self.workspace.ensure(lesson_id, exercise, code=code, lang=lang)
            text = self.workspace.read(lesson_id, exercise.id, lang)
            if text is not None:
                self._known.setdefault(key, (text, path.stat().st_mtime_ns))
        except (WorkspaceError, OSError) as exc:
            self.warn(f"exercise files cannot be written: {exc}")
        if code is not None:
            self.write(lesson_id, exercise.id, code, lang)

    def write(self, lesson_id: str, exercise_id: str, code: str, lang: str) -> None:
        """Put the app's code in the workspace file of its language, unless the file already holds it."""
        key = (lesson_id, exercise_id, lang)
        exercise = self.exercises.get(key)
        if exercise is None or not self.writable:
            return
        try:
            current = self.workspace.read(lesson_id, exercise_id, lang)
            if current is not None and current.rstrip("\n") == code.rstrip("\n"):
                return
            if current is not None and key in self._known:
                stamp = (current, self.workspace.path(lesson_id, exercise_id, lang).stat().st_mtime_ns)
                if stamp != self._known[key]:
                    # Saved in another editor since we last looked, and the watcher has not told
                    # us yet: that save is newer than this draft, so keep it; its report follows.
                    return
            path = self.workspace.write(lesson_id, exercise, code, lang)
            self._known[key] = (self.workspace.read(lesson_id, exercise_id, lang) or code, path.stat().st_mtime_ns)
        except (WorkspaceError, OSError) as exc:
            self.warn(f"exercise file not written: {exc}")

    def reset(self, lesson_id: str, exercise: Exercise, lang: str) -> None:
        """Put the starter back; the learner's file is kept as ``.bak``."""
        try:
            path = self.workspace.reset(lesson_id, exercise, lang)
            # the stamp as the watcher will read it back (header off), so the reset is not taken for an edit
            text = self.workspace.read(lesson_id, exercise.id, lang)
            self._known[(lesson_id, exercise.id, lang)] = (exercise.starter if text is None else text, path.stat().st_mtime_ns)
        except (WorkspaceError, OSError) as exc:
            self.warn(str(exc))

    def read(self, lesson_id: str, exercise_id: str, lang: str, forced: bool) -> None:
        """Report the file if it changed since we last wrote or handled it (or always, when `forced`)."""
        key = (lesson_id, exercise_id, lang)
        try:
            code = self.workspace.read(lesson_id, exercise_id, lang)
            stat = self.workspace.path(lesson_id, exercise_id, lang).stat()
        except (WorkspaceError, OSError, ValueError):
            return
        if code is None:
            return
        stamp = (code, stat.st_mtime_ns)
        if not forced and self._known.get(key) == stamp:
            return  # our own write, or a change already handled
        self._known[key] = stamp
        shown = editor_text(code)
        if self.store is not None:
            self.store.save_draft(lesson_id, exercise_id, shown, lang=lang)
        path = str(self.workspace.path(lesson_id, exercise_id, lang))
        self.report(FileSaved(lesson_id, exercise_id, shown, path, forced, lang))


def editor_text(file_code: str) -> str:
    """A file's code as the app's editor shows it: without the newline editors end files with."""
    return file_code[:-1] if file_code.endswith("\n") else file_code

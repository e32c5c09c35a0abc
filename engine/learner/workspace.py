"""Provides the exercise workspace: each exercise as a `.py` file the learner may edit in their own editor.

Files live at ``<data_dir>/workspace/<lesson_id>/<exercise_id>.<lang>.py``, one per language, since
each language has its own starter (under ``<data_dir>/workspace/<workspace_id>/`` for an app given a
workspace id, such as a browser tab). A file of an older llm-tutor, ``<exercise_id>.py`` without a
language, becomes the English file the first time that is used. The starter is written on first
use and a file that exists is never overwritten, except by `reset`, which keeps the old file as
``<exercise_id>.<lang>.py.bak``. A short header of ``# llm-tutor:`` comments says how to check
the file; `read` leaves it out, so the app's editor shows only the learner's code.
"""

from __future__ import annotations

import os
import re
import shlex
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from llm_tutor.engine import settings as config
from llm_tutor.engine.course.files import NotRegularFile, read_regular

if TYPE_CHECKING:
    from llm_tutor.engine.course.lesson import Exercise
    from llm_tutor.engine.learner.store import ProgressStore

WORKSPACE_DIR = "workspace"
WORKSPACE_ID_ENV = "LLM_TUTOR_WORKSPACE_ID"
MAX_EXERCISE_BYTES = 1_000_000
"""An exercise file past this is refused: an answer is a few lines, and the editor holds all of it."""
HEADER_PREFIX = "# llm-tutor:"
LEGACY_LANG = "en"
"""The language that takes over an exercise file (or draft) saved before files had a language."""
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_LANG_RE = re.compile(r"^[a-z]{2}$")


class WorkspaceError(Exception):
    """A workspace file cannot be written or read; `str()` is a sentence for the learner."""


def header(lesson_id: str, exercise_id: str, title: str, path: Path, lang: str = LEGACY_LANG) -> str:
    """The comment lines at the top of a workspace file."""
    name = f"{exercise_id}: {title}" if title and title != exercise_id else exercise_id
    return (
        f"{HEADER_PREFIX} lesson {lesson_id}, exercise {name}\n"
        f"{HEADER_PREFIX} check it:  llm-tutor grade {lesson_id} {exercise_id} --lang {lang} "
        f"--file {shlex.quote(str(path))}\n"
        f"{HEADER_PREFIX} the tutor app picks up your changes when you save this file.\n"
    )


def strip_header(text: str) -> str:
    """The file's code without the leading ``# llm-tutor:`` lines."""
    lines = text.splitlines(keepends=True)
    i = 0
    while i < len(lines) and lines[i].startswith(HEADER_PREFIX):
        i += 1
    return "".join(lines[i:])


@dataclass(frozen=True)
class Workspace:
    """The exercise files of one data directory."""

    root: Path

    @classmethod
    def open(cls, data_dir: str | Path | None = None, workspace_id: str | None = None) -> Workspace:
        """The workspace of a data directory (`config.data_dir` rules); creates nothing yet.

        `workspace_id` (default: ``LLM_TUTOR_WORKSPACE_ID``) names a separate set of files under
        the data directory's, as each browser tab of `serve web` has: two apps sharing one data
        directory then never write the same exercise file.
        """
        root = config.data_dir(data_dir) / WORKSPACE_DIR
        given = os.environ.get(WORKSPACE_ID_ENV) if workspace_id is None else workspace_id
        if given:
            if not _ID_RE.match(given):
                raise WorkspaceError(f"not a workspace id: {given!r} (lower-case letters, digits, - and _)")
            root = root / given
        return cls(root)

    def path(self, lesson_id: str, exercise_id: str, lang: str = LEGACY_LANG) -> Path:
        """Where an exercise's file of one language lives (ids are checked, so no path escapes the workspace)."""
        for value in (lesson_id, exercise_id):
            if not _ID_RE.match(value):
                raise ValueError(f"not a lesson or exercise id: {value!r}")
        if not _LANG_RE.match(lang):
            raise ValueError(f"not a language code: {lang!r}")
        return self.root / lesson_id / f"{exercise_id}.{lang}.py"

    def legacy_path(self, lesson_id: str, exercise_id: str) -> Path:
        """Where an older llm-tutor kept the exercise's one file, for every language."""
        return self.path(lesson_id, exercise_id).with_name(f"{exercise_id}.py")

    def _adopt_legacy(self, lesson_id: str, exercise_id: str, lang: str) -> None:
        """Move an older llm-tutor's file to the English name (header and modification time kept)."""
        if lang != LEGACY_LANG:
            return
        path = self.path(lesson_id, exercise_id, lang)
        old = self.legacy_path(lesson_id, exercise_id)
        try:
            if path.exists() or not old.is_file() or old.is_symlink():
                return
            os.rename(old, path)
        except OSError as exc:
            raise WorkspaceError(f"cannot move {old} to {path}: {exc.strerror or exc}") from None

    def ensure(self, lesson_id: str, exercise: Exercise, code: str | None = None, lang: str = LEGACY_LANG) -> Path:
        """The exercise's file, written with `code` (default: the starter) if it does not exist yet."""
        path = self.path(lesson_id, exercise.id, lang)
        self._adopt_legacy(lesson_id, exercise.id, lang)
        if path.exists():
            return path
        body = exercise.starter if code is None else code
        self._write_new(path, header(lesson_id, exercise.id, exercise.title, path, lang) + _with_newline(body))
        return path

    def read(self, lesson_id: str, exercise_id: str, lang: str = LEGACY_LANG) -> str | None:
        """The learner's code in the file (header left out), or None when there is no file."""
        path = self.path(lesson_id, exercise_id, lang)
        self._adopt_legacy(lesson_id, exercise_id, lang)
        try:
            return strip_header(read_regular(path, MAX_EXERCISE_BYTES).decode("utf-8"))
        except FileNotFoundError:
            return None
        except NotRegularFile as exc:
            raise WorkspaceError(f"{exc}: remove it (rm {shlex.quote(str(path))}) and reopen the lesson") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise WorkspaceError(f"cannot read {path}: {exc}") from None

    def write(self, lesson_id: str, exercise: Exercise, code: str, lang: str = LEGACY_LANG) -> Path:
        """Replace the file's code (atomically, keeping the header): the app's editor saving to disk."""
        path = self.path(lesson_id, exercise.id, lang)
        self._adopt_legacy(lesson_id, exercise.id, lang)
        self._replace(path, header(lesson_id, exercise.id, exercise.title, path, lang) + _with_newline(code))
        return path

    def reset(self, lesson_id: str, exercise: Exercise, lang: str = LEGACY_LANG) -> Path:
        """Put the starter back; the learner's file is kept as ``<exercise_id>.<lang>.py.bak``."""
        path = self.path(lesson_id, exercise.id, lang)
        self._adopt_legacy(lesson_id, exercise.id, lang)
        if path.exists():
            try:
                os.replace(path, path.with_name(path.name + ".bak"))
            except OSError as exc:
                raise WorkspaceError(f"cannot reset {path}: {exc.strerror or exc}") from None
        return self.ensure(lesson_id, exercise, lang=lang)

    def mtime(self, lesson_id: str, exercise_id: str, lang: str = LEGACY_LANG) -> float | None:
        """When the file was last changed, or None when there is no file."""
        self._adopt_legacy(lesson_id, exercise_id, lang)
        try:
            return self.path(lesson_id, exercise_id, lang).stat().st_mtime
        except FileNotFoundError:
            return None

    def exercise_of(self, path: Path) -> tuple[str, str, str] | None:
        """(lesson_id, exercise_id, lang) for a path inside the workspace (what the watcher reports).

        An older llm-tutor's file without a language counts as the English one, which takes it over.
        """
        try:
            rel = Path(path).resolve().relative_to(self.root.resolve())
        except ValueError:
            return None
        if len(rel.parts) != 2 or rel.suffix != ".py":
            return None
        lesson_id = rel.parts[0]
        exercise_id, _, lang = rel.stem.partition(".")
        lang = lang or LEGACY_LANG
        if not (_ID_RE.match(lesson_id) and _ID_RE.match(exercise_id) and _LANG_RE.match(lang)):
            return None
        return lesson_id, exercise_id, lang

    def _write_new(self, path: Path, text: str) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("x", encoding="utf-8") as out:  # "x": never clobber a file made meanwhile
                out.write(text)
        except FileExistsError:
            return
        except OSError as exc:
            raise WorkspaceError(f"cannot write {path}: {exc.strerror or exc}") from None

    def _replace(self, path: Path, text: str) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    out.write(text)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise WorkspaceError(f"cannot write {path}: {exc.strerror or exc}") from None


def _with_newline(code: str) -> str:
    return code if code.endswith("\n") or not code else code + "\n"


def latest_code(
    store: ProgressStore,
    workspace: Workspace,
    lesson_id: str,
    exercise_id: str,
    starter: str | None = None,
    lang: str = LEGACY_LANG,
) -> tuple[str, str] | None:
    """The learner's newest code for an exercise in one language and where it came from ("draft" or "file").

    The app's draft and the workspace file may both have been edited; the one changed last wins,
    except that a file still holding the untouched `starter` never hides a draft.
    """
    draft = store.draft(lesson_id, exercise_id, lang)
    try:
        file_code = workspace.read(lesson_id, exercise_id, lang)
        file_time = workspace.mtime(lesson_id, exercise_id, lang) if file_code is not None else None
    except WorkspaceError:
        file_code = file_time = None
    if draft is None and file_code is None:
        return None
    if draft is None:
        assert file_code is not None
        return file_code, "file"
    if file_code is None or file_time is None or draft.updated_at >= file_time:
        return draft.code, "draft"
    if starter is not None and file_code.strip() == starter.strip():
        return draft.code, "draft"
    return file_code, "file"

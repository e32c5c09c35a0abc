"""Provides where a learner's progress lives: the file names in a data directory, and a lab's student folders."""

from __future__ import annotations

from pathlib import Path

from llm_tutor.engine import settings as config

DB_NAME = "progress.sqlite3"
"""The progress database in a data directory."""
PENDING_NAME = "progress.pending.jsonl"
"""Beside the database: writes that could not be saved yet, replayed at the next open."""
USERS_DIR = "users"
"""Under a lab server's data root, each student's data directory is ``users/<name>/``."""


def student_databases(root: str | Path | None = None) -> list[tuple[str, Path]]:
    """Every student's database under a lab server's data root (``users/<name>/progress.sqlite3``)."""
    users = config.data_dir(root) / USERS_DIR
    if not users.is_dir():
        return []
    found = []
    for entry in sorted(users.iterdir()):
        db = entry / DB_NAME
        if entry.is_dir() and db.is_file():
            found.append((entry.name, db))
    return found

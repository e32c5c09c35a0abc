"""Provides the store's errors and how an SQLite error is sorted: busy, corrupt, or a write the disk refused."""

from __future__ import annotations

import sqlite3

# SQLite primary result codes (the low byte of an extended code).
_BUSY, _LOCKED, _READONLY, _IOERR, _CORRUPT, _FULL, _CANTOPEN, _NOTADB = 5, 6, 8, 10, 11, 13, 14, 26


class StoreError(Exception):
    """The progress store was used after it was closed."""


class NewerSchema(sqlite3.DatabaseError):
    """The database was written by a newer llm-tutor: this version keeps progress in memory instead."""


def _code(exc: BaseException) -> int:
    """The primary SQLite result code of an error (message-based on Python < 3.11)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF
    text = str(exc).lower()
    for needle, value in (
        ("locked", _BUSY),
        ("busy", _BUSY),
        ("disk is full", _FULL),
        ("malformed", _CORRUPT),
        ("not a database", _NOTADB),
        ("disk i/o", _IOERR),
        ("readonly", _READONLY),
        ("read-only", _READONLY),
        ("unable to open", _CANTOPEN),
    ):
        if needle in text:
            return value
    return 1


def is_busy(exc: BaseException) -> bool:
    """Another process holds the lock: worth waiting for."""
    return isinstance(exc, sqlite3.OperationalError) and _code(exc) in (_BUSY, _LOCKED)


def is_corrupt(exc: BaseException) -> bool:
    """The file is damaged or not a database: it has to be moved aside."""
    return isinstance(exc, sqlite3.DatabaseError) and _code(exc) in (_CORRUPT, _NOTADB)


def describe_write_error(exc: BaseException) -> str:
    """Why a write failed, in words a learner can act on."""
    code = _code(exc)
    if code in (_BUSY, _LOCKED):
        return "the progress database is locked by another llm-tutor process"
    if code == _FULL:
        return "the disk is full"
    if code == _IOERR:
        return f"the disk refused the write ({exc}; is it full?)"
    if code == _READONLY:
        return "the progress database is read-only"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc)

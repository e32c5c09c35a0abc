"""Provides atomic checkpoint files: written to a temporary file, synced, then renamed into place.

A run stopped mid-save, or a process killed by `kill -9`, therefore leaves either the previous
checkpoint or the new one, never half of one. A file that is truncated or corrupt anyway (copied
half-way, edited) raises `CheckpointError` with one clear sentence instead of a zip-reader trace.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

FORMAT = "llm-tutor-checkpoint"
VERSION = 1


class CheckpointError(Exception):
    """A checkpoint that cannot be written or read; the message names the file and the cause."""


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write `payload` (plain data and tensors) to `path` atomically; returns the path."""
    path = Path(path).expanduser()
    if path.parent and not path.parent.exists():
        raise CheckpointError(f"cannot save checkpoint {path}: folder {path.parent} does not exist")
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    data = {"format": FORMAT, "version": VERSION, **payload}
    try:
        with open(tmp, "wb") as f:
            torch.save(data, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)  # atomic on POSIX and Windows: readers see old or new, never half
        _sync_dir(path.parent)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise CheckpointError(f"cannot save checkpoint {path}: {err.strerror or err}") from err
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by `save_checkpoint`; tensors land on `map_location`."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(f"no checkpoint file at {path}")
    try:
        # pickle protocol 2 writes an empty bytes (an empty loss series) as a call of `bytes`
        with torch.serialization.safe_globals([bytes]):
            data = torch.load(path, map_location=map_location, weights_only=True)
    except PermissionError:
        raise CheckpointError(f"cannot read checkpoint {path}: permission denied") from None
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError, KeyError) as err:
        size = path.stat().st_size
        detail = str(err).splitlines()[0][:120] if str(err) else type(err).__name__
        raise CheckpointError(
            f"checkpoint {path} is truncated or corrupt ({size} bytes; {detail}); "
            f"it cannot be loaded, use another checkpoint or start a new run"
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an llm-tutor checkpoint")
    if data.get("version", 0) > VERSION:
        raise CheckpointError(
            f"checkpoint {path} has format version {data.get('version')}; this llm-tutor reads up to {VERSION}"
        )
    return data


def _sync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

"""Provides settings that come from the environment: data directory, language, device."""

from __future__ import annotations

import locale
import os
from pathlib import Path

DEVICES = ("auto", "cpu", "cuda", "mps")


def data_dir(override: str | Path | None = None) -> Path:
    """Where progress and the exercise workspace live (`--data-dir`, `LLM_TUTOR_DATA_DIR`, platform default)."""
    if override:
        return Path(override).expanduser()
    env = os.environ.get("LLM_TUTOR_DATA_DIR")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("llm-tutor", appauthor=False))


def default_lang(override: str | None = None) -> str:
    """`--lang`, then `LLM_TUTOR_LANG`, then the locale (tr_* gives Turkish), else English."""
    if override:
        return override
    env = os.environ.get("LLM_TUTOR_LANG")
    if env in ("en", "tr"):
        return env
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(var, "")
        if value:
            return "tr" if value.lower().startswith("tr") else "en"
    try:
        loc = locale.getlocale()[0] or ""
    except ValueError:
        loc = ""
    return "tr" if loc.lower().startswith("tr") else "en"


def default_device(override: str | None = None) -> str:
    """`--device`, then `LLM_TUTOR_DEVICE`, else "auto"."""
    value = override or os.environ.get("LLM_TUTOR_DEVICE") or "auto"
    if value not in DEVICES and not value.startswith("cuda:"):
        raise ValueError(f"unknown device {value!r}: expected one of {', '.join(DEVICES)}")
    return value

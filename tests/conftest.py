"""Shared fixtures: paths to fixture lessons, and a private data directory for every test."""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# One torch thread per process (the kernels and trainers the tests start inherit it): the suite runs a worker on
# each core, and more threads only spin against each other (a small MLP's 600 steps took 4x as long with two).
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
FIXTURES = ROOT / "tests" / "fixtures" / "lessons"


@pytest.fixture(autouse=True)
def _private_data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Never write to the real user data or cache directory; never inherit a language or device choice."""
    data = tmp_path_factory.mktemp("data")
    monkeypatch.setenv("LLM_TUTOR_DATA_DIR", str(data))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))  # the course's parse cache too
    monkeypatch.delenv("LLM_TUTOR_LANG", raising=False)
    monkeypatch.delenv("LLM_TUTOR_DEVICE", raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    return data


@pytest.fixture(autouse=True)
def _unfrozen_heap() -> Iterator[None]:
    """The app hands its long-lived objects to `gc.freeze()`: what one test froze is not the next test's heap."""
    yield
    gc.unfreeze()


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


def llm_tutor_cmd() -> list[str]:
    """The installed console script, run by the test's own interpreter environment."""
    script = Path(sys.executable).parent / "llm-tutor"
    return [str(script)] if script.exists() else [sys.executable, "-m", "llm_tutor.tui"]


def env_without_color() -> dict[str, str]:
    env = dict(os.environ)
    env["NO_COLOR"] = "1"
    return env

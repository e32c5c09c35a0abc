"""Provides the bundled course: one Markdown file per lesson per language (`en/`, `tr/`)."""

from pathlib import Path

LESSONS_DIR = Path(__file__).parent
"""The folder that holds the bundled lessons, one sub-folder per language."""

__all__ = ["LESSONS_DIR"]

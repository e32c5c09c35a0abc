"""The UI's English words, for tests that walk the app in Turkish and must find none of them.

Built from the label tables themselves (every English label whose Turkish differs, cut at its
placeholders), plus Textual's and the widgets' own English that once leaked through. Words that
the Turkish lessons themselves use (code, PyTorch names) are not UI words and are left out.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from llm_tutor.tui.i18n import LABELS

ROOT = Path(__file__).resolve().parent.parent

LEAKED = (
    "Focus Next", "Focus Previous", "Copy selected text", "no grad", " elements", "1 element", "non-leaf",
    "not contiguous", "hint:", "nothing to show", "Leave editor", "expected values show",
    "name  shape", "Play/Pause", "Log scale", "press space", "Training lab", "Dismiss menu",
)
"""English that came from outside the tables (Textual's bindings, hard-coded widget words)."""


@lru_cache(maxsize=1)
def english_fragments() -> tuple[str, ...]:
    lesson_text = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "lessons" / "tr").glob("*.md"))
    fragments: set[str] = set(LEAKED)
    en, tr = LABELS["en"], LABELS["tr"]
    for key, text in en.items():
        if tr.get(key) == text:
            continue
        for piece in re.split(r"\{[^}]*\}", text):
            piece = piece.strip(" .,:;()·\n")
            if len(piece) >= 6 and " " in piece or len(piece) >= 9:
                fragments.add(piece)
    return tuple(sorted(f for f in fragments if f not in lesson_text))


def find_english(screen: str) -> list[str]:
    """The English UI fragments on `screen` (one string, rows joined by newlines)."""
    flat = " ".join(screen.split())
    return [f for f in english_fragments() if f.strip() and " ".join(f.split()) in flat]

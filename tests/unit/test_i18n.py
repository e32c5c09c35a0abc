"""The UI's words: one table per language with the same keys and placeholders, and no key that nothing uses."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from llm_tutor.engine.grading import feedback, hints
from llm_tutor.engine.procs import exits
from llm_tutor.tui.i18n import LABELS, en, tr

TUI = Path(__file__).resolve().parents[2] / "tui"
TABLES = {TUI / "i18n" / "en.py", TUI / "i18n" / "tr.py"}


def _fields(text: str) -> set[str]:
    return set(re.findall(r"\{(\w*)", text))


def test_english_and_turkish_hold_the_same_keys_and_placeholders() -> None:
    """Every English word has a Turkish one with the same placeholders; the words the engine keeps in English
    (exit reasons, error notes) have a Turkish entry each, and every check diagnosis is in the table."""
    engine_words = {f"exit_{k}" for k in (*exits.ENGLISH, *exits.WHO)}
    assert set(tr.TEXT) == set(en.TEXT) | engine_words
    for key, text in en.TEXT.items():
        assert _fields(text) == _fields(tr.TEXT[key]), key
    assert {f"diag_{k}" for k in feedback.ENGLISH} <= set(LABELS["en"]) and set(LABELS["en"]) <= set(LABELS["tr"])
    for key, text in hints.ENGLISH.items():
        assert _fields(LABELS["tr"][f"hint_{key}"]) <= _fields(text) | {"n"}, key


def _words_in_code() -> tuple[set[str], set[str]]:
    """Every string constant in tui/ (the tables aside), and the prefixes of keys built at run time
    (`f"state_{state}"`, `"state_" + state`)."""
    constants: set[str] = set()
    prefixes: set[str] = set()
    for path in TUI.rglob("*.py"):
        if path in TABLES:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                constants.add(node.value)
            elif isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
                prefixes.add(str(node.values[0].value))
            elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add) and isinstance(node.left, ast.Constant):
                prefixes.add(str(node.left.value))
    return constants, {p for p in prefixes if p.endswith("_")}


def test_every_word_in_the_tables_is_used() -> None:
    constants, prefixes = _words_in_code()
    unused = sorted(key for key in tr.TEXT if key not in constants and not key.startswith(tuple(prefixes)))
    assert unused == []

"""Provides the UI's words in the learner's language: one lookup (`t`), and one translator of key bindings.

The words are in one table per language (`en.py`, `tr.py`: the app's and the training lab's);
check diagnoses and translated kernel notes come from the engine's table (`engine.grading.words`).
Lesson text comes from the lesson files.
"""

from __future__ import annotations

from typing import Any

from llm_tutor.engine.grading.words import TEXT as ENGINE_TEXT
from llm_tutor.tui.i18n import en, tr

LABELS: dict[str, dict[str, str]] = {"en": dict(en.TEXT), "tr": dict(tr.TEXT)}
"""The UI's words by language (one table per language: `en.py`, `tr.py`), plus the engine's shared below."""

# Check diagnoses and translated kernel notes: one table, the engine's (`grade` prints them too). English kernel
# notes are not looked up: `error_hint` shows the kernel's own words.
for _lang, _text in ENGINE_TEXT.items():
    _shared = ("diag_",) if _lang == "en" else ("diag_", "hint_")
    LABELS[_lang].update({k: v for k, v in _text.items() if k.startswith(_shared)})


def t(lang: str, name: str, /, **kwargs: object) -> str:
    """The label `name` in `lang` (falling back to English), formatted with `kwargs`."""
    table = LABELS.get(lang, LABELS["en"])
    text = table.get(name) or LABELS["en"].get(name, name)
    return text.format(**kwargs) if kwargs else text


def format_count(lang: str, n: int | float, decimals: int = 0) -> str:
    """`n` with the language's thousands separator: 50,257 in English, 50.257 in Turkish."""
    text = f"{n:,.{decimals}f}"
    if lang == "tr":
        text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return text


def error_hint(lang: str, error: object) -> str:
    """A kernel error's note (`engine.grading.hints`) in `lang`; the kernel's English words where there is no translation."""
    hint_id = getattr(error, "hint_id", "")
    english = str(getattr(error, "hint", "") or "")
    template = LABELS.get(lang, {}).get(f"hint_{hint_id}") if hint_id else None
    if template is None:
        return english
    try:
        return template.format(**dict(getattr(error, "hint_args", {}) or {}))
    except (KeyError, IndexError):
        return english


def exit_reason(lang: str, who: str, code: int | None, detail: str = "") -> str:
    """Why a child process ended, in the learner's language: `who` is "kernel" or "trainer", `code` its
    exit status (negative: the signal; None: it stopped answering), `detail` its last words (stderr).
    The classification and the English sentences are the engine's (`engine/procs/exits.py`)."""
    from llm_tutor.engine.procs.exits import ENGLISH, WHO, describe

    table = LABELS.get(lang, {})
    templates = {key: table.get(f"exit_{key}", text) for key, text in ENGLISH.items()}
    names = {key: table.get(f"exit_{key}", name) for key, name in WHO.items()}
    return describe(who, code, detail, templates, names)


def sentence_case(lang: str, text: str) -> str:
    """`text` with its first letter capitalised (Turkish dotted i becomes İ)."""
    if not text:
        return text
    first = "İ" if lang == "tr" and text[0] == "i" else text[0].upper()
    return first + text[1:]


BINDING_LABELS: dict[str, str] = {
    "app.help": "help",
    "app.quit": "quit",
    "app.quit2": "quit",
    "app.language": "language",
    "list.open": "open",
    "lesson.run": "run",
    "lesson.run_all": "run_all",
    "lesson.interrupt": "interrupt",
    "lesson.restart": "restart",
    "lesson.next": "next_cell",
    "lesson.previous": "prev_cell",
    "lesson.edit": "edit_exercise",
    "lesson.check": "check",
    "lesson.hint": "hint",
    "lesson.solution": "solution",
    "lesson.reset": "reset_twice",
    "lesson.file_path": "copy_file_path",
    "lesson.check_file": "check_file",
    "lesson.panel": "panel",
    "lesson.back": "lessons",
    "exercise.check": "check",
    "exercise.hint": "hint",
    "exercise.leave": "leave_editor",
    "inspect.tensor": "key_tensor",
    "inspect.grad": "key_grad",
    "inspect.graph": "key_graph",
    "inspect.module": "key_module",
    "inspect.slice_next": "key_slice_next",
    "inspect.slice_previous": "key_slice_previous",
    "inspect.outer_next": "key_outer_next",
    "inspect.outer_previous": "key_outer_previous",
    "inspect.leave": "key_leave_panel",
    "list.lab": "training_lab",
    "list.next": "next_lesson",
    "list.previous": "prev_lesson",
    "lesson.lab": "training_lab",
    "lesson.lab_any": "training_lab",
    "lab.play": "key_play",
    "lab.step": "key_step",
    "lab.stop": "key_stop",
    "lab.reset": "key_reset",
    "lab.log": "key_log",
    "lab.save": "key_save",
    "lab.load": "key_load",
    "lab.sample": "key_sample",
    "lab.lr_up": "key_lr_up",
    "lab.lr_down": "key_lr_down",
    "lab.back": "key_back",
    "lab.tab_settings": "key_tab_settings",
    "lab.tab_model": "key_tab_model",
    "lab.tab_grads": "key_tab_grads",
    "lab.tab_card": "key_tab_card",
}
"""Binding id -> label name, so the footer and the help screen speak the learner's language."""

ACTION_LABELS: dict[str, str] = {
    "app.focus_next": "focus_next",
    "app.focus_previous": "focus_previous",
    "screen.copy_text": "copy_text",
    "dismiss": "dismiss_menu",
}
"""Textual's own bindings (they have no id), by action -> label name."""


def translate_bindings(node: object, lang: str) -> None:
    """Give the bindings of a Textual node (screen, widget or app) descriptions in `lang`.

    Bindings are matched by their id (see `BINDING_LABELS`), Textual's own by their action; the node's
    own copy of its bindings is changed, so other nodes and the class keep theirs. Textual 8 has no
    public way to change a binding's description (a keymap changes keys only, `bind` only adds), so
    this one function replaces the node's `_bindings` entries.
    """
    bindings = getattr(node, "_bindings", None)
    if bindings is None:
        return
    for key, items in list(bindings.key_to_bindings.items()):
        bindings.key_to_bindings[key] = [_translated(b, lang) for b in items]


def _translated(binding: Any, lang: str) -> Any:
    import dataclasses

    if not binding.description:
        return binding
    name = BINDING_LABELS.get(binding.id or "") or ACTION_LABELS.get(binding.action)
    return dataclasses.replace(binding, description=t(lang, name)) if name else binding

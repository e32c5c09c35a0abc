"""Provides `ConfigForm`: one row per configuration key (a number box, a choice or a switch).

The form knows types, not meaning: it checks a value with `config.coerce` as it is typed and
posts `ConfigForm.Changed` with the parsed value. `committed` is False while a number is being
typed (a calculator can follow every keystroke) and True on Enter, on leaving the box, or at once
for choices and switches (what a running trainer should act on).
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Input, Label, Select, Static

from llm_tutor.engine.train.config import ConfigError, coerce


class ConfigForm(Vertical):
    """Editors for `keys` of a configuration dataclass instance (`template` gives types and values)."""

    DEFAULT_CSS = """
    ConfigForm { height: auto; }
    ConfigForm .form-row { height: 1; }
    ConfigForm .form-label { width: 15; height: 1; padding: 0 1 0 0; color: $text-muted; }
    ConfigForm Input { width: 1fr; }
    ConfigForm Input.-invalid { background: $error 25%; }
    ConfigForm Select { width: 1fr; }
    ConfigForm .form-title { color: $text-accent; text-style: bold; height: 1; }
    ConfigForm .form-error { color: $error; height: auto; display: none; }
    ConfigForm .form-error.-shown { display: block; }
    """

    @dataclass
    class Changed(Message):
        """A key got a valid new value."""

        form: ConfigForm
        key: str
        value: Any
        committed: bool

    def __init__(
        self,
        template: Any,
        keys: list[str],
        *,
        title: str = "",
        choices: dict[str, list[str]] | None = None,
        labels: dict[str, str] | None = None,
        lang: str = "en",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.lang = lang
        self.template = template
        self.keys = list(keys)
        self.title = title
        self.choices = choices or {}
        self.labels = labels or {}
        self.values: dict[str, Any] = {key: getattr(template, key) for key in self.keys}
        self.errors: dict[str, str] = {}
        self._types = typing.get_type_hints(type(template))

    def compose(self) -> ComposeResult:
        if self.title:
            yield Static(self.title, classes="form-title")
        for key in self.keys:
            with Horizontal(classes="form-row"):
                yield Label(self.labels.get(key, key), classes="form-label")
                yield self._editor(key)
        yield Static("", classes="form-error")

    def _editor(self, key: str) -> Input | Select[str]:
        value = self.values[key]
        ident = f"field-{key}"
        if key in self.choices:
            options = [(c, c) for c in self.choices[key]]
            if _show(value) not in self.choices[key]:
                options.append((_show(value), _show(value)))
            return Select(options, value=_show(value), allow_blank=False, id=ident, compact=True)
        kind = self._types.get(key)
        if kind is bool:  # a compact choice: a Switch is three rows tall
            return Select([("true", "true"), ("false", "false")], value=_show(value), allow_blank=False, id=ident,
                          compact=True)
        input_type = "integer" if kind is int else "number" if kind is float else "text"
        return Input(_show(value), type=input_type, id=ident, compact=True, select_on_focus=True)  # type: ignore[arg-type]

    def on_mount(self) -> None:
        """The choices' pop-up lists name their Escape key in the learner's language too."""
        from textual.widgets._select import SelectOverlay

        from llm_tutor.tui.i18n import translate_bindings

        for overlay in self.query(SelectOverlay):
            translate_bindings(overlay, self.lang)

    # -- reading and writing -----------------------------------------------------------------------

    def set_value(self, key: str, value: Any) -> None:
        """Show `value` for `key` without posting Changed (the program, not the learner, changed it)."""
        if key not in self.values:
            return
        self.values[key] = value
        self.errors.pop(key, None)
        editor = self.query_one(f"#field-{key}")
        with editor.prevent(Input.Changed, Select.Changed):
            if isinstance(editor, Input):
                editor.value = _show(value)
                editor.remove_class("-invalid")
            elif isinstance(editor, Select):
                editor.value = _show(value)
        self._show_errors()

    def set_choices(self, key: str, choices: list[str]) -> None:
        """Replace the options of a choice (the devices a trainer reports, for example)."""
        self.choices[key] = list(choices)
        editor = self.query_one(f"#field-{key}", Select)
        current = _show(self.values.get(key))
        options = [(c, c) for c in choices]
        if current not in choices:
            options.append((current, current))
        with editor.prevent(Select.Changed):
            editor.set_options(options)
            editor.value = current

    def _parse(self, key: str, text: Any) -> Any:
        return coerce(self.template, key, text)

    def _show_errors(self) -> None:
        error = self.query_one(".form-error", Static)
        error.update("\n".join(self.errors.values()))
        error.set_class(bool(self.errors), "-shown")

    def _accept(self, key: str, raw: Any, committed: bool, editor: Any) -> None:
        try:
            value = self._parse(key, raw)
        except ConfigError as err:
            self.errors[key] = str(err)
            editor.add_class("-invalid")
            self._show_errors()
            return
        self.errors.pop(key, None)
        editor.remove_class("-invalid")
        self._show_errors()
        changed = value != self.values.get(key)
        self.values[key] = value
        if changed or committed:
            self.post_message(self.Changed(self, key, value, committed))

    # -- editor events ---------------------------------------------------------------------------------

    @on(Input.Changed)
    def _typed(self, event: Input.Changed) -> None:
        event.stop()
        key = (event.input.id or "").removeprefix("field-")
        if key in self.values and event.value.strip() not in ("", "-", "+", "."):
            self._accept(key, event.value, False, event.input)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        key = (event.input.id or "").removeprefix("field-")
        if key in self.values:
            self._accept(key, event.value, True, event.input)

    @on(Input.Blurred)
    def _left(self, event: Input.Blurred) -> None:
        key = (event.input.id or "").removeprefix("field-")
        if key in self.values and key not in self.errors:
            if event.input.value != _show(self.values[key]):
                self._accept(key, event.input.value, True, event.input)
            else:
                self.post_message(self.Changed(self, key, self.values[key], True))

    @on(Select.Changed)
    def _chosen(self, event: Select.Changed) -> None:
        event.stop()
        key = (event.select.id or "").removeprefix("field-")
        if key in self.values and event.value is not Select.BLANK:
            self._accept(key, event.value, True, event.select)


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)

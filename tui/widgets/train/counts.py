"""Provides `ParamCounts`: the configuration calculator's answer, recomputed as a field changes.

Counts come from `llm_tutor.engine.train.calc` (closed forms, no torch), so they update on every
keystroke, before anything trains: the total with and without weight tying, per module and per
transformer block, and the weights' memory in float32 and bfloat16.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text
from textual.widget import Widget

from llm_tutor.engine.train import calc
from llm_tutor.engine.train.config import ConfigError, GPTConfig, MLPConfig
from llm_tutor.tui.i18n import format_count, t


def count_summary(model: str, config: Any) -> dict[str, Any]:
    """What the calculator shows for `config` (raises ConfigError when it cannot work)."""
    config.validate()
    if model == "gpt":
        assert isinstance(config, GPTConfig)
        return calc.gpt_summary(config)
    if model == "mlp":
        assert isinstance(config, MLPConfig)
        counted = calc.mlp_params(config)
    else:
        counted = calc.neuron_params()
    data = counted.as_dict()
    data["params"] = counted.total
    return data


class ParamCounts(Widget):
    """Parameter count with a per-module breakdown and memory, for the configuration being edited."""

    DEFAULT_CSS = """
    ParamCounts { height: auto; padding: 0 1; }
    ParamCounts.-invalid { color: $error; }
    """

    def __init__(self, lang: str = "en", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lang = lang
        self.model = "gpt"
        self.summary: dict[str, Any] = {}
        self.error = ""
        self.running_params: int | None = None
        self.config: Any = None

    @property
    def total(self) -> int | None:
        """The counted total (None while the configuration cannot work)."""
        return self.summary.get("params") if not self.error else None

    def show(self, model: str, config: Any, running_params: int | None = None) -> None:
        """Count `config` again (cheap arithmetic) and repaint."""
        self.model, self.config, self.running_params = model, config, running_params
        try:
            self.summary, self.error = count_summary(model, config), ""
        except ConfigError as err:
            self.summary, self.error = {}, str(err)
        self.set_class(bool(self.error), "-invalid")
        self.refresh(layout=True)

    def render(self) -> Text | Table:
        lang = self.lang
        if self.error:
            return Text(t(lang, "config_error", message=self.error))
        if not self.summary:
            return Text("")
        s = self.summary
        table = Table.grid(padding=(0, 1), expand=True)
        table.add_column(overflow="fold")  # a long label wraps; the numbers never lose a digit
        table.add_column(justify="right", no_wrap=True, min_width=10)
        table.add_row(Text(t(lang, "total"), style="bold"), Text(format_count(lang, s["params"]), style="bold"))
        table.add_row("", Text(calc.format_count(s["params"]), style="dim"))
        if self.model == "gpt":
            tying = t(lang, "tying_on") if self.config is not None and self.config.tie_weights else t(lang, "tying_off")
            table.add_row(Text(tying, style="dim"), "")
            table.add_row(f"  {t(lang, 'tied')}", format_count(lang, s["params_tied"]))
            table.add_row(f"  {t(lang, 'untied')}", format_count(lang, s["params_untied"]))
        if self.running_params is not None and self.running_params != s["params"]:
            table.add_row(Text(f"  {t(lang, 'running_model')}", style="dim"), Text(format_count(lang, self.running_params), style="dim"))
        table.add_row(Text(t(lang, "memory"), style="bold"), "")
        table.add_row("  float32", calc.format_bytes(s["bytes_float32"]))
        table.add_row("  bfloat16", calc.format_bytes(s["bytes_bfloat16"]))
        modules = s.get("modules") or {}
        if modules:
            table.add_row(Text(t(lang, "per_module"), style="bold"), "")
            for name, n in modules.items():
                label = f"  {name}"
                if name == "blocks" and self.config is not None and getattr(self.config, "n_layers", 0):
                    label += f" ({self.config.n_layers}×)"
                table.add_row(label, format_count(lang, n))
        per_block = s.get("per_block") or {}
        if per_block:
            table.add_row(Text(t(lang, "per_block"), style="bold"), "")
            for name, n in per_block.items():
                table.add_row(f"  {name}", format_count(lang, n))
        if self.model == "gpt" and s.get("head_dim"):
            table.add_row(Text(t(lang, "head_dim"), style="dim"), Text(str(s["head_dim"]), style="dim"))
        return table

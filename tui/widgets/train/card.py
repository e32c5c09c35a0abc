"""Provides `ReproCard`: what it takes to get the same run again (seed, device, torch, determinism)."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text
from textual.widget import Widget

from llm_tutor.tui.i18n import t

FIELDS = ("seed", "device", "device_name", "world_size", "backend", "per_rank_tokens_per_s", "torch", "cuda", "python",
          "platform", "deterministic", "threads", "dtype")


class ReproCard(Widget):
    """The trainer's card (`TrainStarted.card`) as a two-column table, plus the model and optimizer."""

    DEFAULT_CSS = """
    ReproCard { height: auto; padding: 0 1; }
    """

    def __init__(self, lang: str = "en", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lang = lang
        self.card: dict[str, Any] = {}
        self.extra: dict[str, Any] = {}

    def show(self, card: dict[str, Any], extra: dict[str, Any] | None = None) -> None:
        self.card, self.extra = dict(card), dict(extra or {})
        self.refresh(layout=True)

    def show_rate(self, per_rank_tokens_per_s: float) -> None:
        """Each process's tokens/s in a data-parallel run (the card shows it below the world size)."""
        self.card["per_rank_tokens_per_s"] = f"{per_rank_tokens_per_s:,.0f}"
        self.refresh()

    def render(self) -> Table | Text:
        if not self.card:
            return Text(t(self.lang, "card_empty"), style="dim")
        table = Table.grid(padding=(0, 1))
        table.add_column(style="dim", no_wrap=True)
        table.add_column()
        table.title = t(self.lang, "card_title")
        table.title_style = "bold"
        for key, value in [*self.extra.items(), *((k, self.card[k]) for k in FIELDS if k in self.card)]:
            if value is None or value == "" or key == "devices":
                continue
            if key == "device_name" and str(value) == str(self.card.get("device", "")):
                continue  # "cpu" twice says nothing
            if key in ("world_size", "backend", "per_rank_tokens_per_s") and int(self.card.get("world_size") or 1) == 1:
                continue  # one process: nothing to say
            if key == "per_rank_tokens_per_s":
                key = t(self.lang, "per_rank")
            table.add_row(key, str(value))
        return table

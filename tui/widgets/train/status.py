"""Provides `RunStatus`: two lines with the run's state, progress bar, ETA, throughput and figures."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widget import Widget

from llm_tutor.engine.train import calc
from llm_tutor.tui.i18n import format_count, t
from llm_tutor.tui.widgets.train.plot import format_value

STATE_MARKS = {"running": "▶", "paused": "‖", "finished": "✓", "stopped": "■", "failed": "✗", "dead": "✗", "starting": "…"}


def format_eta(seconds: float | None) -> str:
    """3725 → '1:02:05', 42 → '0:42'."""
    if seconds is None:
        return "–"
    s = int(round(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def progress_bar(fraction: float, width: int) -> str:
    """A bar of `width` cells with eighth-cell resolution."""
    fraction = min(max(fraction, 0.0), 1.0)
    eighths = round(fraction * width * 8)
    full, part = divmod(eighths, 8)
    bar = "█" * full + ("" if part == 0 or full >= width else " ▏▎▍▌▋▊▉"[part])
    return bar.ljust(width, "░")[:width]


class RunStatus(Widget):
    """State, step of budget with a progress bar and ETA, steps/s and tokens/s; then the figures."""

    DEFAULT_CSS = """
    RunStatus { height: 3; padding: 0 1; background: $panel; }
    RunStatus.-running { color: $text; }
    RunStatus.-failed, RunStatus.-dead { color: $error; }
    """

    def __init__(self, lang: str = "en", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lang = lang
        self.state = "starting"
        self.step = 0
        self.total = 0
        self.progress: float | None = None
        self.eta_s: float | None = None
        self.steps_per_s: float | None = None
        self.tokens_per_s: float | None = None
        self.loss: float | None = None
        self.val_loss: float | None = None
        self.val_step: int | None = None
        """The step the validation loss was measured at (it is measured every few seconds, not every step)."""
        self.accuracy: float | None = None
        self.lr: float | None = None
        self.batch_size: int | None = None
        self.drop_rate: float | None = None
        self.params: int | None = None
        self.device = ""
        self.world_size = 1
        """Processes of a data-parallel run: above 1 the line adds them and each one's tokens/s."""

    def show(self, **fields: Any) -> None:
        """Set any of the attributes above and repaint this widget only."""
        for key, value in fields.items():
            setattr(self, key, value)
        for state in STATE_MARKS:
            self.set_class(state == self.state, f"-{state}")
        self.refresh()

    def render(self) -> Text:
        lang = self.lang
        width = max(self.content_size.width or 80, 10)
        head = Text(f"{STATE_MARKS.get(self.state, '·')} {t(lang, 'state_' + self.state)}", style="bold")
        total = f"/{format_count(lang, self.total)}" if self.total else ""
        parts: list[Text] = [head, Text(f"{t(lang, 'step')} {format_count(lang, self.step)}{total}")]
        if self.total:
            fraction = self.progress if self.progress is not None else self.step / self.total
            bar = Text(progress_bar(fraction, 16 if width >= 70 else 8), style="bold")
            bar.append(f" {fraction * 100:3.0f}%", style="not bold")
            parts.append(bar)
            if self.state == "running":
                parts.append(Text(f"{t(lang, 'eta')} {format_eta(self.eta_s)}"))
        if self.steps_per_s is not None and self.state == "running":
            parts.append(Text(f"{format_count(lang, self.steps_per_s, 1)} {t(lang, 'steps_s')}"))
            if self.tokens_per_s:
                parts.append(Text(f"{format_count(lang, self.tokens_per_s)} {t(lang, 'tok_s')}"))
                if self.world_size > 1:
                    parts.append(Text(f"{format_count(lang, self.tokens_per_s / self.world_size)} {t(lang, 'per_rank')}"))
        figures: list[str] = []
        if self.loss is not None:  # the last step's loss: the legend's `train`
            figures.append(f"{t(lang, 'train')} {format_value(self.loss)}")
        if self.val_loss is not None:
            value = format_value(self.val_loss)
            if self.val_step is not None and self.val_step != self.step:
                figures.append(t(lang, "val_at", value=value, step=format_count(lang, self.val_step)))
            else:
                figures.append(f"{t(lang, 'val')} {value}")
        if self.accuracy is not None:
            figures.append(f"{t(lang, 'acc')} {self.accuracy:.3f}")
        if self.lr is not None:
            figures.append(f"{t(lang, 'lr')} {self.lr:g}")
        if self.batch_size is not None:
            figures.append(f"{t(lang, 'batch')} {self.batch_size}")
        if self.drop_rate:
            figures.append(f"{t(lang, 'dropout')} {self.drop_rate:g}")
        if self.params is not None:
            figures.append(f"{calc.format_count(self.params)} {t(lang, 'params')}")
        if self.device:
            figures.append(self.device)
        if self.world_size > 1:
            figures.append(t(lang, "ranks", n=self.world_size))
        dim = "dim" if self.state != "running" else ""
        lines = _pack(parts, width) + _pack([Text(f, style=dim) for f in figures], width)
        return Text("\n").join(line for line in lines[: max(self.content_size.height, 1)])


def _pack(parts: list[Text], width: int) -> list[Text]:
    """Parts laid left to right, two spaces apart, wrapping to a new line (never inside a part)."""
    lines: list[Text] = []
    line = Text(no_wrap=True, overflow="ellipsis")
    for part in parts:
        if line.cell_len and line.cell_len + 2 + part.cell_len > width:
            lines.append(line)
            line = Text(no_wrap=True, overflow="ellipsis")
        if line.cell_len:
            line.append("  ")
        line.append_text(part)
    if line.cell_len:
        lines.append(line)
    for line in lines:
        line.truncate(width, overflow="ellipsis")
    return lines

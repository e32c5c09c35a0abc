"""Provides the lesson screen's helpers for its blocks: which block holds a widget, which exercise a key
means, bringing the learner's last block into view, and the explanation a predict question holds back
until it is answered."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.widget import Widget

from llm_tutor.tui.i18n import t
from llm_tutor.tui.widgets.lesson.cell import CellView
from llm_tutor.tui.widgets.lesson.exercise import ExerciseView

if TYPE_CHECKING:
    from llm_tutor.tui.screens.lesson import LessonScreen


def block_id(widget: Widget | None) -> str | None:
    """The id of the lesson block (cell, predict, exercise) holding `widget`."""
    node: Any = widget
    while node is not None:
        if isinstance(node, CellView):
            return node.cell_id
        if isinstance(node, ExerciseView):
            return node.exercise.id
        node = node.parent
    return None


def meant_exercise(screen: LessonScreen) -> ExerciseView | None:
    """The exercise a key for "the exercise" means: the focused one, or the lesson's only one (else it asks)."""
    block = screen.focused_block()
    if isinstance(block, ExerciseView):
        return block
    views = list(screen.query(ExerciseView))
    if len(views) == 1:
        return views[0]
    screen.app.notify(t(screen.lang, "pick_exercise"), markup=False)
    return None


def find_block(screen: LessonScreen, wanted: str) -> Widget | None:
    """The block (cell, predict, exercise) with the id `wanted`, if the lesson has it."""
    for selector in (f"#cell-{wanted}", f"#exercise-{wanted}"):
        found = list(screen.query(selector))
        if found:
            return found[0]
    return None


def scroll_to(screen: LessonScreen, target: Widget) -> None:
    """Bring the learner's last block to the top once the prose above it has its final height
    (Markdown lays itself out in the background, so scroll again shortly after)."""

    def scroll() -> None:
        if screen.is_attached and screen.focused_block() is target:
            target.scroll_visible(top=True, animate=False, immediate=True)

    screen.call_after_refresh(scroll)
    screen.set_timer(0.15, scroll)
    screen.set_timer(0.5, scroll)


def explanation(text: str) -> tuple[str, str]:
    """The first paragraph of the prose after a predict question (its explanation) and the rest; a
    heading there starts a new topic, so nothing is held back then."""
    stripped = text.lstrip("\n")
    if not stripped or stripped.startswith(("#", "```", "|", "-", "*", ">")):
        return "", text
    first, _, rest = stripped.partition("\n\n")
    return first, rest

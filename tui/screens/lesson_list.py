"""Provides `LessonListScreen`: the course's lessons with their progress; Enter opens one."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from llm_tutor.engine.course import BrokenLesson
from llm_tutor.engine.lesson import Lesson
from llm_tutor.tui.i18n import t, translate_bindings
from llm_tutor.tui.widgets.status import KernelStatus


class LessonListScreen(Screen[None]):
    """The first screen: every lesson, its status and exercise count."""

    BINDINGS = [
        Binding("enter", "open_lesson", "Open", id="list.open"),
        Binding("L", "switch_language", "Language", id="app.language"),
        Binding("t", "open_lab", "Training lab", id="list.lab"),
    ]

    def __init__(self, items: list[Lesson | BrokenLesson], lang: str, statuses: dict[str, str] | None = None) -> None:
        super().__init__()
        self.items = items
        self.lang = lang
        translate_bindings(self, lang)
        self.statuses = statuses or {}

    def set_course(self, items: list[Lesson | BrokenLesson], lang: str, statuses: dict[str, str] | None = None) -> None:
        """Show another course or language in place (the list is the app's base screen)."""
        self.items, self.lang, self.statuses = items, lang, statuses or {}
        translate_bindings(self, lang)
        self.refresh_bindings()
        self.query_one("#title", Static).update(self._title())
        for status in self.query(KernelStatus):
            status.lang = lang
            status.refresh()
        self.fill()

    def _title(self) -> Text:
        return Text(f"llm-tutor · {t(self.lang, 'lessons')}", style="bold")

    def compose(self) -> ComposeResult:
        yield Static(self._title(), id="title")
        yield DataTable(id="lessons", cursor_type="row", zebra_stripes=False)
        yield Static("", id="overall")
        yield KernelStatus(self.lang, id="kernel-status")
        yield Footer()

    def on_mount(self) -> None:
        self.fill()
        self.query_one(DataTable).focus()
        self.app.sync_status(self)  # type: ignore[attr-defined]

    def fill(self) -> None:
        table = self.query_one(DataTable)
        table.clear(columns=True)
        table.add_column("#", key="order")
        table.add_column(t(self.lang, "lesson"), key="title")
        table.add_column(t(self.lang, "exercises"), key="exercises")
        table.add_column(t(self.lang, "status"), key="status")
        solved_total = ex_total = 0
        for item in self.items:
            if isinstance(item, BrokenLesson):
                table.add_row("!", Text(item.title), "", Text(t(self.lang, "error"), style="bold"), key=f"broken:{item.path}")
                continue
            status = self.statuses.get(item.id, "not_started")
            n = len(item.exercises)
            solved = self.app.solved_count(item) if hasattr(self.app, "solved_count") else 0  # type: ignore[attr-defined]
            solved_total += solved
            ex_total += n
            mark = {"solved": "✓ ", "attempted": "◐ ", "not_started": "  "}.get(status, "  ")
            table.add_row(str(item.order), item.title, f"{solved}/{n}", mark + t(self.lang, status), key=item.id)
        overall = self.query_one("#overall", Static)
        overall.update(f"{t(self.lang, 'overall')}: {solved_total}/{ex_total} {t(self.lang, 'exercises').lower()}")

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self._open(str(event.row_key.value))

    def action_open_lesson(self) -> None:
        table = self.query_one(DataTable)
        if table.row_count:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
            self._open(str(key.value))

    def _open(self, key: str) -> None:
        self.app.open_lesson_key(key)  # type: ignore[attr-defined]

    def action_open_lab(self) -> None:
        self.app.open_lab()  # type: ignore[attr-defined]

    def action_switch_language(self) -> None:
        self.app.switch_language()  # type: ignore[attr-defined]

"""Provides `LessonListScreen`: the course's lessons with their progress; Enter opens one."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Static

from llm_tutor.engine.course.catalog import BrokenLesson
from llm_tutor.engine.course.lesson import Lesson
from llm_tutor.tui.i18n import t, translate_bindings
from llm_tutor.tui.messages import LessonListResumed, ProgressRefreshed
from llm_tutor.tui.host import host
from llm_tutor.tui.progress import LearnerProgress
from llm_tutor.tui.widgets.status import KernelStatus
from llm_tutor.tui.widgets.footer import KeyFooter


class LessonListScreen(Screen[None]):
    """The first screen: every lesson, its status and exercise count."""

    BINDINGS = [
        Binding("enter", "open_lesson", "Open", id="list.open"),
        Binding("L", "switch_language", "Language", id="app.language"),
        Binding("t", "open_lab", "Training lab", id="list.lab"),
        Binding("j", "move(1)", "Next lesson", show=False, id="list.next"),
        Binding("k", "move(-1)", "Previous lesson", show=False, id="list.previous"),
    ]

    def __init__(self, items: list[Lesson | BrokenLesson], lang: str, progress: LearnerProgress) -> None:
        super().__init__()
        self.items = items
        self.lang = lang
        translate_bindings(self, lang)
        self.progress = progress
        """Where the list reads each lesson's status (blank until the progress is read)."""
        self._columns_lang: str | None = None
        """The language of the table's column labels (rebuilt only when it changes)."""

    def set_course(self, items: list[Lesson | BrokenLesson], lang: str) -> None:
        """Show another course or language in place (the list is the app's base screen)."""
        self.items, self.lang = items, lang
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
        yield KeyFooter()

    def on_mount(self) -> None:
        self.fill(cursor_key=self.progress.last_lesson_id())
        self.query_one(DataTable).focus()

    def on_screen_resume(self, event: events.ScreenResume) -> None:
        """Back from a lesson: the app recounts the progress and posts `ProgressRefreshed` here."""
        self.post_message(LessonListResumed())

    def on_progress_refreshed(self, message: ProgressRefreshed) -> None:
        """The progress was read or recounted: show it (the cursor moves to the last lesson at start)."""
        self.fill(cursor_key=message.cursor_key)

    def fill(self, cursor_key: str | None = None) -> None:
        """(Re)build the table; the cursor stays on its lesson (or moves to `cursor_key`)."""
        table = self.query_one(DataTable)
        if cursor_key is None and table.row_count:
            cursor_key = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        table.clear()
        if self._columns_lang != self.lang:
            table.clear(columns=True)
            self._columns_lang = self.lang
            table.add_column("#", key="order")
            table.add_column(t(self.lang, "lesson"), key="title")
            table.add_column(t(self.lang, "exercises"), key="exercises")
            table.add_column(t(self.lang, "status"), key="status")
        ready = self.progress.ready
        statuses = self.progress.statuses()
        solved_total = ex_total = done = lessons = 0
        for item in self.items:
            if isinstance(item, BrokenLesson):
                table.add_row("!", Text(item.title), "", Text(t(self.lang, "error"), style="bold"), key=f"broken:{item.path}")
                continue
            status = statuses.get(item.id, "not_started")
            n = len(item.exercises)
            solved = self.progress.solved(item.id)
            solved_total += solved
            ex_total += n
            lessons += 1
            done += status in ("completed", "solved")
            mark = {"completed": "✓ ", "solved": "✓ ", "in_progress": "◐ ", "attempted": "◐ "}.get(status, "  ")
            label = "" if status == "not_started" else t(self.lang, status)
            if not ready:  # the progress is read right after the first paint
                table.add_row(str(item.order), item.title, "", "", key=item.id)
                continue
            table.add_row(str(item.order), item.title, _bar(solved, n), Text(mark + label), key=item.id)
        overall = self.query_one("#overall", Static)
        text = Text(f"{t(self.lang, 'overall')}: ")
        text.append(t(self.lang, "overall_progress", solved=solved_total, total=ex_total, done=done, lessons=lessons))
        if not ready:
            text = Text("")
        if not self.progress.saved:
            text.append("  ·  " + t(self.lang, "not_saving"), style="bold")
        overall.update(text)
        keys = [str(k.value) for k in table.rows]
        if cursor_key in keys:
            table.move_cursor(row=keys.index(cursor_key), animate=False)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self._open(str(event.row_key.value))

    def action_open_lesson(self) -> None:
        table = self.query_one(DataTable)
        if table.row_count:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
            self._open(str(key.value))

    def _open(self, key: str) -> None:
        host(self).open_lesson_key(key)

    def action_move(self, step: int) -> None:
        """j and k move through the lessons as they move through a lesson's cells."""
        table = self.query_one(DataTable)
        table.move_cursor(row=max(0, min(table.row_count - 1, table.cursor_row + step)))

    def action_open_lab(self) -> None:
        host(self).open_lab()

    def action_switch_language(self) -> None:
        host(self).switch_language()


def _bar(solved: int, total: int, width: int = 6) -> Text:
    """"███░░░ 3/6": how many of a lesson's exercises are solved."""
    if not total:
        return Text("")
    full = round(width * solved / total)
    text = Text("█" * full, style="bold")
    text.append("░" * (width - full), style="dim")
    text.append(f" {solved}/{total}")
    return text

"""Provides `LessonRun`, the part of `LessonScreen` that runs cells: the run queue, checks, interrupt and
restart, and what the kernel says about each run (output, results, errors, its death).

Cells run one at a time from `run_queue`; each request's events come back as `KernelEvent` messages (posted
by the app) and land on the block that sent it (`pending`). An error or an interrupt stops the rest of the
queue; a check first runs the cells above it that never ran.
"""

from __future__ import annotations

from llm_tutor.engine.kernel import KernelDied, protocol
from llm_tutor.tui import messages as msg
from llm_tutor.tui.host import host
from llm_tutor.tui.i18n import exit_reason, t
from llm_tutor.tui.screens.lesson_blocks import block_id
from llm_tutor.tui.widgets.inspect.inspector import InspectorPanel
from llm_tutor.tui.widgets.lesson.cell import CellView
from llm_tutor.tui.widgets.lesson.exercise import ExerciseView
from llm_tutor.tui.widgets.lesson.predict import PredictView


class LessonRun:
    """The running half of `LessonScreen` (a mixin: it uses the screen's blocks, kernel namespace and queues)."""

    def run_cells(self, views: list[CellView]) -> None:
        """Queue cells and send them one at a time; an error or interrupt stops the rest."""
        self._ensure_kernel()
        for view in views:
            if view not in self.run_queue and view.state not in ("running",):
                view.queue()
                self.run_queue.append(view)
        self._queue_changed()
        if not any(isinstance(w, CellView) and w.state == "running" for w in self.pending.values()):
            self._run_next()

    def _queue_changed(self) -> None:
        """The inspector waits for the last queued cell before it asks the kernel again."""
        for panel in self.query(InspectorPanel):
            panel.cells_waiting = len(self.run_queue)

    def _run_next(self) -> None:
        if not self.run_queue:
            return
        view = self.run_queue.pop(0)
        self._queue_changed()
        try:
            rid = host(self).client.execute(view.code, view.cell_id, self.namespace)
        except OSError:
            view.show_died(t(self.lang, "kernel_died", reason=t(self.lang, "dead"), key="K"))
            self._cancel_queue()
            return
        self.pending[rid] = view
        view.start(rid)

    def _cancel_queue(self) -> None:
        for view in self.run_queue:
            view.state = "idle"
        self.run_queue.clear()
        self._queue_changed()

    def action_interrupt(self) -> None:
        self._cancel_queue()
        host(self).interrupt_kernel()

    def action_restart_kernel(self) -> None:
        self._cancel_queue()
        for rid, widget in list(self.pending.items()):
            if isinstance(widget, CellView) and widget.state == "running":
                widget.state = "interrupted"
        self.pending.clear()
        self.query_one(InspectorPanel).clear()  # the old namespace dies with the kernel
        host(self).restart_kernel()

    def _ensure_kernel(self) -> None:
        app = host(self)
        if app.kernel.state in ("dead", "stopped"):
            app.restart_kernel()

    def check_exercise(self, view: ExerciseView) -> None:
        """Run the learner's code and the checks; cells above that never ran are run first."""
        self._ensure_kernel()
        above = []
        for block in self.blocks():
            if block is view:
                break
            if isinstance(block, CellView) and not isinstance(block, PredictView) and block.run_count == 0:
                above.append(block)
        if above:
            self.run_cells(above)
        code = view.code
        rid = host(self).client.check_exercise(code, view.exercise.checks, view.exercise.id, self.namespace)
        self.pending[rid] = view
        view.start(rid, code)

    # -- kernel events (posted on by the app) --------------------------------------------------

    def on_kernel_event(self, message: msg.KernelEvent) -> None:
        event = message.event
        panels = self.query(InspectorPanel)
        if not panels:
            return  # not composed yet (a lesson opened at start-up while the kernel reports): nothing ran here
        if panels.first().handle_kernel_event(event) or isinstance(event, protocol.Variables):
            return
        if isinstance(event, KernelDied):
            died = exit_reason(self.lang, "kernel", event.exitcode) + (f": {event.limit}" if event.limit else "")
            reason = t(self.lang, "kernel_died", reason=died, key="K")
            for running in self.pending.values():
                if isinstance(running, (CellView, ExerciseView)) and running.state == "running":
                    running.show_died(reason)
            self.pending.clear()
            self._cancel_queue()
            return
        parent = getattr(event, "parent", "")
        widget = self.pending.get(parent)
        if isinstance(event, protocol.Metric):  # track() in a cell: a live plot under it
            from llm_tutor.tui.widgets.train.track_plot import show_metric

            show_metric(self, widget, event)
            return
        if widget is None:
            late = self.finished.get(parent)
            if isinstance(event, protocol.Stream) and isinstance(late, CellView) and late.request_id == parent:
                late.show_stream(event)  # printed by a thread the cell left running
            return
        if isinstance(widget, ExerciseView):
            if isinstance(event, protocol.CheckResult):
                widget.show_check_result(event)
                # the code that was checked, not what the editor holds by now (typing goes on meanwhile)
                self.post_message(msg.AttemptChecked(
                    self.lesson, widget.exercise.id, event.passed, widget.checked_code, widget.code
                ))
            elif isinstance(event, protocol.Done):
                self.pending.pop(parent, None)
                if event.status == "interrupted":
                    widget.show_died(t(self.lang, "interrupted"))
            return
        assert isinstance(widget, CellView)
        if isinstance(event, protocol.Stream):
            widget.show_stream(event)
        elif isinstance(event, protocol.Result):
            widget.show_result(event)
        elif isinstance(event, protocol.Error):
            widget.show_error(event)
        elif isinstance(event, protocol.Done):
            self.pending.pop(parent, None)
            self.finished[parent] = widget
            if len(self.finished) > 64:
                self.finished.pop(next(iter(self.finished)))
            widget.finish(event)
            expected_error = event.status == "error" and bool(widget.raises)
            if event.status == "ok" or expected_error:
                # where the learner is: the block they are on, rather than the cell that just ran
                # (checking an exercise runs the cells above it, and the learner stays at the exercise)
                self.post_message(msg.PositionChanged(self.lesson, block_id(self.focused_block()) or widget.cell_id))
                self._run_next()
            else:
                self._cancel_queue()

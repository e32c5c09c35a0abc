"""Provides `Writer`: one thread that runs the learner's writes in the order they were asked for.

The UI thread only queues (`submit`); `busy` says whether anything queued has not run yet, so a
reader knows the database may not show it. A task that raises is a bug of ours (the store reports
its own faults): it is handed to `on_error` and the next task runs.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

Task = Callable[[], None]


class Writer:
    """An ordered writer thread.

    Args:
        on_error: called (on the writer thread) with what a task raised.
        name: the thread's name.
    """

    def __init__(self, on_error: Callable[[Exception], None], name: str = "llm-tutor-progress") -> None:
        self.on_error = on_error
        self._queue: queue.Queue[Task | None] = queue.Queue()
        self._outstanding = 0
        self._count_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> Writer:
        self._thread.start()
        return self

    def submit(self, task: Task) -> None:
        """Run `task` on the writer thread, after every task submitted before it (any thread)."""
        with self._count_lock:
            self._outstanding += 1
        self._queue.put(task)

    @property
    def busy(self) -> bool:
        """Whether tasks are waiting or running."""
        with self._count_lock:
            return self._outstanding > 0

    def stop(self, timeout: float = 60.0) -> None:
        """Run what is queued, then end the thread."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout=timeout)

    def _run(self) -> None:
        while True:
            task = self._queue.get()
            if task is None:
                return
            try:
                task()
            except Exception as exc:  # noqa: BLE001 - reported, and the writes after it still run
                self.on_error(exc)
            finally:
                with self._count_lock:
                    self._outstanding -= 1

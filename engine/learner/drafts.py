"""Provides `DraftSaver`, which saves the learner's exercise code shortly after they stop typing.

The editor calls `update()` on every change (cheap: it only remembers the text). A background
thread writes the newest text of each exercise `delay` seconds after the last change, and never
later than `max_delay` seconds after the first unsaved change, so steady typing is still saved:
a `kill -9` loses at most about a second of typing. Pure Python, no Textual; thread-safe.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class DraftSink(Protocol):
    """Where drafts go: `ProgressStore` has this method."""

    def save_draft(self, lesson_id: str, exercise_id: str, code: str, lang: str = "en") -> None: ...


class DraftSaver:
    """Debounced, thread-safe saving of exercise drafts.

    Args:
        store: anything with `save_draft(lesson_id, exercise_id, code, lang)`, usually a `ProgressStore`.
        delay: quiet time after the last change before saving.
        max_delay: the longest a change waits while the learner keeps typing.
    """

    def __init__(self, store: DraftSink, delay: float = 0.5, max_delay: float = 1.0) -> None:
        self.store = store
        self.delay = delay
        self.max_delay = max_delay
        self._cond = threading.Condition()
        self._save_lock = threading.Lock()
        """Held while taking and writing a batch, so an older batch never lands after a newer one."""
        self._pending: dict[tuple[str, str, str], str] = {}
        self._first_change = 0.0
        self._last_change = 0.0
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="llm-tutor-drafts", daemon=True)
        self._thread.start()

    def update(self, lesson_id: str, exercise_id: str, text: str, lang: str = "en") -> None:
        """Note the newest text of an exercise in one language; it is saved soon."""
        with self._cond:
            if self._stopped:
                raise RuntimeError("DraftSaver is closed")
            now = time.monotonic()
            if not self._pending:
                self._first_change = now
            self._pending[(lesson_id, exercise_id, lang)] = text
            self._last_change = now
            self._cond.notify()

    @property
    def dirty(self) -> bool:
        """Whether some text is waiting to be saved."""
        with self._cond:
            return bool(self._pending)

    def flush(self) -> int:
        """Save everything waiting now (on check, lesson switch, quit); returns how many drafts."""
        with self._save_lock:
            with self._cond:
                batch, self._pending = self._pending, {}
            for (lesson_id, exercise_id, lang), text in batch.items():
                self.store.save_draft(lesson_id, exercise_id, text, lang=lang)
            return len(batch)

    def close(self) -> None:
        """Save what is waiting and stop the thread."""
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self._thread.join(timeout=10)
        self.flush()

    def __enter__(self) -> DraftSaver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._stopped:
                    return
                if not self._pending:
                    self._cond.wait()
                    continue
                due = min(self._last_change + self.delay, self._first_change + self.max_delay)
                wait = due - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - the store reports its own faults; keep the thread alive
                time.sleep(self.delay)

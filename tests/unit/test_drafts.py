"""`DraftSaver` on a real progress store: debounced, ordered, thread-safe, and saving while typing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from llm_tutor.engine.learner.drafts import DraftSaver
from llm_tutor.engine.learner.store import ProgressStore


def _wait_for(condition, bound: float = 20.0) -> bool:  # type: ignore[no-untyped-def]
    """Poll `condition` until true or the (generous) bound passes; the caller asserts the result."""
    end = time.monotonic() + bound
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.01)
    return bool(condition())


def test_a_burst_of_changes_is_one_save_of_the_newest_text(tmp_path: Path) -> None:
    with ProgressStore.open(tmp_path) as store:
        saver = DraftSaver(store, delay=60, max_delay=60)
        for i in range(100):
            saver.update("tensors", "ones", f"x = {i}")
        assert saver.dirty and store.load_draft("tensors", "ones") is None
        assert saver.flush() == 1
        assert not saver.dirty
        assert store.load_draft("tensors", "ones") == "x = 99"
        saver.close()


def test_changes_are_saved_without_a_flush(tmp_path: Path) -> None:
    with ProgressStore.open(tmp_path) as store:
        with DraftSaver(store, delay=0.05) as saver:
            saver.update("tensors", "ones", "x = 1")
            assert _wait_for(lambda: store.load_draft("tensors", "ones") == "x = 1")
            assert not saver.dirty


def test_steady_typing_is_saved_before_the_typing_stops(tmp_path: Path) -> None:
    with ProgressStore.open(tmp_path) as store:
        with DraftSaver(store, delay=5.0, max_delay=0.2) as saver:
            typed = 0
            while store.load_draft("tensors", "ones") is None and typed < 2000:  # never pauses as long as `delay`
                saver.update("tensors", "ones", f"x = {typed}")
                typed += 1
                time.sleep(0.005)
            assert typed < 2000
            saved = store.load_draft("tensors", "ones")
            assert saved is not None and int(saved.split()[-1]) < typed


def test_close_saves_what_is_waiting(tmp_path: Path) -> None:
    with ProgressStore.open(tmp_path) as store:
        saver = DraftSaver(store, delay=60)
        saver.update("tensors", "ones", "a")
        saver.update("tensors", "twos", "b")
        saver.close()
        assert (store.load_draft("tensors", "ones"), store.load_draft("tensors", "twos")) == ("a", "b")


def test_many_threads_typing_in_different_exercises(tmp_path: Path) -> None:
    with ProgressStore.open(tmp_path) as store:
        saver = DraftSaver(store, delay=0.01, max_delay=0.02)

        def type_in(exercise: str) -> None:
            for i in range(200):
                saver.update("tensors", exercise, f"{exercise} {i}")

        threads = [threading.Thread(target=type_in, args=(f"ex-{n}",)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        saver.close()
        assert [store.load_draft("tensors", f"ex-{n}") for n in range(4)] == [f"ex-{n} 199" for n in range(4)]
        assert store.integrity_ok()


def test_kill_9_while_typing_keeps_a_recent_draft(tmp_path: Path) -> None:
    ProgressStore.open(tmp_path).close()
    code = """
        import time
        from llm_tutor.engine.learner.drafts import DraftSaver
        from llm_tutor.engine.learner.store import ProgressStore
        store = ProgressStore.open()
        saver = DraftSaver(store, delay=0.5, max_delay=1.0)
        i = 0
        while True:  # typing without a pause: only the max_delay rule saves anything
            saver.update("tensors", "ones", f"typed {i}")
            print(i, int(store.load_draft("tensors", "ones") is not None), flush=True)
            i += 1
            time.sleep(0.005)
        """
    env = {**os.environ, "LLM_TUTOR_DATA_DIR": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=env, text=True, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    typed = 0
    for line in proc.stdout:
        typed, saves = map(int, line.split())
        if saves >= 1:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    with ProgressStore.open(tmp_path) as store:
        assert store.integrity_ok()
        draft = store.load_draft("tensors", "ones")
        assert draft is not None and 0 < int(draft.split()[1]) <= typed + 1

"""Provides `Watcher`, which reports changed files under a folder (the exercise workspace) to a callback.

It uses `watchfiles` (inotify/FSEvents) when installed and otherwise polls modification times
every 0.25 s, which alone reports a saved file well within a second. Either way the callback runs
on the watcher's own thread: a UI should only post a message from it. Torch-free and Textual-free.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

POLL_INTERVAL = 0.25

OnChange = Callable[[set[Path]], None]
"""Called with the set of files that changed, appeared or disappeared."""

_Stamp = tuple[int, int, int, bytes | None]
_RACY_NS = 2_000_000_000
"""A file changed this recently may change again within the clock's granularity without its
mtime or size moving, so its content is compared too (as git does for "racily clean" files)."""


def watchfiles_available() -> bool:
    """Whether the optional `watchfiles` package can be used."""
    try:
        import watchfiles  # noqa: F401
    except ImportError:
        return False
    return True


class Watcher:
    """Watch a folder (recursively) for changed files with the given suffixes.

    Args:
        root: the folder; it need not exist yet (polling picks it up once made).
        on_change: called with a set of changed paths, from the watcher thread.
        suffixes: which files count (``(".py",)``); editors' swap and temp files are ignored.
        interval: the polling period.
        backend: "auto" (watchfiles if installed), "watchfiles" or "poll".
    """

    def __init__(
        self,
        root: str | Path,
        on_change: OnChange,
        *,
        suffixes: Iterable[str] = (".py",),
        interval: float = POLL_INTERVAL,
        backend: str = "auto",
    ) -> None:
        if backend not in ("auto", "watchfiles", "poll"):
            raise ValueError(f"unknown watcher backend {backend!r}: expected auto, watchfiles or poll")
        if backend == "auto":
            backend = "watchfiles" if watchfiles_available() else "poll"
        self.root = Path(root)
        self.on_change = on_change
        self.suffixes = tuple(suffixes)
        self.interval = interval
        self.backend = backend
        """The backend in use: "watchfiles" or "poll"."""
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Watcher:
        """Start watching; returns once the current state of the folder is known."""
        if self._thread is not None:
            return self
        if self.backend == "watchfiles":
            try:
                self.root.mkdir(parents=True, exist_ok=True)
            except OSError:
                self.backend = "poll"
        target = self._run_watchfiles if self.backend == "watchfiles" else self._run_poll
        self._thread = threading.Thread(target=target, name="llm-tutor-watch", daemon=True)
        self._thread.start()
        self._ready.wait(timeout=5)
        return self

    def stop(self) -> None:
        """Stop watching and wait for the thread to end."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> Watcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _wanted(self, name: str) -> bool:
        base = os.path.basename(name)
        return name.endswith(self.suffixes) and not base.startswith((".", "#", "~"))

    def _emit(self, paths: set[Path]) -> None:
        if paths and not self._stop.is_set():
            try:
                self.on_change(paths)
            except Exception:  # noqa: BLE001 - a faulty callback must not stop the watching
                pass

    # -- polling ---------------------------------------------------------------------------------

    def snapshot(self) -> dict[Path, _Stamp]:
        """(mtime, size, inode, digest of recently changed files) of every wanted file under the root."""
        found: dict[Path, _Stamp] = {}
        now = time.time_ns()
        stack = [self.root]
        while stack:
            folder = stack.pop()
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(Path(entry.path))
                    elif self._wanted(entry.name):
                        st = entry.stat()
                        digest = _digest(entry.path) if now - st.st_mtime_ns < _RACY_NS else None
                        found[Path(entry.path)] = (st.st_mtime_ns, st.st_size, st.st_ino, digest)
                except OSError:
                    continue
        return found

    def _run_poll(self) -> None:
        before = self.snapshot()
        self._ready.set()
        while not self._stop.wait(self.interval):
            after = self.snapshot()
            changed = {p for p in before.keys() | after.keys() if _differs(before.get(p), after.get(p))}
            before = after
            self._emit(changed)

    # -- watchfiles ------------------------------------------------------------------------------

    def _run_watchfiles(self) -> None:
        import watchfiles

        def keep(change: watchfiles.Change, path: str) -> bool:
            return self._wanted(path) or (change == watchfiles.Change.added and os.path.isdir(path))

        # watch() yields once changes go quiet for `step` ms, and at most `debounce` ms after the first.
        changes = watchfiles.watch(
            self.root,
            watch_filter=keep,
            debounce=400,
            step=50,
            stop_event=self._stop,
            rust_timeout=200,
            yield_on_timeout=True,
            raise_interrupt=False,
        )
        try:
            first = True
            for batch in changes:
                if first:
                    self._ready.set()
                    first = False
                paths: set[Path] = set()
                for _, path in batch:
                    if os.path.isdir(path):
                        # a file written right after its folder was made can beat the folder's new
                        # inotify watch: look inside the new folder ourselves
                        paths.update(Watcher(path, self.on_change, suffixes=self.suffixes, backend="poll").snapshot())
                    else:
                        paths.add(Path(path))
                self._emit(paths)
        except Exception:  # noqa: BLE001 - e.g. the folder was removed: carry on by polling
            if not self._stop.is_set():
                self._ready.set()
                self.backend = "poll"
                self._run_poll()
        finally:
            self._ready.set()


def _digest(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return hashlib.blake2b(f.read(1 << 20), digest_size=16).digest()
    except OSError:
        return None


def _differs(a: _Stamp | None, b: _Stamp | None) -> bool:
    if a is None or b is None:
        return a is not b
    if a[:3] != b[:3]:
        return True
    return a[3] is not None and b[3] is not None and a[3] != b[3]


def watch(root: str | Path, on_change: OnChange, **kwargs: object) -> Watcher:
    """Start a `Watcher` (see its arguments); call `.stop()` when done."""
    return Watcher(root, on_change, **kwargs).start()  # type: ignore[arg-type]

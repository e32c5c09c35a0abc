"""Provides `Watcher`, which reports changed files under a folder (the exercise workspace) to a callback.

It uses the system's file notifications through `watchfiles` (inotify, FSEvents). Where those miss
changes it polls instead, every 0.25 s: on a network filesystem (NFS, CIFS/SMB, sshfs...: a change
made on another machine sends no notification here), or when asked (``WATCHFILES_FORCE_POLLING=1``,
or ``backend="poll"``). The polling is this module's own, not watchfiles': watchfiles' compares
modification times in whole seconds and never contents, so a second save within the same second
(an editor's format-on-save) would never be reported; this one compares times in nanoseconds, and
the contents of files changed in the last two seconds. Either way the callback runs on the
watcher's own thread: a UI should only post a message from it. Torch-free and Textual-free.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

POLL_INTERVAL = 0.25
"""Seconds between two looks at the folder when polling."""

NETWORK_FILESYSTEMS = frozenset({
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "fuse.sshfs", "9p", "drvfs", "afs", "ceph", "fuse.ceph",
    "glusterfs", "fuse.glusterfs", "lustre", "gpfs", "beegfs", "davfs", "fuse.rclone", "fuse.s3fs",
})
"""Filesystem types whose files may change on another machine, which sends no notification here."""

OnChange = Callable[[set[Path]], None]
"""Called with the set of files that changed, appeared or disappeared."""

_Stamp = tuple[int, int, int, bytes | None]
_RACY_NS = 2_000_000_000
"""A file changed this recently may change again within the clock's granularity without its
mtime or size moving, so its content is compared too (as git does for "racily clean" files)."""


class Watcher:
    """Watch a folder (recursively) for changed files with the given suffixes.

    Args:
        root: the folder; it need not exist yet (watchfiles makes it, polling picks it up once made).
        on_change: called with a set of changed paths, from the watcher thread.
        suffixes: which files count (``(".py",)``); editors' swap and temp files are ignored.
        interval: the polling period.
        backend: "auto" (polling on a network filesystem or with ``WATCHFILES_FORCE_POLLING`` set,
            watchfiles' notifications otherwise), "watchfiles" or "poll".
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
        self.root = Path(root)
        if backend == "auto":
            polled = os.environ.get("WATCHFILES_FORCE_POLLING") or on_network_fs(self.root)
            backend = "poll" if polled else "watchfiles"
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

    def _run_poll(self, before: dict[Path, _Stamp] | None = None) -> None:
        if before is None:
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

        root_names = {str(self.root), os.path.abspath(self.root)}

        def keep(change: watchfiles.Change, path: str) -> bool:
            if change == watchfiles.Change.deleted and path in root_names:
                return True  # the root itself: its watch goes with it
            return self._wanted(path) or (change == watchfiles.Change.added and os.path.isdir(path))

        # watch() yields once changes go quiet for `step` ms, and at most `debounce` ms after the first,
        # and an empty set every `rust_timeout` ms while nothing changes.
        changes = watchfiles.watch(
            self.root,
            watch_filter=keep,
            debounce=400,
            step=50,
            stop_event=self._stop,
            rust_timeout=200,
            yield_on_timeout=True,
            raise_interrupt=False,
            force_polling=False,
        )
        before: dict[Path, _Stamp] | None = None
        try:
            root = _identity(self.root)
            for batch in changes:
                self._ready.set()
                paths: set[Path] = set()
                gone = _identity(self.root) != root
                for _, path in batch:
                    if path in root_names:
                        gone = True
                    elif os.path.isdir(path):
                        # a file written right after its folder was made can beat the folder's new
                        # inotify watch: look inside the new folder ourselves
                        paths.update(Watcher(path, self.on_change, suffixes=self.suffixes, backend="poll").snapshot())
                    else:
                        paths.add(Path(path))
                self._emit(paths)
                if gone:  # removed (and perhaps made again): its watch went with it
                    before = {}  # so that what a new folder holds is reported
                    break
        except Exception:  # noqa: BLE001 - e.g. the folder was removed while its watch was set up
            pass
        finally:
            changes.close()
            self._ready.set()
        if not self._stop.is_set():  # carry on by polling
            self.backend = "poll"
            self._run_poll(before)


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


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


def on_network_fs(path: Path) -> bool:
    """Whether `path` (or the folder it will be made in) is on a network filesystem (Linux; False elsewhere)."""
    try:
        with open("/proc/self/mounts", encoding="utf-8") as f:
            mounts = [fields[1:3] for fields in map(str.split, f) if len(fields) >= 3]
    except OSError:
        return False
    here = path.absolute()
    while not here.exists() and here != here.parent:
        here = here.parent
    real = os.path.realpath(here)
    best, fstype = "", ""
    for point, kind in mounts:
        point = point.replace("\\040", " ")
        inside = real == point or real.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, fstype = point, kind
    return fstype in NETWORK_FILESYSTEMS


def watch(root: str | Path, on_change: OnChange, **kwargs: object) -> Watcher:
    """Start a `Watcher` (see its arguments); call `.stop()` when done."""
    return Watcher(root, on_change, **kwargs).start()  # type: ignore[arg-type]

"""Helpers for the fault-injection suite: lesson folders written on the fly, processes found in /proc."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import termios
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.waiting import wait_until

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test here is marked `faults`, so `pytest -m faults` runs the suite alone."""
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.faults)


def write_lesson(folder: Path, body: str, lesson_id: str = "faults", order: int = 0, title: str = "Faults") -> Path:
    """A one-file lesson folder: front matter, then `body` (Markdown with cells)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{order:02d}-{lesson_id}.md"
    path.write_text(f"---\nid: {lesson_id}\ntitle: {title}\norder: {order}\n---\n\n{body}")
    return path


def cells(**codes: str) -> str:
    """Markdown with one runnable cell per keyword (cell id = keyword, '_' becomes '-')."""
    return "\n".join(f"```python cell id={name.replace('_', '-')}\n{code}\n```\n" for name, code in codes.items())


def alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def descendants(pid: int) -> set[int]:
    """Every living process below `pid` (children, grandchildren...)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] in ("Z", "X"):
            continue
        parents.setdefault(int(fields[1]), []).append(int(entry))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def eventually(condition: Callable[[], bool], timeout: float = 10.0, step: float = 0.05) -> bool:
    """Poll `condition` until it holds or `timeout` passes (processes end asynchronously)."""
    return wait_until(condition, timeout, step)


class PtyApp:
    """`llm-tutor` on a pseudo-terminal that is its controlling terminal, as under sshd."""

    def __init__(
        self,
        argv: list[str],
        env: dict[str, str],
        size: tuple[int, int] = (100, 30),
        in_child: Callable[[], None] | None = None,
    ) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))

        def controlling_terminal() -> None:
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
            if in_child is not None:
                in_child()  # e.g. a resource limit

        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True,
                                     preexec_fn=controlling_terminal, close_fds=True)
        os.close(slave)
        self.master: int | None = master
        self.output = bytearray()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        # never block in read(): a blocked read keeps the terminal open after hang_up() closes it
        while self.master is not None:
            master = self.master
            try:
                ready, _, _ = select.select([master], [], [], 0.05)
                chunk = os.read(master, 65536) if ready else b""
            except (OSError, ValueError):
                return
            if ready and not chunk:
                return
            self.output += chunk

    def seen(self, text: str) -> bool:
        plain = re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", bytes(self.output))
        return text.encode() in plain

    def keys(self, data: str) -> None:
        assert self.master is not None
        os.write(self.master, data.encode())

    def hang_up(self) -> None:
        """Close the terminal's master side: the kernel sends SIGHUP to the app, as when sshd loses the link."""
        master, self.master = self.master, None
        self._reader.join(5)
        if master is not None:
            os.close(master)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.hang_up()


def kernel_of(app_pid: int) -> int | None:
    for pid in descendants(app_pid):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                if b"llm_tutor.engine.kernel.child.runtime" in fh.read():
                    return pid
        except OSError:
            continue
    return None

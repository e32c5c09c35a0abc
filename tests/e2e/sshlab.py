"""Helpers for the SSH lab tests: keys, a real `llm-tutor serve ssh` process, and an asyncssh terminal client."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.conftest import FIXTURES, llm_tutor_cmd

ANSI = re.compile(rb"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b[\]P_^][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][A-Za-z0-9]|\x1b[=>78]")


def make_key(path: Path) -> Path:
    """A new ed25519 client key (OpenSSH format, mode 0600) and its .pub beside it."""
    import asyncssh

    key = asyncssh.generate_private_key("ssh-ed25519", comment=path.name)
    path.write_bytes(key.export_private_key())
    path.chmod(0o600)
    Path(str(path) + ".pub").write_bytes(key.export_public_key())
    return path


class LabProcess:
    """`llm-tutor serve ssh` as a subprocess on a free loopback port; its log goes to a file."""

    def __init__(self, tmp: Path, keys: Path, *extra: str, env: dict[str, str] | None = None,
                 lessons: Path | None = None) -> None:
        self.root = tmp / "lab"
        self.log_path = tmp / "server.log"
        self._log = open(self.log_path, "wb")
        cmd = [*llm_tutor_cmd(), "serve", "ssh", "--port", "0", "--authorized-keys", str(keys), "--data-root",
               str(self.root), "--lessons", str(lessons or FIXTURES / "good"), "--device", "cpu", "--allow-root", *extra]
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env or dict(os.environ),
                                     start_new_session=True)
        self.port = int(self.wait_log(r"listening on 127\.0\.0\.1:(\d+)").group(1))

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_log(self, pattern: str, timeout: float = 120.0, after: int = 0) -> re.Match[str]:
        """The first match of `pattern` in the log from character `after` on (`len(log())` earlier: only what is new)."""
        deadline = time.monotonic() + timeout
        while True:
            found = re.search(pattern, self.log()[after:])
            if found:
                return found
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{pattern!r} not in the server log:\n{self.log()}")
            time.sleep(0.05)

    def wait_pool(self) -> None:
        self.wait_log(r"kernel pool ready")

    def stop(self) -> int:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
        try:
            code = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, 9)
            code = self.proc.wait()
        self._log.close()
        return code


class Terminal:
    """An asyncssh client session with a pty: keys in, the screen's text (escapes stripped) out."""

    def __init__(self) -> None:
        self.raw = bytearray()
        self.chan: Any = None
        self.conn: Any = None
        self.closed = asyncio.Event()
        self.exit_status: int | None = None
        self._changed = asyncio.Event()

    @classmethod
    async def open(cls, port: int, user: str, key: Path, *, term: str = "xterm-256color", size: tuple[int, int] = (100, 30),
                   env: dict[str, str] | None = None) -> Terminal:
        import asyncssh

        term_ = cls()

        class Session(asyncssh.SSHClientSession):  # type: ignore[misc]
            def data_received(self, data: bytes, datatype: Any) -> None:
                term_.raw += data
                term_._changed.set()

            def exit_status_received(self, status: int) -> None:
                term_.exit_status = status

            def connection_lost(self, exc: Exception | None) -> None:
                term_.closed.set()
                term_._changed.set()

        term_.conn = await asyncssh.connect("127.0.0.1", port, username=user, client_keys=[str(key)], known_hosts=None,
                                            agent_path=None)
        term_.chan, _ = await term_.conn.create_session(Session, term_type=term, term_size=size, encoding=None,
                                                        env=env or {})
        return term_

    @property
    def text(self) -> str:
        """Everything received, escape sequences removed (stripped as a whole: a chunk may split one)."""
        return self.text_since(0)

    def text_since(self, mark: int) -> str:
        return ANSI.sub(b"", bytes(self.raw[mark:])).decode("utf-8", errors="replace")

    def mark(self) -> int:
        """A position in the output, for `wait_for(..., since=mark)`."""
        return len(self.raw)

    def send(self, keys: str | bytes) -> None:
        self.chan.write(keys.encode() if isinstance(keys, str) else keys)

    async def wait_for(self, needle: str, timeout: float = 60.0, since: int = 0) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.text_since(since):
            left = deadline - time.monotonic()
            if left <= 0 or self.closed.is_set():
                tail = self.text[-1500:]
                raise AssertionError(f"{needle!r} did not appear within {timeout} s; the end of the output was:\n{tail}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(left, 1.0))
            except asyncio.TimeoutError:
                pass

    async def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            await self.conn.wait_closed()

"""Hostile clients of `llm-tutor serve ssh`: silent connections, a login without a session, an input flood.
Each is refused or bounded and logged, and a student already working (or arriving after) is not affected.

Refusals the SSH lab tests already make, and not repeated here (tests/e2e/test_ssh.py): unknown keys, a key
used for another name, password and keyboard-interactive logins, exec, subsystems, port, agent and X11
forwarding, sessions beyond --max-sessions, a session without a terminal, idle sessions.
"""

from __future__ import annotations

import asyncio
import os
import pty
import select
import shutil
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from llm_tutor.engine.remote.ssh.lab import MAX_WAITING_LOGINS, MAX_WAITING_PER_ADDRESS
from tests.e2e.sshlab import LabProcess, Terminal, make_key, wait_until

asyncssh = pytest.importorskip("asyncssh")

pytestmark = pytest.mark.slow

LOGIN_TIMEOUT = 3


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("keys")
    folder = base / "authorized"
    folder.mkdir()
    for name in ("alice", "bob", "carol"):
        make_key(base / name)
        (folder / f"{name}.pub").write_bytes((base / f"{name}.pub").read_bytes())
    return folder


@pytest.fixture(scope="module")
def lab(keys: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabProcess]:
    server = LabProcess(tmp_path_factory.mktemp("lab"), keys, "--login-timeout", str(LOGIN_TIMEOUT), "--no-kernel-pool")
    yield server
    assert server.stop() == 0, server.log()[-2000:]


def key_of(keys: Path, name: str) -> Path:
    return keys.parent / name


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        return int(next(line for line in fh if line.startswith("VmRSS:")).split()[1])


def closed_by_server(sock: socket.socket) -> bool:
    ready, _, _ = select.select([sock], [], [], 0)
    if not ready:
        return False
    try:
        while sock.recv(65536):  # the server's version line may come first
            ready, _, _ = select.select([sock], [], [], 0)
            if not ready:
                return False
    except OSError:
        return True
    return True


async def test_silent_connections_are_capped_and_timed_out_while_a_student_works(lab: LabProcess, keys: Path) -> None:
    alice = await Terminal.open(lab.port, "alice", key_of(keys, "alice"))
    silent: list[socket.socket] = []
    try:
        await alice.wait_for("A first tensor", timeout=120)
        for i in range(MAX_WAITING_LOGINS + 8):  # from many addresses, each within its own share
            source = f"127.0.0.{10 + i // MAX_WAITING_PER_ADDRESS}"
            silent.append(socket.create_connection(("127.0.0.1", lab.port), source_address=(source, 0)))
        # past the cap, connections are closed at once and logged
        await asyncio.sleep(0.5)
        lab.wait_log(r"refused connection from=127\.0\.0\.\d+:\d+: \d+ connections are already waiting to log in")
        assert wait_until(lambda: sum(closed_by_server(s) for s in silent) >= 8, 10)
        # the student already in works on
        mark = alice.mark()
        alice.send("\r")
        await alice.wait_for("[ ] make", timeout=60, since=mark)
        # the rest are dropped after the login timeout, and a new student gets in
        assert wait_until(lambda: all(closed_by_server(s) for s in silent), LOGIN_TIMEOUT + 15)
        bob = await Terminal.open(lab.port, "bob", key_of(keys, "bob"))
        try:
            await bob.wait_for("A first tensor", timeout=120)
        finally:
            await bob.close()
    finally:
        for sock in silent:
            sock.close()
        await alice.close()
    assert lab.proc.poll() is None


async def test_a_login_that_never_opens_a_session_is_closed(lab: LabProcess, keys: Path) -> None:
    conn = await asyncssh.connect("127.0.0.1", lab.port, username="carol", client_keys=[str(key_of(keys, "carol"))],
                                  known_hosts=None, agent_path=None)
    try:
        await asyncio.wait_for(conn.wait_closed(), LOGIN_TIMEOUT + 15)
    finally:
        conn.close()
    lab.wait_log(r"closed user=carol from=127\.0\.0\.1:\d+: no session opened within")


async def test_an_input_flood_is_held_back_and_the_server_keeps_serving(lab: LabProcess, keys: Path) -> None:
    flooder = await Terminal.open(lab.port, "bob", key_of(keys, "bob"))
    try:
        await flooder.wait_for("A first tensor", timeout=120)
        before = rss_kb(lab.proc.pid)
        chunk = b"z" * (1024 * 1024)
        for _ in range(40):  # 40 MB of key presses, far faster than any app reads them
            flooder.send(chunk)
        await asyncio.sleep(3)
        grown_mb = (rss_kb(lab.proc.pid) - before) / 1024
        assert grown_mb < 16, f"the server held {grown_mb:.0f} MB of a client's input"
        # another student is served meanwhile
        carol = await Terminal.open(lab.port, "carol", key_of(keys, "carol"))
        try:
            await carol.wait_for("A first tensor", timeout=120)
        finally:
            await carol.close()
    finally:
        flooder.conn.abort()
    lab.wait_log(r"disconnect user=bob .*")
    assert lab.proc.poll() is None


class OpenSSH:
    """The OpenSSH client on its own 100x30 pseudo-terminal, its output gathered by a thread."""

    def __init__(self, port: int, user: str, key: Path, source: str, env: dict[str, str]) -> None:
        from llm_tutor.engine.remote.ssh.spawn import set_winsize

        self.master, slave = pty.openpty()
        set_winsize(slave, 100, 30)
        self.proc = subprocess.Popen(
            ["ssh", "-t", "-b", source, "-p", str(port), "-i", str(key), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
             "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
             "-o", "ForwardAgent=yes", "-o", "ForwardX11=yes", f"{user}@127.0.0.1"],
            stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True)
        os.close(slave)
        self.raw = bytearray()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # EIO: the client has exited
                return
            if not chunk:
                return
            self.raw += chunk

    def wait_for(self, needle: bytes, timeout: float = 60.0) -> None:
        assert wait_until(lambda: needle in self.raw, timeout), bytes(self.raw[-800:])

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.reader.join(5)
        os.close(self.master)


@pytest.mark.skipif(shutil.which("ssh") is None or shutil.which("ssh-agent") is None, reason="needs the OpenSSH client")
async def test_a_flood_from_one_address_leaves_others_in_and_a_stop_gives_terminals_back(keys: Path, tmp_path: Path) -> None:
    server = LabProcess(tmp_path, keys, "--login-timeout", "60", "--no-kernel-pool")
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(tmp_path / "agent.sock")], stdout=subprocess.DEVNULL)
    silent: list[socket.socket] = []
    student: OpenSSH | None = None
    try:
        for _ in range(MAX_WAITING_LOGINS // 2 + 4):  # past half the server's waiting slots: the rest are refused
            silent.append(socket.create_connection(("127.0.0.1", server.port)))
        server.wait_log(r"refused connection from=127\.0\.0\.1:\d+: \d+ connections from this address are already "
                        r"waiting to log in")
        assert wait_until(lambda: sum(closed_by_server(s) for s in silent) >= 4, 10)
        # while that address's share is full, a student on another address logs in with the OpenSSH client,
        # asking for agent and X11 forwarding (both refused and logged)
        assert wait_until(lambda: (tmp_path / "agent.sock").exists(), 10)
        env = dict(os.environ, SSH_AUTH_SOCK=str(tmp_path / "agent.sock"), DISPLAY="127.0.0.1:37", TERM="xterm-256color")
        student = OpenSSH(server.port, "alice", key_of(keys, "alice"), "127.0.0.2", env)
        student.wait_for(b"A first tensor", 120)
        assert not closed_by_server(silent[0])  # the flood still holds its share
        server.wait_log(r"refused agent forwarding user=alice from=127\.0\.0\.2:\d+")
        server.wait_log(r"refused X11 forwarding user=alice from=127\.0\.0\.2:\d+")
        for sock in silent:
            sock.close()
        # a client that drops mid-session leaves no traceback behind
        carol = await Terminal.open(server.port, "carol", key_of(keys, "carol"))
        await carol.wait_for("A first tensor", timeout=120)
        carol.conn.abort()
        await carol.conn.wait_closed()
        server.wait_log(r"disconnect user=carol")
        # the server stops: alice's terminal leaves the app's screen, gets its cursor and mouse back, then the farewell
        os.killpg(server.proc.pid, signal.SIGTERM)
        assert wait_until(lambda: student.proc.poll() is not None, 30)
        student.reader.join(5)
        raw = bytes(student.raw)
        farewell = raw.find(b"the lab server is stopping")
        assert farewell > 0, raw[-800:]
        tail = raw[raw.rfind(b"\x1b[?1049h"):farewell]
        for undo in (b"\x1b[?1049l", b"\x1b[?25h", b"\x1b[?1000l", b"\x1b[?1003l", b"\x1b[?1006l"):
            assert undo in tail, undo
    finally:
        for sock in silent:
            sock.close()
        if student is not None:
            student.close()
        agent.terminate()
        agent.wait()
        code = server.stop()
    log = server.log()
    assert code == 0, log[-2000:]
    assert "Traceback" not in log and "BrokenPipeError" not in log and "Warning" not in log, log[-3000:]

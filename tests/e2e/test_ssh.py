"""End to end: `llm-tutor serve ssh` with real clients on loopback.

The OpenSSH client in tmux drives a lesson like a person; asyncssh clients try everything the server
must refuse; ten sessions at once each run a cell, and every process they started is gone after.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from llm_tutor.engine.remote.users import descendants
from tests.e2e.sshlab import LabProcess, Terminal, make_key
from tests.waiting import wait_until
from tests.e2e.test_tmux import Tmux

asyncssh = pytest.importorskip("asyncssh")

pytestmark = [pytest.mark.xdist_group("e2e-ssh-lab"), pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with alice's and bob's public keys; their private keys beside it; mallory's is not on file."""
    base = tmp_path_factory.mktemp("keys")
    folder = base / "authorized"
    folder.mkdir()
    for name in ("alice", "bob", "mallory"):
        make_key(base / name)
    for name in ("alice", "bob"):
        (folder / f"{name}.pub").write_bytes((base / f"{name}.pub").read_bytes())
    return folder


def private_key(keys: Path, name: str) -> Path:
    return keys.parent / name


@pytest.fixture(scope="module")
def lab(keys: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabProcess]:
    server = LabProcess(tmp_path_factory.mktemp("lab"), keys, "--max-sessions", "12")
    server.wait_pool()
    yield server
    assert server.stop() == 0
    assert "stopping" in server.log()


def app_pids(lab: LabProcess) -> set[int]:
    """Every process the server started except its two fork servers: apps, and the kernels they started."""
    found = {pid for pid, _ in descendants(lab.proc.pid)}
    pool = {int(m) for m in __import__("re").findall(r"fork server pid (\d+)", lab.log())}
    return found - pool


# -- a person with the OpenSSH client ------------------------------------------------------------


@pytest.mark.skipif(shutil.which("ssh") is None or shutil.which("tmux") is None, reason="needs ssh and tmux")
def test_openssh_client_opens_a_lesson_runs_a_cell_and_quits(lab: LabProcess, keys: Path) -> None:
    key = private_key(keys, "alice")
    command = ["ssh", "-tt", "-p", str(lab.port), "-i", str(key), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
               "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
               "alice@127.0.0.1"]
    since = len(lab.log())  # the module's lab: alice may have connected in an earlier test (that app is gone)
    tmux = Tmux(command, env={"TERM": "xterm-256color"})
    try:
        tmux.wait_for("A first tensor")
        tmux.wait_for("kernel: idle")
        # the app was forked by the app pool, its kernel by the kernel pool
        app = int(lab.wait_log(r"connect user=alice .* pid=(\d+)", after=since).group(1))
        app_pool = int(lab.wait_log(r"app pool ready in .* pid (\d+)").group(1))
        kernel_pool = int(lab.wait_log(r"kernel pool ready in .* pid (\d+)").group(1))
        assert _ppid(app) == app_pool
        kernels = [pid for pid, _ in descendants(kernel_pool)]
        assert kernels
        # the server's per-kernel limits reached the forked kernel: one torch thread, a memory rlimit
        limits = Path(f"/proc/{kernels[0]}/limits").read_text()
        data = next(line for line in limits.splitlines() if line.startswith("Max data size"))
        assert data.split()[3] != "unlimited"
        assert "per kernel: torch threads 1, memory " in lab.log()
        tmux.keys("Enter")
        tmux.wait_for("[ ] make")
        tmux.keys("r")
        tmux.wait_for("[1] make  ✓", timeout=30)
        tmux.wait_for("tensor([[1, 2],")
        tmux.keys("Escape")
        tmux.wait_for("Overall")
        tmux.keys("q")
        assert wait_until(lambda: not tmux.alive(), 15), "the ssh session did not end when the app quit"
    finally:
        tmux.close()
    lab.wait_log(r"disconnect user=alice .*app exited \(0\)", after=since)
    assert (lab.root / "users" / "alice").is_dir()
    assert wait_until(lambda: not app_pids(lab), 15), app_pids(lab)


def _ppid(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as fh:
        return int(fh.read().rsplit(")", 1)[1].split()[1])


# -- what the server must refuse -------------------------------------------------------------------


async def _connect(lab: LabProcess, user: str, **kwargs: object) -> object:
    return await asyncssh.connect("127.0.0.1", lab.port, username=user, known_hosts=None, agent_path=None, **kwargs)


async def test_a_key_not_on_file_is_refused(lab: LabProcess, keys: Path) -> None:
    with pytest.raises(asyncssh.PermissionDenied):
        await _connect(lab, "mallory", client_keys=[str(private_key(keys, "mallory"))])
    # a listed key works only for its own name: bob's key does not log in as alice
    with pytest.raises(asyncssh.PermissionDenied):
        await _connect(lab, "alice", client_keys=[str(private_key(keys, "bob"))])
    lab.wait_log(r"refused user=alice from=127\.0\.0\.1:\d+: no accepted key")
    lab.wait_log(r"refused user=mallory from=127\.0\.0\.1:\d+: no accepted key")


async def test_password_and_keyboard_interactive_are_refused(lab: LabProcess) -> None:
    for method in ("password", "keyboard-interactive"):
        with pytest.raises(asyncssh.PermissionDenied):
            await _connect(lab, "alice", client_keys=None, password="alice", preferred_auth=method)


async def test_a_bad_user_name_is_refused(lab: LabProcess, keys: Path) -> None:
    with pytest.raises(asyncssh.PermissionDenied):
        await _connect(lab, "../alice", client_keys=[str(private_key(keys, "alice"))])
    lab.wait_log(r"login attempt user=\.\./alice .*not a valid name")


async def test_exec_subsystem_and_forwarding_are_refused(lab: LabProcess, keys: Path) -> None:
    from asyncssh.packet import Boolean, String, UInt32

    conn = await _connect(lab, "alice", client_keys=[str(private_key(keys, "alice"))])
    try:
        with pytest.raises(asyncssh.ChannelOpenError):
            await conn.run("id", check=False)  # type: ignore[attr-defined]
        with pytest.raises(asyncssh.ChannelOpenError):
            await conn.start_sftp_client()  # type: ignore[attr-defined]
        with pytest.raises(asyncssh.ChannelOpenError):
            await conn.open_connection("127.0.0.1", lab.port)  # type: ignore[attr-defined]
        with pytest.raises(asyncssh.ChannelListenError):
            await conn.forward_remote_port("127.0.0.1", 0, "127.0.0.1", 22)  # type: ignore[attr-defined]
        # agent and X11 forwarding, asked for on a terminal session (asyncssh's client only asks
        # for them when it has an agent or a display, so the requests are sent by hand)
        chan, _ = await conn.create_session(asyncssh.SSHClientSession, term_type="xterm", encoding=None)  # type: ignore[attr-defined]
        assert await chan._make_request(b"auth-agent-req@openssh.com") is False
        x11 = (Boolean(False), String(b"MIT-MAGIC-COOKIE-1"), String(b"00" * 16), UInt32(0))
        assert await chan._make_request(b"x11-req", *x11) is False
        chan.close()
    finally:
        conn.close()  # type: ignore[attr-defined]
        await conn.wait_closed()  # type: ignore[attr-defined]
    log = lab.log()
    assert "refused exec user=alice" in log and "refused subsystem user=alice" in log
    assert "refused port forwarding user=alice" in log and "refused reverse port forwarding user=alice" in log


async def test_a_session_without_a_terminal_is_told_why(lab: LabProcess, keys: Path) -> None:
    conn = await _connect(lab, "bob", client_keys=[str(private_key(keys, "bob"))])
    try:
        proc = await conn.create_process(encoding=None)  # type: ignore[attr-defined]
        output = await proc.stdout.read()
        await proc.wait()
        assert b"needs a terminal" in output and proc.exit_status == 1
    finally:
        conn.close()  # type: ignore[attr-defined]


# -- many students at once -------------------------------------------------------------------------


async def _student(lab: LabProcess, keys: Path, name: str, timings: dict[str, float]) -> str:
    start = time.perf_counter()
    term = await Terminal.open(lab.port, name, private_key(keys, name), size=(100, 30))
    try:
        await term.wait_for("A first tensor", timeout=120)
        timings.setdefault("first_screen", time.perf_counter() - start)
        await term.wait_for("kernel: idle", timeout=120)
        mark = term.mark()
        term.send("\r")
        await term.wait_for("[ ] make", timeout=120, since=mark)
        mark = term.mark()
        term.send("r")
        await term.wait_for("tensor([[1, 2],", timeout=120, since=mark)
        return f"{name}: {time.perf_counter() - start:.2f} s"
    finally:
        await term.close()


async def test_ten_sessions_each_run_a_cell_and_leave_nothing_behind(lab: LabProcess, keys: Path) -> None:
    """Ten students share one kernel pool; all their processes end when they disconnect. Timings are reported, not asserted."""
    names = [f"student{i:02d}" for i in range(10)]
    for name in names:
        make_key(keys.parent / name)
        (keys / f"{name}.pub").write_bytes((keys.parent / f"{name}.pub").read_bytes())  # read at each login
    timings: dict[str, float] = {}
    started = time.perf_counter()
    results = await asyncio.gather(*(_student(lab, keys, name, timings) for name in names))
    total = time.perf_counter() - started
    print(f"\n10 concurrent sessions, connect -> cell result: {', '.join(results)}; all done in {total:.1f} s")
    assert len(results) == 10
    assert wait_until(lambda: not app_pids(lab), 30), f"left behind: {app_pids(lab)}"
    for name in names:
        assert (lab.root / "users" / name).is_dir()
    # each session logs its end after its app has exited (the app saves and stops its kernel on SIGHUP first)
    assert wait_until(lambda: len([line for line in lab.log().splitlines() if "disconnect user=student" in line]) == 10, 30)


async def test_the_lab_caps_sessions(keys: Path, tmp_path: Path) -> None:
    server = LabProcess(tmp_path, keys, "--max-sessions", "1", "--no-kernel-pool")
    try:
        first = await Terminal.open(server.port, "alice", private_key(keys, "alice"))
        await first.wait_for("A first tensor", timeout=120)
        second = await Terminal.open(server.port, "bob", private_key(keys, "bob"))
        await second.wait_for("The lab is full (1 sessions)", timeout=30)
        await asyncio.wait_for(second.closed.wait(), 30)
        assert second.exit_status == 1
        await first.close()
        server.wait_log(r"refused session user=bob .*the lab is full")
    finally:
        assert server.stop() == 0


async def test_an_idle_session_is_warned_then_closed(keys: Path, tmp_path: Path) -> None:
    server = LabProcess(tmp_path, keys, "--idle-timeout", "4", "--no-kernel-pool")
    try:
        term = await Terminal.open(server.port, "alice", private_key(keys, "alice"))
        await term.wait_for("A first tensor", timeout=120)
        await term.wait_for("this session closes in", timeout=60)
        await term.wait_for("closed after 4 s without a key press", timeout=60)
        await asyncio.wait_for(term.closed.wait(), 30)
        # the terminal was given back (normal screen, cursor, no mouse reports) before the farewell
        raw = bytes(term.raw)
        farewell = raw.find(b"closed after 4 s")
        given_back = raw[raw.rfind(b"\x1b[?1049h", 0, farewell):farewell]
        for undo in (b"\x1b[?1049l", b"\x1b[?25h", b"\x1b[?1000l", b"\x1b[?1003l"):
            assert undo in given_back, undo
        server.wait_log(r"idle timeout user=alice")
        assert wait_until(lambda: not app_pids(server), 15), app_pids(server)
    finally:
        assert server.stop() == 0


def test_progress_all_reads_the_lab(lab: LabProcess, tmp_path: Path) -> None:
    """The instructor's view over the server's data root: a student graded under users/<name> shows up."""
    import json

    from tests.conftest import FIXTURES, llm_tutor_cmd

    solution = tmp_path / "answer.py"
    solution.write_text("x = torch.ones(2, 3)\n")
    env = dict(os.environ, LLM_TUTOR_DATA_DIR=str(lab.root / "users" / "carol"))
    graded = subprocess.run([*llm_tutor_cmd(), "grade", "example", "ones", "--file", str(solution), "--lessons",
                             str(FIXTURES / "good"), "--device", "cpu"], capture_output=True, text=True, env=env, timeout=120)
    assert graded.returncode == 0, graded.stdout + graded.stderr
    out = subprocess.run([*llm_tutor_cmd(), "progress", "--all", "--json", "--data-dir", str(lab.root), "--lessons",
                          str(FIXTURES / "good")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    rows = {row["student"]: row for row in json.loads(out.stdout)["students"]}
    assert rows["carol"]["solved"] == 1 and rows["carol"]["total"] == 1


# -- rendering for the client's terminal -------------------------------------------------------------

GREYS = {16, 59, 102, 145, 188, 231, *range(232, 256)}
"""The 256-colour palette's greys: the grey diagonal of the colour cube and the grey ramp."""


def _colours(raw: bytes) -> dict[str, set[int]]:
    import re

    found: dict[str, set[int]] = {"truecolor": set(), "256": set(), "16": set()}
    for params in re.findall(rb"\x1b\[([0-9;]*)m", raw):
        codes = [int(p) for p in params.split(b";") if p]
        i = 0
        while i < len(codes):
            if codes[i] in (38, 48) and i + 1 < len(codes) and codes[i + 1] == 2:
                found["truecolor"].add(i)
                i += 5
            elif codes[i] in (38, 48) and i + 1 < len(codes) and codes[i + 1] == 5:
                found["256"].add(codes[i + 2])
                i += 3
            else:
                if 30 <= codes[i] <= 37 or 40 <= codes[i] <= 47 or 90 <= codes[i] <= 97 or 100 <= codes[i] <= 107:
                    found["16"].add(codes[i])
                i += 1
    return found


@pytest.mark.parametrize(
    ("term", "env", "expect"),
    [
        ("xterm-256color", {}, "256"),
        ("xterm", {}, "16"),
        ("xterm-256color", {"NO_COLOR": "1"}, "greys"),
    ],
)
async def test_colours_follow_the_client_terminal(lab: LabProcess, keys: Path, term: str, env: dict[str, str], expect: str) -> None:
    """Over SSH the app never sends 24-bit colour to a terminal that did not say it has it; NO_COLOR gives greys only."""
    session = await Terminal.open(lab.port, "bob", private_key(keys, "bob"), term=term, env=env)
    try:
        await session.wait_for("kernel: idle", timeout=120)
    finally:
        await session.close()
    colours = _colours(bytes(session.raw))
    assert not colours["truecolor"]
    if expect == "256":
        assert colours["256"]
    elif expect == "16":
        assert colours["16"] and not colours["256"]
    else:
        assert colours["256"] and colours["256"] <= GREYS and not colours["16"]

"""SSH lab on loopback: connect → first screen, key → redraw, connect → first cell result, memory per session.

Starts `llm-tutor serve ssh` on a free loopback port with a fresh key and drives it with asyncssh
clients, as `tests/e2e/test_ssh.py` does. The clock for "first screen" starts before the TCP
connection and stops when the lesson list's text has arrived; "key → redraw" is the time from a
key press (cell to cell in a lesson) to the first bytes of the repaint, with the screen quiet
before each press. Memory is the proportional set size (PSS: shared torch pages counted once,
split between their users) of every process the server started, with 1 and with N sessions open.

    python benchmarks/ssh_bench.py [--quick] [--json FILE] [--compare-spawn]

The server runs as a lab would: every session confined (Landlock, a cgroup per session, the disk
cap); each record names the protections that were on (`sandbox`), from the server's start-up log.

Prints JSON records {name, value, unit, target, ok} (with `peer`/`ratio`: the same server without its
warm pools, with --compare-spawn) and a table; `benchmarks/run.py` runs it as the `ssh_bench` module.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LESSONS = ROOT / "tests" / "fixtures" / "lessons" / "good"
ANSI = re.compile(rb"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b[\]P_^][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][A-Za-z0-9]|\x1b[=>78]")


def record(name: str, value: float, unit: str, limit: float | None, **extra: Any) -> dict[str, Any]:
    """A record as `benchmarks/run.py` prints them; without a limit the target is "report" (always ok)."""
    target = "report" if limit is None else f"<= {limit:g} {unit}"
    ok = True if limit is None else value <= limit
    return {"name": name, "value": round(value, 2), "unit": unit, "target": target, "ok": ok, **extra}


def with_peer(rec: dict[str, Any], peer: float, what: str) -> dict[str, Any]:
    rec.update(peer=round(peer, 2), ratio=round(rec["value"] / peer, 3) if peer else None, peer_is=what)
    return rec


# -- the server ------------------------------------------------------------------------------------


class Server:
    def __init__(self, tmp: Path, *extra: str) -> None:
        import asyncssh

        self.key = tmp / "bench_key"
        key = asyncssh.generate_private_key("ssh-ed25519")
        self.key.write_bytes(key.export_private_key())
        self.key.chmod(0o600)
        keys = tmp / "keys"
        keys.mkdir(exist_ok=True)
        for i in range(32):
            (keys / f"bench{i:02d}.pub").write_bytes(key.export_public_key())
        self.log_path = tmp / f"server{len(extra)}.log"
        self._log = open(self.log_path, "wb")
        script = Path(sys.executable).parent / "llm-tutor"
        cmd = [str(script)] if script.exists() else [sys.executable, "-m", "llm_tutor.tui"]
        self.proc = subprocess.Popen(
            [*cmd, "serve", "ssh", "--port", "0", "--authorized-keys", str(keys), "--data-root", str(tmp / f"lab{len(extra)}"),
             "--lessons", str(LESSONS), "--device", "cpu", "--max-sessions", "32", "--allow-root", *extra],
            stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        self.port = int(self.wait_log(r"listening on 127\.0\.0\.1:(\d+)").group(1))
        if "--no-kernel-pool" not in extra:
            self.wait_log(r"kernel pool ready")

    def wait_log(self, pattern: str, timeout: float = 180.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while True:
            found = re.search(pattern, self.log_path.read_text(errors="replace"))
            if found:
                return found
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the server did not start:\n" + self.log_path.read_text(errors="replace"))
            time.sleep(0.05)

    def protections(self) -> list[str]:
        """The protections the server logged as on (the sandbox each measurement ran with)."""
        return re.findall(r"protection (.+?)\s{2,}on\s", self.log_path.read_text(errors="replace"))

    def pss_mb(self) -> float:
        """PSS of every process the server started (apps, kernels, the fork server), in MB."""
        from llm_tutor.engine.remote.users import descendants

        total = 0
        for pid, _ in descendants(self.proc.pid):
            try:
                with open(f"/proc/{pid}/smaps_rollup") as fh:
                    total += next(int(line.split()[1]) for line in fh if line.startswith("Pss:"))
            except (OSError, StopIteration):
                pass
        return total / 1024

    def stop(self) -> None:
        os.killpg(self.proc.pid, 15)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, 9)
            self.proc.wait()
        self._log.close()


# -- a client --------------------------------------------------------------------------------------


class Client:
    def __init__(self) -> None:
        self.raw = bytearray()
        self.last_data = time.perf_counter()
        self.arrivals: list[float] = []
        self.changed = asyncio.Event()
        self.conn: Any = None
        self.chan: Any = None
        self.session_open = 0.0
        """Seconds from connecting to the session being open (key exchange, login, pty, shell)."""

    @classmethod
    async def open(cls, port: int, user: str, key: Path) -> tuple[Client, float]:
        """A session with a pty; returns the client and the time its connection started."""
        import asyncssh

        client = cls()

        class Session(asyncssh.SSHClientSession):  # type: ignore[misc]
            def data_received(self, data: bytes, datatype: Any) -> None:
                now = time.perf_counter()
                client.raw += data
                client.last_data = now
                client.arrivals.append(now)
                client.changed.set()

        start = time.perf_counter()
        client.conn = await asyncssh.connect("127.0.0.1", port, username=user, client_keys=[str(key)],
                                             known_hosts=None, agent_path=None)
        client.chan, _ = await client.conn.create_session(Session, term_type="xterm-256color", term_size=(100, 30),
                                                          encoding=None)
        client.session_open = time.perf_counter() - start
        return client, start

    def text(self, since: int = 0) -> str:
        return ANSI.sub(b"", bytes(self.raw[since:])).decode("utf-8", errors="replace")

    async def wait_for(self, needle: str, since: int = 0, timeout: float = 120.0) -> float:
        """Wait until `needle` has arrived; returns the arrival time of the data that completed it."""
        deadline = time.perf_counter() + timeout
        while needle not in self.text(since):
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{needle!r} did not arrive; got: {self.text(since)[-400:]!r}")
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), 1.0)
            except asyncio.TimeoutError:
                pass
        return self.last_data

    async def quiet(self, for_s: float = 0.15, timeout: float = 10.0) -> None:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() - self.last_data < for_s and time.perf_counter() < deadline:
            await asyncio.sleep(0.02)

    async def open_lesson_and_run(self) -> float:
        """Enter the lesson, run its first cell; returns when the result has arrived."""
        await self.wait_for("kernel: idle")
        mark = len(self.raw)
        self.chan.write(b"\r")
        await self.wait_for("[ ] make", since=mark)
        mark = len(self.raw)
        self.chan.write(b"r")
        return await self.wait_for("tensor([[1, 2],", since=mark)

    async def close(self) -> None:
        self.conn.close()
        await self.conn.wait_closed()


# -- the measurements ------------------------------------------------------------------------------


async def first_screen(server: Server, runs: int) -> tuple[list[float], list[float]]:
    """(connect → first screen, connect → session open) per run, in ms."""
    times, handshakes = [], []
    for i in range(runs):
        client, start = await Client.open(server.port, f"bench{i:02d}", server.key)
        done = max(await client.wait_for("A first tensor"), await client.wait_for("Overall"))  # the whole first screen
        times.append((done - start) * 1000)
        handshakes.append(client.session_open * 1000)
        await client.close()
        await asyncio.sleep(0.3)
    return times, handshakes


async def key_redraw(server: Server, presses: int) -> list[float]:
    client, _ = await Client.open(server.port, "bench20", server.key)
    await client.open_lesson_and_run()
    latencies = []
    for i in range(presses):
        await client.quiet()
        before = len(client.arrivals)
        sent = time.perf_counter()
        client.chan.write(b"j" if i % 2 == 0 else b"k")
        while len(client.arrivals) == before:
            client.changed.clear()
            await asyncio.wait_for(client.changed.wait(), 10)
        latencies.append((client.arrivals[before] - sent) * 1000)
    await client.close()
    return latencies


async def first_result(server: Server, runs: int, user_base: int = 21) -> list[float]:
    times = []
    for i in range(runs):
        client, start = await Client.open(server.port, f"bench{user_base + i:02d}", server.key)
        done = await client.open_lesson_and_run()
        times.append((done - start) * 1000)
        await client.close()
        await asyncio.sleep(0.5)
    return times


async def memory_per_session(server: Server, sessions: int) -> tuple[float, float, float]:
    """(PSS with 1 session, PSS with `sessions`, MB per added session); each session has run a cell."""
    clients = []
    client, _ = await Client.open(server.port, "bench00", server.key)
    await client.open_lesson_and_run()
    clients.append(client)
    await asyncio.sleep(1.0)
    one = server.pss_mb()
    for i in range(1, sessions):
        client, _ = await Client.open(server.port, f"bench{i:02d}", server.key)
        await client.open_lesson_and_run()
        clients.append(client)
    await asyncio.sleep(1.0)
    many = server.pss_mb()
    for client in clients:
        await client.close()
    return one, many, (many - one) / (sessions - 1)


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def bench(quick: bool, compare_spawn: bool, server_args: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    runs, presses, sessions = (3, 15, 4) if quick else (7, 40, 6)
    records: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="llm-tutor-ssh-bench-") as tmp:
        server = Server(Path(tmp), *server_args)
        try:
            screens, handshakes = await first_screen(server, runs)
            first = record("ssh_connect_to_first_screen", statistics.median(screens), "ms", 400, runs=len(screens),
                           spread=[round(min(screens), 1), round(max(screens), 1)],
                           method="asyncssh client on loopback; clock from TCP connect to the lesson list's text arriving")
            records.append(first)
            records.append(record("ssh_connect_to_session_open", statistics.median(handshakes), "ms", None,
                                  runs=len(handshakes), method="key exchange, login, pty and shell"))
            keys = await key_redraw(server, presses)
            records.append(record("ssh_key_to_redraw_p50", statistics.median(keys), "ms", 30, runs=len(keys),
                                  method="cell to cell in a lesson; key sent -> first bytes of the repaint, screen quiet before"))
            records.append(record("ssh_key_to_redraw_p95", p(keys, 0.95), "ms", None, runs=len(keys)))
            results = await first_result(server, runs)
            result = record("ssh_connect_to_first_cell_result", statistics.median(results), "ms", 1000, runs=len(results),
                            spread=[round(min(results), 1), round(max(results), 1)],
                            method="connect, open the lesson, run its first cell (torch) until the result arrives")
            records.append(result)
            one, many, per = await memory_per_session(server, sessions)
            memory = record("ssh_memory_per_added_session", per, "MB", 60, one_session_mb=round(one, 1),
                            sessions=sessions, all_sessions_mb=round(many, 1),
                            method="PSS of every process the server started (apps, kernels, pools), 1 vs N sessions")
            records.append(memory)
            for rec in records:
                rec["sandbox"] = server.protections()
        finally:
            server.stop()
        if compare_spawn:
            spawn = Server(Path(tmp), "--no-kernel-pool", "--no-app-pool")
            try:
                screens, _ = await first_screen(spawn, max(2, runs // 2))
                with_peer(first, statistics.median(screens), "the same server without its warm pools")
                results = await first_result(spawn, max(2, runs // 2))
                with_peer(result, statistics.median(results), "the same server without its warm pools")
                _, _, per = await memory_per_session(spawn, sessions)
                with_peer(memory, per, "the same server without its warm pools")
            finally:
                spawn.stop()
    return records


def measure(quick: bool = False) -> list[dict[str, Any]]:
    """For `benchmarks/run.py`; the full run also measures the server without its pools, as the peer."""
    return asyncio.run(bench(quick, compare_spawn=not quick))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE", help="also write the records here")
    parser.add_argument("--compare-spawn", action="store_true", help="also measure a server without the kernel pool")
    parser.add_argument("--no-sandbox", action="store_true", help="measure a server whose sessions are not confined")
    args = parser.parse_args(argv)
    records = asyncio.run(bench(args.quick, args.compare_spawn, ("--no-sandbox",) if args.no_sandbox else ()))
    for rec in records:
        print(json.dumps(rec))
    print(f"\n{'benchmark':<36} {'value':>12} {'target':>12} {'peer':>12}  ok", file=sys.stderr)
    for rec in records:
        peer = f"{rec['peer']} {rec['unit']}" if "peer" in rec else ""
        value = f"{rec['value']} {rec['unit']}"
        print(f"{rec['name']:<36} {value:>12} {rec['target']:>12} {peer:>12}  {'yes' if rec['ok'] else 'NO'}", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(records, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Two students on a confined `llm-tutor serve ssh`, through the real OpenSSH client: a cell in alice's
session attacks bob, the keys, the host key and the server, forks until refused and maps shared memory
past the limit. Each attempt is refused with a note naming the protection, bob keeps working (his
exercise check completes while alice's fork loop holds every process it may have), nothing of bob's
changes, and alice can still interrupt and restart her own kernel.

The file and signal attacks need Landlock with scopes (ABI 6); the fork loop and the memory bomb need
cgroup memory and pids controllers this process can write (root, a delegated subtree); each test is
skipped with the probe's reason where the machine lacks what it needs.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from llm_tutor.engine.remote.users import descendants
from llm_tutor.engine.sandbox.probe import LANDLOCK_FS, LANDLOCK_SCOPES, MEMORY, PIDS, probe
from tests.e2e.sshlab import LabProcess, Terminal, make_key, wait_until
from tests.e2e.test_tmux import Tmux

pytest.importorskip("asyncssh")

_PROBE = probe()


def _missing(*names: str) -> list[str]:
    return [f"{p.name}: {p.detail}" for p in _PROBE.protections if p.name in names and p.state != "on"]


_NO_LANDLOCK = _missing(LANDLOCK_FS, LANDLOCK_SCOPES)
_NO_CGROUPS = _missing(MEMORY, PIDS)
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(bool(_NO_LANDLOCK), reason="; ".join(_NO_LANDLOCK) or "-"),
    pytest.mark.skipif(shutil.which("ssh") is None or shutil.which("tmux") is None, reason="needs ssh and tmux"),
]

SESSION_MEMORY_MB = 700
SESSION_PIDS = 64
DISK_CAP_MB = 5

LESSON = '''---
id: attacks
title: Hostile cells
order: 0
---

# Hostile cells

```python cell id=attacks
import json, os, signal, socket
from pathlib import Path
from llm_tutor.engine.kernel.child.errors import explain
home = Path(os.environ["HOME"])
t = json.loads((home / "targets.json").read_text())
results = {}
def attempt(name, action):
    try:
        action()
        results[name] = "ALLOWED"
    except Exception as exc:
        results[name] = f"{type(exc).__name__}: {exc} -- {explain(exc)}"
attempt("read bob's file", lambda: open(t["bob_file"]).read())
attempt("list bob's folder", lambda: os.listdir(t["bob_dir"]))
attempt("write into bob's folder", lambda: open(t["bob_dir"] + "/pwned.txt", "w").write("x"))
attempt("read a server-user file", lambda: open(t["server_file"]).read())
attempt("write into the keys folder", lambda: open(t["keys_dir"] + "/mallory.pub", "w").write("ssh-ed25519 AAAA"))
attempt("read the host key", lambda: open(t["host_key"]).read())
attempt("signal the server", lambda: os.kill(t["server_pid"], signal.SIGTERM))
attempt("signal bob's kernel", lambda: os.kill(t["bob_kernel"], signal.SIGKILL))
attempt("bind a TCP port", lambda: socket.socket().bind(("127.0.0.1", 8765)))
(home / "results.json").write_text(json.dumps(results))
print("attacks done")
```

```python cell id=forks
import json, os, signal, time
from pathlib import Path
from llm_tutor.engine.kernel.child.errors import explain
home = Path(os.environ["HOME"])
kids, error = [], ""
try:
    for _ in range(100000):
        pid = os.fork()
        if pid == 0:
            signal.pause()
            os._exit(0)
        kids.append(pid)
except OSError as exc:
    error = f"{type(exc).__name__}: {exc} -- {explain(exc)}"
(home / "forks.json").write_text(json.dumps({"forked": len(kids), "error": error}))
deadline = time.monotonic() + 60
while not (home / "release").exists() and time.monotonic() < deadline:
    time.sleep(0.05)
for pid in kids:
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
print("forks " + "released")  # the words joined only in the output
```

```python cell id=sleep
print("going to " + "sleep", flush=True)
import time
time.sleep(120)
```

```python cell id=mmap
import mmap
m = mmap.mmap(-1, 2048 * 1024 * 1024, flags=mmap.MAP_SHARED)
for i in range(0, len(m), 4096):
    m[i] = 1
print("allocated " + "past the limit")
```

```python exercise id=ones title="Ones"
import torch
x = torch.ones(2, 3)
```

```python solution for=ones
x = torch.ones(2, 3)
```

```python check for=ones
import torch
expect.shape(x, (2, 3))
```
'''


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LabProcess, Path, Path]]:
    base = tmp_path_factory.mktemp("sandboxed")
    keys = base / "authorized"
    keys.mkdir()
    for name in ("alice", "bob", "carol", "dave", "erin"):
        make_key(base / name)
        (keys / f"{name}.pub").write_bytes((base / f"{name}.pub").read_bytes())
    lessons = base / "lessons"
    lessons.mkdir()
    (lessons / "00-attacks.md").write_text(LESSON)
    required = [] if _PROBE.missing() else ["--require-sandbox"]
    lab = LabProcess(base, keys, "--session-memory-mb", str(SESSION_MEMORY_MB), "--session-pids", str(SESSION_PIDS),
                     "--max-sessions", "4", "--disk-cap-mb", str(DISK_CAP_MB), *required, lessons=lessons)
    lab.wait_pool()
    yield lab, keys, base
    assert lab.stop() == 0, lab.log()[-3000:]
    # each session's control group was removed when it ended, and the lab's own when it stopped
    assert not any((b / f"llm-tutor-{lab.proc.pid}").exists() for b in _PROBE.cgroups.base.values())


def ssh_session(lab: LabProcess, base: Path, user: str) -> Tmux:
    command = ["ssh", "-tt", "-p", str(lab.port), "-i", str(base / user), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
               "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
               f"{user}@127.0.0.1"]
    return Tmux(command, width=160, height=45, env={"TERM": "xterm-256color"})


def folder_digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def session_kernel(lab: LabProcess, user: str) -> int | None:
    pool = int(lab.wait_log(r"kernel pool ready in .* pid (\d+)").group(1))
    for pid, _ in descendants(pool):
        try:
            if f"/{user}-" in Path(f"/proc/{pid}/cgroup").read_text() or _kernel_of(pid, user, lab):
                return pid
        except OSError:
            continue
    return None


def _kernel_of(pid: int, user: str, lab: LabProcess) -> bool:
    """Without control groups: the kernel whose working folder is the student's."""
    try:
        return os.readlink(f"/proc/{pid}/cwd") == str(lab.root / "users" / user)
    except OSError:
        return False


def read_json(path: Path, screen: Tmux, timeout: float = 60) -> dict[str, object]:
    assert wait_until(path.exists, timeout), f"{path.name} was not written; the screen:\n{screen.screen()}"
    assert wait_until(lambda: path.read_text().endswith("}"), 5)
    return json.loads(path.read_text())


class Students:
    """An attacker ("alice") and a victim ("bob"), each on the OpenSSH client in tmux with the lesson open and an
    idle kernel. Each test uses two new names, so no remembered position in the lesson moves the focus."""

    def __init__(self, lab: LabProcess, keys: Path, base: Path, names: tuple[str, str]) -> None:
        self.lab, self.keys, self.base, self.names = lab, keys, base, names
        self.alice_dir, self.bob_dir = lab.root / "users" / names[0], lab.root / "users" / names[1]
        self.bob = ssh_session(lab, base, names[1])
        self.alice = ssh_session(lab, base, names[0])
        for who in (self.bob, self.alice):
            who.wait_for("Hostile cells")
            who.keys("Enter")
            who.wait_for("kernel: idle")
        self.bob_dir.mkdir(exist_ok=True)
        (self.bob_dir / "secret.txt").write_text("bob's work")
        self.bob_kernel = session_kernel(lab, names[1])
        assert self.bob_kernel is not None
        self.bob_before = folder_digest(self.bob_dir)
        self.keys_before = folder_digest(keys)

    def run_first(self, done: Path) -> None:
        """Run alice's focused cell; the first key may land before the lesson has focused its first cell."""
        for _ in range(3):
            self.alice.keys("r")
            if wait_until(lambda: done.exists() or "[1] " in self.alice.screen(), 5):
                return

    def bob_checks_his_exercise(self) -> None:
        self.bob.keys("j", "j", "j", "j", "c")
        self.bob.wait_for("All checks passed.", timeout=60)

    def nothing_of_bobs_changed(self) -> None:
        """Nothing but what his own check wrote (progress, his exercise file); the keys too; bob and the server live."""
        own = ("progress.sqlite3", "workspace/")
        after = folder_digest(self.bob_dir)
        assert {k: v for k, v in after.items() if k in self.bob_before and not k.startswith(own)} == {
            k: v for k, v in self.bob_before.items() if not k.startswith(own)}
        assert not (self.bob_dir / "pwned.txt").exists() and (self.bob_dir / "secret.txt").read_text() == "bob's work"
        assert folder_digest(self.keys) == self.keys_before
        assert Path(f"/proc/{self.bob_kernel}").exists() and self.lab.proc.poll() is None
        assert "kernel: idle" in self.bob.screen()

    def close(self) -> None:
        self.alice.close()
        self.bob.close()
        for name in self.names:
            self.lab.wait_log(rf"disconnect user={name} ")


@pytest.fixture
def students(setup: tuple[LabProcess, Path, Path], request: pytest.FixtureRequest) -> Iterator[Students]:
    lab, keys, base = setup
    names = ("carol", "dave") if "fork_loop" in request.node.name else ("alice", "bob")
    group = Students(lab, keys, base, names)
    try:
        yield group
    finally:
        group.close()


def test_files_keys_host_key_and_signals_of_others_are_refused_and_alice_still_controls_her_kernel(
        students: Students) -> None:
    s, lab = students, students.lab
    (s.alice_dir / "targets.json").write_text(json.dumps({
        "bob_file": str(s.bob_dir / "secret.txt"), "bob_dir": str(s.bob_dir), "server_file": str(s.base / "server.txt"),
        "keys_dir": str(s.keys), "host_key": str(lab.root / "ssh_host_ed25519_key"), "server_pid": lab.proc.pid,
        "bob_kernel": s.bob_kernel}))
    (s.base / "server.txt").write_text("the server user's own file")
    s.run_first(s.alice_dir / "results.json")
    results = read_json(s.alice_dir / "results.json", s.alice)
    for name, outcome in results.items():
        assert isinstance(outcome, str) and outcome.startswith(("PermissionError", "OSError")), (name, outcome)
        assert "(Landlock" in outcome, (name, outcome)
    assert "Landlock scope" in str(results["signal the server"]) and "Landlock scope" in str(results["signal bob's kernel"])
    s.bob_checks_his_exercise()

    # alice interrupts her own kernel (relayed by its fork server: the two are different Landlock domains)
    s.alice.keys("j", "r")  # running a cell moves the focus on: from the fork loop to the sleeping cell
    s.alice.wait_for("going to sleep")
    s.alice.keys("i")
    s.alice.wait_for("Interrupted.")
    old_kernel = session_kernel(lab, s.names[0])
    s.alice.keys("K")
    assert wait_until(lambda: session_kernel(lab, s.names[0]) not in (None, old_kernel), 30)
    s.alice.wait_for("kernel: idle")
    s.nothing_of_bobs_changed()


@pytest.mark.skipif(bool(_NO_CGROUPS), reason="; ".join(_NO_CGROUPS) or "-")
def test_a_fork_loop_and_a_shared_mmap_stop_at_the_sessions_limits_while_bob_works(students: Students) -> None:
    s = students
    s.alice.keys("j")  # to the fork loop
    s.run_first(s.alice_dir / "forks.json")
    forks = read_json(s.alice_dir / "forks.json", s.alice)
    assert 0 < int(forks["forked"]) < SESSION_PIDS, forks
    assert "pids.max" in str(forks["error"]), forks
    s.bob_checks_his_exercise()  # while alice holds every process her session may have
    (s.alice_dir / "release").write_text("")
    s.alice.wait_for("forks released")

    # shared memory past the session's limit: the kernel is stopped, and the app names the limit
    s.alice.keys("j", "r")  # the focus moved on to the sleeping cell; the mmap cell is next
    s.alice.wait_for("memory limit (cgroup memory", timeout=90)
    assert "allocated past" not in s.alice.screen()
    s.nothing_of_bobs_changed()


async def test_a_session_whose_folder_passes_the_disk_cap_is_closed_with_a_message(
        setup: tuple[LabProcess, Path, Path]) -> None:
    lab, _, base = setup
    erin = await Terminal.open(lab.port, "erin", base / "erin")
    try:
        await erin.wait_for("Hostile cells")
        # a file written there (by any route: RLIMIT_FSIZE stops one big file, see the unit tests) passes the cap
        (lab.root / "users" / "erin" / "filler.bin").write_bytes(b"x" * (DISK_CAP_MB + 1) * 1024 * 1024)
        await erin.wait_for("(disk cap), so the session was closed", timeout=30)
        await asyncio.wait_for(erin.closed.wait(), 15)
    finally:
        await erin.close()
    assert erin.exit_status == 1
    lab.wait_log(r"disk cap user=erin from=127\.0\.0\.1:\d+: \d+ MB used, cap 5 MB")
    lab.wait_log(r"disconnect user=erin .*disk cap")

"""Two students on a confined `llm-tutor serve ssh`, through the real OpenSSH client: a cell in alice's
session attacks bob, the keys, the host key and the server, forks until refused and maps shared memory
past the limit. Each attempt is refused with a note naming the protection, bob keeps working (his
exercise check completes while alice's fork loop holds every process it may have), nothing of bob's
changes, and alice can still interrupt and restart her own kernel.

Needs Landlock with scopes (ABI 6) and cgroup memory and pids controllers this process can write;
skipped with the probe's reason where the machine lacks them.
"""

from __future__ import annotations

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
from tests.e2e.sshlab import LabProcess, make_key, wait_until
from tests.e2e.test_tmux import Tmux

pytest.importorskip("asyncssh")

_PROBE = probe()
_MISSING = [f"{p.name}: {p.detail}" for p in _PROBE.protections
            if p.name in (LANDLOCK_FS, LANDLOCK_SCOPES, MEMORY, PIDS) and p.state != "on"]
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(bool(_MISSING), reason="; ".join(_MISSING) or "-"),
    pytest.mark.skipif(shutil.which("ssh") is None or shutil.which("tmux") is None, reason="needs ssh and tmux"),
]

SESSION_MEMORY_MB = 700
SESSION_PIDS = 64

LESSON = '''---
id: attacks
title: Hostile cells
order: 0
---

# Hostile cells

```python cell id=attacks
import json, os, signal, socket
from pathlib import Path
from llm_tutor.engine.kernel.runtime import _explain
home = Path(os.environ["HOME"])
t = json.loads((home / "targets.json").read_text())
results = {}
def attempt(name, action):
    try:
        action()
        results[name] = "ALLOWED"
    except Exception as exc:
        results[name] = f"{type(exc).__name__}: {exc} -- {_explain(exc)}"
attempt("read bob's file", lambda: open(t["bob_file"]).read())
attempt("list bob's folder", lambda: os.listdir(t["bob_dir"]))
attempt("write into bob's folder", lambda: open(t["bob_dir"] + "/pwned.txt", "w").write("x"))
attempt("read a server-user file", lambda: open(t["server_file"]).read())
attempt("write into the keys folder", lambda: open(t["keys_dir"] + "/mallory.pub", "w").write("ssh-ed25519 AAAA"))
attempt("read the host key", lambda: open(t["host_key"]).read())
attempt("signal the server", lambda: os.kill(t["server_pid"], signal.SIGTERM))
attempt("signal bob's kernel", lambda: os.kill(t["bob_kernel"], signal.SIGKILL))
attempt("bind a TCP port", lambda: socket.socket().bind(("127.0.0.1", 0)))
(home / "results.json").write_text(json.dumps(results))
print("attacks done")
```

```python cell id=forks
import json, os, signal, time
from pathlib import Path
from llm_tutor.engine.kernel.runtime import _explain
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
    error = f"{type(exc).__name__}: {exc} -- {_explain(exc)}"
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
    for name in ("alice", "bob"):
        make_key(base / name)
        (keys / f"{name}.pub").write_bytes((base / f"{name}.pub").read_bytes())
    lessons = base / "lessons"
    lessons.mkdir()
    (lessons / "00-attacks.md").write_text(LESSON)
    lab = LabProcess(base, keys, "--session-memory-mb", str(SESSION_MEMORY_MB), "--session-pids", str(SESSION_PIDS),
                     "--max-sessions", "4", "--require-sandbox", lessons=lessons)
    lab.wait_pool()
    yield lab, keys, base
    assert lab.stop() == 0, lab.log()[-3000:]


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
            if f"/{user}-" in Path(f"/proc/{pid}/cgroup").read_text():
                return pid
        except OSError:
            continue
    return None


def read_json(path: Path, screen: Tmux, timeout: float = 60) -> dict[str, object]:
    assert wait_until(path.exists, timeout), f"{path.name} was not written; the screen:\n{screen.screen()}"
    assert wait_until(lambda: path.read_text().endswith("}"), 5)
    return json.loads(path.read_text())


def test_a_hostile_session_is_confined_and_the_other_student_keeps_working(setup: tuple[LabProcess, Path, Path]) -> None:
    lab, keys, base = setup
    alice_dir, bob_dir = lab.root / "users" / "alice", lab.root / "users" / "bob"
    server_file = base / "server-secret.txt"
    server_file.write_text("the server user's own file")
    bob = ssh_session(lab, base, "bob")
    alice = ssh_session(lab, base, "alice")
    try:
        bob.wait_for("Hostile cells")
        bob.keys("Enter")
        bob.wait_for("kernel: idle")
        (bob_dir / "secret.txt").write_text("bob's work")
        bob_kernel = session_kernel(lab, "bob")
        assert bob_kernel is not None
        bob_before = folder_digest(bob_dir)
        keys_before = folder_digest(keys)
        alice.wait_for("Hostile cells")
        alice.keys("Enter")
        alice.wait_for("kernel: idle")
        (alice_dir / "targets.json").write_text(json.dumps({
            "bob_file": str(bob_dir / "secret.txt"), "bob_dir": str(bob_dir), "server_file": str(server_file),
            "keys_dir": str(keys), "host_key": str(lab.root / "ssh_host_ed25519_key"), "server_pid": lab.proc.pid,
            "bob_kernel": bob_kernel}))

        # files, keys, host key, signals, TCP: every attempt refused, each naming the protection
        for _ in range(3):  # the first key may land before the lesson has focused its first cell
            alice.keys("r")
            if wait_until(lambda: (alice_dir / "results.json").exists() or "[1] attacks" in alice.screen(), 5):
                break
        results = read_json(alice_dir / "results.json", alice)
        for name, outcome in results.items():
            assert isinstance(outcome, str) and outcome.startswith(("PermissionError", "OSError")), (name, outcome)
            assert "(Landlock" in outcome, (name, outcome)
        assert "Landlock scope" in str(results["signal the server"]) and "Landlock scope" in str(results["signal bob's kernel"])

        # (running a cell moves the focus to the next one) a fork loop is stopped by the session's pids.max, and bob's exercise check completes meanwhile
        alice.keys("r")
        forks = read_json(alice_dir / "forks.json", alice)
        assert 0 < int(forks["forked"]) < SESSION_PIDS, forks
        assert "pids.max" in str(forks["error"]), forks
        bob.keys("j", "j", "j", "j", "c")
        bob.wait_for("All checks passed.", timeout=60)
        (alice_dir / "release").write_text("")
        alice.wait_for("forks released")

        # alice interrupts her own kernel (relayed by its fork server) and restarts it
        alice.keys("r")
        alice.wait_for("going to sleep")
        alice.keys("i")
        alice.wait_for("Interrupted.")
        old_kernel = session_kernel(lab, "alice")
        alice.keys("K")
        assert wait_until(lambda: session_kernel(lab, "alice") not in (None, old_kernel), 30)
        alice.wait_for("kernel: idle")

        # shared memory past the session's limit: the kernel is stopped, and the app names the limit
        alice.keys("r")
        alice.wait_for("memory limit (cgroup memory", timeout=90)
        assert "allocated past" not in alice.screen()

        # nothing of bob's changed (but what his own check wrote: progress and his exercise file); the keys did
        # not change; bob's kernel and the server live on
        own = ("progress.sqlite3", "workspace/")
        after = folder_digest(bob_dir)
        assert {k: v for k, v in after.items() if k in bob_before and not k.startswith(own)} == {
            k: v for k, v in bob_before.items() if not k.startswith(own)}
        assert not (bob_dir / "pwned.txt").exists() and (bob_dir / "secret.txt").read_text() == "bob's work"
        assert folder_digest(keys) == keys_before
        assert Path(f"/proc/{bob_kernel}").exists() and lab.proc.poll() is None
        assert "kernel: idle" in bob.screen()
    finally:
        alice.close()
        bob.close()
    lab.wait_log(r"disconnect user=alice")
    lab.wait_log(r"disconnect user=bob")
    # each session's control group is removed when it ends
    groups = [base / f"llm-tutor-{lab.proc.pid}" for base in _PROBE.cgroups.base.values()]
    assert wait_until(lambda: not any(list(g.glob("*-*")) for g in groups if g.is_dir()), 15), "session groups were left"

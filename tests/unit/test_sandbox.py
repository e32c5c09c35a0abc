"""The sandbox's rules: Landlock paths, scopes and TCP, the policy a session gets, control groups, the probe,
the notes naming a protection, the fork server's parent-only rule and signal relay, and zombie reaping.

Landlock and cgroup tests run in child processes (a restriction is for good) and skip with the probe's
reason where this machine lacks them.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from llm_tutor.engine.sandbox import cgroups, explain, landlock
from llm_tutor.engine.sandbox.policy import Policy, contains, python_paths, session_policy
from llm_tutor.engine.sandbox.probe import LANDLOCK_FS, MEMORY, PIDS, probe, writable_by_sessions

ABI, WHY = landlock.abi_version()
needs_landlock = pytest.mark.skipif(ABI < 1, reason=WHY or "no Landlock")
needs_scopes = pytest.mark.skipif(ABI < 6, reason=f"Landlock scopes need ABI 6; this kernel has {ABI}")
SUPPORT = cgroups.detect()


def run_confined(body: str, tmp_path: Path, **env: str) -> dict[str, str]:
    """Run `body` in a fresh Python that first confines itself (read: Python; write: tmp_path/rw).

    `body` fills ``out``, a dict of name -> outcome, printed as JSON.
    """
    script = textwrap.dedent('''
        import errno, json, os, signal, socket, sys
        from llm_tutor.engine.sandbox import landlock
        from llm_tutor.engine.sandbox.policy import python_paths
        out = {}
        def attempt(name, action):
            try:
                action()
                out[name] = "allowed"
            except OSError as exc:
                out[name] = errno.errorcode.get(exc.errno, str(exc.errno))
        landlock.restrict(python_paths() + [os.environ["RO"]], [os.environ["RW"]], blind=[os.environ["BLIND"]])
    ''') + textwrap.dedent(body) + "\nprint(json.dumps(out))\n"
    (tmp_path / "rw").mkdir(exist_ok=True)
    (tmp_path / "ro").mkdir(exist_ok=True)
    (tmp_path / "shm").mkdir(exist_ok=True)
    (tmp_path / "ro" / "file.txt").write_text("read me")
    (tmp_path / "outside.txt").write_text("secret")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                            env=dict(os.environ, RW=str(tmp_path / "rw"), RO=str(tmp_path / "ro"),
                                     BLIND=str(tmp_path / "shm"), **env))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@needs_landlock
def test_landlock_allows_the_rules_and_refuses_everything_else(tmp_path: Path) -> None:
    out = run_confined('''
        attempt("read ro", lambda: open(os.environ["RO"] + "/file.txt").read())
        attempt("write ro", lambda: open(os.environ["RO"] + "/new.txt", "w"))
        attempt("write rw", lambda: open(os.environ["RW"] + "/new.txt", "w").write("x"))
        attempt("truncate in rw", lambda: os.truncate(os.environ["RW"] + "/new.txt", 0))
        attempt("read outside", lambda: open(os.environ["RW"] + "/../outside.txt").read())
        attempt("list outside", lambda: os.listdir(os.environ["RW"] + "/.."))
        attempt("read /etc/shadow", lambda: open("/etc/shadow").read())
        attempt("write /tmp", lambda: open("/tmp/llm-tutor-landlock-test", "w"))
        attempt("make and use a shared-memory file", lambda: open(os.environ["BLIND"] + "/seg", "w+").write("x"))
        attempt("list shared memory", lambda: os.listdir(os.environ["BLIND"]))
    ''', tmp_path)
    assert out == {"read ro": "allowed", "write ro": "EACCES", "write rw": "allowed", "truncate in rw": "allowed",
                   "read outside": "EACCES", "list outside": "EACCES", "read /etc/shadow": "EACCES",
                   "write /tmp": "EACCES", "make and use a shared-memory file": "allowed", "list shared memory": "EACCES"}
    assert (tmp_path / "outside.txt").read_text() == "secret"


@needs_scopes
def test_landlock_scopes_refuse_signals_and_abstract_sockets_outside_the_domain(tmp_path: Path) -> None:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    name = f"\0llm-tutor-test-{os.getpid()}"
    listener.bind(name)
    listener.listen(1)
    try:
        out = run_confined(f'''
            attempt("signal the parent", lambda: os.kill(os.getppid(), 0))
            attempt("signal itself", lambda: os.kill(os.getpid(), 0))
            attempt("abstract socket outside", lambda: socket.socket(socket.AF_UNIX).connect({name!r}))
            attempt("bind TCP", lambda: socket.socket().bind(("127.0.0.1", 8765)))
            attempt("bind an ephemeral TCP port", lambda: socket.socket().bind(("127.0.0.1", 0)))
        ''', tmp_path)
    finally:
        listener.close()
    assert out == {"signal the parent": "EPERM", "signal itself": "allowed", "abstract socket outside": "EPERM",
                   "bind TCP": "EACCES", "bind an ephemeral TCP port": "allowed"}


def test_a_session_policy_writes_only_its_folders_and_never_reads_protected_paths(tmp_path: Path) -> None:
    home, scratch, lessons = tmp_path / "lab" / "users" / "alice", tmp_path / "scratch", tmp_path / "lessons"
    keys = tmp_path / "keys"
    policy, dropped = session_policy(home, scratch, [str(lessons), str(tmp_path)], [tmp_path / "lab", keys])
    assert policy.write == [str(home), str(scratch)]
    assert str(tmp_path) in dropped  # it holds the lab's data and the keys: never readable
    assert not any(contains(p, str(keys)) or contains(p, str(tmp_path / "lab")) for p in policy.read)
    assert set(python_paths()) & set(policy.read) and "/usr" in policy.read and "/etc" not in policy.read
    assert Policy.from_json(json.loads(json.dumps(policy.to_json()))) == policy


def test_keys_inside_a_session_folder_are_refused_and_outside_are_accepted(tmp_path: Path) -> None:
    users = tmp_path / "lab" / "users"
    assert "sessions may write" in writable_by_sessions(users / "alice" / "keys", [users], landlock_fs=True)
    assert writable_by_sessions(tmp_path / "keys", [users], landlock_fs=True) == ""
    # without Landlock, a key this user can write is writable from every session
    assert "without Landlock" in writable_by_sessions(tmp_path / "keys", [users], landlock_fs=False)


def test_the_probe_names_every_protection_with_a_state_and_a_reason() -> None:
    found = probe()
    assert [p.state for p in found.protections if p.state not in ("on", "unavailable")] == []
    assert all(p.detail for p in found.protections)
    off = probe(landlock_on=False, cgroups_on=False, disk_cap_mb=0)
    assert {p.state for p in off.protections} == {"off"}
    if ABI >= 1:
        assert found.state(LANDLOCK_FS) == "on"


@pytest.mark.skipif(not (SUPPORT.has("pids") and SUPPORT.has("memory")), reason="; ".join(SUPPORT.reasons.values()) or "-")
def test_a_session_group_caps_processes_and_shared_memory_and_is_removed(tmp_path: Path) -> None:
    group = cgroups.SessionGroup(SUPPORT, f"test-{os.getpid()}", cgroups.Limits(memory_mb=64, pids=8))
    group.create(f"llm-tutor-test-{os.getpid()}")
    try:
        script = textwrap.dedent('''
            import mmap, os, signal, sys
            for path in sys.argv[1:]:
                open(path, "w").write(str(os.getpid()))
            kids = []
            try:
                while True:
                    pid = os.fork()
                    if pid == 0:
                        signal.pause()
                        os._exit(0)
                    kids.append(pid)
            except BlockingIOError:
                print("forks refused after", len(kids), flush=True)
            for pid in kids:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            m = mmap.mmap(-1, 256 * 1024 * 1024, flags=mmap.MAP_SHARED)
            for i in range(0, len(m), 4096):
                m[i] = 1
            print("ALLOCATED", flush=True)
        ''')
        before = group.oom_kills()
        result = subprocess.run([sys.executable, "-c", script, *group.procs_files], capture_output=True, text=True, timeout=60)
        assert "forks refused after" in result.stdout and int(result.stdout.split()[3]) < 8
        assert "ALLOCATED" not in result.stdout and result.returncode == -signal.SIGKILL
        assert group.oom_kills() == before + 1
        # the lab's group weighs as many processes as it has sessions
        parent = f"llm-tutor-test-{os.getpid()}"
        cgroups.set_parent_weight(SUPPORT, parent, 100, 3)
        if SUPPORT.has("cpu"):
            name = "cpu.weight" if SUPPORT.version == 2 else "cpu.shares"
            assert (SUPPORT.base["cpu"] / parent / name).read_text().strip() == ("300" if SUPPORT.version == 2 else "3072")
    finally:
        assert group.remove()
        cgroups.remove_parent(SUPPORT, f"llm-tutor-test-{os.getpid()}")
    assert not any(d.exists() for d in group.dirs.values())


def test_the_notes_name_the_protection(monkeypatch: pytest.MonkeyPatch) -> None:
    assert explain.explain(PermissionError(errno.EACCES, "Permission denied", "/x")) == ""  # not confined: no note
    monkeypatch.setenv("LLM_TUTOR_SANDBOX", json.dumps({"landlock": 7, "pids": 64, "file_size_mb": 5, "memory_mb": 700}))
    assert "(Landlock)" in explain.explain(PermissionError(errno.EACCES, "Permission denied", "/x"))
    assert "(Landlock scope)" in explain.explain(PermissionError(errno.EPERM, "Operation not permitted"))
    assert "pids.max = 64" in explain.explain(BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable"))
    assert "RLIMIT_FSIZE" in explain.explain(OSError(errno.EFBIG, "File too large"))
    assert "cgroup memory, 700 MB" in explain.memory_death(0, 1) and explain.memory_death(1, 1) == ""


def test_the_file_size_cap_refuses_a_large_write_with_efbig(tmp_path: Path) -> None:
    script = textwrap.dedent(f'''
        import errno
        from llm_tutor.engine.sandbox.policy import Policy, apply
        from llm_tutor.engine.sandbox.explain import explain
        apply(Policy(landlock=False, file_size_mb=1))
        try:
            open({str(tmp_path / "big")!r}, "wb").write(b"x" * 2 * 1024 * 1024)
        except OSError as exc:
            print(errno.errorcode[exc.errno], explain(exc))
    ''')
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.stdout.startswith("EFBIG") and "disk cap" in result.stdout, result.stderr
    assert (tmp_path / "big").stat().st_size <= 1024 * 1024


def test_the_fork_server_serves_only_its_parent_and_relays_signals(tmp_path: Path) -> None:
    from llm_tutor.engine.procs.forkserver import fork_process, open_channel, start_server

    sock = str(tmp_path / "s.sock")
    server = start_server(sock, module="llm_tutor.engine.procs.forkserver_main", env=dict(os.environ))
    try:
        # another process of the same user (a session's code) is refused
        stranger = subprocess.run([sys.executable, "-c", textwrap.dedent(f'''
            import os
            from llm_tutor.engine.procs.forkserver import fork_process
            print(fork_process({sock!r}, ["x"], dict(os.environ)))
        ''')], capture_output=True, text=True, timeout=60)
        assert stranger.stdout.strip() == "None", stranger.stderr
        # a channel's process gets the channel's policy, and is interrupted through its socket
        channel = open_channel(sock, Policy(landlock=False, file_size_mb=3).to_json())
        assert channel is not None
        proc = fork_process(f"fd:{channel.fileno()}", ["--device", "cpu"], dict(os.environ))
        assert proc is not None and proc.stdout is not None

        def capped() -> bool:  # the child applies its policy right after fork
            limits = Path(f"/proc/{proc.pid}/limits").read_text().splitlines()
            return any(line.startswith("Max file size") and str(3 * 1024 * 1024) in line for line in limits)

        deadline = time.monotonic() + 10
        while not capped() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert capped()
        proc.signal_group(signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
        channel.close()
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_zombie_children_are_reaped_and_running_ones_left_alone() -> None:
    from llm_tutor.engine.kernel.child.runtime import reap_zombies

    done = subprocess.Popen(["true"])
    running = subprocess.Popen(["sleep", "30"])
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and b" Z " not in Path(f"/proc/{done.pid}/stat").read_bytes():
            time.sleep(0.01)
        assert reap_zombies() >= 1
        assert not Path(f"/proc/{done.pid}").exists() and running.poll() is None
    finally:
        running.kill()
        running.wait()

"""Pieces of the remote labs that need no client: names, folders, host keys, key files, process trees, the web page's host."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from llm_tutor.engine.remote.users import descendants, kill_tree, user_dir, valid_user_name
from llm_tutor.engine.remote.web import app_command, exposure_warning, is_loopback, public_url
from tests.conftest import llm_tutor_cmd


@pytest.mark.parametrize("name", ["alice", "bob_2", "Ayse", "s.tudent-1", "_x", "a" * 32])
def test_valid_names(name: str) -> None:
    assert valid_user_name(name)


@pytest.mark.parametrize("name", ["", ".", "..", ".hidden", "../alice", "a/b", "alice.", "a" * 33, "al ice", "ayşe", "-rf"])
def test_invalid_names(name: str) -> None:
    assert not valid_user_name(name)


def test_user_dir_is_private_and_under_users(tmp_path: Path) -> None:
    path = user_dir(tmp_path, "alice")
    assert path == tmp_path / "users" / "alice" and path.is_dir()
    assert path.stat().st_mode & 0o777 == 0o700
    with pytest.raises(ValueError):
        user_dir(tmp_path, "../etc")


def test_host_key_is_made_once_with_mode_0600_and_a_readable_one_is_refused(tmp_path: Path) -> None:
    from llm_tutor.engine.remote.ssh.keys import HostKeyError, load_or_create_host_key

    path = tmp_path / "etc" / "host_key"
    first = load_or_create_host_key(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert Path(str(path) + ".pub").read_bytes() == first.export_public_key()
    again = load_or_create_host_key(path)
    assert again.get_fingerprint() == first.get_fingerprint()
    path.chmod(0o644)
    with pytest.raises(HostKeyError, match=f"chmod 600 {path}"):
        load_or_create_host_key(path)


def test_key_folder_binds_keys_to_names_and_a_file_does_not(tmp_path: Path) -> None:
    import asyncssh

    from llm_tutor.engine.remote.ssh.keys import KeyStore

    alice = asyncssh.generate_private_key("ssh-ed25519")
    folder = tmp_path / "keys"
    folder.mkdir()
    (folder / "alice.pub").write_bytes(alice.export_public_key())
    store = KeyStore(folder)
    assert store.per_user
    keys = store.keys_for("alice")
    assert keys is not None and keys.validate(alice.convert_to_public(), "127.0.0.1", "127.0.0.1") is not None
    assert store.keys_for("bob") is None
    assert store.keys_for("../keys/alice") is None

    single = tmp_path / "authorized_keys"
    single.write_bytes(alice.export_public_key())
    store = KeyStore(single)
    assert not store.per_user
    for name in ("alice", "bob"):
        keys = store.keys_for(name)
        assert keys is not None and keys.validate(alice.convert_to_public(), "127.0.0.1", "127.0.0.1") is not None
    assert store.keys_for("..") is None

    # OpenSSH's from= option: a key limited to another network does not log in from here
    (folder / "carol.pub").write_bytes(b'from="10.0.0.0/8" ' + alice.export_public_key())
    keys = KeyStore(folder).keys_for("carol")
    assert keys is not None
    assert keys.validate(alice.convert_to_public(), "127.0.0.1", "127.0.0.1") is None
    assert keys.validate(alice.convert_to_public(), "10.1.2.3", "10.1.2.3") is not None


def test_session_environment_keeps_only_what_the_app_needs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from llm_tutor.engine.remote.ssh.lab import Lab, LabConfig

    monkeypatch.setenv("SECRET_TOKEN", "server-only")
    lab = Lab(LabConfig(authorized_keys=tmp_path, host_key=tmp_path / "k", data_root=tmp_path, threads=1,
                        memory_limit_mb=512, gpu_memory_fraction=0.25))
    from llm_tutor.engine.remote.confine import SessionBox

    mine, _theirs = socket.socketpair()
    box = SessionBox(policy=None, scratch=tmp_path / "scratch", channel=mine)
    session = SimpleNamespace(user="alice", term_type="xterm-256color", ssh_connection="127.0.0.1 5000 127.0.0.1 22",
                              client_env={"NO_COLOR": "1", "LANG": "tr_TR.UTF-8", "LD_PRELOAD": "/tmp/evil.so",
                                          "LLM_TUTOR_DATA_DIR": "/elsewhere", "TMPDIR": "/tmp"}, box=box, channel_fd=3)
    env = lab.child_env(session, tmp_path / "users" / "alice", "/dev/pts/9")  # type: ignore[arg-type]
    lab.confinement.stop()
    assert env["LLM_TUTOR_DATA_DIR"] == str(tmp_path / "users" / "alice") == env["HOME"]
    assert env["NO_COLOR"] == "1" and env["LANG"] == "tr_TR.UTF-8" and env["TERM"] == "xterm-256color"
    assert env["SSH_CONNECTION"] and env["SSH_TTY"] == "/dev/pts/9" and env["TEXTUAL_ANIMATIONS"] == "none"
    # kernels come through the session's channel (fd 3), temporary files go to its scratch folder
    assert env["LLM_TUTOR_KERNEL_SERVER"] == "fd:3" and env["TMPDIR"] == str(tmp_path / "scratch")
    assert (env["LLM_TUTOR_KERNEL_THREADS"], env["LLM_TUTOR_KERNEL_MEMORY_MB"], env["LLM_TUTOR_GPU_MEMORY_FRACTION"]) == ("1", "512", "0.25")
    assert "LD_PRELOAD" not in env and "SECRET_TOKEN" not in env


def test_kill_tree_ends_every_descendant_even_in_other_process_groups() -> None:
    script = "setsid sleep 300 & sleep 300 & wait"
    proc = subprocess.Popen(["sh", "-c", script], start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while len(descendants(proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        tree = descendants(proc.pid)
        assert len(tree) == 2
        kill_tree(proc.pid, tree, signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid, _ in tree) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not any(_alive(pid) for pid, _ in tree)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_web_binding_and_addresses() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    assert exposure_warning("127.0.0.1", 8000) is None
    warning = exposure_warning("0.0.0.0", 8000)
    assert warning is not None and "0.0.0.0:8000" in warning and "ssh -L" in warning
    assert public_url("127.0.0.1", 8000, None) == "http://127.0.0.1:8000"
    assert public_url("0.0.0.0", 80, "https://lab.example.org/") == "https://lab.example.org"
    assert "0.0.0.0" not in public_url("0.0.0.0", 8000, None)
    assert app_command(["--lessons", "/a b"]).endswith("-m llm_tutor.tui --lessons '/a b'")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["serve"], "serve what?"),
        (["serve", "ssh", "--port", "70000", "--authorized-keys", "."], "--port must be"),
        (["serve", "ssh", "--port", "2222", "--authorized-keys", "/no/such/keys"], "authorized keys not found"),
        (["serve", "ssh", "--port", "2222", "--authorized-keys", ".", "--max-sessions", "0"], "--max-sessions"),
        (["serve", "ssh", "--port", "2222", "--authorized-keys", ".", "--gpu-memory-fraction", "1.5"], "--gpu-memory-fraction"),
        (["serve", "web", "--port", "0"], "--port must be"),
    ],
)
def test_serve_usage_errors_are_one_line(args: list[str], message: str) -> None:
    proc = subprocess.run([*llm_tutor_cmd(), *args], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_serve_ssh_refuses_a_host_key_others_can_read(tmp_path: Path) -> None:
    key = tmp_path / "host_key"
    from llm_tutor.engine.remote.ssh.keys import load_or_create_host_key

    load_or_create_host_key(key)
    key.chmod(0o640)
    proc = subprocess.run([*llm_tutor_cmd(), "serve", "ssh", "--port", "0", "--authorized-keys", str(tmp_path),
                           "--host-key", str(key), "--data-root", str(tmp_path / "root"), "--no-kernel-pool", "--allow-root"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert f"chmod 600 {key}" in proc.stderr.strip().splitlines()[-1]


def test_remote_modules_import_nothing_heavy() -> None:
    import json
    import sys

    code = ("import sys, json\n"
            "import llm_tutor.engine.remote.ssh.server, llm_tutor.engine.remote.web, llm_tutor.engine.remote.users\n"
            "import llm_tutor.engine.cli.serve, llm_tutor.engine.cli.doctor, llm_tutor.engine.procs.forkserver\n"
            "import llm_tutor.tui.launch\n"
            "print(json.dumps(sorted(sys.modules)))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    loaded = set(json.loads(proc.stdout))
    for heavy in ("torch", "textual", "asyncssh", "textual_serve", "aiohttp"):
        assert heavy not in loaded, heavy


def test_web_token_origin_and_tab_slots() -> None:
    from llm_tutor.engine.remote.web_guard import TabSlots, allowed_hosts, new_token, origin_allowed, token_matches

    token = new_token()
    assert len(token) >= 32 and token != new_token()
    assert token_matches(token, token) and not token_matches(token[:-1], token)
    assert not token_matches(None, token) and not token_matches("", token) and not token_matches("ç" * 32, token)
    hosts = allowed_hosts("127.0.0.1", 8000, "http://127.0.0.1:8000")
    assert {"127.0.0.1:8000", "localhost:8000", "[::1]:8000"} <= hosts
    assert origin_allowed("http://localhost:8000", hosts) and origin_allowed("http://127.0.0.1:8000", hosts)
    for bad in (None, "", "null", "http://evil.example", "http://127.0.0.1:8001", "file://", "http://127.0.0.1:8000/x"):
        assert not origin_allowed(bad, hosts), bad
    proxied = allowed_hosts("0.0.0.0", 8000, "https://lab.example.org")
    assert origin_allowed("https://lab.example.org", proxied) and not origin_allowed("http://0.0.0.0:8000", proxied)
    slots = TabSlots(2)
    assert (slots.take(), slots.take(), slots.take()) == (1, 2, None)
    slots.give_back(1)
    assert slots.take() == 1 and len(slots) == 2


def test_a_workspace_id_keeps_two_apps_files_apart(tmp_path: Path) -> None:
    from llm_tutor.engine.learner.workspace import Workspace, WorkspaceError

    shared = Workspace.open(tmp_path, workspace_id="")
    one, two = Workspace.open(tmp_path, workspace_id="tab-1"), Workspace.open(tmp_path, workspace_id="tab-2")
    assert len({shared.path("l", "e"), one.path("l", "e"), two.path("l", "e")}) == 3
    assert one.exercise_of(one.path("l", "e")) == ("l", "e", "en")
    with pytest.raises(WorkspaceError):
        Workspace.open(tmp_path, workspace_id="../x")


@pytest.mark.skipif(os.geteuid() != 0, reason="the root refusal is only seen when running as root")
@pytest.mark.parametrize("kind", [["web", "--port", "8765"], ["ssh", "--port", "0", "--authorized-keys", "."]])
def test_serve_refuses_root_without_allow_root(kind: list[str]) -> None:
    proc = subprocess.run([*llm_tutor_cmd(), "serve", *kind], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert f"refusing to run 'serve {kind[0]}' as root" in proc.stderr and "--allow-root" in proc.stderr

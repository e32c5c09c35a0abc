"""The kernel fork server: every kernel test passes with a forked kernel, plus what only forking brings.

The kernel tests of `test_kernel.py` are collected here a second time with LLM_TUTOR_KERNEL_SERVER
set, so a kernel forked from the warm server must behave exactly like a spawned one (interrupts,
crashes, restarts, raw output, a UI that is killed).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from llm_tutor.engine.kernel import BlockingKernel, KernelManager
from llm_tutor.engine.procs.forkserver import ForkedKernel, spawn_kernel, start_server
from tests.unit import test_kernel as base


# the module-scoped fixture below is built once: these tests stay on one xdist worker
pytestmark = pytest.mark.xdist_group("fork-server")


@pytest.fixture(scope="module")
def fork_socket(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("forkserver")
    folder.chmod(0o700)
    path = str(folder / "kernels.sock")
    proc = start_server(path)
    yield path
    proc.terminate()
    assert proc.wait(timeout=30) == 0


@pytest.fixture(autouse=True)
def _use_fork_server(fork_socket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_TUTOR_KERNEL_SERVER", fork_socket)


@pytest.fixture(scope="module")
def kernel(fork_socket: str) -> Iterator[BlockingKernel]:
    k = BlockingKernel(device="cpu", env=dict(os.environ, LLM_TUTOR_KERNEL_SERVER=fork_socket))
    k.start()
    assert isinstance(k.manager.proc, ForkedKernel)
    yield k
    k.shutdown()


# the whole kernel suite, on forked kernels
test_ready_reports_device_and_torch = base.test_ready_reports_device_and_torch
test_execute_streams_output_and_returns_last_expression = base.test_execute_streams_output_and_returns_last_expression
test_namespace_persists_and_is_separate_per_lesson = base.test_namespace_persists_and_is_separate_per_lesson
test_device_is_a_ready_variable = base.test_device_is_a_ready_variable
test_error_traceback_is_trimmed_to_learner_code = base.test_error_traceback_is_trimmed_to_learner_code
test_syntax_error_names_the_line = base.test_syntax_error_names_the_line
test_interrupt_stops_an_infinite_loop_and_kernel_keeps_state = base.test_interrupt_stops_an_infinite_loop_and_kernel_keeps_state
test_timeout_interrupts_the_cell = base.test_timeout_interrupts_the_cell
test_sys_exit_does_not_end_the_kernel = base.test_sys_exit_does_not_end_the_kernel
test_stdin_gives_a_clear_error = base.test_stdin_gives_a_clear_error
test_raw_fd_output_reaches_the_cell = base.test_raw_fd_output_reaches_the_cell
test_million_lines_are_capped = base.test_million_lines_are_capped
test_track_streams_metrics = base.test_track_streams_metrics
test_os_exit_is_reported_and_the_kernel_restarts = base.test_os_exit_is_reported_and_the_kernel_restarts
test_segfault_is_reported = base.test_segfault_is_reported
test_exercise_check_runs_in_a_scratch_namespace = base.test_exercise_check_runs_in_a_scratch_namespace
test_exercise_error_in_learner_code_is_reported = base.test_exercise_error_in_learner_code_is_reported
test_kernel_exits_when_its_ui_process_is_killed = base.test_kernel_exits_when_its_ui_process_is_killed
test_manager_restart_gives_a_fresh_process = base.test_manager_restart_gives_a_fresh_process
test_interrupt_never_lands_inside_an_import = base.test_interrupt_never_lands_inside_an_import


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def test_forked_kernel_is_the_fork_servers_child_in_its_own_session(fork_socket: str) -> None:
    k = BlockingKernel(device="cpu", env=dict(os.environ))
    k.start()
    try:
        proc = k.manager.proc
        assert isinstance(proc, ForkedKernel)
        assert os.getpgid(proc.pid) == proc.pid  # its own process group: killpg ends it and its children
        reply = k.execute("import os\nos.getppid() != os.getpid(), os.environ['LLM_TUTOR_KERNEL_SERVER']")
        assert reply.result is not None and reply.result.text == f"(True, {fork_socket!r})"
    finally:
        k.shutdown()
    assert not _alive(proc.pid)


def test_each_forked_kernel_draws_its_own_random_numbers() -> None:
    draws = []
    for _ in range(2):
        k = BlockingKernel(device="cpu", env=dict(os.environ))
        k.start()
        try:
            reply = k.execute("import random, torch\n(random.random(), torch.rand(1).item())")
            assert reply.result is not None
            draws.append(reply.result.text)
        finally:
            k.shutdown()
    assert draws[0] != draws[1]


def test_limits_from_the_environment_apply_to_forked_kernels(monkeypatch: pytest.MonkeyPatch) -> None:
    # as in a lab session: the app's own environment carries the limits the server chose
    monkeypatch.setenv("LLM_TUTOR_KERNEL_THREADS", "1")
    monkeypatch.setenv("LLM_TUTOR_KERNEL_MEMORY_MB", "600")
    k = BlockingKernel(device="cpu", env=dict(os.environ))
    k.start()
    try:
        assert k.execute("import torch\ntorch.get_num_threads()").result.text == "1"  # type: ignore[union-attr]
        reply = k.execute("big = torch.empty(4_000_000_000, dtype=torch.uint8)\nbig.fill_(1)")
        assert reply.status == "error" and reply.error is not None
        assert k.execute("'still here'").result.text == "'still here'"  # type: ignore[union-attr]
    finally:
        k.shutdown()


def test_closing_the_connection_kills_the_kernel(fork_socket: str) -> None:
    forked = spawn_kernel(fork_socket, ["--device", "cpu"], dict(os.environ))
    assert forked is not None
    pid = forked.pid
    assert _alive(pid)
    forked.sock.shutdown(socket.SHUT_RDWR)
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)
    assert forked.wait(timeout=10) < 0  # killed by a signal, reported as with subprocess


def test_exit_status_and_kill_reach_the_client(fork_socket: str) -> None:
    forked = spawn_kernel(fork_socket, ["--device", "cpu"], dict(os.environ))
    assert forked is not None
    assert forked.poll() is None
    with pytest.raises(subprocess.TimeoutExpired):
        forked.wait(timeout=0.05)
    os.killpg(forked.pid, signal.SIGKILL)
    assert forked.wait(timeout=10) == -signal.SIGKILL
    assert forked.poll() == -signal.SIGKILL


def test_manager_falls_back_to_spawning_without_a_server(tmp_path: Path) -> None:
    env = dict(os.environ, LLM_TUTOR_KERNEL_SERVER=str(tmp_path / "no-such.sock"))
    manager = KernelManager(device="cpu", env=env)
    manager.start()
    try:
        assert isinstance(manager.proc, subprocess.Popen)
        assert manager.wait_ready(120)
    finally:
        manager.shutdown()


def test_a_malformed_request_is_refused_and_the_server_keeps_serving(fork_socket: str) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(fork_socket)
        body = b"not json"
        sock.sendall(len(body).to_bytes(4, "big") + body)
        sock.settimeout(10)
        reply = sock.recv(4096)
    assert b'"error"' in reply
    forked = spawn_kernel(fork_socket, ["--device", "cpu"], dict(os.environ))
    assert forked is not None
    forked.kill()
    assert forked.wait(timeout=10) == -signal.SIGKILL


def test_socket_is_private(fork_socket: str) -> None:
    assert os.stat(fork_socket).st_mode & 0o777 == 0o600


def test_client_module_stays_torch_free() -> None:
    code = "import sys, llm_tutor.engine.procs.forkserver as f; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False"


def test_the_server_and_its_kernels_end_when_its_starter_is_killed(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    folder.mkdir(mode=0o700)
    sock = folder / "k.sock"
    pids = tmp_path / "pids"
    starter = subprocess.Popen([sys.executable, "-c", (
        "import os, sys, time\n"
        "from llm_tutor.engine.procs.forkserver import start_server, spawn_kernel\n"
        f"server = start_server({str(sock)!r})\n"
        f"kernel = spawn_kernel({str(sock)!r}, ['--device', 'cpu'], dict(os.environ))\n"
        f"open({str(pids)!r}, 'w').write(f'{{server.pid}} {{kernel.pid}}')\n"
        "time.sleep(120)\n")])
    try:
        deadline = time.monotonic() + 120
        while not (pids.exists() and pids.read_text()) and time.monotonic() < deadline:
            time.sleep(0.1)
        server_pid, kernel_pid = map(int, pids.read_text().split())
        starter.kill()
        starter.wait()
        deadline = time.monotonic() + 15
        while (_alive(server_pid) or _alive(kernel_pid)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(server_pid) and not _alive(kernel_pid)
        assert not sock.exists()
    finally:
        starter.kill()

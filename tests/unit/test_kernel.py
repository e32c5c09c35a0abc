"""The kernel process: runs code, keeps namespaces, interrupts, survives and reports crashes."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from llm_tutor.engine.kernel import protocol
from llm_tutor.engine.kernel import BlockingKernel, KernelManager, describe_exit
from tests.waiting import wait_until


# the module-scoped fixture below is built once: these tests stay on one xdist worker
pytestmark = pytest.mark.xdist_group("unit-kernel")


@pytest.fixture(scope="module")
def kernel() -> Iterator[BlockingKernel]:
    k = BlockingKernel(device="cpu")
    k.start()
    yield k
    k.shutdown()


def test_ready_reports_device_and_torch(kernel: BlockingKernel) -> None:
    ready = kernel.manager.ready
    assert ready is not None
    assert ready.device == "cpu"
    assert ready.torch_version.startswith("2.")
    assert ready.pid == kernel.manager.pid and ready.pid != os.getpid()


def test_execute_streams_output_and_returns_last_expression(kernel: BlockingKernel) -> None:
    reply = kernel.execute("import torch\nx = torch.ones(2, 3)\nprint('shape', tuple(x.shape))\nx.sum()")
    assert reply.status == "ok"
    assert reply.stdout == "shape (2, 3)\n"
    assert reply.result is not None and reply.result.text == "tensor(6.)"
    assert all(getattr(e, "parent", reply.id) == reply.id for e in reply.events)


def test_namespace_persists_and_is_separate_per_lesson(kernel: BlockingKernel) -> None:
    kernel.execute("a = 41", namespace="one")
    assert kernel.execute("a + 1", namespace="one").result.text == "42"  # type: ignore[union-attr]
    other = kernel.execute("a", namespace="two")
    assert other.status == "error" and other.error is not None and other.error.ename == "NameError"


def test_a_namespace_reset_puts_back_process_wide_torch_settings(kernel: BlockingKernel) -> None:
    """A lesson's set_num_threads or set_default_dtype(float64) must not follow into the next lesson."""
    probe = "import torch\n(torch.get_num_threads(), torch.get_default_dtype(), torch.is_grad_enabled())"
    before = kernel.execute(probe, namespace="a").result.text  # type: ignore[union-attr]
    changed = kernel.execute(
        "torch.set_num_threads(torch.get_num_threads() + 1); torch.set_default_dtype(torch.float64)\n"
        "torch.set_grad_enabled(False); torch.set_printoptions(precision=1)\n"
        "(torch.get_num_threads(), torch.get_default_dtype(), torch.is_grad_enabled())", namespace="a")
    threads = int(before.split(",")[0].strip("("))  # type: ignore[union-attr]
    assert changed.result.text == f"({threads + 1}, torch.float64, False)"  # type: ignore[union-attr]
    kernel.reset_namespace("a")
    after = kernel.execute(probe, namespace="b")
    assert after.result.text == before  # type: ignore[union-attr]
    assert kernel.execute("torch.tensor([1.23456])", namespace="b").result.text == "tensor([1.2346])"  # type: ignore[union-attr]


def test_device_is_a_ready_variable(kernel: BlockingKernel) -> None:
    assert kernel.execute("device", namespace="dev").result.text == "'cpu'"  # type: ignore[union-attr]


def test_error_traceback_is_trimmed_to_learner_code(kernel: BlockingKernel) -> None:
    reply = kernel.execute("import torch\nt = torch.arange(6).reshape(2, 3)\nt.T.view(6)", cell_id="view")
    err = reply.error
    assert reply.status == "error" and err is not None
    assert err.ename == "RuntimeError" and err.lineno == 3
    assert all("<cell view>" in line for line in err.traceback)
    assert "contiguous" in err.hint


def test_syntax_error_names_the_line(kernel: BlockingKernel) -> None:
    reply = kernel.execute("x = 1\ny = (", cell_id="syn")
    assert reply.status == "error" and reply.error is not None
    assert reply.error.ename == "SyntaxError" and reply.error.lineno == 2


def test_interrupt_stops_an_infinite_loop_and_kernel_keeps_state(kernel: BlockingKernel) -> None:
    kernel.execute("kept = 'still here'")
    rid = kernel.client.execute("while True:\n    pass")
    assert wait_until(lambda: kernel.manager.current == rid and kernel.manager.state == "busy", 30)
    kernel.manager.interrupt()
    reply = kernel.wait(rid, timeout=10)
    assert reply.status == "interrupted"
    assert reply.error is not None and reply.error.ename == "KeyboardInterrupt"
    assert kernel.execute("kept").result.text == "'still here'"  # type: ignore[union-attr]


def test_timeout_interrupts_the_cell(kernel: BlockingKernel) -> None:
    reply = kernel.execute("import time\nwhile True:\n    time.sleep(0.01)", timeout=0.5)
    assert reply.status == "timeout"
    assert kernel.execute("1 + 1").result.text == "2"  # type: ignore[union-attr]


def test_sys_exit_does_not_end_the_kernel(kernel: BlockingKernel) -> None:
    pid = kernel.manager.pid
    reply = kernel.execute("import sys\nsys.exit(3)")
    assert reply.status == "error" and reply.error is not None and reply.error.ename == "SystemExit"
    assert kernel.manager.pid == pid and kernel.manager.is_alive()


def test_stdin_gives_a_clear_error(kernel: BlockingKernel) -> None:
    reply = kernel.execute("input('name? ')")
    assert reply.error is not None and "stdin" in reply.error.evalue


def test_raw_fd_output_reaches_the_cell(kernel: BlockingKernel) -> None:
    reply = kernel.execute("import os\nos.write(1, b'straight to fd 1\\n')\nNone")
    assert "straight to fd 1" in reply.stdout


def test_million_lines_are_capped(kernel: BlockingKernel) -> None:
    reply = kernel.execute("for i in range(1_000_000):\n    print(i)")
    assert reply.status == "ok"
    assert len(reply.stdout) < 2_200_000
    assert "output truncated" in reply.stdout
    assert kernel.execute("'responsive'").result.text == "'responsive'"  # type: ignore[union-attr]


def test_track_streams_metrics(kernel: BlockingKernel) -> None:
    reply = kernel.execute("for i in range(3):\n    track(step=i, loss=1.0 / (i + 1))")
    metrics = [e for e in reply.events if isinstance(e, protocol.Metric)]
    assert [m.step for m in metrics] == [0, 1, 2]
    assert metrics[-1].values["loss"] == pytest.approx(1 / 3)


def test_os_exit_is_reported_and_the_kernel_restarts(kernel: BlockingKernel) -> None:
    old = kernel.manager.pid
    reply = kernel.execute("import os\nos._exit(3)")
    assert reply.status == "dead" and reply.died is not None
    assert reply.died.exitcode == 3 and "status 3" in reply.died.reason
    assert kernel.manager.pid != old and kernel.manager.is_alive()
    assert kernel.execute("1 + 2").result.text == "3"  # type: ignore[union-attr]


def test_segfault_is_reported(kernel: BlockingKernel) -> None:
    reply = kernel.execute("import ctypes\nctypes.string_at(0)")
    assert reply.status == "dead" and reply.died is not None
    assert "segmentation fault" in reply.died.reason
    assert kernel.execute("'alive again'").result.text == "'alive again'"  # type: ignore[union-attr]


def test_exercise_check_runs_in_a_scratch_namespace(kernel: BlockingKernel) -> None:
    kernel.execute("import torch\nbase = torch.zeros(2)", namespace="ex")
    reply = kernel.check_exercise("t = base + 1", "expect.close(t, torch.ones(2))\nexpect.shape(t, (3,))", "e1", "ex")
    check = reply.check
    assert check is not None and not check.passed
    assert [e.passed for e in check.expectations] == [True, False]
    assert check.expectations[1].expected == "shape (3,)" and check.expectations[1].got == "shape (2,)"
    leaked = kernel.execute("t", namespace="ex")
    assert leaked.status == "error"  # the exercise's variables stay in its scratch copy


def test_exercise_error_in_learner_code_is_reported(kernel: BlockingKernel) -> None:
    reply = kernel.check_exercise("t = undefined_name + 1", "expect.equal(t, 1)", "e2", "ex")
    assert reply.check is not None and not reply.check.passed
    assert reply.check.error is not None and reply.check.error.ename == "NameError"


def test_kernel_exits_when_its_ui_process_is_killed(tmp_path) -> None:
    import subprocess
    import sys

    script = tmp_path / "ui.py"
    pidfile = tmp_path / "pid"
    script.write_text(
        "import os, sys, time\n"
        "from llm_tutor.engine.kernel import BlockingKernel\n"
        "k = BlockingKernel(device='cpu'); k.start()\n"
        "k.client.execute('while True: pass')\n"
        "while k.manager.state != 'busy':\n"
        "    time.sleep(0.01)\n"
        f"open({str(pidfile)!r} + '.tmp', 'w').write(str(k.manager.pid))\n"
        f"os.rename({str(pidfile)!r} + '.tmp', {str(pidfile)!r})\n"
        "time.sleep(60)\n"
    )
    ui = subprocess.Popen([sys.executable, str(script)])
    try:
        assert wait_until(pidfile.exists, 120), "the UI process never had its kernel busy"
        kernel_pid = int(pidfile.read_text())
        ui.kill()
        ui.wait()

        def gone() -> bool:
            try:
                os.kill(kernel_pid, 0)
            except ProcessLookupError:
                return True
            return False

        assert wait_until(gone, 5), "the kernel outlived its UI process"
    finally:
        ui.kill()


def test_describe_exit() -> None:
    assert "segmentation fault" in describe_exit(-11)
    assert "killed" in describe_exit(-9)
    assert "status 3" in describe_exit(3)


def test_manager_restart_gives_a_fresh_process() -> None:
    events: list[object] = []
    manager = KernelManager(events.append, device="cpu")
    manager.start()
    try:
        assert manager.wait_ready(120)
        first = manager.pid
        manager.restart()
        assert manager.wait_ready(120)
        assert manager.pid != first
        assert manager.state == "idle"
    finally:
        manager.shutdown()
    assert not manager.is_alive()


def test_interrupt_never_lands_inside_an_import(kernel: BlockingKernel, tmp_path) -> None:
    (tmp_path / "slow_import_mod.py").write_text("import time\ntime.sleep(1.0)\nDONE = True\n")
    kernel.execute(f"import sys\nsys.path.insert(0, {str(tmp_path)!r})", namespace="imp")
    rid = kernel.client.execute("import slow_import_mod\nwhile True:\n    pass", namespace="imp")
    assert wait_until(lambda: kernel.manager.current == rid and kernel.manager.state == "busy", 30)
    kernel.manager.interrupt()  # while the import sleeps
    reply = kernel.wait(rid, timeout=10)
    assert reply.status == "interrupted"
    # the module finished importing: the interrupt waited for it instead of leaving it half-made
    assert kernel.execute("import slow_import_mod\nslow_import_mod.DONE", namespace="imp").result.text == "True"  # type: ignore[union-attr]


def test_raw_output_goes_to_its_own_request_even_when_the_reader_lags(kernel: BlockingKernel) -> None:
    """Many quick requests, each writing to fd 1: every request gets exactly its own raw output."""
    rids = [kernel.client.execute(f"import os\nos.write(1, b'raw-{i}\\n')\nNone") for i in range(30)]
    for i, rid in enumerate(rids):
        reply = kernel.wait(rid, timeout=30)
        assert reply.stdout == f"raw-{i}\n", (i, reply.stdout)


def test_raw_output_ahead_of_the_protocol_reader_keeps_its_owner() -> None:
    """The raw pipe can be read several requests ahead of the protocol pipe: output after the last end marker
    belongs to the request after it, not to the next Status(busy) the protocol reader happens to read."""
    from llm_tutor.engine.kernel import protocol
    from llm_tutor.engine.kernel.manager import RAW_END, KernelManager

    got: list[tuple[str, str]] = []
    manager = KernelManager(lambda e: got.append((e.parent, e.text)) if isinstance(e, protocol.Stream) else None,
                            memory_limit_mb=0)

    def marker(rid: str) -> bytes:
        return RAW_END + rid.encode() + b"\x1e\n"

    manager.track(protocol.Status("busy", "r3"))
    manager.feed_raw(b"raw-3\n" + marker("r3") + b"raw-4\n" + marker("r4") + b"raw-5\n")  # r5 still running
    manager.track(protocol.Status("busy", "r4"))  # the protocol reader catches up, one request at a time
    manager.track(protocol.Status("busy", "r5"))
    manager.feed_raw(b"more-5\n" + marker("r5"))
    assert got == [("r3", "raw-3\n"), ("r4", "raw-4\n"), ("r5", "raw-5\n"), ("r5", "more-5\n")]



def test_an_exercise_that_changes_lesson_tensors_in_place_leaves_the_lesson_as_it_was(kernel: BlockingKernel) -> None:
    """sgd_step-style code run by a check works on copies: the lesson's weights, model and optimizer are untouched,
    and the copied optimizer still steps the copied model."""
    setup = (
        "import torch\n"
        "torch.manual_seed(0)\n"
        "w = torch.ones(3, requires_grad=True)\n"
        "model = torch.nn.Linear(2, 1)\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.5)\n"
        "params = [w]\n"
        "model(torch.ones(1, 2)).sum().backward()\n"
        "before = model.weight.detach().clone()\n"
    )
    assert kernel.execute(setup, namespace="iso").status == "ok"
    code = "with torch.no_grad():\n    w.sub_(1)\nopt.step()\nparams.append(0)\n"
    checks = ("expect.close(w, torch.zeros(3))\n"
              "expect.true(not torch.equal(model.weight, before), 'the copied optimizer stepped the copied model')")
    reply = kernel.check_exercise(code, checks, "iso1", "iso")
    assert reply.check is not None and reply.check.passed, reply.check
    after = kernel.execute("(w.tolist(), torch.equal(model.weight, before), len(params))", namespace="iso")
    assert after.result.text == "([1.0, 1.0, 1.0], True, 1)"  # type: ignore[union-attr]

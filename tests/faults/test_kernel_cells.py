"""Learner code that misbehaves, run in a real kernel process: the kernel survives or is restarted, says what
happened, and its namespace keeps what it should.

Crashes that end the kernel (segfault, ``os._exit``) are driven through the app and the CLI, in
test_app_cells.py and test_cli_faults.py; the cases here keep one kernel alive for the whole module.
"""

from __future__ import annotations

import math
import os
import signal
import time
from collections.abc import Iterator

import pytest

from llm_tutor.engine.kernel import protocol
from llm_tutor.engine.kernel import BlockingKernel
from llm_tutor.engine.kernel.child.output import OUTPUT_CAP_BYTES
from tests.faults.conftest import alive, descendants, eventually

MEMORY_MB = 1536
"""The kernel's memory limit here: room for a 10^9-element int8 tensor, not for a float32 one."""


# the module-scoped fixture below is built once: these tests stay on one xdist worker
pytestmark = pytest.mark.xdist_group("faults-kernel")


@pytest.fixture(scope="module")
def kernel() -> Iterator[BlockingKernel]:
    k = BlockingKernel(device="cpu", memory_limit_mb=MEMORY_MB, interrupt_grace=1.0)
    k.start()
    yield k
    k.shutdown()


@pytest.fixture
def own_kernel() -> Iterator[BlockingKernel]:
    """A kernel for one test that leaves it broken for others (file descriptors 1 and 2 closed)."""
    k = BlockingKernel(device="cpu", memory_limit_mb=MEMORY_MB, interrupt_grace=1.0)
    k.start()
    yield k
    k.shutdown()


def value(reply) -> str:  # type: ignore[no-untyped-def]
    assert reply.result is not None, (reply.status, reply.error, reply.died)
    return reply.result.text


def test_a_memory_bomb_is_stopped_by_the_memory_limit_and_says_so(kernel: BlockingKernel) -> None:
    pid = kernel.manager.pid
    reply = kernel.execute("hog = []\nwhile True:\n    hog.append(bytearray(100_000_000))", "bomb", timeout=60)
    assert reply.status == "error" and reply.error is not None
    assert reply.error.ename == "MemoryError"
    assert f"memory limit ({MEMORY_MB} MB" in reply.error.hint
    assert kernel.manager.pid == pid, "the kernel itself survived"
    # the learner can free the memory and go on in the same kernel
    assert value(kernel.execute("del hog\n'freed'")) == "'freed'"


def test_a_billion_element_tensor_is_either_refused_clearly_or_summarised_without_a_copy(kernel: BlockingKernel) -> None:
    # float32: 4 GB of address space, over this kernel's limit: refused with the limit named
    refused = kernel.execute("import torch\nhuge = torch.empty(10**9)")
    assert refused.status == "error" and refused.error is not None
    assert "can't allocate memory" in refused.error.evalue
    assert "memory limit" in refused.error.hint
    # int8: 1 GB, allowed; allocated lazily, and neither the variables panel nor the tensor panel copies it
    reply = kernel.execute(
        "big = torch.empty(10**9, dtype=torch.int8)\n"
        "def rss_mb():\n"
        "    return int(next(l for l in open('/proc/self/status') if l.startswith('VmRSS')).split()[1]) // 1024\n"
        "before = rss_mb()",
        inspect=True,
    )
    assert reply.status == "ok"
    variables = reply.first(protocol.Variables)
    row = next(v for v in variables.variables if v.name == "big")
    assert row.kind == "tensor" and row.shape == [10**9] and row.dtype == "int8"
    summary = kernel.inspect("big", timeout=60)
    result = summary.first(protocol.InspectResult)
    assert summary.status == "ok" and result.tensor is not None, result
    assert result.tensor.numel == 10**9 and result.tensor.stats["min"] == 0
    # the summary is bounded in time; when it stopped early it says how much it read
    if result.tensor.label:
        assert "statistics of the first" in result.tensor.label
    assert int(value(kernel.execute("rss_mb() - before"))) < 300, "the tensor was copied"
    kernel.execute("del big")


def test_one_huge_print_is_cut_to_the_output_cap(kernel: BlockingKernel) -> None:
    reply = kernel.execute("print('x' * 50_000_000)")
    assert reply.status == "ok"
    assert len(reply.stdout) <= OUTPUT_CAP_BYTES + 200
    assert "output truncated" in reply.stdout and "more characters not shown" in reply.stdout


def test_the_last_lines_before_a_long_computation_are_shown_while_it_runs(kernel: BlockingKernel, tmp_path) -> None:  # type: ignore[no-untyped-def]
    release = tmp_path / "release"
    seen: list[str] = []
    forward = kernel.manager.on_event

    def spy(event: object) -> None:
        if isinstance(event, protocol.Stream):
            seen.append(event.text)
        forward(event)

    kernel.manager.on_event = spy
    try:
        rid = kernel.client.execute(
            f"import os, time\nprint('first')\nprint('second')\nwhile not os.path.exists({str(release)!r}):\n    time.sleep(0.01)"
        )
        # 'second' was printed right after 'first' (buffered); it must arrive while the cell still runs
        arrived = eventually(lambda: "second" in "".join(seen), 20)
        release.touch()
        assert arrived, seen
        assert kernel.wait(rid, timeout=20).status == "ok"
    finally:
        kernel.manager.on_event = forward


def test_writing_to_stdouts_file_descriptor_reaches_the_cell_and_is_capped(kernel: BlockingKernel) -> None:
    small = kernel.execute("import os\nos.write(1, b'straight to fd 1\\n')\nos.write(2, b'and fd 2\\n')\nNone")
    assert "straight to fd 1" in small.stdout and "and fd 2" in small.stdout
    flood = kernel.execute("os.write(1, b'y' * 20_000_000)\nNone")
    assert flood.status == "ok"
    assert len(flood.stdout) < 1_100_000 and "[raw output truncated]" in flood.stdout
    assert value(kernel.execute("'after the flood'")) == "'after the flood'"


def test_replacing_or_closing_the_output_streams_does_not_silence_later_cells(own_kernel: BlockingKernel) -> None:
    kernel = own_kernel
    kernel.execute("import io, sys\nsys.stdout = io.StringIO()\nsys.stderr = None\nprint('swallowed')")
    assert kernel.execute("print('visible again')").stdout == "visible again\n"
    # closing the raw descriptors: later cells still print, and finish without waiting for lost markers
    closed = kernel.execute("import os\nos.close(1)\nos.close(2)\nprint('after closing')")
    assert closed.status == "ok" and closed.stdout == "after closing\n"
    later = kernel.execute("print('still here')")
    assert later.stdout == "still here\n" and later.duration_s < 0.9


def test_reading_stdin_fails_clearly_instead_of_hanging(kernel: BlockingKernel) -> None:
    for code in ("input('name? ')", "import sys\nsys.stdin.read()", "sys.stdin.readline()"):
        reply = kernel.execute(code, timeout=20)
        assert reply.status == "error" and reply.error is not None, code
        assert "stdin" in reply.error.evalue
    # the raw descriptor 0 is /dev/null: a read returns nothing at once
    assert value(kernel.execute("import os\nos.read(0, 10)", timeout=20)) == "b''"


def test_sys_exit_is_an_error_not_the_end_of_the_kernel(kernel: BlockingKernel) -> None:
    pid = kernel.manager.pid
    for code in ("import sys\nsys.exit()", "sys.exit(3)", "raise SystemExit('bye')", "exit()"):
        reply = kernel.execute(code)
        assert reply.status == "error" and reply.error is not None and reply.error.ename == "SystemExit", code
        assert "keeps running" in reply.error.evalue
    assert kernel.manager.pid == pid and kernel.manager.is_alive()


def test_an_interrupt_the_cell_swallows_escalates_to_a_restart(kernel: BlockingKernel) -> None:
    code = "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    time.sleep(0.01)"
    old = kernel.manager.pid
    reply = kernel.execute(code, timeout=0.5)
    assert reply.status == "timeout"
    assert kernel.manager.pid != old  # a new kernel process: the old one was restarted away
    assert not alive(old)  # type: ignore[arg-type]
    assert value(kernel.execute("'fresh kernel'")) == "'fresh kernel'"


def test_globals_clear_keeps_the_tutors_names_and_explains_missing_ones(kernel: BlockingKernel) -> None:
    kernel.execute("import torch\nw = torch.ones(3)", namespace="wipe")
    cleared = kernel.execute("globals().clear()", namespace="wipe", inspect=True)
    assert cleared.status == "ok"
    assert cleared.first(protocol.Variables).variables == []
    assert value(kernel.execute("device, track.__name__", namespace="wipe")) == "('cpu', 'track')"
    missing = kernel.execute("w * 2", namespace="wipe")
    assert missing.error is not None and missing.error.ename == "NameError"
    assert "run the cells above" in missing.error.hint


def test_rebinding_torch_in_the_namespace_breaks_neither_panels_nor_checks(kernel: BlockingKernel) -> None:
    reply = kernel.execute("import torch\nx = torch.arange(4.0)\ntorch = None", namespace="rebind", inspect=True)
    assert reply.status == "ok"
    rows = {v.name: v for v in reply.first(protocol.Variables).variables}
    assert rows["x"].shape == [4]
    check = kernel.check_exercise("y = x * 2", "expect.close(y, torch.tensor([0.0, 2.0, 4.0, 6.0]))", "double", "rebind")
    assert check.check is not None and check.check.passed, check.check
    tensor = kernel.inspect("x", namespace="rebind").first(protocol.InspectResult)
    assert tensor.tensor is not None and tensor.tensor.stats["max"] == 3.0


def test_non_finite_losses_tracked_from_a_cell_reach_the_ui_as_numbers(kernel: BlockingKernel) -> None:
    reply = kernel.execute(
        "import torch\n"
        "for step, loss in enumerate([2.5, float('inf'), float('nan'), -float('inf'), 1e308 * 10]):\n"
        "    track(step=step, loss=loss)\n"
        "track(step=5, loss=torch.tensor(float('nan')))\n"
        "'alive'",
        namespace="track",
    )
    assert value(reply) == "'alive'"
    values = [m.values["loss"] for m in reply.events if isinstance(m, protocol.Metric)]
    assert values[0] == 2.5 and values[1] == math.inf and math.isnan(values[2]) and values[3] == -math.inf
    assert values[4] == math.inf and math.isnan(values[5])


def test_a_thread_that_keeps_printing_after_its_cell_is_bounded_and_shown_in_that_cell(kernel: BlockingKernel) -> None:
    late: list[protocol.Stream] = []
    forward = kernel.manager.on_event

    def spy(event: object) -> None:
        if isinstance(event, protocol.Stream):
            late.append(event)
        forward(event)

    kernel.manager.on_event = spy
    try:
        start = kernel.execute(
            "import threading, time\n"
            "def chatter():\n"
            "    time.sleep(0.2)  # the cell has ended by now\n"
            "    for i in range(400):\n"
            "        print(f'tick {i} ' + 'x' * 10_000)\n"
            "t = threading.Thread(target=chatter, daemon=True)\n"
            "t.start()",
            namespace="thread",
        )
        assert start.status == "ok"

        def late_chars() -> int:
            return sum(len(e.text) for e in late if e.parent == start.id)

        assert eventually(lambda: late_chars() >= OUTPUT_CAP_BYTES - 70_000, 30), late_chars()
        assert value(kernel.execute("t.join(10)\nt.is_alive()", namespace="thread")) == "False"
        assert late_chars() <= OUTPUT_CAP_BYTES + 70_000, "4 MB printed after the cell: capped like the cell's own output"
    finally:
        kernel.manager.on_event = forward


def test_forked_children_end_with_the_kernel_and_on_restart(kernel: BlockingKernel) -> None:
    reply = kernel.execute(
        "import os, subprocess, time\n"
        "kids = []\n"
        "for _ in range(20):\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        time.sleep(600)\n"
        "        os._exit(0)\n"
        "    kids.append(pid)\n"
        "for _ in range(3):\n"
        "    kids.append(subprocess.Popen(['sleep', '600']).pid)\n"
        "len(kids)",
        namespace="fork",
        timeout=60,
    )
    assert value(reply) == "23"
    old = kernel.manager.pid
    assert old is not None
    kids = descendants(old)
    assert len(kids) >= 23
    # the kernel is killed from outside (as the system's OOM killer would): it is reported, the
    # forked children die with it, and the restart ends the rest (they share its process group)
    rid = kernel.client.execute("import time\ntime.sleep(60)", namespace="fork")
    os.kill(old, signal.SIGKILL)
    died = kernel.wait(rid, timeout=30)
    assert died.status == "dead" and died.died is not None and "SIGKILL" in died.died.reason
    assert eventually(lambda: not any(alive(pid) for pid in kids), 10), [p for p in kids if alive(p)]
    assert value(kernel.execute("'new kernel'")) == "'new kernel'"


def test_the_kernel_runs_under_a_process_limit(kernel: BlockingKernel) -> None:
    soft, hard = eval(value(kernel.execute("import resource\nresource.getrlimit(resource.RLIMIT_NPROC)")))  # noqa: S307
    assert soft == hard and 0 < soft < 1_000_000, "a finite limit the cell cannot lift"
    tasks = int(value(kernel.execute("from llm_tutor.engine.kernel.limits import user_tasks\nuser_tasks()")))
    assert soft > tasks, "room to start processes and threads"


@pytest.mark.skipif(os.getuid() == 0, reason="RLIMIT_NPROC does not bind root; the limit itself is checked above")
def test_the_process_limit_stops_a_fork_bomb() -> None:
    env = dict(os.environ, LLM_TUTOR_KERNEL_MAX_PROCS="60")
    with BlockingKernel(device="cpu", memory_limit_mb=0, env=env) as k:
        bomb = k.execute(
            "import os, time\n"
            "n = 0\n"
            "while n < 2000:\n"
            "    if os.fork() == 0:\n"
            "        time.sleep(30)\n"
            "        os._exit(0)\n"
            "    n += 1\n",
            timeout=60,
        )
        assert bomb.status == "error" and bomb.error is not None and bomb.error.ename == "BlockingIOError"
        assert "process limit" in bomb.error.hint
        assert int(value(k.execute("n"))) < 2000
        assert value(k.execute("1 + 1")) == "2", "the kernel answers after the bomb"
        pid = k.manager.pid
        assert pid is not None
        kids = descendants(pid)
    assert eventually(lambda: not any(alive(p) for p in kids), 10)

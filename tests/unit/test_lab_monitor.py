"""The lab's torch-free side: the run monitor folds events; the trainer process speaks JSON lines and reports deaths."""

from __future__ import annotations

import queue
import signal
import threading
from typing import Any

from llm_tutor.engine.train import events as ev
from llm_tutor.engine.train.monitor import RunMonitor
from llm_tutor.engine.train.process import TrainerProcess, describe_exit


def started(step: int = 0) -> ev.TrainStarted:
    return ev.TrainStarted("lab", "mlp", {"hidden_width": 4}, {"lr": 0.1, "steps": 0}, params=17, step=step)


def test_metrics_fill_the_series_and_take_reports_each_change_once() -> None:
    m = RunMonitor()
    m.apply(started())
    m.apply(ev.TrainMetrics("lab", step=3, loss=0.5, first_step=1, losses=[0.7, 0.5, 0.3], val_loss=0.6))
    m.apply(ev.TrainMetrics("lab", step=5, loss=0.2, first_step=4, losses=[0.25, 0.15]))
    assert list(m.loss.steps) == [1, 2, 3, 4, 5] and list(m.val.values) == [0.6]
    assert m.state == "paused" and m.step == 5 and m.val_loss == 0.6
    changed, notices = m.take()
    assert {"started", "metrics", "state"} <= changed and notices == []
    assert m.take() == (set(), [])


def test_a_reset_clears_the_curve_and_faults_are_kept_until_then() -> None:
    m = RunMonitor()
    m.apply(started())
    m.apply(ev.TrainMetrics("lab", step=2, loss=1.0, first_step=1, losses=[1.0, 1.0]))
    m.apply(ev.TrainError("lab", "nan", "the loss became nan at step 3", step=2))
    m.apply(ev.TrainState("lab", "failed", 2))
    assert m.fault is not None and m.fault.kind == "nan" and m.state == "failed"
    _, notices = m.take()
    assert [type(n) for n in notices] == [ev.TrainError]
    m.apply(started())
    m.apply(ev.TrainState("lab", "paused", 0, "reset"))
    assert m.fault is None and len(m.loss) == 0 and m.state == "paused"


def test_a_resumed_run_brings_its_curves_so_far() -> None:
    m = RunMonitor()
    m.apply(started())
    m.apply(ev.TrainMetrics("lab", step=2, loss=9.0, first_step=1, losses=[9.0, 9.0]))
    resumed = ev.TrainStarted("lab", "mlp", {}, {}, params=17, step=3,
                              history={"loss": [[1, 2, 3], [0.9, 0.8, 0.7]], "val": [[3], [0.75]]})
    m.apply(ev.decode(ev.encode(resumed)))  # as it travels from the trainer process
    assert list(m.loss.steps) == [1, 2, 3] and list(m.loss.values) == [0.9, 0.8, 0.7] and list(m.val.values) == [0.75]
    m.apply(ev.TrainMetrics("lab", step=4, loss=0.6, first_step=4, losses=[0.6]))
    assert list(m.loss.steps) == [1, 2, 3, 4]


def test_steps_going_back_without_a_start_never_mix_two_runs() -> None:
    m = RunMonitor()
    m.apply(ev.TrainMetrics("lab", step=10, loss=1.0, first_step=9, losses=[1.0, 1.0]))
    m.apply(ev.TrainMetrics("lab", step=2, loss=1.0, first_step=1, losses=[2.0, 2.0]))
    assert list(m.loss.steps) == [1, 2]


def test_describe_exit_says_what_happened() -> None:
    assert "killed (SIGKILL)" in describe_exit(-signal.SIGKILL)
    assert "status 2" in describe_exit(2, "Traceback...\nValueError: bad\n") and "ValueError: bad" in describe_exit(2, "ValueError: bad\n")


def test_trainer_process_trains_takes_controls_and_reports_a_kill() -> None:
    got: queue.Queue[Any] = queue.Queue()
    exits: list[tuple[int | None, str]] = []
    done = threading.Event()

    def on_exit(code: int | None, reason: str) -> None:
        exits.append((code, reason))
        done.set()

    proc = TrainerProcess(got.put, on_exit, threads=1)
    try:
        proc.start("neuron", {}, {"steps": 0, "report_every": 1})

        def wait_for(kind: type, pred: Any = lambda e: True) -> Any:
            while True:
                event = got.get(timeout=120)
                if isinstance(event, kind) and pred(event):
                    return event

        first = wait_for(ev.TrainStarted)
        assert first.model == "neuron" and first.params == 2 and first.card["threads"] == 1
        proc.send("step", 3)
        metrics = wait_for(ev.TrainMetrics, lambda e: e.step == 3)
        assert metrics.lr == 1.0
        proc.send("set_lr", 0.5)
        proc.send("step", 1)
        assert wait_for(ev.TrainMetrics, lambda e: e.step == 4).lr == 0.5
        proc.kill()
        assert done.wait(30)
        assert exits and "killed" in exits[0][1]
    finally:
        proc.stop()


def test_a_stopped_trainer_is_not_reported_as_a_death() -> None:
    got: queue.Queue[Any] = queue.Queue()
    exits: list[Any] = []
    proc = TrainerProcess(got.put, lambda code, reason: exits.append(code), threads=1)
    proc.start("neuron", {}, {"steps": 0})
    while not isinstance(got.get(timeout=120), ev.TrainStarted):
        pass
    proc.send("stop")
    while not (isinstance(e := got.get(timeout=60), ev.TrainState) and e.state == "stopped"):
        pass
    proc.stop()
    assert exits == [] and not proc.is_alive()


def test_the_lab_side_of_the_engine_loads_neither_torch_nor_textual() -> None:
    import json
    import subprocess
    import sys

    code = ("import json, sys\nimport llm_tutor.engine.train.process, llm_tutor.engine.train.monitor\n"
            "print(json.dumps(sorted(sys.modules)))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    modules = set(json.loads(proc.stdout))
    assert "torch" not in modules and "textual" not in modules

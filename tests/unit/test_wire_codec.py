"""The one wire codec: kernel and trainer messages share `protocol.encode`/`decode` and one rule for NaN and inf."""

from __future__ import annotations

import json
import math

import pytest

from llm_tutor.engine.kernel import protocol
from llm_tutor.engine.train import events as ev

NON_FINITE = [math.nan, math.inf, -math.inf]


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


@pytest.mark.parametrize("value", NON_FINITE, ids=["nan", "+inf", "-inf"])
def test_non_finite_numbers_round_trip_through_the_kernel_channel(value: float) -> None:
    sent = protocol.Metric(parent="cell-1", step=3, values={"loss": value})
    line = protocol.encode(sent)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    got = protocol.decode(line)
    assert isinstance(got, protocol.Metric) and got.step == 3
    assert same(got.values["loss"], value)


@pytest.mark.parametrize("value", NON_FINITE, ids=["nan", "+inf", "-inf"])
def test_non_finite_numbers_round_trip_through_the_trainer_channel(value: float) -> None:
    sent = ev.TrainMetrics("lab", step=2, loss=value, first_step=1, losses=[1.0, value], grad_norms={"fc1": value})
    line = ev.encode(sent)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    got = ev.decode(line)
    assert isinstance(got, ev.TrainMetrics)
    assert same(got.loss, value) and got.losses[0] == 1.0 and same(got.losses[1], value)
    assert same(got.grad_norms["fc1"], value)


def test_both_channels_write_the_same_line_for_the_same_data() -> None:
    metrics = ev.TrainMetrics("lab", step=2, loss=math.nan, first_step=1, losses=[0.7, math.inf])
    assert ev.encode(metrics) == protocol.encode(metrics)
    assert json.loads(ev.encode(metrics))["losses"][1] == math.inf


def test_finite_training_messages_round_trip_unchanged() -> None:
    started = ev.TrainStarted("lab", "mlp", {"hidden": [8, 8]}, {"lr": 0.1}, params=97, history={"loss": [[1], [0.5]]})
    control = ev.TrainControl("r1", "set_lr", 0.01)
    for message in (started, control, ev.TrainState("lab", "paused", 4, "reset")):
        assert ev.decode(ev.encode(message)) == message

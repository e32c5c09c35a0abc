"""Snapshots of the training lab at fixed sizes, fed fixed fake trainer events (no trainer, no clock).

Each picture is built from the same events a trainer sends (`TrainStarted`, `TrainMetrics` with
seeded losses, `TrainSample`, `TrainPicture`, `TrainError`), through the lab's own monitor, and
drawn once on purpose, so nothing depends on timing.
"""

from __future__ import annotations

import math
import random
from typing import Any

from llm_tutor.engine.train import calc
from llm_tutor.engine.train import events as ev
from llm_tutor.engine.train.config import GPTConfig, MLPConfig
from llm_tutor.tui.app import make_app
from llm_tutor.tui.widgets.train.messages import TrainerExited

CARD = {"seed": 1337, "device": "cpu", "device_name": "cpu", "torch": "2.13.0+cpu", "cuda": None, "python": "3.11.7",
        "platform": "Linux", "deterministic": False, "threads": 1, "dtype": "float32", "devices": ["cpu"]}
TRAIN = {"steps": 2000, "lr": 0.003, "batch_size": 32, "optimizer": "adamw", "seed": 1337, "device": "cpu",
         "deterministic": False, "temperature": 0.8}
SAMPLE = "\nKING RICHARD:\nWhat say you, the crown and the soul of my\nfather's tongue? I will not hear thee speak.\n"


def lab_app(model: str) -> Any:
    app = make_app(device="cpu", autostart_kernel=False)
    app.start_lab = {"model": model, "settings": {}, "start_trainer": False}
    return app


def gpt_events(steps: int = 600) -> list[Any]:
    cfg = GPTConfig()
    rng = random.Random(0)
    out: list[Any] = [ev.TrainStarted("lab", "gpt", cfg.gpt2_dict(), TRAIN, params=calc.gpt_params(cfg).total,
                                      param_counts=calc.gpt_summary(cfg), card=CARD, data={"uniform_loss": 4.2})]
    losses = [1.5 + 2.7 * math.exp(-i / 120) + 0.08 * rng.random() for i in range(1, steps + 1)]
    for first in range(1, steps + 1, 50):
        chunk = losses[first - 1 : first + 49]
        last = first + len(chunk) - 1
        val = 1.62 + 2.6 * math.exp(-last / 130) if last % 100 == 0 else None
        out.append(ev.TrainMetrics("lab", step=last, loss=sum(chunk) / len(chunk), first_step=first, losses=chunk,
                                   steps_per_s=12.5, tokens_per_s=25600.0, val_loss=val, lr=0.003, batch_size=32,
                                   grad_norms={"tok_emb": 0.21, "pos_emb": 0.09, "blocks.0": 0.35, "blocks.1": 0.2,
                                               "blocks.2": 0.15, "blocks.3": 0.12, "final_norm": 0.03, "out_head": 0.6},
                                   total_steps=2000, progress=last / 2000, eta_s=112.0))
    out.append(ev.TrainSample("lab", steps, SAMPLE, 0.8))
    out.append(ev.TrainState("lab", "paused", steps))
    return out


def mlp_events() -> list[Any]:
    cfg = MLPConfig()
    rng = random.Random(1)
    points = []
    for _ in range(160):
        r, a = rng.random() * 1.4, rng.random() * 2 * math.pi
        points.append([round(r * math.cos(a), 3), round(r * math.sin(a), 3), int(r < 0.7)])
    out: list[Any] = [ev.TrainStarted("lab", "mlp", {"dataset": "circles", "hidden_width": 16, "hidden_layers": 2,
                                                     "n_samples": 1000, "noise": 0.1, "val_fraction": 0.2,
                                                     "activation": "relu", "drop_rate": 0.0},
                                      {**TRAIN, "steps": 1000, "lr": 0.01, "batch_size": 64, "optimizer": "adam"},
                                      params=calc.mlp_params(cfg).total, card=CARD,
                                      data={"points": points, "extent": [-1.5, 1.5, -1.5, 1.5]})]
    losses = [0.05 + 0.65 * math.exp(-i / 80) + 0.03 * rng.random() for i in range(1, 401)]
    out.append(ev.TrainMetrics("lab", step=400, loss=losses[-1], first_step=1, losses=losses, val_loss=0.07,
                               accuracy=0.985, lr=0.01, batch_size=64, total_steps=1000, progress=0.4,
                               grad_norms={"layers.0": 0.02, "layers.1": 0.05, "layers.2": 0.01}))
    probs = [[1.0 / (1.0 + math.exp(12 * (math.hypot(-1.5 + (c + 0.5) * 3 / 40, 1.5 - (r + 0.5) * 3 / 20) - 0.72)))
              for c in range(40)] for r in range(20)]
    out.append(ev.TrainPicture("lab", 400, 40, 20, [-1.5, 1.5, -1.5, 1.5], probs))
    out.append(ev.TrainState("lab", "paused", 400))
    return out


def feeding(events: list[Any], *keys: str, after: list[Any] | None = None) -> Any:
    """A run_before that feeds the events, draws once, then presses `keys`."""

    async def run_before(pilot: Any) -> None:
        screen = pilot.app.screen
        for event in events:
            screen.trainer_event(event)  # as the reader thread hands them over
        await pilot.pause()
        for message in after or []:
            screen.post_message(message)
            await pilot.pause()
        screen.frame(force=True)
        for key in keys:
            await pilot.press(key)
        await pilot.pause()

    return run_before


class TestLabGPT:
    def test_gpt_run_at_120x40(self, snap_compare) -> None:
        """A paused GPT run at step 600: title with 817,152 parameters, '⏸ paused' with the progress bar at 30 %,
        the loss chart with the falling train curve (legend 'train 1.5…') and six validation points, the
        sample panel with the KING RICHARD text, and the Settings tab (lr 0.003, batch_size 32, steps 2000)."""
        assert snap_compare(lab_app("gpt"), terminal_size=(120, 40), run_before=feeding(gpt_events()))

    def test_gpt_run_at_80x24(self, snap_compare) -> None:
        """The same run in 80×24: the chart, the sample and the side panel still fit; the footer keys are cut."""
        assert snap_compare(lab_app("gpt"), terminal_size=(80, 24), run_before=feeding(gpt_events()))

    def test_log_scale(self, snap_compare) -> None:
        """After `l`: the chart title reads 'loss  [log]' and the y ticks are spaced logarithmically."""
        assert snap_compare(lab_app("gpt"), terminal_size=(100, 30), run_before=feeding(gpt_events(), "l"))


class TestLabMLP:
    def test_decision_boundary_beside_the_loss(self, snap_compare) -> None:
        """The MLP on circles: the loss chart on the left, the decision boundary on the right as a half-block heat
        map (class 1 inside the circle, class 0 outside) with the training points as dots; accuracy 0.985."""
        assert snap_compare(lab_app("mlp"), terminal_size=(120, 40), run_before=feeding(mlp_events()))


class TestLabCalculator:
    def test_model_tab_counts_the_configuration(self, snap_compare) -> None:
        """The Model tab (key 2) of the GPT lab before any training: the fields (vocab_size 67 … tie_weights false)
        and the calculator: 817,152 parameters, tied 808,576 and untied 817,152, 3.1 MiB float32 and 1.6 MiB
        bfloat16, per module and per block."""
        assert snap_compare(lab_app("gpt"), terminal_size=(120, 40), press=["2"])

    def test_gradient_norms_tab(self, snap_compare) -> None:
        """The Gradients tab (key 3): one bar per layer group, out_head the longest, final_norm the shortest."""
        assert snap_compare(lab_app("gpt"), terminal_size=(120, 40), run_before=feeding(gpt_events(), "3"))

    def test_reproducibility_card_tab(self, snap_compare) -> None:
        """The Card tab (key 4): model gpt, adamw, seed 1337, device cpu, torch 2.13.0+cpu, deterministic False."""
        assert snap_compare(lab_app("gpt"), terminal_size=(120, 40), run_before=feeding(gpt_events(), "4"))


class TestLabFaults:
    def test_nan_loss_banner(self, snap_compare) -> None:
        """A NaN loss: the red banner 'the loss became nan at step 57 with learning rate 10 … Try a lower learning
        rate' with the hint to lower it and press r; the status reads '✗ failed'."""
        events = [*mlp_events()[:2], ev.TrainError("lab", "nan", "the loss became nan at step 57 with learning rate "
                                                   "10; training stopped. Try a lower learning rate (for example 1) and "
                                                   "reset.", step=56), ev.TrainState("lab", "failed", 56)]
        assert snap_compare(lab_app("mlp"), terminal_size=(120, 40), run_before=feeding(events))

    def test_dead_trainer_offers_a_restart(self, snap_compare) -> None:
        """The trainer process was killed: the banner says so and offers 'Press r to restart it'; the status
        reads '✗ trainer stopped'."""
        died = TrainerExited(-9, "the trainer process was killed (SIGKILL), often by the system running out of memory")
        assert snap_compare(lab_app("gpt"), terminal_size=(100, 30), run_before=feeding(gpt_events(), after=[died]))

"""Provides the training lab: its torch-free side here, the trainer's own side in `child/`.

Torch-free, safe for the UI process: `config` (configurations and `KEY=VALUE` overrides), `calc`
(closed-form parameter counts and memory), `events` (controls and events), `series`, `launch`
(process counts), `monitor` and `process` (the UI's view of a trainer process). Torch-using, for
the kernel or a trainer process only, under `child/`: `trainer` (the loop and the step),
`control`, `reporting`, `faults`, `checkpoint`, `build`, `task`, `toydata`, `models/`, `worker`,
`ranks`, `distributed`. This package's `__init__` imports none of them.
"""

"""Provides the training lab: models (neuron, MLP, tiny GPT), the `Trainer`, and torch-free helpers.

Torch-free, safe for the UI process: `config` (configurations and `KEY=VALUE` overrides), `calc`
(closed-form parameter counts and memory), `events` (controls and events). Torch-using, for the
kernel or trainer process only: `neuron`, `mlp`, `gpt`, `toydata`, `task`, `checkpoint`,
`trainer`, `worker`. This package's `__init__` imports none of them, so importing
`llm_tutor.engine.train.calc` never loads torch.
"""

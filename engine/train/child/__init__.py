"""Provides the trainer's own side: the code that runs in the training process and imports torch (loop, models, data, checkpoints)."""

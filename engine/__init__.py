"""Provides the headless core of llm-tutor: lessons, the kernel, checks, training and progress.

Nothing in this package imports Textual. The torch-using modules are loaded only inside the
kernel process (see `llm_tutor.engine.kernel.child`).
"""

__version__ = "0.1.0"

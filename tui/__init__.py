"""Provides the Textual user interface of llm-tutor and its command line.

Importing this package loads neither Textual nor torch; `llm_tutor.tui.app` loads Textual.
"""

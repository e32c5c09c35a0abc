"""Provides screens for the llm-tutor UI."""

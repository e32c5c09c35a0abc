"""Provides lesson for the llm-tutor UI."""

"""Provides train for the llm-tutor UI."""

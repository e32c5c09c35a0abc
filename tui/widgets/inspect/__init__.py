"""Provides inspect for the llm-tutor UI."""

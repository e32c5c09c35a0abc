"""Provides widgets for the llm-tutor UI."""

"""Benchmarks of llm-tutor against peers measured in the same run (see benchmarks/run.py)."""

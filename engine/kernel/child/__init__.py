"""Provides the kernel's own side: the code that runs in the kernel process and imports torch (runtime, checks, inspectors)."""

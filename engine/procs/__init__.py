"""Provides child processes: the fork servers that start kernels and sessions, and what an exit status means."""

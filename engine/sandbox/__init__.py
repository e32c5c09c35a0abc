"""Provides the sandbox of lab sessions and graded code: Landlock rules and scopes, control groups, a probe.

- `landlock`: the system calls (our own small ctypes binding; its docstring says why).
- `policy`: what a session may read and write, applied in a child after fork.
- `cgroups`: per-session memory, process and CPU limits (cgroup v2, or v1 on hybrid machines).
- `probe`: which protections this machine offers, each on / off / unavailable with the reason.
- `explain`: the sentence that names the protection behind an error.
- `grading`: the confinement of `llm-tutor check` and `grade` kernels.
"""

from llm_tutor.engine.sandbox.policy import Policy, SandboxError, apply
from llm_tutor.engine.sandbox.probe import Probe, Protection, probe

__all__ = ["Policy", "Probe", "Protection", "SandboxError", "apply", "probe"]

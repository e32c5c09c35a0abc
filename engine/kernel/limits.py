"""Provides the kernel's resource limits: defaults from the environment, and applying them in the kernel.

A learner's cell can ask for more memory or processes than the machine has. The limits make such a
cell fail inside the kernel with an error that says which limit it hit, instead of the kernel (or
the whole machine) being killed by the system. They guard against accidents, not against a hostile
user: see SECURITY.md.

- memory: ``RLIMIT_DATA`` (private writable memory: the Python heap, tensors on the CPU). Unlike
  ``RLIMIT_AS`` it does not count the address space CUDA reserves, so it can be used on GPU servers.
  Default: ``LLM_TUTOR_KERNEL_MEMORY_MB`` (0 turns it off), else half of the memory the machine (or
  its container) has.
- processes: ``RLIMIT_NPROC``, the number of processes and threads of the user, set to what the user
  has when the kernel starts plus ``LLM_TUTOR_KERNEL_MAX_PROCS`` (default 1024; 0 turns it off). The
  system does not enforce it for root.

This module is torch-free: the UI process computes the defaults, the kernel applies them.
"""

from __future__ import annotations

import os
from pathlib import Path

MEMORY_ENV = "LLM_TUTOR_KERNEL_MEMORY_MB"
PROCS_ENV = "LLM_TUTOR_KERNEL_MAX_PROCS"
MEMORY_FRACTION = 0.5
"""Share of the machine's (or container's) memory one kernel may use by default."""
DEFAULT_EXTRA_PROCS = 1024


def env_int(name: str) -> int | None:
    """A whole number from the environment, or None when unset or unreadable."""
    value = os.environ.get(name, "").strip()
    try:
        return int(value) if value else None
    except ValueError:
        return None


def total_memory_mb() -> int | None:
    """The memory this process may use: the machine's, or its cgroup's limit when lower."""
    total: int | None = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    total = int(line.split()[1]) // 1024
                    break
    except (OSError, ValueError):
        try:
            total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // (1024 * 1024)
        except (ValueError, OSError, AttributeError):
            total = None
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(limit_file).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            cgroup_mb = int(text) // (1024 * 1024)
            if cgroup_mb > 0 and (total is None or cgroup_mb < total):
                total = cgroup_mb
        break
    return total


def default_memory_limit_mb() -> int | None:
    """The kernel's memory limit in MB: ``LLM_TUTOR_KERNEL_MEMORY_MB`` (0: none), else half the memory."""
    value = env_int(MEMORY_ENV)
    if value is not None:
        return value if value > 0 else None
    total = total_memory_mb()
    return max(256, int(total * MEMORY_FRACTION)) if total else None


def default_extra_procs() -> int | None:
    """How many more processes and threads the kernel's user may start: ``LLM_TUTOR_KERNEL_MAX_PROCS`` (0: no limit)."""
    value = env_int(PROCS_ENV)
    if value is None:
        return DEFAULT_EXTRA_PROCS
    return value if value > 0 else None


# -- applied inside the kernel ---------------------------------------------------------------


def _status_kb(field: str) -> int:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def set_memory_limit(limit_mb: int) -> bool:
    """Let the kernel take `limit_mb` more private memory than it holds now; True when set.

    The hard limit is lowered too, so learner code cannot lift it with `resource.setrlimit`.
    """
    import resource

    limit = _status_kb("VmData") * 1024 + limit_mb * 1024 * 1024
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    except (ValueError, OSError):
        return False
    return True


def user_tasks(uid: int | None = None) -> int:
    """Processes and threads of a user now (what ``RLIMIT_NPROC`` counts)."""
    uid = os.getuid() if uid is None else uid
    count = 0
    try:
        entries = os.listdir("/proc")
    except OSError:
        return 0
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            st = os.stat(f"/proc/{entry}")
            if st.st_uid != uid:
                continue
            count += len(os.listdir(f"/proc/{entry}/task"))
        except OSError:
            continue
    return count


def set_process_limit(extra: int) -> int | None:
    """Let the user start `extra` more processes and threads from the kernel; the limit set, or None."""
    import resource

    limit = user_tasks() + extra
    try:
        soft, _hard = resource.getrlimit(resource.RLIMIT_NPROC)
        if soft != resource.RLIM_INFINITY and soft <= limit:
            return None  # already as strict (and the hard limit is at least the soft one)
        resource.setrlimit(resource.RLIMIT_NPROC, (limit, limit))
    except (ValueError, OSError, AttributeError):
        return None
    return limit


def children_die_with_the_kernel() -> None:
    """Processes forked by learner code get SIGKILL when their parent ends (``PR_SET_PDEATHSIG``).

    A fork loop's children would otherwise outlive a kernel that was killed with its UI.
    """
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return

    forker = [0]

    def before() -> None:
        forker[0] = os.getpid()

    def in_child() -> None:
        prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() != forker[0]:  # the parent ended between the fork and the prctl
            os._exit(1)

    os.register_at_fork(before=before, after_in_child=in_child)

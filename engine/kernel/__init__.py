"""Provides the kernel: a child process that runs learner code with torch, and its torch-free client.

`KernelManager` owns the process (start, interrupt, restart, shutdown); `KernelClient` sends
requests and returns their ids; `BlockingKernel` waits for replies (CLI, tests). The child's
side is `llm_tutor.engine.kernel.child` (entry: `child.runtime`), the only package here that imports torch.
"""

from llm_tutor.engine.kernel.client import BlockingKernel, KernelClient, Reply, new_id
from llm_tutor.engine.kernel.manager import KernelDied, KernelManager, describe_exit

__all__ = [
    "BlockingKernel",
    "KernelClient",
    "KernelDied",
    "KernelManager",
    "Reply",
    "describe_exit",
    "new_id",
]

"""Provides the kernel fork server's process: imports torch once, then forks a kernel per request.

Run as its own process (``python -m llm_tutor.engine.procs.forkserver_main --socket PATH``, see
`forkserver.start_server`), never imported by the UI: it imports torch and the kernel runtime. The
loop is `forkserver_loop`; the protocol and the client are in `forkserver`.
"""

from __future__ import annotations

import os
import sys

from llm_tutor.engine.procs.forkserver_loop import serve


def _preload() -> None:
    """Import torch and what the kernel uses, and warm the optimizer path, before any fork.

    Nothing here may initialise CUDA (a forked child cannot use CUDA once its parent has) or start
    torch's thread pools, so only tiny CPU tensors are touched, and a `torch.cuda.is_available()`
    made by some import asks NVML (fork-safe) instead of the CUDA driver. Each child gets its own
    environment back, so its kernel initialises CUDA normally.
    """
    os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"] = "1"
    import torch

    import llm_tutor.engine.kernel.child.checks  # noqa: F401 - imported once, before any fork
    import llm_tutor.engine.kernel.child.inspect  # noqa: F401
    from llm_tutor.engine.kernel.child import runtime
    runtime.warm_optimizer()
    if torch.cuda.is_initialized():
        raise RuntimeError("CUDA was initialised while preloading; forked kernels could not use the GPU")


def run_kernel(argv: list[str]) -> int:
    """In a forked child (fds 0/1/2 are the caller's pipes): run the kernel runtime."""
    from llm_tutor.engine.kernel.child import runtime
    os.environ["LLM_TUTOR_KERNEL_PARENT"] = str(os.getppid())  # the runtime watches its real parent
    sys.argv = ["llm_tutor.engine.kernel.child.runtime", *argv]
    return runtime.main(argv) or 0


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="llm-tutor-kernel-server", description="Fork ready kernels on request.")
    parser.add_argument("--socket", required=True, help="path of the Unix socket to listen on")
    parser.add_argument("--no-preload", action="store_true", help="do not import torch before forking (for debugging the server itself)")
    args = parser.parse_args(argv)
    return serve(args.socket, run_kernel, preload=None if args.no_preload else _preload)


if __name__ == "__main__":
    sys.exit(main())

"""Provides the kernel process: start-up, signals and the request loop (`main`).

Started by `KernelManager` as ``python -m llm_tutor.engine.kernel.child.runtime`` (or forked ready by
`engine.procs.forkserver_main`, which calls `main`). Requests arrive as JSON lines on stdin, events
leave as JSON lines on the original stdout; file descriptors 0/1 are then pointed elsewhere so learner
code cannot corrupt the channel (fd 1 goes to the raw-output pipe, fd 0 to /dev/null). SIGINT
interrupts running code and is ignored while idle. The requests themselves are served by `Kernel`
(`kernel.py`); what cells print is captured by `output.py`.
"""

from __future__ import annotations

import argparse
import os
import select
import signal
import sys
import threading
import time
from typing import Any

from llm_tutor.engine.kernel import protocol
from llm_tutor.engine.kernel.child.errors import LIMITS
from llm_tutor.engine.kernel.child.kernel import Kernel
from llm_tutor.engine.kernel.child.output import Channel

KERNEL: Kernel | None = None
"""The kernel this process serves, once started; the interrupt handler asks it whether code is running."""


def resolve_device(requested: str) -> str:
    import torch

    if requested == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "mps"
        return "cpu"
    return requested


def _watch_parent(parent_pid: int) -> None:
    """End the kernel when the UI process is gone, even while learner code is running."""
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - not Linux: the polling thread below still works
        pass

    def loop() -> None:
        while True:
            if os.getppid() != parent_pid:
                os._exit(0)
            time.sleep(0.5)

    if parent_pid > 1:
        if os.getppid() != parent_pid:
            os._exit(0)
        threading.Thread(target=loop, daemon=True, name="parent-watch").start()


def _env_number(name: str, kind: type[int] | type[float]) -> Any:
    """A number from the environment, or None when unset or unreadable."""
    value = os.environ.get(name, "").strip()
    try:
        return kind(value) if value else None
    except ValueError:
        return None


def _set_memory_limit(limit_mb: int, device: str = "cpu") -> None:
    """Limit the memory learner code may take (see `limits.set_memory_limit`)."""
    from llm_tutor.engine.kernel import limits

    if device.startswith("cuda"):
        # CUDA maps its driver state when it starts; count that before the limit, not against it
        try:
            import torch

            torch.cuda.init()
        except Exception:  # noqa: BLE001 - the first CUDA call will report the problem
            pass
    if limits.set_memory_limit(limit_mb):
        LIMITS.memory_mb = limit_mb


def _guard_processes() -> None:
    """A process limit for fork loops, and forked children that end with the kernel."""
    from llm_tutor.engine.kernel import limits

    limits.children_die_with_the_kernel()
    extra = limits.default_extra_procs()
    if extra:
        LIMITS.processes = limits.set_process_limit(extra)


def warm_optimizer() -> None:
    """Take one optimizer step on a tiny tensor: the first step imports torch._dynamo lazily (seconds)."""
    import torch

    p = torch.zeros(1, requires_grad=True)
    (p * 2).sum().backward()
    opt = torch.optim.SGD([p], lr=0.1)
    opt.step()
    opt.zero_grad()


def _in_import(frame: Any) -> bool:
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


def _sigint(signum: int, frame: Any) -> None:
    """Interrupt running learner code; never in the middle of an import.

    An interrupt that lands inside an import (torch imports parts of itself lazily, such as
    torch._dynamo on the first optimizer step) can leave a module half-imported for the rest of
    the session. Such an interrupt is put off and re-sent until the import is done.
    """
    if KERNEL is None or not KERNEL.busy:
        return
    if _in_import(frame):
        threading.Timer(0.02, os.kill, (os.getpid(), signal.SIGINT)).start()
        return
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    global KERNEL
    parser = argparse.ArgumentParser(prog="llm-tutor-kernel")
    parser.add_argument("--device", default="auto")
    # the environment gives the defaults, so a lab server can limit every kernel it starts
    parser.add_argument("--threads", type=int, default=_env_number("LLM_TUTOR_KERNEL_THREADS", int))
    parser.add_argument("--memory-limit-mb", type=int, default=_env_number("LLM_TUTOR_KERNEL_MEMORY_MB", int))
    parser.add_argument("--gpu-memory-fraction", type=float, default=_env_number("LLM_TUTOR_GPU_MEMORY_FRACTION", float))
    args = parser.parse_args(argv)

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Take the protocol channel off fds 0/1 so learner code cannot disturb it.
    proto_in = os.fdopen(os.dup(0), "rb")
    proto_out = os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)  # raw writes to fd 1 reach the UI through the stderr pipe
    channel = Channel(proto_out)
    _watch_parent(int(os.environ.get("LLM_TUTOR_KERNEL_PARENT", "0") or 0))
    _guard_processes()

    t0 = time.perf_counter()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    if device.startswith("cuda") and not torch.cuda.is_available():
        channel.send(protocol.Stream("", "stderr", f"CUDA is not available here; using the CPU instead of {device}.\n"))
        device = "cpu"
    if args.memory_limit_mb:
        _set_memory_limit(args.memory_limit_mb, device)
    if args.gpu_memory_fraction and device.startswith("cuda"):
        try:
            torch.cuda.set_per_process_memory_fraction(args.gpu_memory_fraction, torch.device(device))
        except Exception as exc:  # noqa: BLE001 - a limit that cannot be set must not stop the kernel
            channel.send(protocol.Stream("", "stderr", f"could not limit GPU memory: {exc}\n"))

    kernel = Kernel(channel, device)
    kernel.raw_fd = os.dup(2)
    kernel.flusher.start()
    KERNEL = kernel
    kernel.restore_std_streams()
    mps = getattr(torch.backends, "mps", None)
    channel.send(
        protocol.Ready(
            device=device,
            torch_version=torch.__version__,
            python_version=sys.version.split()[0],
            pid=os.getpid(),
            cuda_available=torch.cuda.is_available(),
            mps_available=bool(mps is not None and mps.is_available()),
            startup_s=time.perf_counter() - t0,
        )
    )
    signal.signal(signal.SIGINT, _sigint)

    warmed = False
    while True:
        if not warmed:
            # Warm the optimizer path while idle: its first step imports torch._dynamo lazily
            # (seconds). Done in the main thread between requests, never beside learner code.
            ready_now, _, _ = select.select([proto_in], [], [], 0.3)
            if not ready_now:
                warm_optimizer()
                warmed = True
        line = proto_in.readline()
        if not line:
            break
        try:
            request = protocol.decode(line)
        except Exception as exc:  # noqa: BLE001
            channel.send(protocol.Stream("", "stderr", f"kernel: unreadable request ({exc})\n"))
            continue
        if isinstance(request, protocol.Shutdown):
            break
        try:
            kernel.serve(request)
        except KeyboardInterrupt:
            # an interrupt that arrived between the code finishing and the reply being sent
            continue
        finally:
            reap_zombies()
    os._exit(0)


def reap_zombies() -> int:
    """Collect children a cell started and left to exit without waiting for them; returns how many.

    Only children that have already ended are collected (a child still running, say a `Popen` the
    learner keeps, is left alone), so zombies do not pile up against the session's process limit.
    """
    reaped = 0
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return 0
    for task in tasks:
        try:
            with open(f"/proc/self/task/{task}/children") as fh:
                children = [int(p) for p in fh.read().split()]
        except (OSError, ValueError):
            continue
        for pid in children:
            try:
                with open(f"/proc/{pid}/stat", "rb") as fh:
                    state = fh.read().rsplit(b")", 1)[1].split()[0]
                if state == b"Z" and os.waitpid(pid, os.WNOHANG)[0] == pid:
                    reaped += 1
            except (OSError, IndexError, ChildProcessError):
                continue
    return reaped


if __name__ == "__main__":
    sys.exit(main())

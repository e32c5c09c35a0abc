"""Provides the kernel process's main loop: runs learner code with torch, one namespace per lesson.

Started by `KernelManager` as ``python -m llm_tutor.engine.kernel.child.runtime``. Requests arrive as
JSON lines on stdin, events leave as JSON lines on the original stdout; file descriptors 0/1 are
then pointed elsewhere so learner code cannot corrupt the channel (fd 1 goes to the raw-output
pipe, fd 0 to /dev/null). SIGINT interrupts running code and is ignored while idle.
"""

from __future__ import annotations

import argparse
import ast
import io
import linecache
import os
import select
import signal
import sys
import threading
import time
import traceback
from typing import Any

from llm_tutor.engine.kernel import protocol
OUTPUT_CAP_BYTES = 2_000_000
"""Printed text forwarded per request; beyond it output is counted and dropped."""
FLUSH_INTERVAL_S = 0.05
RESULT_CAP = 20_000
TUTOR_NAMES = ("device", "track")
RAW_END = b"\x1eLLMTUTOR-DONE "
"""Written to the raw-output pipe after each request (see `KernelManager._read_raw`)."""


class Channel:
    """Writes events to the protocol fd; safe from any thread."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.lock = threading.Lock()

    def send(self, event: Any) -> None:
        data = protocol.encode(event)
        with self.lock:
            view = memoryview(data)
            while view:
                written = os.write(self.fd, view)
                view = view[written:]


class Capture(io.TextIOBase):
    """A `sys.stdout`/`sys.stderr` replacement that batches text into `Stream` events of the current request."""

    def __init__(self, kernel: Kernel, name: str) -> None:
        self.kernel = kernel
        self.name = name
        self.buffer_parts: list[str] = []
        self.size = 0
        self.last_flush = time.monotonic()
        self.lock = threading.RLock()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        with self.lock:
            k = self.kernel
            room = OUTPUT_CAP_BYTES - k.output_bytes
            if room <= 0:
                k.dropped_lines += text.count("\n")
                return len(text)
            if len(text) > room:  # one huge print is cut too, not only many small ones
                k.dropped_lines += text.count("\n", room)
                k.dropped_chars += len(text) - room
                text = text[:room]
            k.output_bytes += len(text)
            self.buffer_parts.append(text)
            self.size += len(text)
            now = time.monotonic()
            if self.size > 65536 or now - self.last_flush > FLUSH_INTERVAL_S or k.output_bytes >= OUTPUT_CAP_BYTES:
                self.flush()
            else:
                k.flusher.wake.set()  # sent within FLUSH_INTERVAL_S even if nothing else is printed
        return len(text)

    def flush(self) -> None:
        with self.lock:
            if not self.buffer_parts:
                return
            text = "".join(self.buffer_parts)
            self.buffer_parts.clear()
            self.size = 0
            self.last_flush = time.monotonic()
            # output of a thread still running after its cell ended goes to that cell
            parent = self.kernel.current or self.kernel.last
            self.kernel.channel.send(protocol.Stream(parent=parent, name=self.name, text=text))


class Flusher(threading.Thread):
    """Sends buffered output at most `FLUSH_INTERVAL_S` after it was printed.

    Without it, the last lines printed before a long computation (or by a thread after its cell
    ended) would wait in the buffer for the next print or the end of the next request.
    """

    def __init__(self, streams: list[Capture]) -> None:
        super().__init__(daemon=True, name="output-flusher")
        self.streams = streams
        self.wake = threading.Event()

    def run(self) -> None:
        while True:
            self.wake.wait()
            time.sleep(FLUSH_INTERVAL_S)
            self.wake.clear()
            for stream in self.streams:
                try:
                    stream.flush()
                except Exception:  # noqa: BLE001 - output lost to a broken channel must not end the thread
                    pass


class NoStdin(io.TextIOBase):
    """`sys.stdin` for cells: reading gives a clear error instead of hanging the kernel."""

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> str:
        raise RuntimeError("cells cannot read from the keyboard (stdin); set the value in code instead")

    def readline(self, size: int | None = -1) -> str:  # type: ignore[override]
        return self.read()


MEMORY_LIMIT_MB: int | None = None
"""The memory limit set on this kernel (see `limits`), named in out-of-memory errors."""
PROCESS_LIMIT: int | None = None


def _explain(exc: BaseException) -> tuple[str, str, dict[str, str]]:
    """A short note for errors learners meet in these lessons: English text, id and arguments (`engine.grading.hints`)."""
    from llm_tutor.engine.grading.hints import classify, english
    from llm_tutor.engine.sandbox.explain import explain as sandbox_note

    note = sandbox_note(exc)  # in a confined lab session: the protection that refused it
    if note:
        return note, "", {}
    hint_id, args = classify(exc, MEMORY_LIMIT_MB or 0, PROCESS_LIMIT or 0)
    return english(hint_id, args), hint_id, args


class Kernel:
    """The state of the kernel process: namespaces, the request being served, the channel."""

    def __init__(self, channel: Channel, device: str) -> None:
        self.channel = channel
        self.device = device
        self.namespaces: dict[str, dict[str, Any]] = {}
        self.current = ""
        self.last = ""
        """The request served last: output written while idle (by a thread) is sent to it."""
        self.busy = False
        self.output_bytes = 0
        self.dropped_lines = 0
        self.dropped_chars = 0
        self.counter = 0
        self.last_error: protocol.Error | None = None
        self.torch_baseline = torch_settings()
        """Process-wide torch settings as the kernel started; a namespace reset puts them back."""
        self.stdout = Capture(self, "stdout")
        self.stderr = Capture(self, "stderr")
        self.stdin = NoStdin()
        self.flusher = Flusher([self.stdout, self.stderr])
        self.raw_fd = 2
        """Where request-end markers go: a private duplicate of the raw-output pipe (see `main`)."""

    # -- namespaces --------------------------------------------------------------------------

    def namespace(self, name: str) -> dict[str, Any]:
        ns = self.namespaces.get(name)
        if ns is None:
            ns = {"__name__": "__main__", "__builtins__": __builtins__}
            self.namespaces[name] = ns
        # a cell may have deleted them (``globals().clear()``): lesson cells rely on both
        if "device" not in ns:
            ns["device"] = self.device
        if "track" not in ns:
            ns["track"] = self._make_track()
        return ns

    def _make_track(self) -> Any:
        kernel = self
        counter = [0]

        def track(step: int | None = None, series: str = "lesson", **metrics: float) -> None:
            """Stream numbers to the tutor's loss panel: ``track(step=i, loss=loss.item())``."""
            if step is None:
                step = counter[0]
            counter[0] = int(step) + 1
            values = {k: float(v) for k, v in metrics.items()}
            kernel.channel.send(protocol.Metric(kernel.current, int(step), values, series))

        return track

    # -- requests ----------------------------------------------------------------------------

    def serve(self, request: Any) -> None:
        name = type(request).__name__
        handler = getattr(self, f"on_{name.lower()}", None)
        if handler is None:
            return
        self.current = getattr(request, "id", "")
        self.last = self.current
        self.output_bytes = 0
        self.dropped_lines = 0
        self.dropped_chars = 0
        self._restore_std_streams()
        self.channel.send(protocol.Status("busy", self.current))
        start = time.perf_counter()
        status = "ok"
        try:
            status = handler(request)
        finally:
            self._finish_output()
            # mark the end of this request's raw fd output, so the UI orders it before Done
            # (on the kernel's own copy of the raw pipe: a cell may have closed fd 2)
            try:
                os.write(self.raw_fd, RAW_END + self.current.encode() + b"\x1e\n")
            except OSError:
                pass
            self.channel.send(protocol.Done(self.current, status, time.perf_counter() - start))
            self.channel.send(protocol.Status("idle", self.current))
            self.current = ""

    def _restore_std_streams(self) -> None:
        """A cell that replaced ``sys.stdout`` (or closed it) must not silence every later cell."""
        sys.stdout, sys.stderr, sys.stdin = self.stdout, self.stderr, self.stdin

    def _finish_output(self) -> None:
        self.stdout.flush()
        self.stderr.flush()
        if self.dropped_lines or self.dropped_chars or self.output_bytes >= OUTPUT_CAP_BYTES:
            more = f"{self.dropped_lines} more lines" if self.dropped_lines > 1 else f"{self.dropped_chars} more characters"
            self.channel.send(
                protocol.Stream(
                    self.current,
                    "stderr",
                    f"\n[output truncated after {OUTPUT_CAP_BYTES // 1_000_000} MB; {more} not shown]\n",
                )
            )

    def run_code(self, code: str, ns: dict[str, Any], cell_id: str) -> tuple[str, Any]:
        """Run code like a notebook cell; returns (status, value of the last expression or None)."""
        self.counter += 1
        filename = f"<cell {cell_id or self.counter}>"
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
        try:
            tree = ast.parse(code, filename=filename)
            last_expr = None
            if tree.body and isinstance(tree.body[-1], ast.Expr):
                last_expr = ast.Expression(tree.body.pop().value)
            exec_code = compile(tree, filename, "exec")
            eval_code = compile(last_expr, filename, "eval") if last_expr is not None else None
        except SyntaxError as exc:
            self.send_error(exc, filename)
            return "error", None
        self.busy = True
        try:
            exec(exec_code, ns)  # noqa: S102 - running learner code is the point
            value = eval(eval_code, ns) if eval_code is not None else None  # noqa: S307
        except KeyboardInterrupt:
            self.busy = False
            self.last_error = protocol.Error(self.current, "KeyboardInterrupt", "interrupted", [], None, "")
            self.channel.send(self.last_error)
            return "interrupted", None
        except SystemExit as exc:
            self.busy = False
            self.last_error = protocol.Error(
                self.current, "SystemExit", f"sys.exit({exc.code!r}) was called; the kernel keeps running", [],
                None, "cells cannot end the kernel; remove sys.exit() or use return in a function")
            self.channel.send(self.last_error)
            return "error", None
        except BaseException as exc:  # noqa: BLE001
            self.busy = False
            self.send_error(exc, filename)
            return "error", None
        finally:
            self.busy = False
        return "ok", value

    def send_error(self, exc: BaseException, filename: str) -> protocol.Error:
        frames = traceback.extract_tb(exc.__traceback__)
        mine = [f for f in frames if f.filename.startswith("<cell")]
        lines = traceback.format_list(mine) if mine else []
        lineno = mine[-1].lineno if mine else None
        if isinstance(exc, SyntaxError):
            lineno = exc.lineno
            lines = traceback.format_exception_only(type(exc), exc)[:-1]
        hint, hint_id, hint_args = _explain(exc)
        error = protocol.Error(self.current, type(exc).__name__, str(exc), [l.rstrip("\n") for l in lines], lineno, hint,
                               hint_id, hint_args)
        self.last_error = error
        self.channel.send(error)
        return error

    def on_execute(self, req: protocol.Execute) -> str:
        ns = self.namespace(req.namespace)
        status, value = self.run_code(req.code, ns, req.cell_id)
        if status == "ok" and value is not None:
            self.stdout.flush()
            self.channel.send(protocol.Result(self.current, _safe_repr(value), type(value).__name__))
        if req.inspect:
            self._send_variables(req.namespace, ns)
        return status

    def on_checkexercise(self, req: protocol.CheckExercise) -> str:
        from llm_tutor.engine.kernel.child.checks import run_checks

        scratch = isolated(self.namespace(req.namespace))
        status, value = self.run_code(req.code, scratch, f"exercise {req.exercise_id}")
        if status != "ok":
            self.channel.send(protocol.CheckResult(self.current, req.exercise_id, False, [], self.last_error))
            return status
        if "torch" in sys.modules:
            scratch["torch"] = sys.modules["torch"]  # the checks' torch, even if the learner rebound the name
        self.busy = True
        try:
            results = run_checks(req.checks, scratch)
        except KeyboardInterrupt:
            self.busy = False
            return "interrupted"
        finally:
            self.busy = False
        passed = bool(results) and all(r.passed for r in results)
        self.channel.send(protocol.CheckResult(self.current, req.exercise_id, passed, results, None))
        return "ok"

    def on_inspect(self, req: protocol.Inspect) -> str:
        ns = self.namespace(req.namespace)
        try:
            from llm_tutor.engine.kernel.child.inspect import inspect_object
        except ImportError:
            self.channel.send(protocol.InspectResult(self.current, req.name, req.what, error="inspectors are not available"))
            return "error"
        self.busy = True  # a big tensor's summary can be interrupted like a cell
        try:
            result = inspect_object(self.current, req.name, ns, req.what, dict(req.options))
        except KeyboardInterrupt:
            self.busy = False
            self.channel.send(protocol.InspectResult(self.current, req.name, req.what, error="interrupted"))
            return "interrupted"
        except Exception as exc:  # noqa: BLE001 - inspectors must never take the kernel down
            result = protocol.InspectResult(self.current, req.name, req.what, error=f"{type(exc).__name__}: {exc}")
        finally:
            self.busy = False
        self.channel.send(result)
        return "ok" if not result.error else "error"

    def on_resetnamespace(self, req: protocol.ResetNamespace) -> str:
        self.namespaces.pop(req.namespace, None)
        # a lesson's torch.set_num_threads(1), set_default_dtype or set_grad_enabled(False) is process-wide:
        # it must not follow the learner (or `llm-tutor check`) into the next lesson
        restore_torch_settings(self.torch_baseline)
        self._send_variables(req.namespace, self.namespace(req.namespace))
        return "ok"

    def _send_variables(self, name: str, ns: dict[str, Any]) -> None:
        try:
            from llm_tutor.engine.kernel.child.inspect import summarize_variables
        except ImportError:
            return
        try:
            variables = summarize_variables(ns)
        except Exception:  # noqa: BLE001 - a broken summary must not fail the cell
            return
        self.channel.send(protocol.Variables(self.current, name, variables))


def isolated(namespace: dict[str, Any]) -> dict[str, Any]:
    """A scratch copy of a lesson's namespace for an exercise's check.

    New names stay in the copy; tensors, modules, optimizers and the lists, tuples and dicts holding them are
    copied too (one `deepcopy` memo for all, so an optimizer still steps the copied model's parameters), so
    an exercise that changes them in place (`w -= lr * w.grad`, `model.fc.weight.zero_()`) leaves the
    lesson's own objects as they were. What cannot be copied (a tensor made by an operation, a generator,
    a file) is shared, as before.
    """
    scratch = dict(namespace)
    torch = sys.modules.get("torch")
    if torch is None:
        return scratch
    import copy

    def tensors(value: Any, depth: int = 0) -> Any:
        """The tensors a value holds (itself, a module's parameters and buffers, an optimizer's parameters,
        the items of a list, tuple or dict up to two levels deep)."""
        if isinstance(value, torch.Tensor):
            yield value
        elif isinstance(value, torch.nn.Module):
            yield from value.parameters()
            yield from value.buffers()
        elif isinstance(value, torch.optim.Optimizer):
            for group in value.param_groups:
                yield from group.get("params", [])
        elif depth < 2 and isinstance(value, (list, tuple, dict)) and len(value) <= 1000:
            for item in value.values() if isinstance(value, dict) else value:
                yield from tensors(item, depth + 1)

    memo: dict[int, Any] = {}
    for name, value in namespace.items():
        if name.startswith("__") or next(tensors(value), None) is None:
            continue
        try:
            scratch[name] = copy.deepcopy(value, memo)
        except Exception:  # noqa: BLE001 - a non-leaf tensor, an uncopyable member: share it, as before
            scratch[name] = value
            continue
        # a copied nn.Parameter comes without its .grad (a plain tensor keeps it): give it a copy, so code
        # that steps with p.grad, or an optimizer's step(), sees what the lesson computed
        for original in tensors(value):
            copied = memo.get(id(original))
            if isinstance(copied, torch.Tensor) and copied is not original and copied.grad is None \
                    and original.grad is not None:
                copied.grad = original.grad.detach().clone()
    return scratch


def torch_settings() -> dict[str, Any]:
    """The process-wide torch settings a lesson may change (torch is imported by then)."""
    import torch

    return {
        "threads": torch.get_num_threads(),
        "dtype": torch.get_default_dtype(),
        "grad": torch.is_grad_enabled(),
        "deterministic": torch.are_deterministic_algorithms_enabled(),
        "anomaly": torch.is_anomaly_enabled(),
        "printoptions": dict(vars(torch._tensor_str.PRINT_OPTS)),
    }


def restore_torch_settings(saved: dict[str, Any]) -> None:
    """Put back what `torch_settings()` saved; a setting that cannot be restored is left as it is."""
    import torch

    steps = (
        lambda: torch.get_num_threads() != saved["threads"] and torch.set_num_threads(saved["threads"]),
        lambda: torch.set_default_dtype(saved["dtype"]),
        lambda: torch.set_grad_enabled(saved["grad"]),
        lambda: torch.use_deterministic_algorithms(saved["deterministic"]),
        lambda: torch.set_anomaly_enabled(saved["anomaly"]),
        lambda: vars(torch._tensor_str.PRINT_OPTS).update(saved["printoptions"]),
    )
    for step in steps:
        try:
            step()
        except Exception:  # noqa: BLE001 - best effort: a reset must still succeed
            pass


def _safe_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception as exc:  # noqa: BLE001
        return f"<{type(value).__name__}: repr failed: {type(exc).__name__}: {exc}>"
    if len(text) > RESULT_CAP:
        text = text[:RESULT_CAP] + f"\n… ({len(text) - RESULT_CAP} more characters)"
    return text


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
    global MEMORY_LIMIT_MB
    from llm_tutor.engine.kernel import limits

    if device.startswith("cuda"):
        # CUDA maps its driver state when it starts; count that before the limit, not against it
        try:
            import torch

            torch.cuda.init()
        except Exception:  # noqa: BLE001 - the first CUDA call will report the problem
            pass
    if limits.set_memory_limit(limit_mb):
        MEMORY_LIMIT_MB = limit_mb


def _guard_processes() -> None:
    """A process limit for fork loops, and forked children that end with the kernel."""
    global PROCESS_LIMIT
    from llm_tutor.engine.kernel import limits

    limits.children_die_with_the_kernel()
    extra = limits.default_extra_procs()
    if extra:
        PROCESS_LIMIT = limits.set_process_limit(extra)


def _warm_optimizer() -> None:
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


KERNEL: Kernel | None = None


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
    kernel._restore_std_streams()
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
                _warm_optimizer()
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

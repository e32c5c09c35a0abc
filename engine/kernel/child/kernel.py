"""Provides `Kernel`: one namespace per lesson, and the requests it serves (execute, check, inspect, reset).

Each request is served as a notebook serves a cell: ``Status("busy")``, its events (output, result,
error, variables, check or inspect result), the end marker on the raw-output pipe, ``Done``, then
``Status("idle")``. `busy` is True only while learner code (or an inspector) runs: the interrupt
handler (`runtime`) raises `KeyboardInterrupt` only then.
"""

from __future__ import annotations

import ast
import linecache
import os
import sys
import time
from typing import Any

from llm_tutor.engine.kernel import protocol
from llm_tutor.engine.kernel.child import errors
from llm_tutor.engine.kernel.child.namespace import (
    add_tutor_names,
    fresh_namespace,
    isolated,
    restore_torch_settings,
    torch_settings,
)
from llm_tutor.engine.kernel.child.output import (
    OUTPUT_CAP_BYTES,
    RAW_END,
    Capture,
    Channel,
    Flusher,
    NoStdin,
    truncation_note,
)

RESULT_CAP = 20_000
"""Characters of a cell's last value (its repr) sent as the `Result`."""


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
        """Where request-end markers go: a private duplicate of the raw-output pipe (see `runtime.main`)."""

    # -- namespaces --------------------------------------------------------------------------

    def namespace(self, name: str) -> dict[str, Any]:
        ns = self.namespaces.get(name)
        if ns is None:
            ns = self.namespaces[name] = fresh_namespace()
        return add_tutor_names(ns, self.device, self._make_track)

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
        self.restore_std_streams()
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

    def restore_std_streams(self) -> None:
        """A cell that replaced ``sys.stdout`` (or closed it) must not silence every later cell."""
        sys.stdout, sys.stderr, sys.stdin = self.stdout, self.stderr, self.stdin

    def _finish_output(self) -> None:
        self.stdout.flush()
        self.stderr.flush()
        if self.dropped_lines or self.dropped_chars or self.output_bytes >= OUTPUT_CAP_BYTES:
            self.channel.send(
                protocol.Stream(self.current, "stderr", truncation_note(self.dropped_lines, self.dropped_chars))
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
            self.send_error(errors.error_event(self.current, exc))
            return "error", None
        self.busy = True
        try:
            exec(exec_code, ns)  # noqa: S102 - running learner code is the point
            value = eval(eval_code, ns) if eval_code is not None else None  # noqa: S307
        except KeyboardInterrupt:
            self.busy = False
            self.send_error(errors.interrupted(self.current))
            return "interrupted", None
        except SystemExit as exc:
            self.busy = False
            self.send_error(errors.exit_called(self.current, exc.code))
            return "error", None
        except BaseException as exc:  # noqa: BLE001
            self.busy = False
            self.send_error(errors.error_event(self.current, exc))
            return "error", None
        finally:
            self.busy = False
        return "ok", value

    def send_error(self, error: protocol.Error) -> None:
        self.last_error = error
        self.channel.send(error)

    def on_execute(self, req: protocol.Execute) -> str:
        ns = self.namespace(req.namespace)
        status, value = self.run_code(req.code, ns, req.cell_id)
        if status == "ok" and value is not None:
            self.stdout.flush()
            self.channel.send(protocol.Result(self.current, safe_repr(value), type(value).__name__))
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
        from llm_tutor.engine.kernel.child.inspect import inspect_object

        ns = self.namespace(req.namespace)
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
        from llm_tutor.engine.kernel.child.inspect import summarize_variables

        try:
            variables = summarize_variables(ns)
        except Exception:  # noqa: BLE001 - a broken summary must not fail the cell
            return
        self.channel.send(protocol.Variables(self.current, name, variables))


def safe_repr(value: Any) -> str:
    """``repr(value)`` cut at `RESULT_CAP` characters; a repr that raises is reported, not raised."""
    try:
        text = repr(value)
    except Exception as exc:  # noqa: BLE001
        return f"<{type(value).__name__}: repr failed: {type(exc).__name__}: {exc}>"
    if len(text) > RESULT_CAP:
        text = text[:RESULT_CAP] + f"\n… ({len(text) - RESULT_CAP} more characters)"
    return text

"""Provides `KernelClient` (requests with ids) and `BlockingKernel` for headless use.

The client is torch-free. `KernelClient` speaks the protocol on top of a `KernelManager`;
`BlockingKernel` wraps both for the CLI (check, run, grade): one call per request, waiting for
its `Done`, with a timeout that interrupts and, failing that, restarts the kernel.
"""

from __future__ import annotations

import itertools
import os
import queue
import time
from dataclasses import dataclass, field
from typing import Any

from llm_tutor.engine.kernel import protocol
from llm_tutor.engine.kernel.manager import KernelDied, KernelManager

_ids = itertools.count(1)


def new_id(prefix: str = "r") -> str:
    """A request id unique within this process."""
    return f"{prefix}{os.getpid()}-{next(_ids)}"


class KernelClient:
    """Sends requests to a kernel; every request returns its id, which every resulting event carries."""

    def __init__(self, manager: KernelManager) -> None:
        self.manager = manager

    def execute(self, code: str, cell_id: str = "", namespace: str = "main", inspect: bool = True) -> str:
        rid = new_id("x")
        self.manager.send(protocol.Execute(id=rid, code=code, namespace=namespace, cell_id=cell_id, inspect=inspect))
        return rid

    def check_exercise(self, code: str, checks: str, exercise_id: str = "", namespace: str = "main") -> str:
        rid = new_id("c")
        self.manager.send(
            protocol.CheckExercise(id=rid, code=code, checks=checks, namespace=namespace, exercise_id=exercise_id)
        )
        return rid

    def inspect(self, name: str, what: str = "tensor", namespace: str = "main", options: dict | None = None) -> str:
        rid = new_id("i")
        self.manager.send(protocol.Inspect(id=rid, name=name, what=what, namespace=namespace, options=options or {}))
        return rid

    def reset_namespace(self, namespace: str = "main") -> str:
        rid = new_id("n")
        self.manager.send(protocol.ResetNamespace(id=rid, namespace=namespace))
        return rid


@dataclass
class Reply:
    """Everything a request produced, collected by `BlockingKernel`."""

    id: str
    status: str = "ok"
    """"ok", "error", "interrupted", "timeout" or "dead"."""
    events: list[Any] = field(default_factory=list)
    duration_s: float = 0.0
    died: KernelDied | None = None

    @property
    def stdout(self) -> str:
        return "".join(e.text for e in self.events if isinstance(e, protocol.Stream))

    @property
    def result(self) -> protocol.Result | None:
        return next((e for e in self.events if isinstance(e, protocol.Result)), None)

    @property
    def error(self) -> protocol.Error | None:
        return next((e for e in self.events if isinstance(e, protocol.Error)), None)

    @property
    def check(self) -> protocol.CheckResult | None:
        return next((e for e in self.events if isinstance(e, protocol.CheckResult)), None)

    def first(self, kind: type) -> Any:
        return next((e for e in self.events if isinstance(e, kind)), None)


class BlockingKernel:
    """A kernel driven synchronously: for the CLI, tests and benchmarks."""

    def __init__(self, device: str = "auto", *, interrupt_grace: float = 2.0, **manager_kwargs: Any) -> None:
        self._events: queue.Queue[Any] = queue.Queue()
        self.manager = KernelManager(self._events.put, device, **manager_kwargs)
        self.client = KernelClient(self.manager)
        self.interrupt_grace = interrupt_grace
        self.metrics: list[protocol.Metric] = []
        self._stash: dict[str, list[Any]] = {}
        """Events of requests not being waited for yet, by request id."""

    def start(self, timeout: float = 120.0) -> protocol.Ready:
        self.manager.start()
        if not self.manager.wait_ready(timeout):
            raise RuntimeError("the kernel did not start: " + self._drain_text())
        assert self.manager.ready is not None
        return self.manager.ready

    def _drain_text(self) -> str:
        texts = []
        while not self._events.empty():
            event = self._events.get_nowait()
            if isinstance(event, protocol.Stream):
                texts.append(event.text)
            elif isinstance(event, KernelDied):
                texts.append(event.reason)
        return " ".join(t.strip() for t in texts if t.strip())[-2000:]

    def execute(self, code: str, cell_id: str = "", namespace: str = "main", timeout: float | None = None, inspect: bool = False) -> Reply:
        return self.wait(self.client.execute(code, cell_id, namespace, inspect=inspect), timeout)

    def check_exercise(self, code: str, checks: str, exercise_id: str = "", namespace: str = "main", timeout: float | None = None) -> Reply:
        return self.wait(self.client.check_exercise(code, checks, exercise_id, namespace), timeout)

    def inspect(self, name: str, what: str = "tensor", namespace: str = "main", options: dict | None = None, timeout: float | None = 30.0) -> Reply:
        return self.wait(self.client.inspect(name, what, namespace, options), timeout)

    def reset_namespace(self, namespace: str = "main") -> Reply:
        return self.wait(self.client.reset_namespace(namespace), 30.0)

    def wait(self, rid: str, timeout: float | None) -> Reply:
        """The reply to request `rid` sent by `client`; past `timeout`, interrupted, then restarted."""
        reply = Reply(rid)
        start = time.perf_counter()
        deadline = None if timeout is None else start + timeout
        interrupted_at: float | None = None
        pending = self._stash.pop(rid, [])
        while True:
            now = time.perf_counter()
            wait = 0.5
            if deadline is not None:
                wait = max(0.0, min(wait, deadline - now))
            if pending:
                event = pending.pop(0)
            else:
                try:
                    event = self._events.get(timeout=wait if wait > 0 else 0.001)
                except queue.Empty:
                    event = None
            if event is not None:
                if isinstance(event, KernelDied):
                    reply.status, reply.died = "dead", event
                    reply.duration_s = time.perf_counter() - start
                    self._restart()
                    return reply
                if isinstance(event, protocol.Metric):
                    self.metrics.append(event)
                parent = getattr(event, "parent", None)
                if parent == rid:
                    reply.events.append(event)
                    if isinstance(event, protocol.Done):
                        reply.status = "timeout" if interrupted_at is not None else event.status
                        reply.duration_s = event.duration_s
                        return reply
                elif parent and len(self._stash) < 1000:
                    # another request sent without waiting: keep its events for its own wait
                    self._stash.setdefault(parent, []).append(event)
                continue
            now = time.perf_counter()
            if deadline is not None and now >= deadline:
                if interrupted_at is None:
                    interrupted_at = now
                    self.manager.interrupt()
                    deadline = now + self.interrupt_grace
                else:
                    reply.status = "timeout"
                    reply.duration_s = now - start
                    self._restart()
                    return reply

    def _restart(self) -> None:
        self._stash.clear()
        self.manager.restart()
        # drop events of the old kernel
        while not self._events.empty():
            self._events.get_nowait()
        self.manager.wait_ready(120.0)

    def shutdown(self) -> None:
        self.manager.shutdown()

    def __enter__(self) -> BlockingKernel:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

"""Provides the messages that cross the boundary between the UI process and the kernel process.

Every payload is a frozen dataclass of plain data (str, int, float, bool, None, lists, dicts and
other payloads). Nothing torch-typed ever crosses: inspectors inside the kernel turn tensors and
graphs into these summaries first.

On the wire each message is one line of JSON: ``{"type": "<name>", ...fields}``. Requests carry an
``id``; every event produced while serving a request carries that request's id as ``parent``, the
way jupyter_client matches replies to requests.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

# --------------------------------------------------------------------------------------------
# Requests (UI -> kernel)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Execute:
    """Run `code` in the namespace of `namespace` (one namespace per lesson)."""

    id: str
    code: str
    namespace: str = "main"
    cell_id: str = ""
    inspect: bool = True
    """Whether to send the variables summary after the code ran."""


@dataclass(frozen=True)
class CheckExercise:
    """Run the learner's `code` and then the exercise's `checks` in a scratch copy of a namespace."""

    id: str
    code: str
    checks: str
    namespace: str = "main"
    exercise_id: str = ""


@dataclass(frozen=True)
class Inspect:
    """Ask for a detailed view of one variable or path (`what` is "tensor", "grad", "graph", "module",
    "triangulate"; see docs/inspectors.md for each one's options and reply)."""

    id: str
    name: str
    what: str = "tensor"
    namespace: str = "main"
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ResetNamespace:
    """Forget every variable of a namespace."""

    id: str
    namespace: str = "main"


@dataclass(frozen=True)
class Shutdown:
    """Ask the kernel to exit cleanly."""

    id: str


# --------------------------------------------------------------------------------------------
# Events (kernel -> UI)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ready:
    """The kernel imported torch and can run code."""

    device: str
    torch_version: str
    python_version: str
    pid: int
    cuda_available: bool = False
    mps_available: bool = False
    startup_s: float = 0.0


@dataclass(frozen=True)
class Status:
    """The kernel's state changed: "starting", "idle", "busy"."""

    state: str
    parent: str = ""


@dataclass(frozen=True)
class Stream:
    """Text printed by the running code ("stdout" or "stderr")."""

    parent: str
    name: str
    text: str


@dataclass(frozen=True)
class Result:
    """The value of the last expression of a cell, as text."""

    parent: str
    text: str
    type_name: str = ""


@dataclass(frozen=True)
class Error:
    """An exception raised by learner code; the traceback is trimmed to the learner's own code."""

    parent: str
    ename: str
    evalue: str
    traceback: list[str] = field(default_factory=list)
    lineno: int | None = None
    hint: str = ""
    """A short explanation for well-known errors (for example a `.view` on a non-contiguous tensor)."""
    hint_id: str = ""
    """The explanation's id (`engine.grading.hints`), so the UI can word it in the learner's language."""
    hint_args: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Done:
    """The request finished. `status` is "ok", "error" or "interrupted"."""

    parent: str
    status: str
    duration_s: float = 0.0


@dataclass(frozen=True)
class Expectation:
    """One failed or passed expectation of an exercise's checks."""

    label: str
    passed: bool
    expected: str = ""
    got: str = ""
    detail: str = ""
    diagnosis: str = ""
    """What is wrong, as a code the UI words (`engine.grading.feedback`): "sign", "factor", "close", "shape"..."""
    args: dict[str, str] = field(default_factory=dict)
    """The diagnosis's arguments (a factor, a tolerance, a name), already written as text."""


@dataclass(frozen=True)
class CheckResult:
    """The outcome of an exercise check: passed only if every expectation passed."""

    parent: str
    exercise_id: str
    passed: bool
    expectations: list[Expectation] = field(default_factory=list)
    error: Error | None = None
    """Set when the learner's code raised before the checks could run."""


@dataclass(frozen=True)
class VariableSummary:
    """One entry of the variables panel."""

    name: str
    kind: str
    """"tensor", "module", "optimizer", "number", "other"."""
    type_name: str
    shape: list[int] | None = None
    dtype: str = ""
    device: str = ""
    requires_grad: bool = False
    has_grad: bool = False
    params: int | None = None
    text: str = ""
    info: dict[str, Any] = field(default_factory=dict)
    """Kind-specific details: for optimizers ``lr``, ``param_groups``, ``params``; for modules
    ``trainable``; for tensors ``grad_fn``. (Keys never include "type", which the wire format reserves.)"""


@dataclass(frozen=True)
class Variables:
    """The inspectable variables of a namespace after a request ran."""

    parent: str
    namespace: str
    variables: list[VariableSummary] = field(default_factory=list)


@dataclass(frozen=True)
class TensorSummary:
    """What the tensor panel shows of one tensor; built without copying the whole tensor."""

    name: str
    shape: list[int]
    dtype: str
    device: str
    requires_grad: bool = False
    is_leaf: bool = True
    grad_fn: str = ""
    contiguous: bool = True
    strides: list[int] = field(default_factory=list)
    numel: int = 0
    layout: str = "strided"
    stats: dict[str, float | int | None] = field(default_factory=dict)
    """min, max, mean, std, nan, inf (None where not defined for the dtype)."""
    values: list[Any] = field(default_factory=list)
    """A 0-D value, a 1-D list or a 2-D list of lists; elided parts hold None."""
    slice_index: list[int] = field(default_factory=list)
    """For rank > 2: the leading indices of the 2-D slice shown."""
    elided: bool = False
    label: str = ""
    """A note for tensors that cannot be shown as values (meta, sparse, complex, freed...)."""
    grad: TensorSummary | None = None


@dataclass(frozen=True)
class GraphNode:
    """One node of an autograd graph: an operation (``op`` "Mul" for ``MulBackward0``) or a leaf tensor."""

    id: str
    op: str
    """The forward operation ("Mul", "Sigmoid", "BinaryCrossEntropy"), or "Leaf" for a leaf tensor."""
    name: str = ""
    """The namespace path of the tensor this node produced or holds (``w``, ``model.fc1.weight``), if any."""
    shape: list[int] | None = None
    value: float | None = None
    """The forward value, for single-element outputs where it is known."""
    grad: float | None = None
    """A single-element leaf's ``.grad`` (or a named intermediate's, after ``retain_grad()``)."""
    is_leaf: bool = False
    module: str = ""
    """The module whose parameters this node holds or uses directly (``model.fc1``), so the UI can group."""
    backward: str = ""
    """The autograd node's class name (``MulBackward0``, ``AccumulateGrad``)."""
    grad_norm: float | None = None
    """The L2 norm of a leaf's (or a retained intermediate's) ``.grad``, for tensors of any size."""


@dataclass(frozen=True)
class Graph:
    """An autograd graph walked from a result's `grad_fn`: nodes and (child -> parent) edges.

    Each edge is ``[input_id, consumer_id]``: data flows from the input node into the operation that
    used it, so the root (the result, e.g. the loss) has no outgoing edge.
    """

    parent: str
    root: str
    nodes: list[GraphNode] = field(default_factory=list)
    edges: list[list[str]] = field(default_factory=list)
    truncated: bool = False


@dataclass(frozen=True)
class InspectResult:
    """The reply to an Inspect request: one of the summaries, or an error label."""

    parent: str
    name: str
    what: str
    tensor: TensorSummary | None = None
    graph: Graph | None = None
    data: dict[str, Any] = field(default_factory=dict)
    error: str = ""


@dataclass(frozen=True)
class Metric:
    """A metric series point streamed by `track(...)` in learner code or by the trainer."""

    parent: str
    step: int
    values: dict[str, float] = field(default_factory=dict)
    series: str = "lesson"


# --------------------------------------------------------------------------------------------
# Wire format
# --------------------------------------------------------------------------------------------

MESSAGE_TYPES: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        Execute,
        CheckExercise,
        Inspect,
        ResetNamespace,
        Shutdown,
        Ready,
        Status,
        Stream,
        Result,
        Error,
        Done,
        Expectation,
        CheckResult,
        VariableSummary,
        Variables,
        TensorSummary,
        GraphNode,
        Graph,
        InspectResult,
        Metric,
    )
}

def to_dict(message: Any) -> dict[str, Any]:
    """Turn a payload (and nested payloads) into plain JSON-ready data with a `type` key."""
    out: dict[str, Any] = {"type": type(message).__name__}
    for f in dataclasses.fields(message):
        out[f.name] = _plain(getattr(message, f.name))
    return out


_ATOMS = frozenset({int, float, str, bool, type(None)})


def _plain(value: Any) -> Any:
    if type(value) in _ATOMS:
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_dict(value)
    if isinstance(value, (list, tuple)):
        if all(type(v) in _ATOMS for v in value):  # a loss window, a row of numbers: no walk per element
            return list(value)
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def from_dict(data: dict[str, Any], types: dict[str, type] | None = None) -> Any:
    """Rebuild a payload from `to_dict` output; unknown keys are ignored, nested payloads rebuilt.

    `types` names the payload classes by their `type` (this module's `MESSAGE_TYPES` when None;
    the training lab passes its own table)."""
    table = MESSAGE_TYPES if types is None else types
    cls = table[data["type"]]
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {k: _rebuild(v, table) for k, v in data.items() if k in names}
    return cls(**kwargs)


def _rebuild(value: Any, types: dict[str, type]) -> Any:
    if isinstance(value, dict):
        if "type" in value and value["type"] in types:
            return from_dict(value, types)
        return {k: _rebuild(v, types) for k, v in value.items()}
    if isinstance(value, list):
        return [_rebuild(v, types) for v in value]
    return value


def encode(message: Any) -> bytes:
    """One message as one line of JSON.

    The one wire rule for non-finite numbers: NaN, inf and -inf travel as JSON's common extension
    (`NaN`, `Infinity`, `-Infinity`, as Python's json writes and reads them), so a loss that blew
    up arrives as the number it was, never as a null the receiver must guess about.
    """
    return json.dumps(to_dict(message), separators=(",", ":")).encode() + b"\n"


def decode(line: bytes | str, types: dict[str, type] | None = None) -> Any:
    """The payload for one line written by `encode` (`types` as in `from_dict`)."""
    return from_dict(json.loads(line), types)

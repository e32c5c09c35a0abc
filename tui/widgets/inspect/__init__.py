"""Provides the inspect panels: variables, tensors, gradients, autograd graphs, modules and gradient checks.

`InspectorPanel` is the lesson screen's side panel; the views it switches between draw the plain
payloads of `llm_tutor.engine.kernel.protocol` (see docs/inspectors.md).
"""

from llm_tutor.tui.widgets.inspect.grad import GradView
from llm_tutor.tui.widgets.inspect.graph import GraphView
from llm_tutor.tui.widgets.inspect.inspector import INSPECT_BINDINGS, InspectorPanel
from llm_tutor.tui.widgets.inspect.module import ModuleView, ParamGradView
from llm_tutor.tui.widgets.inspect.tensor import TensorView
from llm_tutor.tui.widgets.inspect.triangulate import TriangulationView
from llm_tutor.tui.widgets.inspect.variables import VariablesPanel

__all__ = [
    "INSPECT_BINDINGS",
    "GradView",
    "GraphView",
    "InspectorPanel",
    "ModuleView",
    "ParamGradView",
    "TensorView",
    "TriangulationView",
    "VariablesPanel",
]

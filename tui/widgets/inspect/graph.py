"""Provides `GraphView`: the autograd graph of a result drawn as a tree, from the result down to its leaves.

Each line is one node: the operation (``Sigmoid``) or the leaf's variable name (``w``,
``model.fc1.weight``), its output shape, its forward value when it is a single number and its
gradient (``∇``, or the gradient's norm ``‖∇‖`` for larger leaves). Operations that belong to a
module are gathered under a line for that module; in a large graph these start collapsed and open
with Enter or space. A node shared by several consumers is drawn once and referred to afterwards.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace

from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from llm_tutor.engine.kernel.protocol import Graph, GraphNode
from llm_tutor.engine.kernel.format import format_number, format_shape
from llm_tutor.tui.i18n import t

COLLAPSE_AT = 40
"""Graphs with more nodes than this start with their module groups collapsed."""


@dataclass(frozen=True)
class GraphItem:
    """What a tree line stands for: a graph node, or (node None) a module's group."""

    node: GraphNode | None
    module: str = ""
    repeat: bool = False


class GraphView(Tree[GraphItem]):
    """The graph panel: a `Tree` of autograd nodes; Enter on a named node opens that variable."""

    COMPONENT_CLASSES = Tree.COMPONENT_CLASSES | {
        "graph--op",
        "graph--leaf",
        "graph--grad",
        "graph--module",
        "graph--dim",
    }

    DEFAULT_CSS = """
    GraphView { height: 1fr; padding: 0; background: $surface 0%; }
    GraphView > .graph--op { text-style: bold; }
    GraphView > .graph--leaf { color: $text-accent; text-style: bold; }
    GraphView > .graph--grad { color: $text-warning; }
    GraphView > .graph--module { color: $text-secondary; text-style: italic; }
    GraphView > .graph--dim { color: $text-muted; }
    """

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]

    class NodeChosen(Message):
        """Enter on a node that a variable names (``w``, ``z``, ``model.fc1.weight``): inspect it."""

        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

    def __init__(self, lang: str = "en", **kwargs: object) -> None:
        super().__init__("graph", **kwargs)  # type: ignore[arg-type]
        self.lang = lang
        self.graph: Graph | None = None
        self.guide_depth = 2
        self.auto_expand = False

    # -- building ----------------------------------------------------------------------------

    def show_graph(self, graph: Graph, name: str = "") -> None:
        """Replace the tree with `graph` (its root is the result `name`).

        Small graphs are drawn fully nested, each node under the operation that consumed it. Large
        ones (more than `COLLAPSE_AT` nodes) are drawn as an outline: one collapsed line per module,
        and the module's inputs from outside it on the lines after it, as are the inputs of a chain
        of single-input operations (ReLU, dropout), so a deep network reads as a flat list from the
        loss down to the input instead of drifting off the right edge.
        """
        self.graph = graph
        by_id = {n.id: n for n in graph.nodes}
        inputs: dict[str, list[str]] = {}
        for src, dst in graph.edges:
            inputs.setdefault(dst, []).append(src)
        root = by_id.get(graph.root)
        if root is None:
            self.reset(Text("(empty graph)", style="dim"))
            return
        if name and (root.is_leaf or not root.name):  # a leaf is named by identity, maybe by an alias: use the asked name
            root = replace(root, name=name)
        outline = len(graph.nodes) > COLLAPSE_AT
        per_module = Counter(n.module for n in graph.nodes if n.module)
        self.reset(self.node_label(root), GraphItem(root))
        seen = {root.id}
        # Iterative depth-first walk (a deep chain cannot exhaust Python's recursion limit). An entry is
        # (tree line to add under, node id, module drawn around it, where to continue outside that module).
        Entry = tuple[TreeNode[GraphItem], str, str, "tuple[TreeNode[GraphItem], str] | None"]
        stack: list[Entry] = [(self.root, child, root.module, None) for child in reversed(inputs.get(root.id, []))]
        while stack:
            parent, nid, context, outside = stack.pop()
            node = by_id.get(nid)
            if node is None:
                continue
            if nid in seen:
                label = Text(f"{node.name or node.op}", style=self._style("graph--leaf" if node.is_leaf else "graph--op"))
                label.append(f"  {t(self.lang, 'insp_drawn_above')}", style=self._style("graph--dim"))
                parent.add_leaf(label, GraphItem(node, repeat=True))
                continue
            seen.add(nid)
            if node.module and node.module != context:
                outside = (parent, context)
                group_label = Text(node.module, style=self._style("graph--module"))
                group_label.append(f"  {t(self.lang, 'insp_nodes', n=per_module[node.module])}", style=self._style("graph--dim"))
                parent = parent.add(group_label, GraphItem(None, node.module), expand=not outline)
                context = node.module
            kids = inputs.get(nid, [])
            inside = [k for k in kids if not (outline and context and by_id[k].module != context and outside)]
            chain = outline and not context and len(kids) == 1
            if inside and not chain:
                branch = parent.add(self.node_label(node), GraphItem(node), expand=True)
            else:
                branch = parent.add_leaf(self.node_label(node), GraphItem(node))
            later: list[Entry] = []
            for child in kids:
                if child not in inside and outside is not None:
                    later.append((outside[0], child, outside[1], None))  # leaves the module: continue after it
                elif chain:
                    later.append((parent, child, context, outside))  # a single-input chain continues at this depth
                else:
                    later.append((branch, child, context, outside))
            stack.extend(reversed(later))
        if graph.truncated:
            self.root.add_leaf(Text(t(self.lang, "insp_graph_cut", n=len(graph.nodes)), style=self._style("graph--dim")))
        self.root.expand()
        self.cursor_line = 0

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(name, partial=True)

    def node_label(self, node: GraphNode) -> Text:
        """``z = Add  (1,)  2.42  ∇ -0.08166`` or ``w  leaf  (1,)  2.2  ∇ -0.08983``."""
        dim = self._style("graph--dim")
        text = Text()
        if node.is_leaf:
            text.append(node.name or "tensor", style=self._style("graph--leaf"))
            text.append("  leaf", style=dim)
        else:
            if node.name:
                text.append(node.name, style=self._style("graph--leaf"))
                text.append(" = ")
            text.append(node.op, style=self._style("graph--op"))
        if node.shape is not None:
            text.append(f"  {format_shape(node.shape)}", style=dim)
        if node.value is not None:
            text.append(f"  {format_number(node.value)}")
        if node.grad is not None:
            text.append(f"  ∇ {format_number(node.grad)}", style=self._style("graph--grad"))
        elif node.grad_norm is not None:
            text.append(f"  ‖∇‖ {format_number(node.grad_norm)}", style=self._style("graph--grad"))
        return text

    # -- keys --------------------------------------------------------------------------------

    def on_tree_node_selected(self, event: Tree.NodeSelected[GraphItem]) -> None:
        event.stop()
        item = event.node.data
        if item is not None and item.node is not None and item.node.name:
            self.post_message(self.NodeChosen(item.node.name))
        else:
            event.node.toggle()

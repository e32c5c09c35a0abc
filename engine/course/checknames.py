"""Provides the static rule on check blocks: every name a check reads must exist for every learner.

A check runs after the learner's code, in a copy of the lesson namespace. So a name it reads must be bound by
the check itself, by a cell (or predict question) above the exercise, by the exercise's starter (the starter
names what the learner must produce), or be a builtin or a name the kernel provides. A name only the solution
defines passes `llm-tutor check` while no learner can ever pass; a misspelt name blames the learner for the
author's mistake. Both are found here without running anything, each with the line of the check that reads it.
"""

from __future__ import annotations

import ast
import builtins
import symtable
from dataclasses import dataclass

PROVIDED = frozenset({"device", "track", "expect"})
"""Names the kernel puts in every lesson namespace (`expect` only during checks)."""


@dataclass(frozen=True)
class UnknownName:
    """A name a check reads that nothing the learner sees defines."""

    name: str
    line: int
    """1-based line inside the check block."""
    solution_only: bool
    """True when the solution defines it: the solution passes, no learner can."""


def bound_names(code: str) -> set[str] | None:
    """The names `code` binds at module level (assignments, imports, defs, loop targets, `global` in a function).

    None when it cannot be told: the code does not parse, or it uses `from x import *`.
    """
    try:
        table = symtable.symtable(code, "<block>", "exec")
        tree = ast.parse(code)
    except SyntaxError:
        return None
    if any(isinstance(n, ast.ImportFrom) and any(a.name == "*" for a in n.names) for n in ast.walk(tree)):
        return None
    names: set[str] = set()
    for sym in table.get_symbols():
        if sym.is_assigned() or sym.is_imported() or sym.is_namespace():
            names.add(sym.get_name())
    for child in _descendants(table):
        for sym in child.get_symbols():
            if sym.is_declared_global() and sym.is_assigned():
                names.add(sym.get_name())
    return names


def read_names(code: str) -> dict[str, int] | None:
    """The global names `code` reads but does not bind itself, each with the first line that reads it."""
    try:
        table = symtable.symtable(code, "<check>", "exec")
        tree = ast.parse(code)
    except SyntaxError:
        return None
    own = bound_names(code) or set()
    wanted: set[str] = set()
    for sym in table.get_symbols():
        if sym.is_referenced() and sym.get_name() not in own:
            wanted.add(sym.get_name())
    for child in _descendants(table):
        for sym in child.get_symbols():
            if sym.is_referenced() and sym.is_global() and sym.get_name() not in own:
                wanted.add(sym.get_name())
    lines: dict[str, int] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in wanted and isinstance(node.ctx, ast.Load):
            lines[node.id] = min(lines.get(node.id, node.lineno), node.lineno)
    return {name: lines.get(name, 1) for name in sorted(wanted, key=lambda n: (lines.get(n, 1), n))}


def _descendants(table: symtable.SymbolTable) -> list[symtable.SymbolTable]:
    out = []
    for child in table.get_children():
        out.append(child)
        out.extend(_descendants(child))
    return out


def unknown_names(checks: str, above: list[str], starter: str, solution: str = "") -> list[UnknownName] | None:
    """The names `checks` reads that neither the code blocks `above` nor the `starter` define.

    None when a block cannot be analysed (a syntax error, a star import): the rule is then not applied.
    """
    reads = read_names(checks)
    known: set[str] = set(dir(builtins)) | PROVIDED
    for code in [*above, starter]:
        names = bound_names(code)
        if names is None or reads is None:
            return None
        known |= names
    only_solution = bound_names(solution) or set()
    return [UnknownName(name, line, name in only_solution) for name, line in reads.items() if name not in known]

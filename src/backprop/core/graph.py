"""The computational graph: a DAG of primitive modules.

Nodes live in flat lists and are only ever appended after their arguments, so
the node order *is* a topological order (inputs first, output last). Building
through :class:`GraphBuilder` hash-conses every node: an identical
subexpression is one node, however often it is written, and its gradient sums
over all the paths that leave it (the multivariate chain rule).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from backprop.core.ops import PRIMITIVES

CONST, VAR = "const", "var"


@dataclass
class Graph:
    """A DAG of modules in topological order.

    ``ops[i]`` is a primitive's name, ``"const"`` or ``"var"``; ``args[i]`` the
    indices of its inputs (all smaller than ``i``); ``leaf[i]`` the constant's
    value or the variable's name. ``output`` is the node the graph computes.
    """

    ops: list[str] = field(default_factory=list)
    args: list[tuple[int, ...]] = field(default_factory=list)
    leaf: list[float | str | None] = field(default_factory=list)
    output: int = -1
    # several expressions separated by ';': every output in order (output is the last);
    # empty for a graph of one output
    outputs: tuple[int, ...] = ()

    def __len__(self) -> int:
        return len(self.ops)

    @property
    def variables(self) -> tuple[str, ...]:
        """Variable names in order of first appearance in the text."""
        return tuple(str(self.leaf[i]) for i, op in enumerate(self.ops) if op == VAR)

    def reachable(self, root: int | Sequence[int] | None = None) -> list[int]:
        """Indices of the nodes ``root`` (one node or several) depends on, in topological order.

        An iterative marking sweep: because arguments always precede their
        users, one backward walk over the index range marks everything.
        """
        roots = [self.output] if root is None else [root] if isinstance(root, int) else list(root)
        if not roots:
            return []
        top = max(roots)
        mark = bytearray(top + 1)
        for r in roots:
            mark[r] = 1
        args = self.args
        for i in range(top, -1, -1):
            if mark[i]:
                for j in args[i]:
                    mark[j] = 1
        return [i for i in range(top + 1) if mark[i]]


class GraphBuilder:
    """Appends nodes to a :class:`Graph`, reusing any identical node."""

    def __init__(self) -> None:
        self.graph = Graph()
        self._index: dict[tuple, int] = {}

    def _node(self, key: tuple, op: str, args: tuple[int, ...], leaf: float | str | None) -> int:
        found = self._index.get(key)
        if found is not None:
            return found
        g = self.graph
        g.ops.append(op)
        g.args.append(args)
        g.leaf.append(leaf)
        i = len(g.ops) - 1
        self._index[key] = i
        return i

    def const(self, value: float) -> int:
        value = float(value)
        # repr distinguishes -0.0 from 0.0 and nan from everything
        return self._node((CONST, repr(value)), CONST, (), value)

    def var(self, name: str) -> int:
        return self._node((VAR, name), VAR, (), name)

    def apply(self, op: str, *args: int) -> int:
        arity = PRIMITIVES[op].arity
        if len(args) != arity:
            raise ValueError(f"{op} takes {arity} argument(s), got {len(args)}")
        return self._node((op, args), op, tuple(args), None)

    def finish(self, output: int, outputs: tuple[int, ...] = ()) -> Graph:
        self.graph.output = output
        self.graph.outputs = tuple(outputs) if len(outputs) > 1 else ()
        return self.graph

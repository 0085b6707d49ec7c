"""Forward pass, backward pass (reverse mode) and tangent pass (forward mode).

All three walk the graph's topological order in a plain loop and read the one
table of primitives in :mod:`backprop.core.ops`. Values are numpy arrays (or Python
floats for constants), so one pass handles any number of points at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np

from backprop.core.graph import CONST, VAR, Graph
from backprop.core.ops import PRIMITIVES, Partial, Value, _minus_one, _one

# The gradient of the output with respect to itself; compared by identity.
_SEED = 1.0


@dataclass(frozen=True)
class Plan:
    """A graph's reachable nodes resolved once, so each pass is a tight loop."""

    order: tuple[int, ...]  # reachable nodes, inputs first
    var_nodes: dict[str, int]  # variable name -> its node
    consts: tuple[tuple[int, np.float64], ...]  # constant nodes and their values
    steps: tuple[tuple[int, Callable[..., Value], tuple[int, ...]], ...]  # module nodes
    backward_steps: tuple[tuple[int, tuple[tuple[int, int, int, int, Partial], ...]], ...]  # reversed
    _needs: dict[tuple[str, ...], bytearray] = field(default_factory=dict, compare=False)

    @classmethod
    def of(cls, graph: Graph) -> Plan:
        order = graph.reachable()
        ops, leaf, args = graph.ops, graph.leaf, graph.args
        var_nodes = {str(leaf[i]): i for i in order if ops[i] == VAR}
        # numpy scalars, not Python floats: 1/0 is then inf (IEEE), not an exception
        consts = tuple((i, np.float64(leaf[i])) for i in order if ops[i] == CONST)  # type: ignore[arg-type]
        steps = tuple((i, PRIMITIVES[ops[i]].forward, args[i]) for i in order
                      if ops[i] != VAR and ops[i] != CONST)
        # per module, one edge per argument: (k, argument, x, y, local derivative), where x
        # and y index the module's arguments (y = -1 for a function of one argument)
        backward_steps = tuple(
            (i, tuple((k, j, a[0], a[1] if len(a) > 1 else -1, PRIMITIVES[ops[i]].partials[k])
                      for k, j in enumerate(a)))
            for i, _, a in reversed(steps))
        return cls(tuple(order), var_nodes, consts, steps, backward_steps)

    def needs(self, graph: Graph, wrt: Sequence[str]) -> bytearray:
        """Nodes whose value depends on a variable in ``wrt`` (cached per ``wrt``)."""
        key = tuple(wrt)
        found = self._needs.get(key)
        if found is None:
            found = depends_on(graph, self, [self.var_nodes[v] for v in wrt if v in self.var_nodes])
            self._needs[key] = found
        return found


def forward(graph: Graph, plan: Plan, inputs: Mapping[str, Value]) -> list[Value | None]:
    """Evaluate every node in topological order and cache its value."""
    vals: list[Value | None] = [None] * len(graph)
    for i, c in plan.consts:
        vals[i] = c
    for name, i in plan.var_nodes.items():
        v = inputs[name]
        # a Python float would raise on 1/0 in a local derivative: IEEE numpy scalars instead
        vals[i] = np.float64(v) if type(v) is float else v
    with np.errstate(all="ignore"):
        for i, fn, a in plan.steps:
            vals[i] = fn(vals[a[0]]) if len(a) == 1 else fn(vals[a[0]], vals[a[1]])
    return vals


def depends_on(graph: Graph, plan: Plan, nodes: Sequence[int]) -> bytearray:
    """Marks the nodes whose value depends on any of ``nodes`` (a forward sweep)."""
    needs = bytearray(len(graph))
    for j in nodes:
        needs[j] = 1
    args = graph.args
    for i in plan.order:
        for j in args[i]:
            if needs[j]:
                needs[i] = 1
                break
    return needs


def _times(upstream: Value, local: Value) -> Value | None:
    """upstream * local, skipping the multiplications by 1, -1 and 0."""
    if type(local) is float:
        if local == 1.0:
            return upstream
        if local == 0.0:
            return None
        if local == -1.0:
            return -upstream
    if type(upstream) is float and upstream == 1.0:
        return local
    return upstream * local


Recorder = Callable[[int, int, int, Value, Value, Value | None], None]


def backward(
    graph: Graph,
    plan: Plan,
    vals: Sequence[Value | None],
    wrt: Sequence[str],
    record: Recorder | None = None,
) -> dict[str, Value]:
    """Reverse mode: gradient of the output with respect to each name in ``wrt``.

    Starts from the output with gradient 1 and walks the nodes in reverse
    topological order; each node passes ``upstream * local derivative`` to each
    argument, and an argument used by several nodes sums what it receives.
    ``record(node, k, arg, local, upstream, contribution)`` sees every step.
    """
    needs = plan.needs(graph, wrt)
    grads: list[Value | None] = [None] * len(graph)
    if needs[graph.output]:
        grads[graph.output] = _SEED
    # The hot loop: local derivatives that are the constants 1 and -1 (add, sub,
    # neg) cost no call, and the output's own gradient 1 costs no multiplication.
    with np.errstate(all="ignore"):
        for i, edges in plan.backward_steps:
            g = grads[i]
            if g is None:
                continue
            ans = vals[i]
            for k, j, x, y, p in edges:
                if not needs[j]:
                    continue
                if p is _one:
                    local, contrib = 1.0, g
                elif p is _minus_one:
                    local, contrib = -1.0, -g
                else:
                    local = p(ans, vals[x]) if y < 0 else p(ans, vals[x], vals[y])
                    contrib = local if g is _SEED else g * local
                if record is not None:
                    record(i, k, j, local, g, contrib)
                prev = grads[j]
                grads[j] = contrib if prev is None else prev + contrib
            grads[i] = None  # passed on: an intermediate's gradient is not needed again
    result: dict[str, Value] = {}
    for v in wrt:
        j = plan.var_nodes.get(v)
        result[v] = 0.0 if j is None or grads[j] is None else grads[j]  # type: ignore[assignment]
    return result


def tangent(
    graph: Graph, plan: Plan, vals: Sequence[Value | None], seed: Mapping[str, Value]
) -> Value:
    """Forward mode: the directional derivative along ``seed`` (a tangent per variable).

    One pass from the inputs to the output, each node's tangent being the sum
    over its arguments of local derivative * argument's tangent: the same local
    derivatives as reverse mode, multiplied in the other order.
    """
    tan: list[Value | None] = [None] * len(graph)
    for name, t in seed.items():
        j = plan.var_nodes.get(name)
        if j is not None:
            tan[j] = t
    ops, args = graph.ops, graph.args
    with np.errstate(all="ignore"):
        for i in plan.order:
            op = ops[i]
            if op == VAR or op == CONST:
                continue
            a = args[i]
            total: Value | None = None
            partials = None
            for k, j in enumerate(a):
                t = tan[j]
                if t is None:
                    continue
                if partials is None:
                    partials = PRIMITIVES[op].partials
                    argvals = [vals[m] for m in a]
                contrib = _times(t, partials[k](vals[i], *argvals))
                if contrib is not None:
                    total = contrib if total is None else total + contrib
            tan[i] = total
    t_out = tan[graph.output]
    return 0.0 if t_out is None else t_out


def first_non_finite(graph: Graph, plan: Plan, vals: Sequence[Value | None]) -> int | None:
    """The first node (in evaluation order) to produce nan or inf from finite inputs."""
    for i in plan.order:
        v = vals[i]
        if v is None or np.all(np.isfinite(v)):
            continue
        if all(np.all(np.isfinite(vals[j])) for j in graph.args[i]):  # type: ignore[arg-type]
            return i
    return None


def first_non_finite_local(graph: Graph, plan: Plan, vals: Sequence[Value | None]) -> int | None:
    """The first node whose local derivative is nan or inf where its value is finite."""
    with np.errstate(all="ignore"):
        for i in plan.order:
            op = graph.ops[i]
            if op in (VAR, CONST) or not np.all(np.isfinite(vals[i])):  # type: ignore[arg-type]
                continue
            argvals = [vals[j] for j in graph.args[i]]
            for partial in PRIMITIVES[op].partials:
                if not np.all(np.isfinite(partial(vals[i], *argvals))):
                    return i
    return None

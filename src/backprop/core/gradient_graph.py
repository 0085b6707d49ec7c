"""Second order by forward mode over the backward pass: the gradient as a graph.

The backward pass multiplies each upstream gradient by a local derivative and
sums over paths. Here it is *built* instead of run: each local derivative is
the primitive's derivative template from :mod:`backprop.core.ops` (``cos(x)``
for sin, ``y*x^(y-1)`` for pow, ...) instantiated on the module's own argument
nodes, and each product and sum is a node. The result is one graph holding the
original modules followed by the backward pass's modules, with a node for each
partial derivative; shared subexpressions stay shared (the builder hash-conses),
so its size is linear in the original's.

Forward mode over that graph, with all directions at once as a leading array
axis, then gives every row of the Hessian in one pass: the tangent of the node
for df/dv along the direction of u is d2f/dudv. No symbolic tree, no finite
differences; the same passes, composed.

Conventions, the same as first order (the templates say so): relu'(0) = 0 and
abs'(0) = 0 through step and sign, whose own derivative is 0; max and min split
a tie 1/2-1/2 through (1+sign(x-y))/2, so their second derivatives are 0
everywhere, ties included. A local derivative that is the constant 0 cuts its
path (nothing is sent along it), as in the engine's tangent pass.

Every pass here is a loop over a topological order: nothing recurses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from backprop.core import engine, scalar
from backprop.core.passes import Program, TangentSteps, last_uses, tangent_steps
from backprop.core.graph import CONST, VAR, Graph, GraphBuilder
from backprop.core.ops import PRIMITIVES, Value

# At one point, the tangent pass is run grouped by level when its groups average at least
# this many modules (below it, numpy's per-call overhead makes the per-node pass faster).
MIN_GROUP_WIDTH = 4.0

# At this many points or more, tangents are kept direction by direction (see
# engine.tangents_by_direction): each numpy call is large enough that one per direction
# costs nothing, and the directions a module does not depend on cost nothing either.
BY_DIRECTION_POINTS = 4096

_TEMPLATES: dict[tuple[str, int], tuple[tuple[str, tuple[int, ...], object], ...]] = {}


def _template(op: str, k: int) -> tuple[tuple[str, tuple[int, ...], object], ...]:
    """The derivative template of ``op``'s argument ``k``, parsed once into steps.

    Each step is (op, argument step indices, leaf): leaf is the constant's
    value, or 0/1 for the template's x/y.
    """
    found = _TEMPLATES.get((op, k))
    if found is None:
        from backprop.core.parser import parse_graph

        g = parse_graph(PRIMITIVES[op].derivative[k])
        order = g.reachable()
        where = {i: n for n, i in enumerate(order)}
        steps = []
        for i in order:
            if g.ops[i] == VAR:
                name = g.leaf[i]
                if name not in ("x", "y"):
                    raise ValueError(f"the derivative template of {op} names {name!r}: only x and y")
                steps.append((VAR, (), 0 if name == "x" else 1))
            elif g.ops[i] == CONST:
                steps.append((CONST, (), g.leaf[i]))
            else:
                steps.append((g.ops[i], tuple(where[j] for j in g.args[i]), None))
        found = tuple(steps)
        _TEMPLATES[(op, k)] = found
    return found


class _Builder:
    """A graph builder that folds constants and the identities x+0, x*1, x*0, x^1, x^0.

    The identities are exact where the engine's local derivatives are: pow's rule
    y*x^(y-|sign(y)|) is 0 for x^0 and 2*x^1 = 2*x for x^2, which it folds to.
    """

    def __init__(self) -> None:
        self.b = GraphBuilder()
        self.g = self.b.graph
        self.origin: list[int] = []  # per node: the original module whose derivative made it (-1: none)
        self.current = -1

    def _track(self, i: int) -> int:
        while len(self.origin) < len(self.g.ops):
            self.origin.append(self.current)
        return i

    def const(self, v: float) -> int:
        return self._track(self.b.const(v))

    def var(self, name: str) -> int:
        return self._track(self.b.var(name))

    def _c(self, i: int) -> float | None:
        return self.g.leaf[i] if self.g.ops[i] == CONST else None  # type: ignore[return-value]

    def apply(self, op: str, *a: int) -> int:
        cs = [self._c(i) for i in a]
        if all(c is not None for c in cs):
            with np.errstate(all="ignore"):
                return self.const(float(PRIMITIVES[op].forward(*(np.float64(c) for c in cs))))
        if op == "add":
            if cs[0] == 0.0:
                return a[1]
            if cs[1] == 0.0:
                return a[0]
            if self.g.ops[a[1]] == "neg":  # a + (-b) is a - b: one module fewer
                return self.apply("sub", a[0], self.g.args[a[1]][0])
        elif op == "sub":
            if cs[1] == 0.0:
                return a[0]
            if cs[0] == 0.0:
                return self.apply("neg", a[1])
        elif op == "mul":
            for x, c, other in ((a[0], cs[0], a[1]), (a[1], cs[1], a[0])):
                if c == 1.0:
                    return other
                if c == 0.0:
                    return x
                if c == -1.0:
                    return self.apply("neg", other)
        elif op == "div":
            if cs[1] == 1.0:
                return a[0]
            if cs[0] == 0.0:
                return a[0]
        elif op == "neg":
            if self.g.ops[a[0]] == "neg":
                return self.g.args[a[0]][0]
        elif op == "pow":
            if cs[1] == 1.0:
                return a[0]
            if cs[1] == 0.0:
                return self.const(1.0)
        return self._track(self.b.apply(op, *a))

    def local(self, op: str, k: int, args: tuple[int, ...]) -> int:
        """The node computing d op / d argument k, from the template, on ``args``."""
        nodes: list[int] = []
        for t_op, t_args, leaf in _template(op, k):
            if t_op == VAR:
                nodes.append(args[leaf])  # type: ignore[index]
            elif t_op == CONST:
                nodes.append(self.const(leaf))  # type: ignore[arg-type]
            else:
                nodes.append(self.apply(t_op, *(nodes[m] for m in t_args)))
        return nodes[-1]


@dataclass(frozen=True)
class GradientGraph:
    """The original graph's modules, then the backward pass's, in one graph.

    ``node_of[i]`` is original node ``i``'s node here; ``grad[v]`` the node
    computing df/dv (None: df/dv is 0 everywhere); ``origin[m]`` the original
    module whose local derivative (or product, or sum) node ``m`` belongs to.
    """

    graph: Graph
    output: int
    grad: dict[str, int | None]
    node_of: dict[int, int]
    origin: tuple[int, ...]

    @property
    def size(self) -> int:
        return len(self.graph)


def build(graph: Graph, wrt: Sequence[str], output: int | None = None) -> GradientGraph:
    """The backward pass of ``graph`` (for ``output``) written as modules of the same table."""
    out_node = graph.output if output is None else output
    order = graph.reachable(out_node)
    bld = _Builder()
    node_of: dict[int, int] = {}
    ops, args, leaf = graph.ops, graph.args, graph.leaf
    for i in order:
        if ops[i] == VAR:
            node_of[i] = bld.var(str(leaf[i]))
        elif ops[i] == CONST:
            node_of[i] = bld.const(leaf[i])  # type: ignore[arg-type]
        else:
            # b.apply, not bld.apply: the original's modules stay as written, unfolded
            node_of[i] = bld._track(bld.b.apply(ops[i], *(node_of[j] for j in args[i])))
    # nodes whose value depends on a variable in wrt: only they receive a gradient
    wanted = set(wrt)
    needs = bytearray(len(graph))
    for i in order:
        if ops[i] == VAR:
            needs[i] = leaf[i] in wanted
        else:
            needs[i] = any(needs[j] for j in args[i])
    adj: dict[int, int] = {}
    if needs[out_node]:
        adj[out_node] = bld.const(1.0)
    for i in reversed(order):
        g = adj.pop(i, None) if ops[i] != VAR else None
        if g is None or ops[i] == CONST:
            continue
        bld.current = i
        a = args[i]
        new_args = tuple(node_of[j] for j in a)
        for k, j in enumerate(a):
            if not needs[j]:
                continue
            local = bld.local(ops[i], k, new_args)
            if PRIMITIVES[ops[i]].nan_outside:  # + 0*sign(value), unfolded: nan where it is
                mask = bld.b.apply("mul", bld.const(0.0), bld.b.apply("sign", node_of[i]))
                local = bld._track(bld.b.apply("add", local, mask))
            contrib = bld.apply("mul", g, local)
            if bld._c(contrib) == 0.0:
                continue  # a zero local derivative: nothing flows along this path
            prev = adj.get(j)
            adj[j] = contrib if prev is None else bld.apply("add", prev, contrib)
        bld.current = -1
    var_node = {str(leaf[i]): i for i in order if ops[i] == VAR}
    grad: dict[str, int | None] = {}
    for v in wrt:
        j = var_node.get(v)
        grad[v] = adj.get(j) if j is not None else None
    result = bld.b.finish(node_of[out_node])
    return GradientGraph(result, node_of[out_node], grad, node_of, tuple(bld.origin))


@dataclass(frozen=True)
class SecondOrderPlan:
    """What the second-order passes walk, resolved once per (graph, wrt)."""

    gg: GradientGraph
    wrt: tuple[str, ...]
    plan: engine.Plan  # the forward pass: the value and every gradient node
    steps: TangentSteps  # the tangent pass: only modules that feed a gradient node
    free: tuple[tuple[int, ...], ...]  # per step, the tangents no later step reads
    # the tangent pass at one point, grouped by level (built on first use; see engine.LevelPlan)
    _level: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    def level_plan(self) -> tuple[engine.LevelPlan, np.ndarray] | None:
        """The grouped tangent pass and each gradient node's row (-1: none), if groups are wide."""
        if "plan" not in self._level:
            lp = engine.LevelPlan.of(self.steps, self.plan.var_nodes, self.wrt, MIN_GROUP_WIDTH)
            if lp is None:
                self._level["plan"] = None
            else:
                rows = np.array([-1 if self.gg.grad[v] is None else lp.slots.get(self.gg.grad[v], -1)
                                 for v in self.wrt], dtype=np.intp)
                self._level["plan"] = (lp, rows)
        return self._level["plan"]  # type: ignore[no-any-return]

    def dense_steps(self, ndim: int) -> TangentSteps:
        """The tangent steps for a leading axis of directions at points of ``ndim``
        dimensions (``engine.masked``; built on first use)."""
        key = ("dense", ndim)
        if key not in self._level:
            self._level[key] = engine.masked(self.steps, self.plan.var_nodes, self.wrt, ndim)
        return self._level[key]  # type: ignore[no-any-return]

    def float_passes(self) -> tuple[Program, TangentSteps]:
        """The same forward and tangent passes on Python floats (built on first use)."""
        if "floats" not in self._level:
            g = self.gg.graph
            roots = [self.gg.output, *(n for n in self.gg.grad.values() if n is not None)]
            program = Program(g, scalar.FLOATS, roots=roots)
            feeds = bytearray(len(g))
            for i in g.reachable(roots[1:]):
                feeds[i] = 1
            steps = tangent_steps(g, self.plan.order, self.wrt, scalar.FLOATS.partials,
                                  keep=feeds.__getitem__)
            self._level["floats"] = (program, steps)
        return self._level["floats"]  # type: ignore[no-any-return]

    @classmethod
    def of(cls, graph: Graph, wrt: Sequence[str], output: int | None = None) -> SecondOrderPlan:
        gg = build(graph, wrt, output)
        g = gg.graph
        grad_roots = [n for n in gg.grad.values() if n is not None]
        plan = engine.Plan.of(g, [gg.output, *grad_roots])
        feeds = bytearray(len(g))
        for i in g.reachable(grad_roots):
            feeds[i] = 1
        steps = tangent_steps(g, plan.order, wrt, engine.NUMPY.partials, keep=feeds.__getitem__)
        return cls(gg, tuple(wrt), plan, steps, last_uses(steps, grad_roots))


@dataclass
class SecondOrder:
    """The value, the gradient and the Hessian at one or many points.

    ``hessian`` has shape (n, n, *points), n = len(wrt), rows and columns in wrt's order.
    """

    value: Value
    grad: dict[str, Value]
    hessian: np.ndarray
    wrt: tuple[str, ...]
    vals: list[Value | None]  # the forward pass over the gradient graph (for messages)


def evaluate(plan: SecondOrderPlan, inputs: Mapping[str, Value]) -> SecondOrder:
    """Value, gradient and Hessian: one forward pass and one vectorised tangent pass."""
    vals = engine.forward(plan.gg.graph, plan.plan, inputs)
    shape = np.broadcast_shapes(*(np.shape(v) for v in inputs.values())) if inputs else ()
    grad = {v: 0.0 if plan.gg.grad[v] is None else vals[plan.gg.grad[v]]  # type: ignore[index]
            for v in plan.wrt}
    return SecondOrder(vals[plan.gg.output], grad, _hessian(plan, vals, shape),  # type: ignore[arg-type]
                       plan.wrt, vals)


def _hessian(plan: SecondOrderPlan, vals: list[Value | None], shape: tuple[int, ...]
             ) -> np.ndarray:
    """The tangent pass over the gradient graph, its tangents held as suits the points:
    grouped by level at one point of a wide graph, direction by direction at many
    points, a leading axis of directions otherwise. Row r is the tangent of df/dwrt[r]."""
    n = len(plan.wrt)
    nodes = [plan.gg.grad[v] for v in plan.wrt]
    grouped = plan.level_plan() if shape == () else None
    if grouped is not None:
        lp, rows = grouped
        h = lp.run(vals, n)[rows]
        h[rows < 0] = 0.0
        return h
    if int(np.prod(shape)) >= BY_DIRECTION_POINTS:
        by_dir = engine.tangents_by_direction(plan.steps, plan.plan.var_nodes, plan.wrt, vals,
                                              plan.free)
        h = np.zeros((n, n) + shape)
        for r, node in enumerate(nodes):
            for c, t in ((by_dir[node] or {}) if node is not None else {}).items():
                h[r, c] = t
        return h
    tan = engine.tangents(plan.dense_steps(len(shape)), plan.plan.var_nodes, plan.wrt, vals,
                          plan.free)
    h = np.empty((n, n) + shape)
    for r, node in enumerate(nodes):
        t = None if node is None else tan[node]
        h[r] = 0.0 if t is None else t  # a row constant in the points broadcasts over them
    return h


# Up to this many directions the passes at one point run faster on Python floats than on
# numpy scalars: the float tangent pass costs edges x directions, the numpy one, grouped
# by level, little more than its calls (bench/bench_hessian.py --part 4 measures where
# they cross; docs/performance.md keeps the figures).
FLOAT_DIRECTIONS = 16


def evaluate_floats(plan: SecondOrderPlan, point: Mapping[str, float]
                    ) -> tuple[float, list[float], list[list[float]]] | None:
    """Value, gradient and Hessian at one point of Python floats: the forward pass and the
    tangent pass of :func:`evaluate`, with the math module and no numpy (for up to
    FLOAT_DIRECTIONS variables). None where math raises or a result is not finite: then
    :func:`evaluate` answers, with IEEE inf and nan."""
    program, steps = plan.float_passes()
    isfinite = math.isfinite
    try:
        vals = program.forward(point)
        tan = scalar.tangents(steps, plan.plan.var_nodes, plan.wrt, vals)
    except (ArithmeticError, ValueError):  # math's way of saying inf or nan
        return None
    n = len(plan.wrt)
    grad: list[float] = []
    hessian: list[list[float]] = []
    for v in plan.wrt:
        node = plan.gg.grad[v]
        grad.append(0.0 if node is None else vals[node])
        hessian.append(scalar.as_list(None if node is None else tan[node], n))
    value = vals[plan.gg.output]
    if not isfinite(value) or not all(map(isfinite, grad)) \
            or not all(isfinite(h) for row in hessian for h in row):
        return None
    return value, grad, hessian


def first_non_finite(plan: SecondOrderPlan, vals: Sequence[Value | None]) -> int | None:
    """The original module behind the first non-finite second-order quantity, if any.

    First a node of the gradient graph that is nan or inf where its arguments are
    finite (a local derivative outside its domain); then one whose own local
    derivative is (the tangent pass multiplies by it). The answer is mapped back
    to the original module whose derivative made it.
    """
    g = plan.gg.graph
    inverse = {m: i for i, m in plan.gg.node_of.items()}
    with np.errstate(all="ignore"):
        for i in plan.plan.order:
            v = vals[i]
            if v is None or np.all(np.isfinite(v)):
                continue
            if all(np.all(np.isfinite(vals[j])) for j in g.args[i]):  # type: ignore[arg-type]
                return inverse.get(i, plan.gg.origin[i])
        for i, edges in plan.steps:
            for _, p, x, y in edges:
                local = p(vals[i], vals[x]) if y is None else p(vals[i], vals[x], vals[y])
                if not np.all(np.isfinite(local)):
                    return inverse.get(i, plan.gg.origin[i])
    return None

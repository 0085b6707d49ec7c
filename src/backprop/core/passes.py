"""The three passes over a graph, each written once: forward, backward and tangent.

A graph is compiled (:class:`Program`) for one *arithmetic*: the table of
primitives gives every module a forward and local derivatives per kind of
number, and compiling binds the ones for the numbers the pass will carry:

* Python floats and the math module, at one point (``core/scalar.py``: no numpy
  to import, a few times less work than numpy scalars);
* numpy arrays over blocks of points, or numpy scalars where math raises
  (``core/engine.py``: IEEE inf and nan);
* complex numbers, for the complex step (``core/complex_step.py``).

The loops below then run whatever was bound, as JAX's interpreters and
autograd's one ``backward_pass`` do:

* :func:`run_forward` computes every module's value in topological order and
  caches it;
* :func:`run_backward` starts from the output with gradient 1, multiplies each
  upstream gradient by the module's local derivative and sums what an argument
  receives over all its paths (the chain rule);
* :func:`run_tangents` carries tangents forward: each module's tangent is the
  sum over its arguments of local derivative * argument's tangent. How a tangent
  holds its directions is the caller's ``add``: {direction: number} at one point and
  {direction: array} over many points (:func:`by_direction`), a leading array
  axis, or the rows of a matrix when the modules are grouped by level
  (``core/engine.py``).

Nothing here imports numpy: a one-point command never pays for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from backprop.core.graph import CONST, VAR, Graph
from backprop.core.ops import PRIMITIVES, Partial, Primitive, _minus_one, _one, _zero

# The output's gradient with respect to itself, compared by identity: the first
# multiplication by it is skipped.
SEED = 1.0
# The local derivatives that are the constants 1 and -1 (add, sub, neg) cost no call: the
# loops use these two numbers, and a tangent's ``add`` may test them by identity.
ONE, MINUS_ONE = 1.0, -1.0

# node, its forward, its arguments x and y (None: a function of one argument)
Step = tuple[int, Callable[..., Any], Any, Any]
# argument, its position k, the module's arguments x and y, the local derivative
Edge = tuple[int, int, Any, Any, Partial]
# a module and the edges that carry a tangent: (argument, local derivative, x, y)
TangentSteps = Sequence[tuple[Any, Sequence[tuple[Any, Partial, Any, Any]]]]
# add(total, local, tangent): total + local * tangent (total None: nothing yet)
TangentAdd = Callable[[Any, Any, Any], Any]


def run_forward(steps: Sequence[Step], vals: list[Any]) -> None:
    """The forward pass: each module's value from its arguments', cached in ``vals``."""
    for i, fn, x, y in steps:
        vals[i] = fn(vals[x]) if y is None else fn(vals[x], vals[y])


def run_backward(back: Sequence[tuple[int, Sequence[Edge]]], vals: Sequence[Any],
                 grads: list[Any], record: Callable[..., None] | None = None) -> None:
    """The backward pass, from the gradients seeded in ``grads`` (the output's: SEED).

    Each module passes ``upstream * local derivative`` to each argument, and an
    argument used by several modules sums what it receives. ``record(node, k,
    argument, local, upstream, contribution)`` sees every step.
    """
    one, minus_one, seed = _one, _minus_one, SEED
    for i, edges in back:
        g = grads[i]
        if g is None:
            continue
        ans = vals[i]
        for j, k, x, y, p in edges:
            if p is one:
                local, contrib = ONE, g
            elif p is minus_one:
                local, contrib = MINUS_ONE, -g
            else:
                local = p(ans, vals[x]) if y is None else p(ans, vals[x], vals[y])
                contrib = local if g is seed else g * local
            if record is not None:
                record(i, k, j, local, g, contrib)
            prev = grads[j]
            grads[j] = contrib if prev is None else prev + contrib
        grads[i] = None  # passed on: an intermediate's gradient is not needed again


def run_tangents(steps: TangentSteps, vals: Sequence[Any], tan: Any, add: TangentAdd,
                 free: Sequence[Sequence[int]] | None = None) -> None:
    """The tangent pass (forward mode), from the tangents seeded in ``tan``.

    A module's tangent is ``add``'s sum over its arguments of local derivative *
    argument's tangent: the same local derivatives as the backward pass, multiplied
    in the other order. None is a zero tangent; a derivative that is 0 by its
    definition (sign, step) sends nothing, while a computed 0 is still multiplied,
    so that 0 * inf gives nan. ``free`` (from :func:`last_uses`) drops each tangent
    after its last reader.
    """
    one, minus_one, zero = _one, _minus_one, _zero
    for s, (i, edges) in enumerate(steps):
        total = None
        ans = vals[i]
        for j, p, x, y in edges:
            t = tan[j]
            if t is None or p is zero:
                continue
            if p is one:
                local = ONE
            elif p is minus_one:
                local = MINUS_ONE
            else:
                local = p(ans, vals[x]) if y is None else p(ans, vals[x], vals[y])
            total = add(total, local, t)
        if total is not None:
            tan[i] = total
        if free is not None:
            for j in free[s]:
                tan[j] = None


@dataclass(frozen=True)
class Arithmetic:
    """Which of a primitive's functions a pass binds: the kind of number it carries."""

    name: str
    forward: Callable[[Primitive], Callable[..., Any]]
    partials: Callable[[Primitive], tuple[Partial, ...]]
    constant: Callable[[float], Any]  # a constant node's value in this arithmetic
    # a context for every pass (numpy's error state), or None
    guard: Callable[[], Any] | None = None
    # a variable's value as given -> as the passes take it (None: as given)
    number: Callable[[Any], Any] | None = None


def depends_on(graph: Graph, order: Sequence[int], nodes: Sequence[int]) -> bytearray:
    """Marks the nodes whose value depends on any of ``nodes`` (a sweep in ``order``)."""
    needs = bytearray(len(graph))
    for j in nodes:
        needs[j] = 1
    args = graph.args
    for i in order:
        for j in args[i]:
            if needs[j]:
                needs[i] = 1
                break
    return needs


class Program:
    """A graph's forward and backward passes compiled once for one arithmetic.

    Everything a pass would look up is resolved here: the constants placed, each
    module's forward and local derivatives bound, the modules that no variable in
    ``wrt`` reaches dropped from the backward steps. ``roots``: the nodes the
    forward pass must compute (default: the output). ``bind(primitive, node)``, if
    given, may replace a module's (forward, partials) for this program (the fused
    sin and cos of ``core/engine.py``). A pass may raise what the bound functions
    raise (math's way of saying inf or nan); the callers decide what that means.
    """

    def __init__(self, graph: Graph, arithmetic: Arithmetic, wrt: Sequence[str] = (),
                 roots: Sequence[int] | None = None,
                 bind: Callable[[Primitive, int], tuple[Callable[..., Any],
                                                        tuple[Partial, ...]] | None] | None = None
                 ) -> None:
        order = graph.reachable(roots)
        ops, leaf, args = graph.ops, graph.leaf, graph.args
        template: list[Any] = [None] * len(graph)
        var_slots: list[tuple[str, int]] = []
        steps: list[Step] = []
        edges_of: list[tuple[int, tuple[Edge, ...]]] = []
        for i in order:
            op = ops[i]
            if op == CONST:
                template[i] = arithmetic.constant(leaf[i])  # type: ignore[arg-type]
            elif op == VAR:
                var_slots.append((str(leaf[i]), i))
            else:
                prim = PRIMITIVES[op]
                bound = bind(prim, i) if bind is not None else None
                fn, partials = bound if bound is not None else (
                    arithmetic.forward(prim), arithmetic.partials(prim))
                a = args[i]
                x, y = a[0], a[1] if len(a) > 1 else None
                steps.append((i, fn, x, y))
                edges_of.append((i, tuple((j, k, x, y, partials[k]) for k, j in enumerate(a))))
        var_nodes = dict(var_slots)
        needs = depends_on(graph, order, [var_nodes[v] for v in wrt if v in var_nodes])
        self.graph, self.arithmetic, self.order = graph, arithmetic, tuple(order)
        self.template = template
        self.var_slots = tuple(var_slots)
        self.var_nodes = var_nodes
        self.steps = tuple(steps)
        self.back = tuple((i, tuple(e for e in edges if needs[e[0]]))
                          for i, edges in reversed(edges_of) if needs[i])
        self.needs = needs
        self.output = graph.output
        self.wrt = tuple(wrt)
        self.wrt_nodes = tuple(var_nodes.get(v, -1) for v in wrt)
        self._number, self._guard = arithmetic.number, arithmetic.guard

    def forward(self, point: Mapping[str, Any]) -> list[Any]:
        """Every node's value at ``point`` (indexed by node; None off the roots' paths)."""
        vals = self.template.copy()
        number = self._number
        for name, i in self.var_slots:
            vals[i] = point[name] if number is None else number(point[name])
        if self._guard is None:
            run_forward(self.steps, vals)
        else:
            with self._guard():
                run_forward(self.steps, vals)
        return vals

    def backward(self, vals: Sequence[Any], output: int | None = None,
                 record: Callable[..., None] | None = None) -> list[Any]:
        """Every variable's gradient (indexed by node; None where none arrived) of
        ``output`` (default: the graph's), from a forward pass's ``vals``."""
        grads: list[Any] = [None] * len(vals)
        out = self.output if output is None else output
        if self.needs[out]:
            grads[out] = SEED
        if self._guard is None:
            run_backward(self.back, vals, grads, record)
        else:
            with self._guard():
                run_backward(self.back, vals, grads, record)
        return grads

    def value_and_grad(self, point: Mapping[str, Any]) -> tuple[list[Any], list[Any]]:
        """:meth:`forward` then :meth:`backward` and :meth:`gradient`: every node's value,
        and the partials in ``wrt``'s order (one call: the hot path of one point)."""
        if self._guard is not None:
            vals = self.forward(point)
            return vals, self.gradient(self.backward(vals))
        vals = self.template.copy()  # as forward() and backward(), without their calls
        number = self._number
        for name, i in self.var_slots:
            vals[i] = point[name] if number is None else number(point[name])
        run_forward(self.steps, vals)
        grads: list[Any] = [None] * len(vals)
        if self.needs[self.output]:
            grads[self.output] = SEED
        run_backward(self.back, vals, grads)
        return vals, [0.0 if j < 0 or grads[j] is None else grads[j] for j in self.wrt_nodes]

    def gradient(self, grads: Sequence[Any]) -> list[Any]:
        """The partials in ``wrt``'s order from :meth:`backward`'s result (0.0: none)."""
        return [0.0 if j < 0 or grads[j] is None else grads[j] for j in self.wrt_nodes]


def tangent_steps(graph: Graph, order: Sequence[int], wrt: Sequence[str],
                  partials_of: Callable[[Primitive], tuple[Partial, ...]],
                  keep: Callable[[int], bool] | None = None) -> TangentSteps:
    """The modules a tangent pass visits: those depending on a ``wrt`` variable (and, with
    ``keep``, only those it accepts), each with the edges that carry a tangent:
    (argument, local derivative, x, y). ``partials_of``: the arithmetic's."""
    ops, args, leaf = graph.ops, graph.args, graph.leaf
    wanted = set(wrt)
    dep = bytearray(len(graph))
    steps = []
    for i in order:
        op = ops[i]
        if op == VAR:
            dep[i] = leaf[i] in wanted
            continue
        if op == CONST:
            continue
        a = args[i]
        if not any(dep[j] for j in a):
            continue
        dep[i] = 1
        if keep is not None and not keep(i):
            continue
        p = partials_of(PRIMITIVES[op])
        x, y = a[0], a[1] if len(a) > 1 else None
        steps.append((i, tuple((j, p[k], x, y) for k, j in enumerate(a) if dep[j])))
    return tuple(steps)


def last_uses(steps: TangentSteps, keep: Sequence[int]) -> tuple[tuple[int, ...], ...]:
    """For each step, the tangents no later step reads (and not in ``keep``): freed after it."""
    last: dict[int, int] = {}
    for s, (_, edges) in enumerate(steps):
        for j, *_ in edges:
            last[j] = s
    for j in keep:
        last.pop(j, None)
    free: list[list[int]] = [[] for _ in steps]
    for j, s in last.items():
        free[s].append(j)
    return tuple(tuple(f) for f in free)


def by_direction(total: dict[int, Any] | None, local: Any, t: dict[int, Any]) -> dict[int, Any]:
    """Tangents kept as {direction: number or array}: a module carries only the directions
    it depends on (x^2 carries x's alone), and no direction is a row of zeros."""
    if total is None:
        total = {}
    unit = type(local) is float and local == 1.0
    for k, v in t.items():
        if unit:
            c = v
        elif type(v) is float and v == 1.0:
            c = local
        else:
            c = v * local
        prev = total.get(k)
        total[k] = c if prev is None else prev + c
    return total


def one_direction(total: Any, local: Any, t: Any) -> Any:
    """Tangents of one direction: a number (or array) per node, the unit tangent 1.0."""
    c = local * t
    return c if total is None else total + c


def directions(steps: TangentSteps, var_nodes: Mapping[str, int],
               wrt: Sequence[str]) -> dict[int, int]:
    """The directions each node's tangent can carry, as a bit mask (bit k: wrt[k]): those
    of the variables it depends on. A dense tangent holds zeros in the others, which a
    local derivative of nan or inf must not turn into nan (x^y at x < 0 has a derivative
    in x although its partial in y is nan)."""
    found: dict[int, int] = {}
    for k, name in enumerate(wrt):
        j = var_nodes.get(name)
        if j is not None:
            found[j] = found.get(j, 0) | 1 << k
    for i, edges in steps:
        mask = 0
        for j, p, _, _ in edges:
            if p is not _zero:  # sign's and step's derivative carries no direction
                mask |= found.get(j, 0)
        found[i] = mask
    return found


def unit_directions(var_nodes: Mapping[str, int], wrt: Sequence[str], size: int,
                    unit: Callable[[int], Any]) -> list[Any]:
    """Tangents seeded for ``wrt``: variable number k gets ``unit(k)``, the rest None."""
    tan: list[Any] = [None] * size
    for k, name in enumerate(wrt):
        j = var_nodes.get(name)
        if j is not None:
            tan[j] = unit(k)
    return tan

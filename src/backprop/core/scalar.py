"""The forward and backward passes at one point of Python floats, with no numpy.

The same two passes as :mod:`backprop.core.engine`, in the same order: the
forward pass caches every module's value, the backward pass starts from the
output with gradient 1, multiplies each upstream gradient by the module's local
derivative and sums what an argument receives over all its paths. They run on
Python floats with the ``scalar`` entries of the table of primitives (the math
module), which is what one point needs: no numpy to import at start-up, and a
few times less work than numpy scalars.

math raises where IEEE arithmetic gives inf or nan (log 0, exp 1000, 1/0). Then,
or when the value or a partial is not finite, :meth:`FloatPasses.__call__`
returns None, and the caller runs numpy's passes, whose IEEE results, warnings
and diagnosis of the first non-finite module the commands report. A finite
answer here differs from numpy's at most where the C library's elementary
functions (correctly rounded in nearly all cases) and numpy's vectorised ones
round differently: in the last bit or two.
"""

from __future__ import annotations

import cmath
import math
import operator
from typing import Any, Callable, Mapping, Sequence

from backprop.core.graph import CONST, VAR, Graph
from backprop.core.ops import PRIMITIVES, Primitive, _minus_one, _one, _zero

_isfinite = math.isfinite
_SEED = 1.0  # the output's gradient with respect to itself; compared by identity


class PointPasses:
    """The forward and backward passes at one point, compiled once for a loop of many points.

    Everything a call would look up is resolved here: the constants placed, each
    module's forward and local derivatives taken from the table (``functions``
    picks them: the math module's here, numpy's in ``engine.point_passes``), the
    modules that no gradient reaches dropped from the backward steps. A call may
    raise whatever the functions raise; the callers decide what that means.
    """

    def __init__(self, graph: Graph, wrt: Sequence[str],
                 functions: Callable[[Primitive], tuple[Callable[..., Any], ...]],
                 number: Callable[[float], Any] = float,
                 roots: Sequence[int] | None = None) -> None:
        # the forward pass covers what ``roots`` need (default: the output)
        order = graph.reachable(roots)
        ops, leaf, args = graph.ops, graph.leaf, graph.args
        template: list[Any] = [None] * len(graph)
        var_slots: list[tuple[str, int]] = []
        steps: list[tuple[int, Callable[..., Any], int, int]] = []
        edges_of: list[tuple[int, tuple[tuple[int, int, int, Callable[..., Any]], ...]]] = []
        for i in order:
            op = ops[i]
            if op == CONST:
                template[i] = number(leaf[i])  # type: ignore[arg-type]
            elif op == VAR:
                var_slots.append((str(leaf[i]), i))
            else:
                fns = functions(PRIMITIVES[op])
                a = args[i]
                x, y = a[0], a[1] if len(a) > 1 else -1
                steps.append((i, fns[0], x, y))
                edges_of.append((i, tuple((j, k, x, y, fns[1 + k]) for k, j in enumerate(a))))
        var_nodes = dict(var_slots)
        # only the modules that some variable in wrt reaches carry a gradient
        needs = bytearray(len(graph))
        for v in wrt:
            if v in var_nodes:
                needs[var_nodes[v]] = 1
        for i in order:
            if any(needs[j] for j in args[i]):
                needs[i] = 1
        self.template = template
        self.var_slots = tuple(var_slots)
        self.steps = tuple(steps)
        self.back = tuple((i, tuple(e for e in edges if needs[e[0]]))
                          for i, edges in reversed(edges_of) if needs[i])
        self.output = graph.output
        self.seeded = bool(needs[graph.output])
        self.wrt_nodes = tuple(var_nodes.get(v, -1) for v in wrt)

    def run(self, point: Mapping[str, Any],
            record: Callable[..., None] | None = None) -> tuple[list[Any], list[Any]]:
        """Forward then backward: every module's value, and every node's gradient
        (None where no gradient arrived; an intermediate's is dropped once passed on).

        ``record(node, k, arg, local, upstream, contribution)`` sees every step of the
        backward pass, as :func:`backprop.core.engine.backward`'s does.
        """
        vals = self.template.copy()
        for name, i in self.var_slots:
            vals[i] = point[name]
        grads: list[Any] = [None] * len(vals)
        one, minus_one, seed = _one, _minus_one, _SEED
        for i, fn, x, y in self.steps:
            vals[i] = fn(vals[x]) if y < 0 else fn(vals[x], vals[y])
        if self.seeded:
            grads[self.output] = seed
        for i, edges in self.back:
            g = grads[i]
            if g is None:
                continue
            ans = vals[i]
            for j, k, x, y, p in edges:
                if p is one:
                    local, contrib = 1.0, g
                elif p is minus_one:
                    local, contrib = -1.0, -g
                else:
                    local = p(ans, vals[x]) if y < 0 else p(ans, vals[x], vals[y])
                    contrib = local if g is seed else g * local
                if record is not None:
                    record(i, k, j, local, g, contrib)
                prev = grads[j]
                grads[j] = contrib if prev is None else prev + contrib
            grads[i] = None  # passed on: an intermediate's gradient is not needed again
        return vals, grads

    def partials(self, grads: Sequence[Any]) -> list[float]:
        """The gradient with respect to each name in ``wrt``, as Python floats."""
        return [0.0 if j < 0 or grads[j] is None else float(grads[j]) for j in self.wrt_nodes]


def float_functions(prim: Primitive) -> tuple[Callable[..., Any], ...]:
    """A module's forward and local derivatives on Python floats (the math module)."""
    return prim.scalar


def float_partials(prim: Primitive) -> tuple[Callable[..., Any], ...]:
    """The local derivatives of a module on Python floats (the math module)."""
    return prim.float_partials


def tangents(steps: Sequence[tuple[int, Sequence[tuple[int, Callable[..., Any], int, int]]]],
             var_nodes: Mapping[str, int], wrt: Sequence[str],
             vals: Sequence[Any]) -> list[list[float] | None]:
    """Forward mode along every ``wrt`` direction at one point of Python floats: each
    module's tangent is a list of one float per direction (None: zero), the sum over its
    arguments of local derivative * argument's tangent. The same pass as
    :func:`backprop.core.engine.tangents`, in the same order; ``steps`` from
    ``engine.tangent_steps(..., partials_of=float_partials)``.

    As there, a variable's unit tangent is never multiplied out: its local derivative
    is added into the sum's own direction, so no 0 * local (or -0.0) enters a sum; and
    a computed local derivative of 0 is still multiplied, so that 0 * inf gives nan.
    """
    n = len(wrt)
    zero = _zero
    tan: list[Any] = [None] * len(vals)
    for k, name in enumerate(wrt):
        j = var_nodes.get(name)
        if j is not None:
            tan[j] = k  # an int: the unit tangent e_k
    for i, edges in steps:
        total: list[float] | None = None
        ans = vals[i]
        for j, p, x, y in edges:
            t = tan[j]
            if t is None:
                continue
            if p is zero:  # a derivative that is 0 by its definition (sign, step)
                continue
            local = p(ans, vals[x]) if y < 0 else p(ans, vals[x], vals[y])
            if type(t) is int:
                if total is None:
                    total = [0.0] * n
                total[t] += local
            elif total is None:
                total = [local * v for v in t]
            else:
                total = [a + local * v for a, v in zip(total, t)]
        tan[i] = total
    for k, name in enumerate(wrt):  # the variables' own tangents, spelled out
        j = var_nodes.get(name)
        if j is not None:
            tan[j] = [1.0 if c == k else 0.0 for c in range(n)]
    return tan


class FloatPasses:
    """Forward then backward at one point of Python floats, for one graph and one wrt."""

    def __init__(self, graph: Graph, wrt: Sequence[str]) -> None:
        self._passes = PointPasses(graph, wrt, float_functions)

    def __call__(self, point: Mapping[str, float]) -> tuple[float, list[float]] | None:
        """The value and the partials at ``point`` (every variable a finite float), or
        None where math raises or a result is not finite (numpy's passes say why)."""
        passes = self._passes
        try:
            vals, grads = passes.run(point)
        except (ArithmeticError, ValueError):  # math's way of saying inf or nan
            return None
        value = vals[passes.output]
        partials = passes.partials(grads)
        if not _isfinite(value) or not all(map(_isfinite, partials)):
            return None
        return value, partials

    def recorded(self, point: Mapping[str, float]
                 ) -> tuple[list[Any], float, list[float], list[tuple[Any, ...]]] | None:
        """As a call, with every module's value and every step of the backward pass
        (``engine.backward``'s ``record`` arguments, in its order) for a trace; None
        where numpy's passes must answer, and then nothing was recorded."""
        passes, steps = self._passes, []
        try:
            vals, grads = passes.run(point, lambda *step: steps.append(step))
        except (ArithmeticError, ValueError):
            return None
        value = vals[passes.output]
        partials = passes.partials(grads)
        if not all(map(_isfinite, (v for v in vals if v is not None))) \
                or not all(map(_isfinite, partials)):
            return None
        return vals, value, partials, steps


class ForwardPass:
    """The forward pass alone at one point, compiled once: called with a point, every
    module's value (``values``) or the output's (a call). ``functions`` picks each module's
    forward: the math module's on Python floats (the default). A call may raise what the
    functions raise (math's way of saying inf or nan); the callers decide what that means.
    """

    def __init__(self, graph: Graph,
                 functions: Callable[[Primitive], tuple[Callable[..., Any], ...]] = float_functions,
                 number: Callable[[float], Any] = float) -> None:
        passes = PointPasses(graph, (), functions, number)
        self._template, self._vars = passes.template, passes.var_slots
        self._steps, self.output = passes.steps, passes.output

    def values(self, point: Mapping[str, Any]) -> list[Any]:
        vals = self._template.copy()
        for name, i in self._vars:
            vals[i] = point[name]
        for i, fn, x, y in self._steps:
            vals[i] = fn(vals[x]) if y < 0 else fn(vals[x], vals[y])
        return vals

    def __call__(self, point: Mapping[str, Any]) -> Any:
        vals = self._template.copy()  # as values(), without its call: this one is timed
        for name, i in self._vars:
            vals[i] = point[name]
        for i, fn, x, y in self._steps:
            vals[i] = fn(vals[x]) if y < 0 else fn(vals[x], vals[y])
        return vals[self.output]


# numpy's ufuncs (by name) that are Python's own operators on complex numbers
_OPERATORS: dict[str, Callable[..., Any]] = {"power": operator.pow}


def complex_forward(prim: Primitive) -> Callable[..., complex]:
    """A module's forward on Python complex numbers (the complex step at one point).

    The table's complex forward (``Primitive.forward_complex``) says what the
    continuation is; on Python numbers it is run by cmath (or Python's own arithmetic)
    where that is the same function: everywhere when the table declares numpy's ufunc
    complex-safe as it is, and otherwise where the real function and its local
    derivatives are finite at the real parts (away from a domain's edge or a pole, where
    the table's forward says nan); there, for a module cmath has no name for (log1p,
    atan2, sigmoid...), the continuation to first order from the table's float forward
    and local derivatives. Elsewhere, and for the modules with a kink, the table's own
    forward, on numpy's scalars.
    """
    table = prim.forward_complex()
    math_fn = prim.math_forward  # a name, or math's function once looked up
    math_name = math_fn if isinstance(math_fn, str) else (
        getattr(math_fn, "__name__", None) if getattr(math_fn, "__module__", None) == "math"
        else None)
    numpy_fn = prim.numpy_forward  # a name, or numpy's ufunc once looked up
    operator_fn = _OPERATORS.get(numpy_fn if isinstance(numpy_fn, str)
                                 else getattr(numpy_fn, "__name__", ""))
    if operator_fn is not None:  # numpy's ufunc that is a Python operator
        fast = operator_fn
    elif math_name is not None:
        fast = getattr(cmath, math_name, None)
    else:  # math_forward None: the numpy forward is Python arithmetic already (add, neg...)
        fast = numpy_fn if math_fn is None else None

    def by_table(*z: complex) -> complex:
        return complex(table(*z))

    if not prim.analytic:
        return by_table
    if fast is not None and prim.complex_forward is None:
        return fast
    real, partials, isfinite = prim.float_forward, prim.float_partials, _isfinite

    def guarded(*z: complex) -> complex:
        re = [w.real for w in z]
        try:
            ans = real(*re)
            # only the arguments that carry an imaginary part move: x^3 at x < 0 is
            # analytic in x although its partial in the exponent (log x) is not real
            local = [p(ans, *re) if w.imag else 0.0 for p, w in zip(partials, z)]
            inside = isfinite(ans) and all(map(isfinite, local))
        except (ArithmeticError, ValueError):
            inside = False
        if not inside:
            return by_table(*z)
        if fast is not None:
            return fast(*z)
        # no cmath function: the continuation to first order, f(a) + i f'(a) b, which is
        # the function itself where the imaginary parts are as small as the complex step's
        # (the table's own atan2, hypot and cbrt are written so)
        return complex(ans, sum(d * w.imag for d, w in zip(local, z)))

    return guarded


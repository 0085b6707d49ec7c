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

import math
from typing import Callable, Mapping, Sequence

from backprop.core.graph import CONST, VAR, Graph
from backprop.core.ops import PRIMITIVES, _minus_one, _one

_isfinite = math.isfinite


class FloatPasses:
    """Forward then backward at one point, for one graph and one list of partials."""

    def __init__(self, graph: Graph, wrt: Sequence[str]) -> None:
        order = graph.reachable()
        ops, leaf, args = graph.ops, graph.leaf, graph.args
        size = len(graph)
        template: list[float | None] = [None] * size
        var_slots: list[tuple[str, int]] = []
        steps: list[tuple[int, Callable[..., float], int, int]] = []
        edges_of: list[tuple[int, tuple[tuple[int, int, int, Callable[..., float]], ...]]] = []
        for i in order:
            op = ops[i]
            if op == CONST:
                template[i] = float(leaf[i])  # type: ignore[arg-type]
            elif op == VAR:
                var_slots.append((str(leaf[i]), i))
            else:
                prim = PRIMITIVES[op]
                fns = prim.scalar or (prim.numpy_forward, *prim.partials)  # plain arithmetic
                a = args[i]
                steps.append((i, fns[0], a[0], a[1] if len(a) > 1 else -1))  # type: ignore[arg-type]
                edges_of.append((i, tuple((j, a[0], a[1] if len(a) > 1 else -1, fns[1 + k])
                                          for k, j in enumerate(a))))
        var_nodes = dict(var_slots)
        # only the modules that some variable in wrt reaches carry a gradient
        needs = bytearray(size)
        for v in wrt:
            if v in var_nodes:
                needs[var_nodes[v]] = 1
        for i in order:
            if any(needs[j] for j in args[i]):
                needs[i] = 1
        self._template = template
        self._vars = tuple(var_slots)
        self._steps = tuple(steps)
        self._back = tuple((i, tuple(e for e in edges if needs[e[0]]))
                           for i, edges in reversed(edges_of) if needs[i])
        self._output = graph.output
        self._seeded = bool(needs[graph.output])
        self._wrt_nodes = tuple(var_nodes.get(v, -1) for v in wrt)

    def __call__(self, point: Mapping[str, float]) -> tuple[float, list[float]] | None:
        """The value and the partials at ``point`` (every variable a finite float), or
        None where math raises or a result is not finite (numpy's passes say why)."""
        vals = self._template.copy()
        for name, i in self._vars:
            vals[i] = point[name]
        grads: list[float | None] = [None] * len(vals)
        one, minus_one = _one, _minus_one
        try:
            for i, fn, x, y in self._steps:
                vals[i] = fn(vals[x]) if y < 0 else fn(vals[x], vals[y])
            if self._seeded:
                grads[self._output] = 1.0
            for i, edges in self._back:
                g = grads[i]
                if g is None:
                    continue
                ans = vals[i]
                for j, x, y, p in edges:
                    if p is one:
                        contrib = g
                    elif p is minus_one:
                        contrib = -g
                    else:
                        local = p(ans, vals[x]) if y < 0 else p(ans, vals[x], vals[y])
                        contrib = g * local
                    prev = grads[j]
                    grads[j] = contrib if prev is None else prev + contrib
                grads[i] = None
        except (ArithmeticError, ValueError):  # math's way of saying inf or nan
            return None
        value = vals[self._output]
        partials = [0.0 if j < 0 or grads[j] is None else grads[j] for j in self._wrt_nodes]
        if not _isfinite(value) or not all(map(_isfinite, partials)):  # type: ignore[arg-type]
            return None
        return value, partials  # type: ignore[return-value]

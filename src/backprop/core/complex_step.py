"""The complex-step pass: the forward pass on complex numbers, one variable at a time.

For a function analytic at x, f(x + ih) = f(x) + ih f'(x) - h^2 f''(x)/2 - ...,
so f'(x) = Im f(x + ih)/h + O(h^2), with no subtraction of nearby numbers: the
step can be as small as we like (Squire and Trapp 1998). Each primitive's
complex forward is declared beside its real one in :mod:`backprop.core.ops`.

The step is ``STEP = 1e-100``. Any h below about 1e-20 makes the truncation
error h^2 |f'''/(6 f')| vanish beside a double's rounding (at 1e-100 it is
1e-200 times that ratio); what limits h from below is the imaginary parts
staying normal doubles: every node carries h times its derivative in its
imaginary part, and below 2.2e-308 that loses digits (subnormal) and then
becomes 0. With h = 1e-100 a derivative along the graph can be as small as
1e-208 and still come out exact; with h = 1e-200 (also seen in the literature)
exp(x) at x = -300, whose derivative is 5e-131, would give 0.

A private part of the core: the façade's ``Function.complex_step_grad`` runs it.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from backprop.core import engine
from backprop.core.graph import Graph
from backprop.core.ops import PRIMITIVES, Value
from backprop.errors import NotAnalyticError

STEP = 1e-100


def _kink_message(name: str, node: str, variable: str) -> str:
    where = "where its arguments tie" if PRIMITIVES[name].arity == 2 else "at 0"
    return (f"the complex step needs a function analytic at the point: {name} has a kink "
            f"{where}, and {node} is on it here as {variable} varies (use central or richardson)")


def gradient(graph: Graph, plan: engine.Plan, inputs: Mapping[str, Value], wrt: Sequence[str],
             h: float = STEP, describe: Callable[[int], str] = str) -> dict[str, Value]:
    """Im f(x + ih e_v)/h for each variable v in ``wrt``: one complex forward pass each.

    One real forward pass is shared: a module that does not depend on v keeps its
    real value. ``describe(node)`` names a node in the error raised at a kink.
    """
    vals = engine.forward(graph, plan, inputs)
    steps = []
    for i, _, a in plan.steps:
        p = PRIMITIVES[graph.ops[i]]
        steps.append((i, p.forward_complex(), a, p.kink))
    grads: dict[str, Value] = {}
    for v in wrt:
        j = plan.var_nodes.get(v)
        if j is None:
            grads[v] = 0.0
            continue
        needs = plan.needs(graph, [v])
        cvals = list(vals)
        cvals[j] = np.asarray(vals[j], dtype=np.float64) + 1j * h
        with np.errstate(all="ignore"):
            for i, fn, a, kink in steps:
                if not needs[i]:
                    continue
                args = [cvals[k] for k in a]
                if kink is not None and np.any(kink(*args)):
                    name = graph.ops[i]
                    raise NotAnalyticError(_kink_message(name, describe(i), v), name)
                cvals[i] = fn(*args)
        out = cvals[graph.output]
        grads[v] = np.imag(out) / h
    return grads


class PointComplexStep:
    """The complex step at one point of Python floats, compiled once: the float forward
    pass (core/scalar.py), then per variable one forward pass on Python complex numbers
    (cmath) over the modules that variable reaches, the others keeping their real value.
    The same pass as :func:`gradient`, on the numbers one point needs.

    A call gives the partials in ``wrt``'s order, or None where math or cmath raised or a
    partial is not finite (then :func:`gradient`, on numpy's IEEE numbers, must answer);
    it raises :class:`NotAnalyticError` where a module with a kink sits on it.
    """

    def __init__(self, graph: Graph, wrt: Sequence[str], h: float = STEP,
                 describe: Callable[[int], str] = str) -> None:
        from backprop.core import scalar

        plan = engine.Plan.of(graph)
        self.real = scalar.ForwardPass(graph)
        self.h, self.describe, self.ops, self.output = h, describe, graph.ops, graph.output
        forwards: dict[str, Callable[..., complex]] = {}
        self.passes: list[tuple[str, int, tuple[tuple[Any, ...], ...]]] = []
        for v in wrt:
            j = plan.var_nodes.get(v, -1)
            needs = plan.needs(graph, [v]) if j >= 0 else bytearray(len(graph))
            steps = []
            for i, _, a in plan.steps:
                if not needs[i]:
                    continue
                name = graph.ops[i]
                if name not in forwards:
                    forwards[name] = scalar.complex_forward(PRIMITIVES[name])
                steps.append((i, forwards[name], a[0], a[1] if len(a) > 1 else -1,
                              PRIMITIVES[name].kink))
            self.passes.append((v, j, tuple(steps)))

    def __call__(self, point: Mapping[str, float]) -> list[float] | None:
        try:
            vals = self.real.values(point)
            out = [self._complex_pass(vals, v, j, steps) if j >= 0 else 0.0
                   for v, j, steps in self.passes]
        except (ArithmeticError, ValueError):  # math's and cmath's way of saying inf or nan
            return None
        isfinite = math.isfinite
        return out if isfinite(vals[self.output]) and all(map(isfinite, out)) else None

    def _complex_pass(self, vals: list[Any], v: str, j: int,
                      steps: tuple[tuple[Any, ...], ...]) -> float:
        """One forward pass on complex numbers, the variable ``v`` (node ``j``) moved by ih."""
        c = vals.copy()
        c[j] = complex(vals[j], self.h)
        for i, fn, x, y, kink in steps:
            args = (c[x],) if y < 0 else (c[x], c[y])
            if kink is not None and kink(*args):
                raise NotAnalyticError(_kink_message(self.ops[i], self.describe(i), v),
                                       self.ops[i])
            c[i] = fn(*args)
        return complex(c[self.output]).imag / self.h

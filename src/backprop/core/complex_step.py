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

from typing import Callable, Mapping, Sequence

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

"""The passes at one point of Python floats, with no numpy: the arithmetic ``FLOATS``.

The loops of :mod:`backprop.core.passes`, compiled with the math module's forwards
and local derivatives from the table of primitives, which is what one point
needs: no numpy to import at start-up, and a few times less work than numpy
scalars.

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
from typing import Any, Mapping, Sequence

from backprop.core.graph import Graph
from backprop.core.passes import (Arithmetic, Program, TangentSteps, by_direction, one_direction,
                                  run_tangents,
                                  unit_directions)

_isfinite = math.isfinite


FLOATS = Arithmetic("math", lambda p: p.float_forward, lambda p: p.float_partials, float)


def tangents(steps: TangentSteps, var_nodes: Mapping[str, int], wrt: Sequence[str],
             vals: Sequence[Any]) -> list[dict[int, float] | None]:
    """Forward mode along every ``wrt`` direction at one point of Python floats: each
    module's tangent is {direction: float} over the directions it depends on (None:
    zero), so no direction it does not depend on is ever multiplied by its local
    derivative (with one direction, a float); ``steps`` from
    ``passes.tangent_steps(..., FLOATS.partials)``."""
    if len(wrt) == 1:  # one direction: a float per node, no direction to keep apart
        tan = unit_directions(var_nodes, wrt, len(vals), lambda k: 1.0)
        run_tangents(steps, vals, tan, one_direction)
    else:
        tan = unit_directions(var_nodes, wrt, len(vals), lambda k: {k: 1.0})
        run_tangents(steps, vals, tan, by_direction)
    return tan


def as_list(t: dict[int, float] | float | None, n: int) -> list[float]:
    """A tangent of :func:`tangents` as one float per direction."""
    if t is None:
        return [0.0] * n
    return [t] if type(t) is float else [t.get(k, 0.0) for k in range(n)]  # type: ignore[union-attr]


class FloatPasses:
    """Forward then backward at one point of Python floats, for one graph and one wrt."""

    def __init__(self, graph: Graph, wrt: Sequence[str]) -> None:
        self.program = Program(graph, FLOATS, wrt)

    def __call__(self, point: Mapping[str, float]) -> tuple[float, list[float]] | None:
        """The value and the partials at ``point`` (every variable a finite float), or
        None where math raises or a result is not finite (numpy's passes say why)."""
        program = self.program
        try:
            # a value alone (no wrt) needs no backward pass
            vals, partials = (program.value_and_grad(point) if program.wrt
                              else (program.forward(point), []))
        except (ArithmeticError, ValueError):  # math's way of saying inf or nan
            return None
        value = vals[program.output]
        if not _isfinite(value) or not all(map(_isfinite, partials)):
            return None
        return value, partials

    def recorded(self, point: Mapping[str, float]
                 ) -> tuple[list[Any], float, list[float], list[tuple[Any, ...]]] | None:
        """As a call, with every module's value and every step of the backward pass
        (``passes.run_backward``'s ``record`` arguments, in its order) for a trace; None
        where numpy's passes must answer, and then nothing was recorded."""
        program, steps = self.program, []
        try:
            vals = program.forward(point)
            partials = program.gradient(program.backward(vals, record=lambda *s: steps.append(s)))
        except (ArithmeticError, ValueError):
            return None
        value = vals[program.output]
        if not all(map(_isfinite, (v for v in vals if v is not None))) \
                or not all(map(_isfinite, partials)):
            return None
        return vals, value, partials, steps


class ForwardPass:
    """The forward pass alone at one point of Python floats, compiled once: called with a
    point, the output's value; ``values``: every module's. A call may raise what math
    raises (its way of saying inf or nan); the callers decide what that means."""

    def __init__(self, graph: Graph, roots: Sequence[int] | None = None) -> None:
        self.program = Program(graph, FLOATS, roots=roots)
        self.output = graph.output

    def values(self, point: Mapping[str, Any]) -> list[Any]:
        return self.program.forward(point)

    def __call__(self, point: Mapping[str, Any]) -> Any:
        return self.program.forward(point)[self.output]

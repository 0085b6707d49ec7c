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

import cmath
import math
import operator
from typing import Any, Callable, Mapping, Sequence

from backprop.core.graph import Graph
from backprop.core.ops import Primitive
from backprop.core.passes import (Arithmetic, Program, TangentSteps, by_direction, one_direction,
                                  run_tangents,
                                  unit_directions)

_isfinite = math.isfinite


FLOATS = Arithmetic("math", lambda p: p.float_forward, lambda p: p.float_partials, float)


def float_partials(prim: Primitive) -> tuple[Callable[..., Any], ...]:
    """The local derivatives of a module on Python floats (the math module)."""
    return prim.float_partials


def tangents(steps: TangentSteps, var_nodes: Mapping[str, int], wrt: Sequence[str],
             vals: Sequence[Any]) -> list[dict[int, float] | None]:
    """Forward mode along every ``wrt`` direction at one point of Python floats: each
    module's tangent is {direction: float} over the directions it depends on (None:
    zero), so no direction it does not depend on is ever multiplied by its local
    derivative (with one direction, a float); ``steps`` from
    ``passes.tangent_steps(..., float_partials)``."""
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


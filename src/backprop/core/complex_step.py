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

Here are the two complex arithmetics, numpy's (``ARRAYS``: any points) and Python's
(``ONE_POINT``: cmath, after the float forward pass), and the complex step that runs
the one forward loop of :mod:`backprop.core.passes` on them, one variable at a time.
A private part of the core: the façade's ``Function.complex_step_grad`` and the
numeric methods' complex step run it.
"""

from __future__ import annotations

import cmath
import math
import operator
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from backprop.core import engine
from backprop.core.graph import Graph
from backprop.core.ops import PRIMITIVES, Partial, Primitive, Value
from backprop.core.passes import Arithmetic, Program, depends_on, run_forward
from backprop.errors import NotAnalyticError

STEP = 1e-100


class _OnKink(Exception):
    """A module with a kink sits on it with an imaginary part: no complex step there."""

    def __init__(self, node: int) -> None:
        self.node = node


def _checked(arrays: bool) -> Callable[[Primitive, int], tuple[Callable[..., Any],
                                                                 tuple[Partial, ...]] | None]:
    """Binds, for a module with a kink, its complex forward behind a check of the kink."""

    def bind(prim: Primitive, node: int) -> tuple[Callable[..., Any], tuple[Partial, ...]] | None:
        kink = prim.kink
        if kink is None:
            return None
        fn = prim.forward_complex() if arrays else _one_point(prim)

        def forward(*z: Any) -> Any:
            if np.any(kink(*z)) if arrays else kink(*z):
                raise _OnKink(node)
            return fn(*z)

        return forward, prim.partials

    return bind


# numpy's ufuncs (by name) that are Python's own operators on complex numbers
_OPERATORS: dict[str, Callable[..., Any]] = {"power": operator.pow}


def _one_point(prim: Primitive) -> Callable[..., complex]:
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
    real, partials, isfinite = prim.float_forward, prim.float_partials, math.isfinite

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


# numpy's complex arrays (and scalars), and Python complex numbers at one point
ARRAYS = Arithmetic("complex", lambda p: p.forward_complex(), lambda p: p.partials,
                    lambda c: np.float64(c), lambda: np.errstate(all="ignore"))
ONE_POINT = Arithmetic("cmath", _one_point, lambda p: p.partials, float)


def _kink_message(name: str, node: str, variable: str) -> str:
    where = "where its arguments tie" if PRIMITIVES[name].arity == 2 else "at 0"
    return (f"the complex step needs a function analytic at the point: {name} has a kink "
            f"{where}, and {node} is on it here as {variable} varies (use central or richardson)")


class ComplexStep:
    """The complex step, compiled once: the real forward pass, then per variable v one
    forward pass on complex numbers over the modules v reaches (the others keep their
    real value), v moved by ih. ``arithmetic``: ``ARRAYS`` (numpy; any points) or
    ``ONE_POINT`` (Python complex numbers, cmath), after a real ``forward`` of the same
    kind of number. ``describe(node)`` names a node in the error raised at a kink."""

    def __init__(self, graph: Graph, wrt: Sequence[str], arithmetic: Arithmetic,
                 forward: Callable[[Mapping[str, Any]], list[Any]],
                 describe: Callable[[int], str] = str) -> None:
        arrays = arithmetic is ARRAYS
        program = Program(graph, arithmetic, bind=_checked(arrays))
        self.forward, self.describe, self.graph = forward, describe, graph
        self.guard = arithmetic.guard
        # the variable moved by ih, and the imaginary part read: numpy's, or Python's
        self.moved = ((lambda x, h: np.asarray(x, dtype=np.float64) + 1j * h) if arrays
                      else complex)
        self.imag = np.imag if arrays else (lambda z: complex(z).imag)
        self.passes: list[tuple[str, int, tuple[Any, ...]]] = []
        for v in wrt:
            j = program.var_nodes.get(v, -1)
            needs = depends_on(graph, program.order, [j] if j >= 0 else [])
            self.passes.append((v, j, tuple(s for s in program.steps if needs[s[0]])))

    def values(self, point: Mapping[str, Any], h: float = STEP) -> tuple[Any, list[Any]]:
        """The real value, and Im f(x + ih e_v)/h for each variable v in ``wrt``."""
        vals = self.forward(point)
        out = []
        for v, j, steps in self.passes:
            if j < 0:
                out.append(0.0)
                continue
            c = list(vals)
            c[j] = self.moved(vals[j], h)
            try:
                if self.guard is None:
                    run_forward(steps, c)
                else:
                    with self.guard():
                        run_forward(steps, c)
            except _OnKink as kink:
                name = self.graph.ops[kink.node]
                raise NotAnalyticError(_kink_message(name, self.describe(kink.node), v),
                                       name) from None
            out.append(self.imag(c[self.graph.output]) / h)
        return vals[self.graph.output], out


def gradient(graph: Graph, plan: engine.Plan, inputs: Mapping[str, Value], wrt: Sequence[str],
             h: float = STEP, describe: Callable[[int], str] = str) -> dict[str, Value]:
    """Im f(x + ih e_v)/h for each variable v in ``wrt``, on numpy's numbers (any points):
    one complex forward pass each, after one real forward pass they share."""
    step = ComplexStep(graph, wrt, ARRAYS, plan.program().forward, describe)
    return dict(zip(wrt, step.values(inputs, h)[1]))


class PointComplexStep:
    """The complex step at one point of Python floats, compiled once: the float forward
    pass (core/scalar.py), then per variable one forward pass on Python complex numbers
    (cmath). A call gives the partials in ``wrt``'s order, or None where math or cmath
    raised or a partial is not finite (then :func:`gradient`, on numpy's IEEE numbers,
    must answer); it raises :class:`NotAnalyticError` where a module with a kink sits on it.
    """

    def __init__(self, graph: Graph, wrt: Sequence[str], h: float = STEP,
                 describe: Callable[[int], str] = str) -> None:
        from backprop.core import scalar

        self.h = h
        self.step = ComplexStep(graph, wrt, ONE_POINT, scalar.ForwardPass(graph).values,
                                describe)

    def __call__(self, point: Mapping[str, float]) -> list[float] | None:
        try:
            value, out = self.step.values(point, self.h)
        except (ArithmeticError, ValueError):  # math's and cmath's way of saying inf or nan
            return None
        isfinite = math.isfinite
        return out if isfinite(value) and all(map(isfinite, out)) else None

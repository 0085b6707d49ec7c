"""Numeric differentiation: finite differences of the forward pass alone, and the complex step.

Forward difference (f(x + h e_i) - f(x)) / h costs n + 1 evaluations for n
variables; central difference (f(x + h e_i) - f(x - h e_i)) / 2h costs 2n and
is accurate to O(h^2) instead of O(h). Each step is scaled to its variable
(:func:`step`, the one place the step rule lives): sqrt(machine epsilon) *
max(1, |x_i|) for forward, cbrt(machine epsilon) * max(1, |x_i|) for central,
the steps that balance truncation error against rounding error. Each evaluation
re-runs the whole function: O(|W|) evaluations, O(|W|^2) operations in all.

:func:`differences` is the one kernel: it perturbs the entries of an array in
place and calls the function back. :func:`gradient` (a parsed expression at a
point), :func:`gradient_vector` (a function of a flat vector), the step sweep
of ``compare --sweep``, the scaling study and ``train --gradcheck`` all use it.

Numeric differentiation at its best, as engineers use it:

* **Richardson extrapolation** (:func:`extrapolate`, :func:`richardson`): the
  kernel's central differences at a geometric sequence of steps h_k = h_0 / 2^k.
  Their error is a series in even powers, D(h) = f' + c_1 h^2 + c_2 h^4 + ...,
  so combining neighbours, (4^j D(h/2) - D(h)) / (4^j - 1), removes one term at
  a time (Richardson's tableau). The error estimate comes from the last two
  levels of the tableau and the neighbouring extrapolants, plus the rounding
  error the combination amplifies; the step whose estimate is smallest is kept
  (as numdifftools and DERIVEST do).
* **Complex step** (:func:`complex_step`): Im f(x + ih)/h with h = 1e-100, one
  complex forward pass per variable, as accurate as the function's own
  evaluation where it is analytic (see :mod:`backprop.core.complex_step`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from backprop.errors import InputError

MACHINE_EPS = float(np.finfo(np.float64).eps)
FORWARD_EPS = math.sqrt(MACHINE_EPS)  # about 1.5e-8
CENTRAL_EPS = MACHINE_EPS ** (1.0 / 3.0)  # about 6.1e-6

FORWARD, CENTRAL = "forward", "central"
RICHARDSON, COMPLEX_STEP = "richardson", "complex_step"

# Richardson: steps h_0 / 2^k for k < RICHARDSON_STEPS, h_0 = max(1, |x|)/16, down to
# 4.8e-7 max(1, |x|): the step that is best for three levels of extrapolation (error
# O(h^8)) on a function that varies on a scale of 1 is eps^(1/9) ~ 0.018, and the
# sequence goes on far enough to resolve one that varies 10^4 to 10^5 times faster (the
# lecture's example: ~90 times). 2 evaluations per step (fewer when the rounding error
# has overtaken the best estimate), and f(x) once for its size.
RICHARDSON_FIRST_STEP = 1.0 / 16.0
RICHARDSON_STEPS = 18
RICHARDSON_LEVELS = 3
# f's own rounding error, in units of eps |f(x)|: a few roundings along the graph
ROUNDING_ULPS = 4.0
RELATIVE_STEP = {FORWARD: FORWARD_EPS, CENTRAL: CENTRAL_EPS}


def step(x: float, method: str = FORWARD, eps: float | None = None) -> float:
    """The step for a variable at ``x``: ``eps`` if given, else scaled to max(1, |x|).

    The step is rounded so that x + h - x == h exactly in floating point.
    """
    h = eps if eps is not None else RELATIVE_STEP[method] * max(1.0, abs(x))
    taken = (x + h) - x
    return taken if taken != 0.0 else h  # |x| so large that h vanishes: keep h, the caller sees 0/h


def check_eps(eps: float | None) -> None:
    if eps is not None and not (math.isfinite(eps) and eps > 0.0):
        raise InputError(f"--eps must be a positive number, not {eps!r}")


def _check_method(method: str) -> None:
    if method not in (FORWARD, CENTRAL):
        raise ValueError(f"method must be {FORWARD!r} or {CENTRAL!r}, not {method!r}")


@dataclass
class Differences:
    """What :func:`differences` computed: one quotient per perturbed entry."""

    indices: np.ndarray  # flat indices of the entries perturbed, in the order done
    grad: np.ndarray  # the difference quotient of each
    steps: np.ndarray  # the step taken for each
    evals: int  # calls of the function
    complete: bool  # False when the deadline stopped it before every index was done


def differences(fn: Callable[[], Any], x: np.ndarray, method: str = FORWARD,
                eps: float | None = None, indices: Iterable[int] | None = None,
                f0: Any = None, deadline: float | None = None,
                vector: bool = False) -> Differences:
    """Finite differences of ``fn()`` with respect to entries of the float array ``x``.

    ``fn`` reads ``x``; each entry is changed in place, ``fn`` called, and the
    entry restored exactly. ``indices`` (flat, default all) chooses the
    entries; ``f0`` is fn() at ``x`` if already known (forward differences).
    With ``deadline`` (a ``time.perf_counter()`` instant) the loop stops after
    the first entry that ends past it, with ``complete`` False. ``vector``:
    ``fn`` returns a 1-d array (a gradient), and ``grad`` has one row of
    quotients per entry perturbed (the Hessian's columns, from gradients).
    """
    _check_method(method)
    check_eps(eps)
    if not (isinstance(x, np.ndarray) and x.dtype == np.float64 and x.flags.c_contiguous):
        raise ValueError("x must be a contiguous float64 array: its entries are changed in place")
    flat = x.reshape(-1)  # a view: writing to it changes x
    order = np.arange(flat.size) if indices is None else np.asarray(list(indices), dtype=np.intp)
    value: Callable[[], Any] = ((lambda: np.array(fn(), dtype=np.float64)) if vector
                                else (lambda: float(fn())))
    grad: Any = [None] * order.size if vector else np.empty(order.size)
    steps = np.empty(order.size)
    evals = 0
    done = 0
    with np.errstate(all="ignore"):
        if method == FORWARD and f0 is None:
            f0 = value()
            evals += 1
        for k, i in enumerate(order):
            keep = float(flat[i])
            h = step(keep, method, eps)
            flat[i] = keep + h
            up = value()
            if method == FORWARD:
                grad[k] = (up - f0) / h
                evals += 1
            else:
                flat[i] = keep - h
                grad[k] = (up - value()) / (2.0 * h)
                evals += 2
            flat[i] = keep
            steps[k] = h
            done = k + 1
            if deadline is not None and time.perf_counter() >= deadline:
                break
    if vector:
        grad = (np.array(grad[:done], dtype=np.float64).reshape(done, -1) if done
                else np.empty((0, 0)))
    return Differences(order[:done], grad[:done], steps[:done], evals, done == order.size)


@dataclass
class NumericGradient:
    """A finite-difference gradient and what it cost."""

    grad: dict[str, float]
    method: str
    eps: float  # the relative step (or the absolute step given by --eps)
    steps: dict[str, float] = field(default_factory=dict)  # the step actually taken per variable
    evals: int = 0  # evaluations of the function (complex step: complex forward passes)
    # the method's own estimate of its absolute error per variable (Richardson), else None
    error_estimate: dict[str, float] | None = None


def gradient_vector(fn: Callable[[np.ndarray], float], w: np.ndarray, method: str = FORWARD,
                    eps: float | None = None) -> tuple[np.ndarray, int]:
    """Numeric gradient of ``fn`` at the flat vector ``w``; (grad, evaluations).

    ``method`` "richardson" extrapolates central differences (:func:`extrapolate`);
    "complex_step" calls ``fn`` on complex vectors, so ``fn`` must be written with
    operations that are analytic (and keep the imaginary part: no abs, no float()).
    """
    if method == COMPLEX_STEP:
        return _complex_step_vector(fn, w, eps)
    work = np.array(w, dtype=np.float64)
    if method == RICHARDSON:
        grad = np.empty(work.size)
        evals = 0
        for i in range(work.size):
            r = extrapolate(lambda: fn(work), work, i)
            grad[i] = r.estimate
            evals += r.evals
        return grad.reshape(np.shape(w)), evals
    d = differences(lambda: fn(work), work, method, eps)
    return d.grad.reshape(np.shape(w)), d.evals


class _AtPoint:
    """A Function of named variables read from one float array (the kernel perturbs it)."""

    def __init__(self, f: Any, values: Mapping[str, float], names: Sequence[str]) -> None:
        self.values = {k: float(v) for k, v in values.items()}
        # the façade's one-point forward pass (no input checks: the point was checked once)
        # where it has one; any callable of keyword values otherwise
        value_at = getattr(f, "_value_at", None)
        missing = set(getattr(f, "variables", ())) - set(self.values)
        if missing:
            raise InputError(f"no value given for {', '.join(sorted(missing))}")
        self.evaluate: Callable[[dict[str, float]], float] = (
            value_at if value_at is not None else lambda at: float(f(**at)))
        self.names = list(names)
        self.x = np.array([self.values[v] for v in self.names], dtype=np.float64)

    def __call__(self) -> float:
        at = dict(self.values)
        at.update(zip(self.names, self.x.tolist()))
        return float(self.evaluate(at))


class _FloatPoint(_AtPoint):
    """A parsed Function at one point of Python floats, one variable moved at a time: each
    evaluation is one float forward pass (core/scalar.py, compiled once), with numpy's
    (``value_at``) only where math raises or the value is not finite, so that the numbers
    are the façade's own."""

    def __init__(self, f: Any, values: Mapping[str, float], names: Sequence[str]) -> None:
        super().__init__(f, values, names)
        from backprop.core.scalar import ForwardPass

        graph = getattr(f, "graph", None)
        self.forward = ForwardPass(graph) if graph is not None else None
        self.point = dict(self.values)

        forward, evaluate, isfinite = self.forward, self.evaluate, math.isfinite

        def value(point: dict[str, float]) -> float:
            if forward is not None:
                try:
                    found = forward(point)
                    if isfinite(found):
                        return found  # type: ignore[no-any-return]
                except (ArithmeticError, ValueError):  # math's way of saying inf or nan
                    pass
            return float(evaluate(point))

        self.value = value

    def moved(self, name: str, x: float) -> float:
        """f with the variable ``name`` at ``x`` and the others at the point."""
        point = self.point
        point[name] = x
        found = self.value(point)
        point[name] = self.values[name]
        return found


class PointDifferences:
    """Forward or central differences of a parsed Function at one point, steps chosen once
    (:func:`step`): a call gives the quotients in ``names``' order, each evaluation one
    float forward pass; the numbers of :func:`differences` on the same point."""

    def __init__(self, f: Any, point: Mapping[str, float], method: str = FORWARD,
                 eps: float | None = None, names: Sequence[str] | None = None) -> None:
        _check_method(method)
        check_eps(eps)
        self.names = list(f.variables) if names is None else list(names)
        self.at = _FloatPoint(f, point, self.names)
        self.method = method
        self.eps = eps if eps is not None else RELATIVE_STEP[method]  # as NumericGradient's
        self.steps = [step(self.at.values[v], method, eps) for v in self.names]
        self.evals = len(self.names) + 1 if method == FORWARD else 2 * len(self.names)

    def __call__(self) -> list[float]:
        value, point, out = self.at.value, self.at.point, []
        if self.method == FORWARD:
            f0 = value(point)
            for v, h in zip(self.names, self.steps):
                x = point[v]
                point[v] = x + h
                out.append((value(point) - f0) / h)
                point[v] = x
            return out
        for v, h in zip(self.names, self.steps):
            x = point[v]
            point[v] = x + h
            up = value(point)
            point[v] = x - h
            out.append((up - value(point)) / (2.0 * h))
            point[v] = x
        return out


class GradientDifferences:
    """Central differences of a gradient at one point of Python floats, steps chosen once
    (:func:`step`): the Hessian's rows. ``gradient(point)`` gives the gradient in
    ``names``' order (the float passes: one forward and one backward pass); a call gives
    one row per name, each from two gradients; the numbers of :func:`differences` with
    ``vector=True`` on the same point."""

    def __init__(self, gradient: Callable[[dict[str, float]], Sequence[float]],
                 point: Mapping[str, float], names: Sequence[str],
                 eps: float | None = None) -> None:
        check_eps(eps)
        self.gradient, self.names = gradient, list(names)
        self.point = {k: float(v) for k, v in point.items()}
        self.steps = [step(self.point[v], CENTRAL, eps) for v in self.names]
        self.evals = 2 * len(self.names)

    def __call__(self) -> np.ndarray:
        gradient, point, rows = self.gradient, self.point, []
        for v, h in zip(self.names, self.steps):
            x = point[v]
            point[v] = x + h
            up = gradient(point)
            point[v] = x - h
            down = gradient(point)
            point[v] = x
            rows.append([(u - d) / (2.0 * h) for u, d in zip(up, down)])
        return np.array(rows, dtype=np.float64).reshape(len(rows), -1)


def gradient(f: Any, point: Mapping[str, float], method: str = FORWARD, eps: float | None = None,
             wrt: Sequence[str] | None = None) -> NumericGradient:
    """Finite-difference gradient of a parsed :class:`~backprop.core.function.Function`.

    Uses only the forward pass, with no gradient work (:class:`PointDifferences`).
    """
    d = PointDifferences(f, point, method, eps, wrt)
    return NumericGradient(dict(zip(d.names, d())), method, d.eps, dict(zip(d.names, d.steps)),
                           d.evals)


def partial(f: Any, point: Mapping[str, float], name: str, method: str = FORWARD,
            eps: float | None = None) -> tuple[float, float]:
    """One partial derivative in ``name`` by finite differences; (estimate, step taken)."""
    at = _AtPoint(f, point, [name])
    d = differences(at, at.x, method, eps)
    return float(d.grad[0]), float(d.steps[0])


def forward_difference(f: Any, point: Mapping[str, float], eps: float | None = None,
                       wrt: Sequence[str] | None = None) -> NumericGradient:
    return gradient(f, point, FORWARD, eps, wrt)


def central_difference(f: Any, point: Mapping[str, float], eps: float | None = None,
                       wrt: Sequence[str] | None = None) -> NumericGradient:
    return gradient(f, point, CENTRAL, eps, wrt)


# ---- Richardson extrapolation ------------------------------------------------------------


@dataclass
class Extrapolated:
    """One derivative by Richardson extrapolation: the estimate and what it rests on."""

    estimate: float
    error_estimate: float  # absolute
    step: float  # the smallest step of the differences the estimate combines
    evals: int


def extrapolate(fn: Callable[[], float], x: np.ndarray, index: int = 0,
                first_step: float | None = None, steps: int = RICHARDSON_STEPS,
                levels: int = RICHARDSON_LEVELS) -> Extrapolated:
    """The partial derivative of ``fn()`` in the entry ``index`` of the float array ``x``
    (which ``fn`` reads), by Richardson extrapolation of the kernel's central differences.

    Row k of the tableau holds the central difference at h_k = h_0 / 2^k and its
    extrapolations T[k][j] = T[k][j-1] + (T[k][j-1] - T[k-1][j-1]) / (4^j - 1).
    The error of T[k][levels] is estimated by how far it moved from the level
    below and from its neighbours one and two steps up (each dominates the true
    error once the steps are small enough for the series to hold; a chance
    agreement of all three is rare) plus the rounding error of the differences,
    a few ulps of f over h, amplified by the combination's weights, and the
    result's own ulp. The row with the smallest estimate wins; the sequence stops
    early once the rounding term alone (which grows as h shrinks) exceeds it.

    The steps must resolve the function: one that turns around within the
    smallest step (cos(sinh(x^2)^2) at x = 2.555 has a period of 6e-6 there) is
    beyond any finite difference, and the estimate can then be far too small.
    """
    flat = x.reshape(-1)

    def central(h: float) -> tuple[float, float]:
        d = differences(fn, x, CENTRAL, h, (index,))
        return float(d.grad[0]), float(d.steps[0])

    with np.errstate(all="ignore"):
        size = abs(float(fn()))  # the scale of f's rounding error near x
    return _extrapolate(central, size, float(flat[index]), first_step, steps, levels)


def _extrapolate(central: Callable[[float], tuple[float, float]], size: float, x_i: float,
                 first_step: float | None = None, steps: int = RICHARDSON_STEPS,
                 levels: int = RICHARDSON_LEVELS) -> Extrapolated:
    """:func:`extrapolate`'s tableau over ``central(h)``: the central difference at the
    step h (two evaluations) and the step taken; ``size`` is |f(x)| (one evaluation)."""
    h0 = (RICHARDSON_FIRST_STEP * max(1.0, abs(x_i))) if first_step is None else first_step
    evals = 1
    rows: list[list[float]] = []
    h = math.nan
    best: Extrapolated | None = None
    # the weights of the combination on the differences: their absolute sum amplifies rounding
    amplification = 1.0
    for j in range(1, levels + 1):
        amplification *= (4.0 ** j + 1.0) / (4.0 ** j - 1.0)
    for k in range(steps):
        quotient, h = central(h0 / 2.0 ** k)
        evals += 2
        row = [quotient]
        if rows:
            prev = rows[-1]
            for j in range(1, min(k, levels) + 1):
                row.append(row[j - 1] + (row[j - 1] - prev[j - 1]) / (4.0 ** j - 1.0))
        rows.append(row)
        if k < levels + 2:
            continue
        top, up, up2 = row[levels], rows[-2][levels], rows[-3][levels]
        drift = abs(top - row[levels - 1]) + abs(top - up) + abs(up - up2)
        rounding = MACHINE_EPS * (amplification * ROUNDING_ULPS * size / h + 2.0 * abs(top))
        err = drift + rounding
        if best is not None and rounding > best.error_estimate:
            break  # the rounding term only grows as h shrinks: no later row can win
        if not (math.isfinite(top) and math.isfinite(err)):
            continue
        if best is None or err < best.error_estimate:
            best = Extrapolated(top, err, h, 0)
    if best is None:  # nothing finite: the plain central difference at the smallest step
        return Extrapolated(rows[-1][0] if rows else math.nan, math.inf, h, evals)
    best.evals = evals
    return best


class PointRichardson:
    """Richardson extrapolation of a parsed Function at one point of Python floats: each
    central difference is two float forward passes (:class:`_FloatPoint`); the numbers
    of :func:`extrapolate` on the same point. A call gives one :class:`Extrapolated` per
    name."""

    def __init__(self, f: Any, point: Mapping[str, float],
                 names: Sequence[str] | None = None) -> None:
        self.names = list(f.variables) if names is None else list(names)
        self.at = _FloatPoint(f, point, self.names)

    def _one(self, name: str) -> Extrapolated:
        x, moved = self.at.values[name], self.at.moved

        def central(h: float) -> tuple[float, float]:
            h = step(x, CENTRAL, h)
            return (moved(name, x + h) - moved(name, x - h)) / (2.0 * h), h

        return _extrapolate(central, abs(moved(name, x)), x)

    def __call__(self) -> list[Extrapolated]:
        return [self._one(v) for v in self.names]


def richardson(f: Any, point: Mapping[str, float], wrt: Sequence[str] | None = None
               ) -> NumericGradient:
    """Each partial of a parsed Function (or anything called as ``f(**values)``) by
    :func:`extrapolate`. ``steps`` holds the smallest step each estimate combines,
    ``error_estimate`` the method's own estimate of each partial's absolute error."""
    found = PointRichardson(f, point, wrt)
    return richardson_gradient(found.names, found())


def richardson_gradient(names: Sequence[str], found: Sequence[Extrapolated]) -> NumericGradient:
    """The :class:`NumericGradient` of :class:`PointRichardson`'s estimates."""
    return NumericGradient({v: r.estimate for v, r in zip(names, found)}, RICHARDSON,
                           RICHARDSON_FIRST_STEP, {v: r.step for v, r in zip(names, found)},
                           sum(r.evals for r in found),
                           {v: r.error_estimate for v, r in zip(names, found)})


# ---- the complex step -----------------------------------------------------------------------


class PointComplexStep:
    """The complex step of a parsed Function at one point of Python floats, compiled once:
    a call gives Im f(x + ih e_v)/h for each name, by the core's point pass (one float
    forward pass, then one forward pass on Python complex numbers per variable), or by
    ``Function.complex_step_grad`` on numpy's numbers where that one cannot answer (a
    value or partial not finite). Raises :class:`~backprop.errors.NotAnalyticError`,
    naming the module, at a kink."""

    def __init__(self, f: Any, point: Mapping[str, float], names: Sequence[str] | None = None,
                 h: float | None = None) -> None:
        from backprop.core.complex_step import STEP
        from backprop.core.complex_step import PointComplexStep as Pass

        self.f, self.names = f, list(f.variables) if names is None else list(names)
        self.values = _AtPoint(f, point, self.names).values
        self.h = STEP if h is None else h
        self.fast = Pass(f.graph, self.names, self.h, getattr(f, "_node_text", str))

    def __call__(self) -> list[float]:
        found = self.fast(self.values)
        if found is not None:
            return found
        grads = self.f.complex_step_grad(self.names, self.h, **self.values)
        return [float(grads[v]) for v in self.names]


def complex_step(f: Any, point: Mapping[str, float], wrt: Sequence[str] | None = None,
                 h: float | None = None) -> NumericGradient:
    """Im f(x + ih e_v)/h for each variable: one complex forward pass per variable
    (:class:`PointComplexStep`; needs a parsed :class:`~backprop.core.function.Function`).
    Raises :class:`~backprop.errors.NotAnalyticError`, naming the module, at a kink.
    """
    found = PointComplexStep(f, point, wrt, h)
    return NumericGradient(dict(zip(found.names, found())), COMPLEX_STEP, found.h,
                           {v: found.h for v in found.names}, len(found.names))


def _complex_step_vector(fn: Callable[[np.ndarray], Any], w: np.ndarray,
                         h: float | None) -> tuple[np.ndarray, int]:
    from backprop.core.complex_step import STEP

    step_ = STEP if h is None else h
    work = np.array(w, dtype=complex)
    flat = work.reshape(-1)
    grad = np.empty(flat.size)
    for i in range(flat.size):
        keep = flat[i]
        flat[i] = keep + 1j * step_
        grad[i] = np.imag(fn(work)) / step_
        flat[i] = keep
    return grad.reshape(np.shape(w)), flat.size

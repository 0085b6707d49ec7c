"""Numeric differentiation: finite differences of the forward pass alone.

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


def differences(fn: Callable[[], float], x: np.ndarray, method: str = FORWARD,
                eps: float | None = None, indices: Iterable[int] | None = None,
                f0: float | None = None, deadline: float | None = None) -> Differences:
    """Finite differences of ``fn()`` with respect to entries of the float array ``x``.

    ``fn`` reads ``x``; each entry is changed in place, ``fn`` called, and the
    entry restored exactly. ``indices`` (flat, default all) chooses the
    entries; ``f0`` is fn() at ``x`` if already known (forward differences).
    With ``deadline`` (a ``time.perf_counter()`` instant) the loop stops after
    the first entry that ends past it, with ``complete`` False.
    """
    _check_method(method)
    check_eps(eps)
    if not (isinstance(x, np.ndarray) and x.dtype == np.float64 and x.flags.c_contiguous):
        raise ValueError("x must be a contiguous float64 array: its entries are changed in place")
    flat = x.reshape(-1)  # a view: writing to it changes x
    order = np.arange(flat.size) if indices is None else np.asarray(list(indices), dtype=np.intp)
    grad = np.empty(order.size)
    steps = np.empty(order.size)
    evals = 0
    done = 0
    with np.errstate(all="ignore"):
        if method == FORWARD and f0 is None:
            f0 = float(fn())
            evals += 1
        for k, i in enumerate(order):
            keep = float(flat[i])
            h = step(keep, method, eps)
            flat[i] = keep + h
            up = float(fn())
            if method == FORWARD:
                grad[k] = (up - f0) / h  # type: ignore[operator]
                evals += 1
            else:
                flat[i] = keep - h
                grad[k] = (up - float(fn())) / (2.0 * h)
                evals += 2
            flat[i] = keep
            steps[k] = h
            done = k + 1
            if deadline is not None and time.perf_counter() >= deadline:
                break
    return Differences(order[:done], grad[:done], steps[:done], evals, done == order.size)


@dataclass
class NumericGradient:
    """A finite-difference gradient and what it cost."""

    grad: dict[str, float]
    method: str
    eps: float  # the relative step (or the absolute step given by --eps)
    steps: dict[str, float] = field(default_factory=dict)  # the step actually taken per variable
    evals: int = 0  # evaluations of the function


def gradient_vector(fn: Callable[[np.ndarray], float], w: np.ndarray, method: str = FORWARD,
                    eps: float | None = None) -> tuple[np.ndarray, int]:
    """Finite-difference gradient of ``fn`` at the flat vector ``w``; (grad, evaluations)."""
    work = np.array(w, dtype=np.float64)
    d = differences(lambda: fn(work), work, method, eps)
    return d.grad.reshape(np.shape(w)), d.evals


class _AtPoint:
    """A Function of named variables read from one float array (the kernel perturbs it)."""

    def __init__(self, f: Any, values: Mapping[str, float], names: Sequence[str]) -> None:
        self.values = {k: float(v) for k, v in values.items()}
        # the façade's one-point forward pass (no input checks: the point was checked once)
        # where it has one; any callable of keyword values otherwise
        value_at = getattr(f, "value_at", None)
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


def gradient(f: Any, point: Mapping[str, float], method: str = FORWARD, eps: float | None = None,
             wrt: Sequence[str] | None = None) -> NumericGradient:
    """Finite-difference gradient of a parsed :class:`~backprop.core.function.Function`.

    Uses only ``f(**values)``: the forward pass, with no gradient work.
    """
    _check_method(method)
    check_eps(eps)
    names = list(f.variables) if wrt is None else list(wrt)
    at = _AtPoint(f, point, names)
    d = differences(at, at.x, method, eps)
    base = eps if eps is not None else RELATIVE_STEP[method]
    return NumericGradient({v: float(g) for v, g in zip(names, d.grad)}, method, base,
                           {v: float(h) for v, h in zip(names, d.steps)}, d.evals)


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

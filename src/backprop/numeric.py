"""Numeric differentiation: finite differences of the forward pass alone.

Forward difference (f(x + h e_i) - f(x)) / h costs n + 1 evaluations for n
variables; central difference (f(x + h e_i) - f(x - h e_i)) / 2h costs 2n and
is accurate to O(h^2) instead of O(h). Each step is scaled to its variable:
sqrt(machine epsilon) * max(1, |x_i|) for forward, cbrt(machine epsilon) *
max(1, |x_i|) for central, the steps that balance truncation error against
rounding error. Each evaluation re-runs the whole function: the seed's
O(|W|) evaluations, O(|W|^2) operations in all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from backprop.errors import InputError

MACHINE_EPS = float(np.finfo(np.float64).eps)
FORWARD_EPS = math.sqrt(MACHINE_EPS)  # about 1.5e-8
CENTRAL_EPS = MACHINE_EPS ** (1.0 / 3.0)  # about 6.1e-6

FORWARD, CENTRAL = "forward", "central"


@dataclass
class NumericGradient:
    """A finite-difference gradient and what it cost."""

    grad: dict[str, float]
    method: str
    eps: float  # the relative step (or the absolute step given by --eps)
    steps: dict[str, float] = field(default_factory=dict)  # the step actually taken per variable
    evals: int = 0  # evaluations of the function


def step(x: float, method: str = FORWARD, eps: float | None = None) -> float:
    """The step for a variable at ``x``: scaled to |x|, or ``eps`` itself if given.

    The step is rounded so that x + h - x == h exactly in floating point.
    """
    if eps is None:
        h = (FORWARD_EPS if method == FORWARD else CENTRAL_EPS) * max(1.0, abs(x))
    else:
        h = eps
    h = (x + h) - x
    return h if h != 0.0 else (eps if eps is not None else FORWARD_EPS)


def check_eps(eps: float | None) -> None:
    if eps is not None and not (math.isfinite(eps) and eps > 0.0):
        raise InputError(f"--eps must be a positive number, not {eps!r}")


def gradient_vector(fn: Callable[[np.ndarray], float], w: np.ndarray, method: str = FORWARD,
                    eps: float | None = None) -> tuple[np.ndarray, int]:
    """Finite-difference gradient of ``fn`` at the flat vector ``w``; (grad, evaluations).

    ``fn`` is called once per perturbed point: each call is one full evaluation.
    """
    check_eps(eps)
    w = np.array(w, dtype=np.float64)
    grad = np.empty_like(w)
    evals = 0
    if method == FORWARD:
        f0 = fn(w)
        evals += 1
    for i in range(w.size):
        x = float(w[i])
        h = step(x, method, eps)
        w[i] = x + h
        f_plus = fn(w)
        if method == FORWARD:
            grad[i] = (f_plus - f0) / h
            evals += 1
        else:
            w[i] = x - h
            f_minus = fn(w)
            grad[i] = (f_plus - f_minus) / (2.0 * h)
            evals += 2
        w[i] = x
    return grad, evals


def gradient(f: Any, point: Mapping[str, float], method: str = FORWARD, eps: float | None = None,
             wrt: Sequence[str] | None = None) -> NumericGradient:
    """Finite-difference gradient of a parsed :class:`~backprop.core.function.Function`.

    Uses only ``f(**values)``: the forward pass, with no gradient work.
    """
    if method not in (FORWARD, CENTRAL):
        raise ValueError(f"method must be {FORWARD!r} or {CENTRAL!r}")
    check_eps(eps)
    names = list(f.variables) if wrt is None else list(wrt)
    values = {k: float(v) for k, v in point.items()}
    grad: dict[str, float] = {}
    steps: dict[str, float] = {}
    evals = 0
    with np.errstate(all="ignore"):
        if method == FORWARD:
            f0 = float(f(**values))
            evals += 1
        for v in names:
            x = values[v]
            h = step(x, method, eps)
            steps[v] = h
            values[v] = x + h
            f_plus = float(f(**values))
            if method == FORWARD:
                grad[v] = (f_plus - f0) / h
                evals += 1
            else:
                values[v] = x - h
                f_minus = float(f(**values))
                grad[v] = (f_plus - f_minus) / (2.0 * h)
                evals += 2
            values[v] = x
    base = eps if eps is not None else (FORWARD_EPS if method == FORWARD else CENTRAL_EPS)
    return NumericGradient(grad, method, base, steps, evals)


def forward_difference(f: Any, point: Mapping[str, float], eps: float | None = None,
                       wrt: Sequence[str] | None = None) -> NumericGradient:
    return gradient(f, point, FORWARD, eps, wrt)


def central_difference(f: Any, point: Mapping[str, float], eps: float | None = None,
                       wrt: Sequence[str] | None = None) -> NumericGradient:
    return gradient(f, point, CENTRAL, eps, wrt)

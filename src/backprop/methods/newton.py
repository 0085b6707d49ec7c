"""What the Hessian adds to descent: Newton's step, and what kind of point a stationary point is.

Newton's method models E near W by its second-order Taylor polynomial and
jumps to the model's minimum:

    W(new) = W(old) - H^-1 grad E(W(old))

which is only a descent direction where H is positive definite. Here the step
is tried in full and halved until E decreases enough (Armijo's condition), so
no step goes uphill; where H is singular or indefinite (no Cholesky factor),
the step is a gradient step instead, with the same line search, and the caller
is told.

A point where the gradient vanishes is a minimum only if the Hessian there is
positive (semi)definite: all eigenvalues > 0 is a strict local minimum, all < 0
a local maximum, both signs a saddle; zero eigenvalues leave second order
undecided.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

ARMIJO = 1e-4  # the fraction of the linear model's decrease a step must achieve
MIN_STEP = 2.0 ** -40  # the line search gives up below this fraction of the step

# the kinds of stationary point; UNDECIDED: no negative eigenvalue but a zero one (x^4 and
# x^3 at 0 alike); NOT_MINIMUM: a negative eigenvalue and a zero one (a maximum or a saddle)
MINIMUM, MAXIMUM, SADDLE = "minimum", "maximum", "saddle"
UNDECIDED, NOT_MINIMUM = "undecided", "not a minimum"


@dataclass(frozen=True)
class Direction:
    d: np.ndarray  # the direction to search along
    newton: bool  # True: -H^-1 g; False: -g (the Hessian was not positive definite)
    why: str  # empty for a Newton step, else why the gradient was used


def newton_direction(g: Sequence[float], h: np.ndarray) -> Direction:
    """-H^-1 g where H is positive definite (solved by its Cholesky factor), else -g."""
    g = np.asarray(g, dtype=np.float64)
    h = np.asarray(h, dtype=np.float64)
    if not np.all(np.isfinite(h)):
        return Direction(-g, False, "the Hessian is not finite")
    try:
        c = np.linalg.cholesky(h)
    except np.linalg.LinAlgError:
        eig = np.linalg.eigvalsh(h)
        scale = max(1.0, float(np.max(np.abs(eig))))
        kind = ("singular" if np.min(np.abs(eig)) <= 1e-12 * scale else "indefinite")
        return Direction(-g, False, f"the Hessian is {kind}, its smallest eigenvalue {float(eig[0]):.4g}")
    d = -np.linalg.solve(c.T, np.linalg.solve(c, g))
    if not np.all(np.isfinite(d)):
        return Direction(-g, False, "the Hessian is numerically singular")
    return Direction(d, True, "")


def line_search(value_at: Callable[[np.ndarray], float], w: np.ndarray, value: float,
                g: np.ndarray, d: np.ndarray, t: float = 1.0) -> tuple[float, np.ndarray, float] | None:
    """Halve the step t*d until E(w + t d) <= E(w) + ARMIJO * t * g.d; None when none does.

    Never returns a step that increases E (or makes it nan): the descent stays downhill.
    """
    slope = float(np.dot(g, d))
    if not slope < 0.0:
        return None
    while t >= MIN_STEP:
        w_new = w + t * d
        v_new = value_at(w_new)
        if math.isfinite(v_new) and v_new <= value + ARMIJO * t * slope:
            return t, w_new, v_new
        t *= 0.5
    return None


def classify(h: np.ndarray) -> tuple[str, np.ndarray]:
    """The kind of a stationary point from its Hessian's eigenvalues (and the eigenvalues)."""
    h = np.asarray(h, dtype=np.float64)
    eig = np.linalg.eigvalsh(0.5 * (h + h.T))
    scale = max(1.0, float(np.max(np.abs(eig)))) if eig.size else 1.0
    zero = 1e-10 * scale
    neg, pos = bool(np.any(eig < -zero)), bool(np.any(eig > zero))
    flat = bool(np.any(np.abs(eig) <= zero))
    if neg and pos:
        return SADDLE, eig
    if neg:
        return (NOT_MINIMUM if flat else MAXIMUM), eig
    return (UNDECIDED if flat else MINIMUM), eig

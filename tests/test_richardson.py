"""Richardson extrapolation of central differences: accuracy and error estimate against
SymPy, on the lecture's example and random expressions (every primitive: the reference
table, tests/test_reference_table.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from backprop.core.function import parse
from backprop.methods.numeric import (COMPLEX_STEP, RICHARDSON, RICHARDSON_FIRST_STEP,
                                      RICHARDSON_STEPS, extrapolate, gradient_vector, richardson)
from tests.test_complex_step import SEED_DERIVATIVE, X, expressions

SMALLEST_STEP = RICHARDSON_FIRST_STEP / 2.0 ** (RICHARDSON_STEPS - 1)


def sympy_derivative(expr: sp.Expr, x: float) -> float:
    return float(sp.diff(expr, X).subs(X, sp.Rational(repr(x))).evalf(40))


def test_the_lecture_example_below_1e_9_with_an_estimate_that_bounds_the_error() -> None:
    r = richardson(parse("2/sin(exp(-x))"), {"x": -4.499})
    want = float(SEED_DERIVATIVE.subs(X, sp.Rational("-4.499")).evalf(40))
    error = abs(r.grad["x"] - want)
    assert error / abs(want) < 1e-9
    assert error <= r.error_estimate["x"]
    assert r.error_estimate["x"] / abs(want) < 1e-8  # and the estimate itself is informative
    # f(x) once, then 2 per step, the sequence cut short once rounding dominates
    assert r.method == RICHARDSON and r.evals % 2 == 1 and r.evals <= 2 * RICHARDSON_STEPS + 1


# every smooth primitive at the reference table's points: tests/test_reference_table.py


@pytest.mark.parametrize("text, sym, x", [
    ("abs(x - 1)*exp(x)", sp.Abs(X - 1) * sp.exp(X), 3.0),
    ("relu(x^2 - 2)", sp.Max(X ** 2 - 2, 0), 1.7),
    ("max(sin(x), x^2)", sp.Max(sp.sin(X), X ** 2), 1.5),
])
def test_kinks_away_from_the_steps_are_no_obstacle(text: str, sym: sp.Expr, x: float) -> None:
    r = richardson(parse(text), {"x": x})
    want = sympy_derivative(sym, x)
    assert abs(r.grad["x"] - want) <= min(r.error_estimate["x"], 1e-9 * abs(want))


def test_evaluations_are_counted() -> None:
    class Counting:
        variables = ("a", "b")

        def __init__(self) -> None:
            self.calls = 0

        def __call__(self, a: float, b: float) -> float:
            self.calls += 1
            return math.exp(a) * math.sin(b)

    f = Counting()
    r = richardson(f, {"a": 0.3, "b": 1.1})
    assert r.evals == f.calls <= 2 * (2 * RICHARDSON_STEPS + 1)
    assert abs(r.grad["b"] - math.exp(0.3) * math.cos(1.1)) < 1e-12


def test_extrapolate_removes_the_even_powers() -> None:
    # a polynomial of degree 7: three levels remove h^2, h^4, h^6 from the central
    # difference, which is then exact up to rounding at every step
    x = np.array([1.3])
    r = extrapolate(lambda: float(x[0] ** 7 - 3 * x[0] ** 5 + x[0]), x)
    assert abs(r.estimate - (7 * 1.3 ** 6 - 15 * 1.3 ** 4 + 1)) < 1e-11
    assert r.error_estimate < 1e-9


def test_gradient_vector_richardson_and_complex_step() -> None:
    rng = np.random.default_rng(3)
    A = rng.standard_normal((4, 4))
    w = rng.standard_normal(4)

    def loss(v: np.ndarray) -> float:
        return np.sin(v) @ A @ np.exp(0.3 * v)  # analytic: complex vectors pass through

    exact = np.cos(w) * (A @ np.exp(0.3 * w)) + 0.3 * np.exp(0.3 * w) * (np.sin(w) @ A)
    calls = 0

    def counted(v: np.ndarray) -> float:
        nonlocal calls
        calls += 1
        return loss(v)

    g, evals = gradient_vector(counted, w, RICHARDSON)
    np.testing.assert_allclose(g, exact, rtol=1e-10)
    assert evals == calls <= 4 * (2 * RICHARDSON_STEPS + 1)
    g, evals = gradient_vector(loss, w, COMPLEX_STEP)
    np.testing.assert_allclose(g, exact, rtol=1e-14)
    assert evals == 4


@settings(max_examples=50, deadline=None, derandomize=True)
@given(expressions(), st.floats(-3.0, 3.0, allow_nan=False).map(lambda v: round(v, 3)))
def test_random_expressions_the_estimate_bounds_the_error(e: tuple[str, sp.Expr],
                                                          x: float) -> None:
    text, expr = e
    f = parse(text)
    assume("x" in f.variables)
    with np.errstate(all="ignore"):
        value = float(f(x=x))
        # the steps' span must stay inside the domain: nan anywhere on it is no test
        ends = [float(f(x=x + s)) for s in (-RICHARDSON_FIRST_STEP * max(1, abs(x)),
                                            RICHARDSON_FIRST_STEP * max(1, abs(x)))]
    assume(math.isfinite(value) and all(math.isfinite(v) for v in ends))
    want_expr = sp.diff(expr, X).subs(X, sp.Rational(repr(x))).evalf(40)
    assume(want_expr.is_real and want_expr.is_finite)
    want = float(want_expr)
    # the method's precondition: the smallest step resolves the function (a function that
    # turns around within it, cos(sinh(x^2)^2) at 2.555, is beyond any finite difference)
    assume(abs(want) * SMALLEST_STEP * max(1.0, abs(x)) < 1e-3 * max(1.0, abs(value)))
    r = richardson(f, {"x": x})
    assert abs(r.grad["x"] - want) <= r.error_estimate["x"], (text, x, r.grad["x"], want)

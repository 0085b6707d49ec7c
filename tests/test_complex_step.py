"""The complex step, Im f(x + ih)/h: the kinks refused by name, the domain edges giving nan,
whole powers of a negative base, and random analytic expressions against SymPy (every
primitive's complex forward against SymPy: tests/test_reference_table.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from backprop.core.complex_step import STEP
from backprop.core.function import parse
from backprop.core.ops import PRIMITIVES
from backprop.errors import InputError, NotAnalyticError
from backprop.methods.numeric import complex_step

from test_reference_table import SYMPY

X = sp.Symbol("x", real=True)

SEED_DERIVATIVE = sp.diff(2 / sp.sin(sp.exp(-X)), X)


def exact(expr: sp.Expr, at: dict[sp.Symbol, float], wrt: sp.Symbol = X) -> float:
    subs = {k: sp.Rational(repr(v)) if v == v else v for k, v in at.items()}
    return float(sp.diff(expr, wrt).subs(subs).evalf(40))


def close(got: float, want: float, rel: float = 4e-15, abs_: float = 0.0) -> bool:
    return abs(got - want) <= rel * abs(want) + abs_


def test_every_primitive_is_declared_analytic_or_with_its_kink() -> None:
    kinks = {name for name, p in PRIMITIVES.items() if not p.analytic}
    assert kinks == {"abs", "relu", "sign", "step", "max", "min"}
    for name, p in PRIMITIVES.items():
        assert (p.kink is None) == p.analytic, name


def test_the_lecture_example_agrees_with_reverse_mode_and_sympy() -> None:
    f = parse("2/sin(exp(-x))")
    cs = f.complex_step_grad(x=-4.499)["x"]
    bp = f.value_and_grad(x=-4.499)[1]["x"]
    want = float(SEED_DERIVATIVE.subs(X, sp.Rational("-4.499")).evalf(40))
    assert abs(cs - bp) <= 1e-13 * abs(bp)
    assert abs(cs - want) <= 1e-12 * abs(want)  # the forward pass's own accuracy (1.1e-13)


# every primitive's complex step against SymPy, at one point and over arrays, in both
# arguments: tests/test_reference_table.py


@pytest.mark.parametrize("n", [2, 3, -1, -2, 7, 101, 0])
def test_whole_powers_of_a_negative_base(n: int) -> None:
    # numpy's complex power is exact for whole exponents only up to 100, and
    # exp(n log x) puts a negative base's angle at pi: (-1)^n (-x)^n is used instead
    for x in (-1.01, -2.0, -0.5):
        got = parse(f"x^{n}").complex_step_grad(x=x)["x"]
        want = exact(X ** n, {X: x})
        assert close(got, want, 1e-14), (n, x, got, want)


@pytest.mark.parametrize("text, sym, x", [
    ("abs(x - 1)*exp(x)", sp.Abs(X - 1) * sp.exp(X), 3.0),
    ("abs(x - 1)*exp(x)", sp.Abs(X - 1) * sp.exp(X), -0.5),
    ("relu(x^2 - 2)", sp.Max(X ** 2 - 2, 0), 1.7),
    ("relu(x^2 - 2)", sp.Max(X ** 2 - 2, 0), 0.4),
    ("max(sin(x), x^2)", sp.Max(sp.sin(X), X ** 2), 0.5),
    ("max(sin(x), x^2)", sp.Max(sp.sin(X), X ** 2), 1.5),
    ("min(sin(x), x^2)", sp.Min(sp.sin(X), X ** 2), 0.5),
    ("x^3*sign(x) + step(x - 1)", X ** 3 * sp.sign(X) + sp.Heaviside(X - 1), -2.0),
])
def test_a_kink_away_from_it_is_one_analytic_piece(text: str, sym: sp.Expr, x: float) -> None:
    got = parse(text).complex_step_grad(x=x)["x"]
    assert close(got, exact(sym, {X: x}), 1e-14)


@pytest.mark.parametrize("text, x, name", [
    ("abs(x - 1)", 1.0, "abs"), ("relu(x) + x", 0.0, "relu"), ("sign(2*x)", 0.0, "sign"),
    ("step(x - 3)", 3.0, "step"), ("max(x, 2 - x)", 1.0, "max"), ("min(x^2, x)", 1.0, "min"),
    ("exp(relu(sin(x)))", 0.0, "relu"),
])
def test_a_kink_at_the_point_is_an_error_naming_the_primitive(text: str, x: float,
                                                               name: str) -> None:
    with pytest.raises(NotAnalyticError) as info:
        parse(text).complex_step_grad(x=x)
    assert info.value.primitive == name
    message = str(info.value)
    assert f"{name} has a kink" in message and "\n" not in message
    assert isinstance(info.value, InputError)  # exit 2 from the command line


def test_a_kink_the_variable_does_not_move_is_no_error() -> None:
    # abs(y) at y = 0 does not depend on x: the partial in x is fine, the one in y is not
    f = parse("abs(y) + x^2")
    assert f.complex_step_grad(["x"], x=3.0, y=0.0)["x"] == 6.0
    # max(x, x) ties but both arguments move together: one analytic piece
    assert parse("max(x, x)*x").complex_step_grad(x=2.0)["x"] == 4.0


@pytest.mark.parametrize("text, x", [
    ("log(x)", -1.0), ("log(x)", 0.0), ("sqrt(x)", -4.0), ("sqrt(x)", 0.0), ("1/x", 0.0),
    ("asin(x)", 1.0), ("acos(x)", 2.0), ("x^0.5", -1.0), ("x^-1", 0.0), ("log2(x - 3)", 2.0),
])
def test_outside_the_domain_or_at_a_singularity_the_complex_step_gives_nan(text: str,
                                                                           x: float) -> None:
    # the principal complex branch would give a finite number there, and a wrong one
    assert math.isnan(parse(text).complex_step_grad(x=x)["x"])


def test_a_module_the_variable_does_not_reach_keeps_its_real_value() -> None:
    # log(y) at y = -1 is nan in the real forward pass, and stays the real nan (not the
    # complex log's i*pi) as x varies: d/dx is 1, as reverse mode says
    assert parse("log(y) + x").complex_step_grad(["x"], x=1.0, y=-1.0)["x"] == 1.0
    assert parse("sqrt(y)*x").complex_step_grad(["x"], x=1.0, y=4.0)["x"] == 2.0


def test_the_step_keeps_tiny_derivatives_exact() -> None:
    # every module's imaginary part is h times its derivative: with h = 1e-100 it stays a
    # normal double down to derivatives of 1e-208; h = 1e-200 would lose this one
    f = parse("exp(x)")
    want = math.exp(-300.0)
    assert STEP == 1e-100
    assert close(f.complex_step_grad(x=-300.0)["x"], want, 1e-15)
    assert f.complex_step_grad(x=-300.0, h=1e-200)["x"] == 0.0


def test_many_points_at_once_and_degrees() -> None:
    xs = np.linspace(-2.0, 2.0, 9)
    got = parse("x*sin(x)").complex_step_grad(x=xs)["x"]
    np.testing.assert_allclose(got, np.sin(xs) + xs * np.cos(xs), rtol=1e-14, atol=1e-15)
    g = parse("sin(x)", angle="deg").complex_step_grad(x=30.0)["x"]
    assert close(g, math.cos(math.radians(30.0)) * math.pi / 180.0, 1e-14)


def test_numeric_complex_step_counts_one_pass_per_variable() -> None:
    r = complex_step(parse("x*y + sin(z)"), {"x": 1.0, "y": 2.0, "z": 0.5})
    assert r.evals == 3 and r.method == "complex_step" and r.eps == STEP
    assert r.grad == {"x": 2.0, "y": 1.0, "z": math.cos(0.5)}
    assert complex_step(parse("x*y"), {"x": 1.0, "y": 2.0}, wrt=["y"]).evals == 1


# ---- random analytic expressions ---------------------------------------------------------

# (text, SymPy) builders; every one analytic where its real value is finite
UNARY_RANDOM = ["sin", "cos", "atan", "sinh", "tanh", "exp", "sigmoid", "softplus", "log",
                "sqrt", "tan", "cosh"]


@st.composite
def expressions(draw: st.DrawFn, depth: int = 4) -> tuple[str, sp.Expr]:
    if depth == 0 or draw(st.integers(0, 4)) == 0:
        if draw(st.booleans()):
            return "x", X
        c = draw(st.sampled_from(["2", "3", "0.5", "1.5"]))
        return c, sp.Rational(c)
    kind = draw(st.integers(0, 2))
    if kind == 0:
        name = draw(st.sampled_from(UNARY_RANDOM))
        text, expr = draw(expressions(depth - 1))
        return f"{name}({text})", SYMPY[name](expr)
    a, ea = draw(expressions(depth - 1))
    b, eb = draw(expressions(depth - 1))
    if kind == 1:
        op = draw(st.sampled_from("+-*/"))
        return f"({a}) {op} ({b})", {"+": ea + eb, "-": ea - eb, "*": ea * eb, "/": ea / eb}[op]
    n = draw(st.sampled_from([2, 3, -1]))
    return f"({a})^{n}", ea ** n


@settings(max_examples=60, deadline=None, derandomize=True)
@given(expressions(), st.floats(-3.0, 3.0, allow_nan=False).map(lambda v: round(v, 3)))
def test_random_analytic_expressions_against_sympy(e: tuple[str, sp.Expr], x: float) -> None:
    text, expr = e
    f = parse(text)
    assume("x" in f.variables)
    with np.errstate(all="ignore"):
        value = float(f(x=x))
    assume(math.isfinite(value))
    want_expr = sp.diff(expr, X).subs(X, sp.Rational(repr(x))).evalf(40)
    assume(want_expr.is_real and want_expr.is_finite)
    want = float(want_expr)
    assume(math.isfinite(want))
    got = f.complex_step_grad(x=x)["x"]
    # as accurate as the function's own evaluation: reverse mode, which multiplies the same
    # local derivatives, is the yardstick of what float64 allows for this expression (and
    # where one of them is singular, sqrt(x)^2 at 0, there is nothing to compare)
    bp = float(f.value_and_grad(x=x)[1]["x"])
    assume(math.isfinite(bp))
    allowed = max(1e-13 * abs(want), 10.0 * abs(bp - want), 1e-15 * max(1.0, abs(value)))
    assert abs(got - want) <= allowed, (text, x, got, want, bp)

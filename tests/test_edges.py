"""The one rule at the edges: nan, infinities, (0, 0) and outside a domain.

The rule (README, "The expression language"): a nan value has nan partials; outside
its domain a function's value is nan and so are its partials; at a kink the
subgradients follow PyTorch; where a limit exists (0^y in y for y > 0, relu at -inf)
it is the value. Each case is checked on every pass that gives a first derivative:
numpy's passes over an array, the passes at one point of floats, forward mode, the
gradient that the Hessian's passes compute, and the formula ``diff`` prints. The
expected values come from mpmath or by hand, never from the program.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest

from backprop import parse
from backprop.core.parser import parse_graph
from backprop.symbolic import diff_text

NAN = math.nan


def every_first_derivative(text: str, point: dict[str, float]) -> list[tuple[str, float, list[float]]]:
    """(pass, value, partials in the variables' order) from each pass."""
    f = parse(text)
    names = list(f.variables)
    out = []
    v, g = f.value_and_grad(**point)  # one point of floats (numpy's where math raises)
    out.append(("floats", float(v), [float(g[n]) for n in names]))
    v, g = f.value_and_grad(**{k: np.array([x, x]) for k, x in point.items()})
    out.append(("arrays", float(v[0]), [float(g[n][0]) for n in names]))
    g = f.forward_mode_grad(**{k: np.array([x]) for k, x in point.items()})
    out.append(("forward mode", float(v[0]), [float(g[n][0]) for n in names]))
    g = f.forward_mode_grad(**point)  # floats: numpy's passes where a result is not finite
    out.append(("forward mode, floats", float(v[0]), [float(g[n]) for n in names]))
    v, g, _ = f.hessian(**{k: np.array([x]) for k, x in point.items()})
    out.append(("hessian's gradient", float(np.ravel(v)[0]),
                [float(np.ravel(g[n])[0]) for n in names]))
    for n in names:
        formula = parse(diff_text(text, n))
        env = {k: x for k, x in point.items() if k in formula.variables}
        with np.errstate(all="ignore"):
            d = float(np.ravel(formula._forward(**env)[formula.graph.output])[0]) if env else \
                float(np.ravel(formula._forward()[formula.graph.output])[0])
        out.append((f"diff --wrt {n}", NAN, [d]))
    return out


def same(a: float, b: float, rel: float = 1e-14) -> bool:
    if math.isnan(b):
        return math.isnan(a)
    if math.isinf(b) or b == 0.0:
        return a == b
    return abs(a - b) <= rel * abs(b)


def check(text: str, point: dict[str, float], value: float, partials: list[float],
          formula: bool = True) -> None:
    """``formula=False``: outside the domain, where diff's formula (true on the domain)
    is not asked to give nan."""
    for name, v, g in every_first_derivative(text, point):
        if name.startswith("diff") and not formula:
            continue
        if not name.startswith("diff"):
            assert same(v, value), (text, point, name, v, value)
            assert all(same(a, b) for a, b in zip(g, partials)), (text, point, name, g, partials)
        else:
            wrt = name.split()[-1]
            k = list(parse(text).variables).index(wrt)
            assert same(g[0], partials[k]), (text, point, name, g, partials[k])


# ---- the three defects of issue 26 -------------------------------------------------------

def test_zero_to_a_positive_power_has_partial_zero_in_the_exponent() -> None:
    # 0^y = 0 for every y > 0, so d/dy is 0 (PyTorch and JAX agree); d/dx = y*0^(y-1) = inf
    check("x^y", {"x": 0.0, "y": 0.5}, 0.0, [math.inf, 0.0])
    check("x^y", {"x": 0.0, "y": 3.0}, 0.0, [0.0, 0.0])


def test_the_exponent_partial_at_a_tiny_base_keeps_its_digits() -> None:
    # log(x^abs(sign(x))) is log(x) exactly: no 1 + x that would round a tiny x away
    mpmath.mp.dps = 40
    x, y = mpmath.mpf(1e-20), mpmath.mpf(0.5)
    check("x^y", {"x": 1e-20, "y": 0.5}, float(x ** y),
          [float(y * x ** (y - 1)), float(x ** y * mpmath.log(x))])


def test_the_exponent_partial_away_from_zero_is_unchanged() -> None:
    x, y = 2.5, 1.75
    check("x^y", {"x": x, "y": y}, x ** y, [y * x ** (y - 1), x ** y * math.log(x)])


def test_relu_at_minus_infinity_is_zero() -> None:
    check("relu(x)", {"x": -math.inf}, 0.0, [0.0])
    check("relu(x)", {"x": math.inf}, math.inf, [1.0])


def _atan2_partials(y: float, x: float) -> list[float]:
    mpmath.mp.dps = 50
    r2 = mpmath.mpf(x) ** 2 + mpmath.mpf(y) ** 2
    return [float(mpmath.mpf(x) / r2), float(-mpmath.mpf(y) / r2)]


@pytest.mark.parametrize("y,x", [(1e-300, 1e-300), (1e200, 1e200), (3e-200, -4e-200),
                                 (-1e300, 2e299), (1.5, -2.25)])
def test_atan2_partials_neither_overflow_nor_underflow(y: float, x: float) -> None:
    expected = _atan2_partials(y, x)
    value = float(mpmath.atan2(y, x))
    for name, v, g in every_first_derivative("atan2(y, x)", {"y": y, "x": x}):
        if name.startswith("diff"):
            continue  # the printed formula squares hypot: it is exact where x^2 fits
        assert same(v, value), (name, v)
        # x/hypot/hypot: three roundings
        assert same(g[0], expected[0], 4e-16 * 4) and same(g[1], expected[1], 4e-16 * 4), \
            (name, g, expected)


@pytest.mark.parametrize("x,y", [(3.0, 4.0), (1e-300, 1e-300), (1e200, -1e200), (0.0, -2.0)])
def test_hypot_against_mpmath(x: float, y: float) -> None:
    mpmath.mp.dps = 50
    r = mpmath.sqrt(mpmath.mpf(x) ** 2 + mpmath.mpf(y) ** 2)
    check("hypot(x, y)", {"x": x, "y": y}, float(r), [float(x / r), float(y / r)])


# ---- nan and (0, 0): one rule ----------------------------------------------------------

@pytest.mark.parametrize("text,x", [("log(x)", -1.0), ("log2(x)", -1.0), ("log10(x)", -2.0),
                                    ("atanh(x)", 2.0), ("asin(x)", 2.0), ("acos(x)", -2.0),
                                    ("acosh(x)", 0.5), ("sqrt(x)", -1.0)])
def test_outside_the_domain_value_and_partial_are_nan(text: str, x: float) -> None:
    check(text, {"x": x}, NAN, [NAN], formula=False)


@pytest.mark.parametrize("text", ["abs(x)", "relu(x)", "sign(x)", "step(x)", "sin(x)",
                                  "sigmoid(x)", "x^2"])
def test_a_nan_argument_gives_nan_value_and_partial(text: str) -> None:
    for name, v, g in every_first_derivative(text, {"x": NAN}):
        if not name.startswith("diff"):
            assert math.isnan(v), (text, name)
        if text not in ("sign(x)", "step(x)"):  # their derivative is the constant 0
            assert math.isnan(g[0]), (text, name, g)


@pytest.mark.parametrize("text", ["max(x, y)", "min(x, y)"])
def test_max_and_min_with_a_nan_operand_are_nan_with_nan_partials(text: str) -> None:
    check(text, {"x": NAN, "y": 1.0}, NAN, [NAN, NAN])
    check(text, {"x": 1.0, "y": NAN}, NAN, [NAN, NAN])


def test_max_and_min_split_a_finite_tie() -> None:
    check("max(x, y)", {"x": 2.0, "y": 2.0}, 2.0, [0.5, 0.5])
    check("min(x, y)", {"x": -1.0, "y": -1.0}, -1.0, [0.5, 0.5])


@pytest.mark.parametrize("y,x,angle", [(0.0, 0.0, 0.0), (0.0, -0.0, math.pi),
                                       (-0.0, 0.0, -0.0), (-0.0, -0.0, -math.pi)])
def test_atan2_at_the_origin_has_its_ieee_angle_and_nan_partials(y: float, x: float,
                                                                  angle: float) -> None:
    # the angle has no limit at (0, 0), so no derivative: 0/0
    check("atan2(y, x)", {"y": y, "x": x}, angle, [NAN, NAN])


def test_hypot_at_the_origin_has_nan_partials() -> None:
    check("hypot(x, y)", {"x": 0.0, "y": 0.0}, 0.0, [NAN, NAN])


def test_zero_to_the_zero_and_below() -> None:
    # 0^0 = 1; in y: 0 (PyTorch's convention: x = 0 and y >= 0); below 0, 0^y = inf: nan
    check("x^y", {"x": 0.0, "y": 0.0}, 1.0, [0.0, 0.0])
    got = every_first_derivative("x^y", {"x": 0.0, "y": -1.0})
    for name, _, g in got:
        if name != "diff --wrt x":
            assert math.isnan(g[-1]), (name, g)


def test_the_printed_exponent_partial_is_the_rule() -> None:
    assert diff_text("x^y", "y") == "x^y*log(x^abs(sign(x)))"
    assert parse_graph("2^x") is not None
    assert diff_text("2^x", "x") == "2^x*log(2)"

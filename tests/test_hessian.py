"""Second order: the Hessian by forward mode over the backward pass built as a graph.

SymPy is the oracle (its own definitions of each function, differentiated
twice); central differences of the reverse-mode gradient are a second,
independent check; theory gives the kinks' and degrees' values.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backprop.core import engine, gradient_graph
from backprop.core.jacobian import FORWARD, REVERSE, JacobianPlan, choose_mode, jacobian
from backprop import parse
from backprop.core.parser import parse_graph
from test_reference_table import SYMPY

SYMS = sp.symbols("x y z w", real=True)
NAMES = ("x", "y", "z", "w")


def second_order(text: str, point: dict[str, float], angle: str = "rad",
                 wrt: list[str] | None = None, grouped: bool | None = None) -> gradient_graph.SecondOrder:
    """``grouped``: force the tangent pass grouped by level (True) or node by node (False)."""
    g = parse_graph(text, angle)
    names = wrt if wrt is not None else list(g.variables)
    saved = gradient_graph.MIN_GROUP_WIDTH
    if grouped is not None:
        gradient_graph.MIN_GROUP_WIDTH = 0.0 if grouped else math.inf
    try:
        plan = gradient_graph.SecondOrderPlan.of(g, names)
        return gradient_graph.evaluate(plan, {k: np.float64(v) for k, v in point.items()})
    finally:
        gradient_graph.MIN_GROUP_WIDTH = saved


def sympy_hessian(e: sp.Expr, syms: list[sp.Symbol], point: dict[sp.Symbol, float]) -> np.ndarray:
    subs = {s: sp.Float(v, 40) for s, v in point.items()}
    return np.array([[float(sp.diff(e, a, b).evalf(40, subs=subs)) for b in syms] for a in syms])


def assert_close(actual: np.ndarray, expected: np.ndarray, rtol: float, atol: float) -> None:
    assert np.all(np.abs(actual - expected) <= atol + rtol * np.abs(expected)), (actual, expected)


# ---- the acceptance example -------------------------------------------------------------

def test_acceptance_example_is_exact() -> None:
    r = second_order("x^2*y + sin(y)", {"x": 1.0, "y": 2.0})
    assert r.hessian.tolist() == [[4.0, 2.0], [2.0, -math.sin(2.0)]]
    assert float(r.value) == 2.0 + math.sin(2.0)
    assert float(r.grad["x"]) == 4.0 and float(r.grad["y"]) == 1.0 + math.cos(2.0)


# ---- random expressions of 1-4 variables against SymPy ---------------------------------

# (text template, sympy builder): smooth everywhere on the reals, so any point is in the domain
UNARY = [
    ("sin({})", SYMPY["sin"]), ("cos({})", SYMPY["cos"]), ("exp({}/3)", lambda u: sp.exp(u / 3)),
    ("tanh({})", SYMPY["tanh"]), ("sigmoid({})", SYMPY["sigmoid"]),
    ("atan({})", SYMPY["atan"]), ("log(1 + ({})^2)", lambda u: sp.log(1 + u**2)),
    ("sqrt(1 + ({})^2)", lambda u: sp.sqrt(1 + u**2)), ("softplus({})", SYMPY["softplus"]),
    ("-({})", lambda u: -u), ("({})^2", lambda u: u**2), ("({})^3", lambda u: u**3),
    ("sinh({}/2)", lambda u: sp.sinh(u / 2)), ("cosh({}/2)", lambda u: sp.cosh(u / 2)),
]
BINARY = [
    ("({}) + ({})", lambda a, b: a + b), ("({}) - ({})", lambda a, b: a - b),
    ("({}) * ({})", lambda a, b: a * b), ("({}) / (2 + sin({}))", lambda a, b: a / (2 + sp.sin(b))),
    ("exp(({})/4) ^ ({})", lambda a, b: sp.exp(a / 4) ** b),
]


@st.composite
def expressions(draw: st.DrawFn) -> tuple[str, sp.Expr, int]:
    n = draw(st.integers(1, 4))
    leaves = [(NAMES[k], SYMS[k]) for k in range(n)] + [("1.5", sp.Float(1.5)), ("0.5", sp.Rational(1, 2))]
    # an expression built bottom-up from a pool (so subexpressions get shared)
    pool = [(NAMES[k], SYMS[k]) for k in range(n)]
    for _ in range(draw(st.integers(1, 7))):
        if draw(st.booleans()):
            t, f = draw(st.sampled_from(UNARY))
            a = draw(st.sampled_from(pool))
            pool.append((t.format(f"({a[0]})"), f(a[1])))  # parenthesised: "sinh({}/2)"
        else:
            t, f = draw(st.sampled_from(BINARY))
            a = draw(st.sampled_from(pool + leaves))
            b = draw(st.sampled_from(pool + leaves))
            pool.append((t.format(f"({a[0]})", f"({b[0]})"), f(a[1], b[1])))
    text, e = pool[-1]
    # every variable appears, so the Hessian is n x n over x, y, ...
    for k in range(n):
        text, e = f"{text} + 0.25*{NAMES[k]}", e + sp.Rational(1, 4) * SYMS[k]
    return text, e, n


@given(expr=expressions(), data=st.data())
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_random_hessians_match_sympy(expr: tuple[str, sp.Expr, int], data: st.DataObject) -> None:
    text, e, n = expr
    values = [data.draw(st.floats(-2, 2, allow_nan=False)) for _ in range(n)]
    point = dict(zip(NAMES, values))
    expected = sympy_hessian(e, list(SYMS[:n]), dict(zip(SYMS, values)))
    if not np.all(np.isfinite(expected)) or np.max(np.abs(expected)) > 1e12:
        return  # overflow in the oracle too: nothing to compare
    scale = max(1.0, float(np.max(np.abs(expected))))
    # the tangent pass node by node, and grouped by level (as wide graphs at one point run it)
    for grouped in (False, True):
        r = second_order(text, point, wrt=list(NAMES[:n]), grouped=grouped)
        assert_close(r.hessian, expected, 1e-9, 1e-11 * scale)
        # symmetric, as every Hessian of a twice continuously differentiable function
        assert_close(r.hessian, r.hessian.T, 1e-10, 1e-12 * scale)
    # the same passes on Python floats (compare --order 2, Newton's steps)
    _, _, h = parse(text)._value_grad_hessian_at(point, list(NAMES[:n]))
    assert_close(h, expected, 1e-9, 1e-11 * scale)
    assert_close(h, h.T, 1e-10, 1e-12 * scale)


@given(expr=expressions(), data=st.data())
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_hessian_agrees_with_central_differences_of_the_gradient(
        expr: tuple[str, sp.Expr, int], data: st.DataObject) -> None:
    text, _, n = expr
    values = np.array([data.draw(st.floats(-2, 2, allow_nan=False)) for _ in range(n)])
    g = parse_graph(text)
    names = list(NAMES[:n])
    plan = engine.Plan.of(g)

    def gradient(w: np.ndarray) -> np.ndarray:
        inputs = {v: np.float64(w[k]) for k, v in enumerate(names)}
        grads = engine.backward(g, plan, engine.forward(g, plan, inputs), names)
        return np.array([float(grads[v]) for v in names])

    fd = np.empty((n, n))
    for k in range(n):
        h = 1e-5 * max(1.0, abs(values[k]))
        up, down = values.copy(), values.copy()
        up[k] += h
        down[k] -= h
        fd[:, k] = (gradient(up) - gradient(down)) / (2 * h)
    r = second_order(text, dict(zip(names, values.tolist())), wrt=names)
    scale = max(1.0, float(np.max(np.abs(fd))))
    if scale > 1e6:
        return
    assert_close(r.hessian, fd, 1e-5, 1e-5 * scale)


# ---- each primitive's second derivatives, on every pass: tests/test_reference_table.py ------

X, Y = sp.symbols("x y", real=True)


def test_constant_powers_of_two_variables() -> None:
    # x^3 * y^2: a power of a constant exponent (not the table's x^y) in each variable
    expected = sympy_hessian(X**3 * Y**2, [X, Y], {X: 0.7, Y: -1.3})
    assert_close(parse("x^3 * y^2").hessian(x=0.7, y=-1.3)[2], expected, 1e-13, 1e-300)


@pytest.mark.parametrize("grouped", [False, True])
@pytest.mark.parametrize("k,expected", [(0, 0.0), (1, 0.0), (2, 2.0), (3, 0.0)])
def test_constant_powers_at_zero(k: int, expected: float, grouped: bool) -> None:
    # x^k at 0: (x^k)'' = k(k-1) x^(k-2); the engine's x^0 and x^1 rules carry over (no 0 * inf)
    assert second_order(f"x^{k} + x", {"x": 0.0}, grouped=grouped).hessian[0, 0] == expected


# ---- kinks: the first-order conventions, differentiated -------------------------------------

@pytest.mark.parametrize("grouped", [False, True])
def test_kinks_have_zero_second_derivative(grouped: bool) -> None:
    for text in ("relu(x)", "abs(x)", "relu(x)^2", "max(x, 0)", "min(x, 0)", "step(x)", "sign(x)"):
        assert second_order(text, {"x": 0.0}, grouped=grouped).hessian[0, 0] == 0.0, text


@pytest.mark.parametrize("grouped", [False, True])
def test_a_tie_is_split_consistently(grouped: bool) -> None:
    # max(x,y)*x at x = y: d/dx = max + x*(1/2); d2/dx2 = 1/2 + 1/2, d2/dxdy = 1/2, d2/dy2 = 0
    r = second_order("max(x, y)*x", {"x": 2.0, "y": 2.0}, grouped=grouped)
    assert r.hessian.tolist() == [[1.0, 0.5], [0.5, 0.0]]
    assert float(r.grad["x"]) == 3.0 and float(r.grad["y"]) == 1.0


# ---- the gradient graph -----------------------------------------------------------------------

def test_gradient_graph_grows_linearly_and_shares_nodes() -> None:
    sizes = []
    for n in (10, 100, 1000):
        text = " + ".join(f"sin(x{i})*x{i + 1}" for i in range(n))
        g = parse_graph(text)
        gg = gradient_graph.build(g, list(g.variables))
        sizes.append(gg.size / len(g))
    assert max(sizes) <= 2.5 and max(sizes) / min(sizes) < 1.1, sizes


def test_the_gradient_nodes_compute_the_reverse_mode_gradient() -> None:
    text = "2/sin(exp(-x)) * y + x^y + log(y)"
    g = parse_graph(text)
    point = {"x": np.float64(0.9), "y": np.float64(2.3)}
    plan = engine.Plan.of(g)
    expected = engine.backward(g, plan, engine.forward(g, plan, point), ["x", "y"])
    r = gradient_graph.evaluate(gradient_graph.SecondOrderPlan.of(g, ["x", "y"]), point)
    for v in ("x", "y"):
        assert abs(float(r.grad[v]) - float(expected[v])) <= 1e-14 * abs(float(expected[v]))


@pytest.mark.slow
def test_a_100000_deep_expression_needs_no_recursion() -> None:
    depth = 100_000
    text = "sin(" * depth + "x" + ")" * depth
    r = second_order(text, {"x": 0.5})
    # sin∘...∘sin near its fixed point 0: f(x) ~ x/sqrt(1 + depth*x^2/3), so f'' is tiny but finite
    assert np.isfinite(r.hessian[0, 0])


def test_the_grouped_pass_is_chosen_for_wide_graphs_and_agrees() -> None:
    n = 50
    text = " + ".join(f"sin(x{i})*x{i + 1}" for i in range(n))
    g = parse_graph(text)
    plan = gradient_graph.SecondOrderPlan.of(g, list(g.variables))
    assert plan.level_plan() is not None  # wide: grouped
    rng = np.random.default_rng(3)
    point = {v: np.float64(x) for v, x in zip(g.variables, rng.standard_normal(n + 1))}
    h = gradient_graph.evaluate(plan, point).hessian
    x = np.array([float(point[f"x{i}"]) for i in range(n + 1)])
    expected = np.zeros((n + 1, n + 1))  # d2/dxi2 = -sin(xi) x(i+1); d2/dxi dx(i+1) = cos(xi)
    for i in range(n):
        expected[i, i] = -math.sin(x[i]) * x[i + 1]
        expected[i, i + 1] = expected[i + 1, i] = math.cos(x[i])
    assert_close(h, expected, 1e-15, 1e-300)
    chain = parse_graph("sin(" * 30 + "x" + ")" * 30)
    assert gradient_graph.SecondOrderPlan.of(chain, ["x"]).level_plan() is None  # narrow


@pytest.mark.parametrize("grouped", [True, False])
@pytest.mark.parametrize("points", [1, 3, gradient_graph.BY_DIRECTION_POINTS])
def test_a_nan_partial_never_reaches_a_direction_its_argument_lacks(
        grouped: bool, points: int) -> None:
    # x^y at x < 0 with whole y: the partial in y (x^y log x) is nan, yet d2/dx2 is real;
    # every tangent representation (grouped by level, a leading axis, by direction) keeps
    # the nan out of the directions of x
    text = "x^y + x*z^3 + u^v"
    at = {"x": -3.0, "y": 2.0, "z": 0.5, "u": -2.0, "v": 3.0}
    X, Y, Z, U, V = sp.symbols("x y z u v")
    e = X ** Y + X * Z ** 3 + U ** V
    names = ["x", "y", "z", "u", "v"]
    symbols = dict(zip(names, (X, Y, Z, U, V)))
    exact = {(a, b): sp.diff(e, symbols[a], symbols[b]).subs(
        {symbols[k]: sp.Rational(str(v)) for k, v in at.items()}) for a in names for b in names}
    point = at if points == 1 else {k: np.full(points, v) for k, v in at.items()}
    h = second_order(text, point, grouped=grouped).hessian.reshape(5, 5, -1)
    for r, a in enumerate(names):
        for c, b in enumerate(names):
            want = exact[(a, b)]
            if want.is_real and want.is_finite:  # the partials in y and v are not real
                assert np.allclose(h[r, c], float(want), rtol=1e-14, atol=0), (a, b)
            elif "y" not in (a, b) and "v" not in (a, b):
                raise AssertionError(f"SymPy's d2/d{a}d{b} is not real")


def test_many_points_at_once() -> None:
    g = parse_graph("x^2*y + sin(y)")
    plan = gradient_graph.SecondOrderPlan.of(g, ["x", "y"])
    xs, ys = np.linspace(-1, 1, 7), np.linspace(0, 3, 7)
    r = gradient_graph.evaluate(plan, {"x": xs, "y": ys})
    assert r.hessian.shape == (2, 2, 7)
    np.testing.assert_array_equal(r.hessian[0, 0], 2 * ys)
    np.testing.assert_array_equal(r.hessian[0, 1], 2 * xs)
    np.testing.assert_array_equal(r.hessian[1, 0], 2 * xs)
    np.testing.assert_array_equal(r.hessian[1, 1], -np.sin(ys))


def test_wrt_limits_the_rows_and_columns() -> None:
    r = second_order("x^2*y*z", {"x": 1.0, "y": 2.0, "z": 3.0}, wrt=["z", "x"])
    assert r.hessian.tolist() == [[0.0, 2 * 1.0 * 2.0], [2 * 1.0 * 2.0, 2 * 2.0 * 3.0]]


def test_the_module_behind_a_non_finite_second_derivative_is_named() -> None:
    from backprop.core.printer import to_text

    g = parse_graph("x^1.5 + y")
    plan = gradient_graph.SecondOrderPlan.of(g, ["x", "y"])
    r = gradient_graph.evaluate(plan, {"x": np.float64(0.0), "y": np.float64(1.0)})
    assert np.isfinite(float(r.grad["x"])) and not np.isfinite(r.hessian[0, 0])
    i = gradient_graph.first_non_finite(plan, r.vals)
    assert i is not None and to_text(g, i) == "x^1.5"


# ---- Jacobians of several outputs -----------------------------------------------------------

def test_choose_mode_takes_the_fewer_passes() -> None:
    assert choose_mode(1, 3) == REVERSE and choose_mode(2, 2) == REVERSE
    assert choose_mode(3, 2) == FORWARD


@pytest.mark.parametrize("mode", [REVERSE, FORWARD])
def test_jacobian_both_modes_match_sympy(mode: str) -> None:
    text = "x*y; x+y; sin(x)*exp(y); y"
    es = [X * Y, X + Y, sp.sin(X) * sp.exp(Y), Y]
    g = parse_graph(text, several=True)
    j = jacobian(JacobianPlan.of(g), {"x": np.float64(0.7), "y": np.float64(-0.4)}, ["x", "y"], mode)
    assert j.mode == mode
    subs = {X: sp.Float(0.7, 40), Y: sp.Float(-0.4, 40)}
    for k, e in enumerate(es):
        assert abs(float(j.values[k]) - float(e.evalf(40, subs=subs))) <= 1e-15
        for v, s in (("x", X), ("y", Y)):
            assert abs(float(j.grads[k][v]) - float(sp.diff(e, s).evalf(40, subs=subs))) <= 1e-15


def test_one_expression_is_expected_where_several_are_not_taken() -> None:
    from backprop.errors import ExpressionError

    with pytest.raises(ExpressionError, match="';' separates 2 expressions"):
        parse_graph("x*y; x+y")


@given(expr=expressions())
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_many_points_direction_by_direction_match_sympy(expr: tuple[str, sp.Expr, int]) -> None:
    # at >= BY_DIRECTION_POINTS points the tangents are kept direction by direction
    text, e, n = expr
    names = list(NAMES[:n])
    rng = np.random.default_rng(5)
    m = gradient_graph.BY_DIRECTION_POINTS + 3
    pts = {v: rng.uniform(-2, 2, m) for v in names}
    g = parse_graph(text)
    plan = gradient_graph.SecondOrderPlan.of(g, names)
    h = gradient_graph.evaluate(plan, pts).hessian
    assert h.shape == (n, n, m)
    for k in (0, m // 2, m - 1):
        expected = sympy_hessian(e, list(SYMS[:n]), {SYMS[i]: float(pts[v][k]) for i, v in enumerate(names)})
        if not np.all(np.isfinite(expected)) or np.max(np.abs(expected)) > 1e12:
            continue
        scale = max(1.0, float(np.max(np.abs(expected))))
        assert_close(h[:, :, k], expected, 1e-9, 1e-11 * scale)


# ---- the passes on Python floats at one point ---------------------------------------------

@pytest.mark.parametrize("text, point", [
    ("x^2*y + sin(y)", {"x": 1.0, "y": 2.0}),
    ("x^2 + y^2", {"x": -1.0, "y": -3.0}),  # off the diagonal: 0.0, not -0.0
    ("exp(-x*y) / (1 + x^2)", {"x": -0.7, "y": 1.3}),
    ("relu(x - y) * x + abs(y) * y", {"x": 2.0, "y": -1.0}),
    ("sqrt(x)*log(y) + x^3", {"x": 4.0, "y": 0.5}),
])
def test_float_passes_give_what_the_numpy_passes_give(text: str, point: dict[str, float]) -> None:
    from backprop.core import gradient_graph

    f = parse(text)
    names = list(point)
    plan = f._second_order_plan(names)
    floats = gradient_graph.evaluate_floats(plan, point)
    assert floats is not None
    so = gradient_graph.evaluate(plan, {k: np.float64(v) for k, v in point.items()})
    value, grad, h = floats
    assert value == float(so.value)
    assert grad == [float(so.grad[v]) for v in names]
    want = np.asarray(so.hessian, dtype=np.float64)
    got = np.array(h)
    assert np.array_equal(got, want)
    assert np.array_equal(np.signbit(got), np.signbit(want))  # no -0.0 of its own


@pytest.mark.parametrize("text, point", [
    ("log(x)*y", {"x": 0.0, "y": 2.0}),     # math raises: numpy's inf and nan answer
    ("exp(x)^3 * y", {"x": 400.0, "y": 1.0}),  # overflows in the passes
    ("sqrt(x) + y", {"x": 0.0, "y": 1.0}),  # a finite value, an infinite derivative
])
def test_float_passes_hand_a_singular_point_to_numpys(text: str, point: dict[str, float]) -> None:
    from backprop.core import gradient_graph

    f = parse(text)
    names = list(point)
    assert gradient_graph.evaluate_floats(f._second_order_plan(names), point) is None
    with np.errstate(all="ignore"):
        value, grad, h = f._value_grad_hessian_at(point, names)
        so = gradient_graph.evaluate(f._second_order_plan(names),
                                     {k: np.float64(v) for k, v in point.items()})
    assert np.array_equal(np.array([value, *grad]),
                          np.array([float(so.value), *(float(so.grad[v]) for v in names)]),
                          equal_nan=True)
    assert np.array_equal(h, np.asarray(so.hessian, dtype=np.float64), equal_nan=True)


def test_points_typed_one_by_one_take_the_float_passes(monkeypatch) -> None:
    # hessian --at x=..,y=.. (a PointStream with ``given``), as grad --at takes them
    from backprop.core import gradient_graph
    from backprop.core.points import PointStream

    f = parse("x^2*y + exp(-x*y)")
    given = [{"x": 1.0, "y": 2.0}, {"x": -0.5, "y": 0.25}]
    want = [gradient_graph.evaluate_floats(f._second_order_plan(["x", "y"]), p) for p in given]

    def numpy_passes(*args: object, **kwargs: object) -> None:
        raise AssertionError("numpy's passes ran")

    monkeypatch.setattr(gradient_graph, "evaluate", numpy_passes)
    (block,) = list(f.stream(PointStream([], given=given), ["x", "y"], order=2))
    for r, (value, grad, h) in enumerate(want):
        assert block.value[r] == value and block.grad[r].tolist() == grad
        assert block.hessian[r].tolist() == h
    value, grad, h = f.hessian(x=1.0, y=2.0)  # the API at one point of floats, too
    assert (value, [grad["x"], grad["y"]], h.tolist()) == want[0]


def test_typed_points_go_to_numpys_passes_where_floats_cannot_answer() -> None:
    from backprop.core.points import PointStream

    f = parse("log(x)*y")
    given = [{"x": 1.0, "y": 2.0}, {"x": 0.0, "y": 2.0}]  # the second: log 0
    (block,) = list(f.stream(PointStream([{"x": np.array([1.0, 0.0]),
                                                   "y": np.array([2.0, 2.0])}], given=given),
                                     ["x", "y"]))
    assert block.value[0] == 0.0 and block.value[1] == -np.inf
    assert block.diagnosis() is not None  # numpy's block, with its diagnosis
    # past FLOAT_DIRECTIONS variables, numpy's grouped pass (faster there)
    from backprop.core import gradient_graph

    n = gradient_graph.FLOAT_DIRECTIONS + 1
    g = parse(" + ".join(f"sin(w{i})*w{i % n + 1}" for i in range(1, n + 1)))
    point = {v: 0.1 * (k + 1) for k, v in enumerate(g.variables)}
    assert g._float_hessians([point], list(g.variables)) is None

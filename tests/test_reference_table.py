"""One reference table: every row of the table of primitives against SymPy, on every pass.

For each primitive, SymPy's own function and a few points inside its domain. At
each point the value, the first and the second derivative from SymPy (evaluated
at 40 digits) are compared with: numpy's passes over arrays, the passes at one
point of Python floats, forward mode, the complex step (where the function is
analytic), the Hessian's passes, the formula ``diff`` prints and the derivative
template itself (simplified against SymPy's derivative). A new primitive fails
the first test until it has a row here.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp

from backprop import parse
from backprop.core.ops import PRIMITIVES
from backprop.symbolic import diff_text

X, Y = sp.symbols("x y", real=True)

# name: (SymPy's function, points inside the domain, analytic at those points)
ONE_ARGUMENT: dict[str, tuple] = {
    "neg": (lambda u: -u, [-2.0, 0.5], True),
    "sin": (sp.sin, [-2.5, 0.3, 7.0], True), "cos": (sp.cos, [-2.5, 0.3, 7.0], True),
    "tan": (sp.tan, [-1.2, 0.3, 1.4], True),
    "asin": (sp.asin, [-0.9, 0.2, 0.75], True), "acos": (sp.acos, [-0.9, 0.2, 0.75], True),
    "atan": (sp.atan, [-30.0, 0.2, 4.0], True),
    "sinh": (sp.sinh, [-3.0, 0.1, 2.5], True), "cosh": (sp.cosh, [-3.0, 0.1, 2.5], True),
    "tanh": (sp.tanh, [-12.0, 0.1, 2.5, 20.0], True),
    "asinh": (sp.asinh, [-30.0, 0.2, 4.0], True), "acosh": (sp.acosh, [1.0001, 1.5, 30.0], True),
    "atanh": (sp.atanh, [-0.9, 0.2, 0.999], True),
    "exp": (sp.exp, [-5.0, 0.0, 3.3], True), "log": (sp.log, [0.01, 1.5, 300.0], True),
    "log2": (lambda u: sp.log(u, 2), [0.01, 1.5, 300.0], True),
    "log10": (lambda u: sp.log(u, 10), [0.01, 1.5, 300.0], True),
    "log1p": (lambda u: sp.log(1 + u), [-0.9, 1e-12, 0.5, 300.0], True),
    "expm1": (lambda u: sp.exp(u) - 1, [-5.0, -1e-12, 1e-9, 3.3], True),
    "cbrt": (lambda u: sp.sign(u) * sp.Abs(u) ** sp.Rational(1, 3), [-27.0, 1e-9, 0.5, 8.0],
             True),
    "sqrt": (sp.sqrt, [0.04, 2.0, 1e4], True),
    "abs": (sp.Abs, [-3.5, 0.25, 9.0], True),
    "sigmoid": (lambda u: 1 / (1 + sp.exp(-u)), [-40.0, -1.0, 0.5, 20.0, 40.0], True),
    "softplus": (lambda u: sp.log(1 + sp.exp(u)), [-40.0, -1.0, 0.5, 20.0, 40.0], True),
    "relu": (lambda u: sp.Max(u, 0), [-2.0, 0.5, 3.0], True),
    "sign": (sp.sign, [-2.0, 3.0], True), "step": (lambda u: sp.Heaviside(u, 0), [-2.0, 3.0], True),
}
TWO_ARGUMENTS: dict[str, tuple] = {
    "add": (lambda u, v: u + v, "x + y"), "sub": (lambda u, v: u - v, "x - y"),
    "mul": (lambda u, v: u * v, "x*y"), "div": (lambda u, v: u / v, "x/y"),
    "pow": (sp.Pow, "x^y"), "max": (sp.Max, "max(x, y)"), "min": (sp.Min, "min(x, y)"),
    "atan2": (sp.atan2, "atan2(x, y)"),
    "hypot": (lambda u, v: sp.sqrt(u ** 2 + v ** 2), "hypot(x, y)"),
}
TWO_POINTS = [(1.5, -2.25), (0.7, 3.0), (2.0, 0.5), (4.0, -1.0)]


def test_every_primitive_has_a_row() -> None:
    assert set(PRIMITIVES) == set(ONE_ARGUMENT) | set(TWO_ARGUMENTS)


def _exact(e: sp.Expr, point: dict[sp.Symbol, float]) -> float:
    return float(e.evalf(40, subs={s: sp.Float(v, 40) for s, v in point.items()}))


def close(a: float, b: float, rtol: float = 1e-13, atol: float = 1e-300) -> bool:
    return abs(a - b) <= atol + rtol * abs(b)


def _text(name: str) -> str:
    return "-x" if name == "neg" else f"{name}(x)"


def _passes(text: str, point: dict[str, float], analytic: bool) -> dict[str, tuple[float, list]]:
    """(value, gradient) from each pass at ``point``."""
    f = parse(text)
    names = list(f.variables)
    arrays = {k: np.array([v, v]) for k, v in point.items()}
    out: dict[str, tuple[float, list]] = {}
    v, g = f.value_and_grad(**point)
    out["floats"] = (float(v), [float(g[n]) for n in names])
    v, g = f.value_and_grad(**arrays)
    out["arrays"] = (float(v[0]), [float(g[n][0]) for n in names])
    g = f.forward_mode_grad(**arrays)
    out["forward mode"] = (float(v[0]), [float(g[n][0]) for n in names])
    g = f.forward_mode_grad(**point)  # one point of floats: the float tangent pass
    out["forward mode, floats"] = (float(v[0]), [float(g[n]) for n in names])
    if analytic:
        g = f.complex_step_grad(**arrays)
        out["complex step"] = (float(v[0]), [float(g[n][0]) for n in names])
    for n in names:
        formula = parse(diff_text(text, n))
        env = {k: arrays[k] for k in formula.variables}
        d = formula._forward(**env)[formula.graph.output]
        out[f"diff --wrt {n}"] = (math.nan, [float(np.ravel(d)[0])])
    return out


def _second(text: str, point: dict[str, float]) -> tuple[list, list]:
    f = parse(text)
    _, _, h1 = f.hessian(**point)
    _, _, h2 = f.hessian(**{k: np.array([v, v]) for k, v in point.items()})
    return np.asarray(h1).tolist(), np.asarray(h2)[..., 0].tolist()


def _check(text: str, expr: sp.Expr, point: dict[str, float], analytic: bool) -> None:
    syms = [s for s in (X, Y) if str(s) in point]
    at = {s: point[str(s)] for s in syms}
    value = _exact(expr, at)
    grad = [_exact(sp.diff(expr, s), at) for s in syms]
    hess = [[_exact(sp.diff(expr, s, t), at) for t in syms] for s in syms]
    f = parse(text)
    order = [str(s) for s in syms]
    perm = [order.index(n) for n in f.variables]
    for name, (v, g) in _passes(text, point, analytic).items():
        if name.startswith("diff"):
            k = order.index(name.split()[-1])
            assert close(g[0], grad[k], 1e-12), (text, point, name, g[0], grad[k])
            continue
        assert close(v, value), (text, point, name, v, value)
        rtol = 1e-12 if name != "complex step" else 1e-13
        for m, k in enumerate(perm):
            assert close(g[m], grad[k], rtol), (text, point, name, g, grad)
    for h in _second(text, point):
        for a, ka in enumerate(perm):
            for b, kb in enumerate(perm):
                assert close(h[a][b], hess[ka][kb], 1e-11, 1e-290), (text, point, h, hess)


@pytest.mark.parametrize("name", sorted(ONE_ARGUMENT))
def test_functions_of_one_argument(name: str) -> None:
    fn, points, analytic = ONE_ARGUMENT[name]
    for x in points:
        _check(_text(name), fn(X), {"x": x}, analytic and name not in ("abs", "relu", "sign",
                                                                       "step") or
               (name in ("abs", "relu", "sign", "step") and x != 0))


@pytest.mark.parametrize("name", sorted(TWO_ARGUMENTS))
def test_functions_of_two_arguments(name: str) -> None:
    fn, text = TWO_ARGUMENTS[name]
    for x, y in TWO_POINTS:
        if name == "pow" and x < 0:
            x = -x
        _check(text, fn(X, Y), {"x": x, "y": y}, True)


@pytest.mark.parametrize("name", sorted(PRIMITIVES))
def test_the_derivative_template_is_sympys_derivative(name: str) -> None:
    prim = PRIMITIVES[name]
    u, v = sp.symbols("x y", positive=True)
    if name in ONE_ARGUMENT:
        expr = ONE_ARGUMENT[name][0](u)
    else:
        expr = TWO_ARGUMENTS[name][0](u, v)
    local = {"hypot": lambda a, b: sp.sqrt(a ** 2 + b ** 2), "cbrt": sp.cbrt,
             "sigmoid": lambda a: 1 / (1 + sp.exp(-a)), "step": lambda a: sp.Heaviside(a, 0),
             "log2": lambda a: sp.log(a, 2), "log10": lambda a: sp.log(a, 10), "x": u, "y": v}
    for k, template in enumerate(prim.derivative):
        got = sp.sympify(template.replace("^", "**"), locals=local)
        want = sp.diff(expr, (u, v)[k])
        if name in ("abs", "relu", "sign", "step", "max", "min"):
            # a kink: compare on each side, where the function is smooth
            for at in ({u: sp.Rational(3, 2), v: sp.Rational(1, 2)},
                       {u: sp.Rational(1, 3), v: sp.Rational(5, 2)}):
                assert sp.simplify(got.subs(at) - want.subs(at)) == 0, (name, k, template)
            continue
        assert sp.simplify(got - want) == 0, (name, k, template)


@pytest.mark.parametrize("name", ["log1p", "expm1", "cbrt", "hypot"])
def test_a_new_primitive_is_named_in_one_module_of_src(name: str) -> None:
    import pathlib

    # the name as a string of the program (a key, a case), not math.hypot or prose
    src = pathlib.Path(__file__).resolve().parents[1] / "src"
    holders = {str(p.relative_to(src)) for p in src.rglob("*")
               if p.is_file() and p.suffix in (".py", ".html", ".lark", ".js", ".css")
               and any(f"{q}{name}{q}" in p.read_text(encoding="utf-8") for q in "\"'`")}
    assert holders == {"backprop/core/ops.py"}, holders


def test_tiny_arguments_keep_their_digits() -> None:
    # the reason log1p and expm1 exist: log(1 + 1e-20) would be 0
    v, g = parse("log1p(x) + expm1(x)").value_and_grad(x=1e-20)
    assert v == 2e-20 and g["x"] == 2.0
    v, g = parse("cbrt(x)").value_and_grad(x=-8.0)
    assert v == -2.0 and close(g["x"], 1.0 / 12.0, 1e-15)

"""One reference table: every row of the table of primitives against SymPy, on every pass.

Each row gives SymPy's own function and points inside its domain, its tails and edges
included (sigmoid at +-40, tanh at 20, asinh at 1e200, atanh at 0.999). At each point
the value, the first and the second derivatives from SymPy (the point's exact binary
fraction put in, then 40 digits; an entry SymPy finds complex, such as d/dy x^y at
x < 0, is not compared) are compared with every pass of the program:

- reverse mode at one point of Python floats, its trace, over arrays, and over a large
  batch in blocks over two threads;
- forward mode at one point and over arrays; the Jacobian of two outputs in both modes;
- the complex step on Python complex numbers (as ``compare`` runs it), at a point of
  numpy's numbers and over arrays;
- the symbolic derivative ``diff`` prints, evaluated;
- the Hessian at one point, over arrays, over a large batch (direction by direction, in
  blocks), and the second partials ``diff --hessian`` prints;
- all of it again under ``angle="deg"`` for the rows that take or give an angle.

Each row also sweeps its domain: the passes at one point (the math module) give what
numpy's passes over arrays give, to a few units in the last place, at 400 points; each
smooth row's Richardson extrapolation is within its own estimate and 1e-9; and each
row's derivative template is SymPy's derivative. x^y at a negative base (a whole
exponent) is a strict xfail: two passes give nan there. A new primitive fails the first
test until it has a row here. Other test files take SymPy's functions from ``SYMPY``
and the language's translation to SymPy from ``to_sympy``: no second table.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pytest
import sympy as sp
from sympy.parsing.sympy_parser import convert_xor, parse_expr, standard_transformations

from backprop import parse, parse_vector
from backprop.core.ops import PRIMITIVES
from backprop.symbolic import diff_expression, diff_text

X, Y, Z = sp.symbols("x y z", real=True)
SYMBOLS = {"x": X, "y": Y, "z": Z}
DEG = sp.pi / 180


@dataclass(frozen=True)
class Row:
    """One primitive: SymPy's function, points inside its domain, the interval its
    domain sweep draws from (one argument), and "in" if it takes an angle, "out" if it
    gives one (then ``angle="deg"`` scales it, at ``deg_points``)."""

    sympy: Callable[..., sp.Expr]
    points: tuple[Any, ...]
    domain: tuple[float, float] = (-20.0, 20.0)
    angle: str = ""
    deg_points: tuple[Any, ...] = ()


WIDE = (-30.0, -2.5, -0.4, 0.0, 0.3, 1.7, 25.0)  # where a function of the whole line is smooth
LOGS = (0.01, 0.7, 1.5, 3.0, 250.0, 300.0)
TAILS = (-40.0, -30.0, -2.5, -1.0, -0.4, 0.0, 0.3, 0.5, 1.7, 20.0, 25.0, 40.0)

ONE_ARGUMENT: dict[str, Row] = {
    "neg": Row(lambda u: -u, (-2.0, 0.5)),
    "sin": Row(sp.sin, (*WIDE, 7.0), angle="in", deg_points=(30.0, -150.0)),
    "cos": Row(sp.cos, (*WIDE, 7.0), angle="in", deg_points=(60.0, -150.0)),
    "tan": Row(sp.tan, (*WIDE, -1.2, 1.4), (-1.5, 1.5), angle="in", deg_points=(20.0, -80.0)),
    "asin": Row(sp.asin, (-0.9, -0.3, 0.2, 0.75, 0.95), (-0.99, 0.99), angle="out",
                deg_points=(0.5, -0.9)),
    "acos": Row(sp.acos, (-0.9, -0.3, 0.2, 0.75, 0.95), (-0.99, 0.99), angle="out",
                deg_points=(0.5, -0.9)),
    "atan": Row(sp.atan, (*WIDE, 0.2, 4.0), angle="out", deg_points=(2.0, -30.0)),
    "sinh": Row(sp.sinh, (*WIDE, -3.0, 0.1, 2.5)),
    "cosh": Row(sp.cosh, (*WIDE, -3.0, 0.1, 2.5)),
    "tanh": Row(sp.tanh, (*WIDE, -12.0, 0.1, 2.5, 20.0)),
    "asinh": Row(sp.asinh, (-30.0, -3.0, -0.2, 0.0, 0.2, 0.7, 4.0, 40.0, 1e200)),
    "acosh": Row(sp.acosh, (1.0001, 1.5, 7.0, 30.0, 1e200), (1.01, 50.0)),
    "atanh": Row(sp.atanh, (-0.99, -0.9, -0.6, -0.3, 0.0, 0.2, 0.5, 0.9, 0.999), (-0.99, 0.99)),
    "exp": Row(sp.exp, (*WIDE, -5.0, 3.3)),
    "log": Row(sp.log, LOGS, (0.01, 100.0)),
    "log2": Row(lambda u: sp.log(u, 2), LOGS, (0.01, 100.0)),
    "log10": Row(lambda u: sp.log(u, 10), LOGS, (0.01, 100.0)),
    "log1p": Row(lambda u: sp.log(1 + u), (-0.9, 1e-12, 0.5, 300.0), (-0.99, 100.0)),
    "expm1": Row(lambda u: sp.exp(u) - 1, (-5.0, -1e-12, 1e-9, 3.3)),
    "cbrt": Row(lambda u: sp.sign(u) * sp.Abs(u) ** sp.Rational(1, 3), (-27.0, 1e-9, 0.5, 8.0)),
    "sqrt": Row(sp.sqrt, (1e-6, 0.04, 0.7, 2.0, 3.0, 250.0, 1e4), (0.01, 100.0)),
    "abs": Row(sp.Abs, (-3.5, 0.25, 9.0)),
    "sigmoid": Row(lambda u: 1 / (1 + sp.exp(-u)), TAILS),
    "softplus": Row(lambda u: sp.log(1 + sp.exp(u)), TAILS),
    "relu": Row(lambda u: sp.Max(u, 0), (-2.0, 0.5, 3.0)),
    "sign": Row(sp.sign, (-2.0, 3.0)),
    "step": Row(lambda u: sp.Heaviside(u, 0), (-2.0, 3.0)),
}
# (x, y) on both sides of every line a function of two arguments bends or breaks at
TWO_POINTS = ((1.5, -2.25), (0.7, 3.0), (2.0, 0.5), (4.0, -1.0), (-3.0, 2.0), (0.3, -1.5),
              (1.7, 2.3), (-2.0, -1.0), (3.0, -7.0), (-1.5, 4.0), (0.7, 1.3), (-2.0, 3.0),
              (2.5, 0.5))
TWO_ARGUMENTS: dict[str, tuple[str, Row]] = {
    "add": ("x + y", Row(lambda u, v: u + v, TWO_POINTS)),
    "sub": ("x - y", Row(lambda u, v: u - v, TWO_POINTS)),
    "mul": ("x*y", Row(lambda u, v: u * v, TWO_POINTS)),
    "div": ("x/y", Row(lambda u, v: u / v, TWO_POINTS)),
    "pow": ("x^y", Row(sp.Pow, (*((abs(x), y) for x, y in TWO_POINTS), (1.7, -2.0), (2.0, 0.0)))),
    "max": ("max(x, y)", Row(sp.Max, (*TWO_POINTS, (0.7, 0.7 + 1e-3)))),
    "min": ("min(x, y)", Row(sp.Min, (*TWO_POINTS, (0.7, 0.7 + 1e-3)))),
    "atan2": ("atan2(x, y)", Row(sp.atan2, (*TWO_POINTS, (0.5, 0.0), (5.0, 0.0), (1.0, 2.0),
                                            (-2.0, -2.0), (-1.5, 0.5), (0.3, -4.0)), angle="out",
                                 deg_points=((1.0, 1.0), (-1.5, 0.5), (0.3, -4.0)))),
    "hypot": ("hypot(x, y)", Row(lambda u, v: sp.sqrt(u ** 2 + v ** 2), TWO_POINTS)),
}

# SymPy's function of every primitive, by name: the other test files' oracle
SYMPY: dict[str, Callable[..., sp.Expr]] = {
    **{name: row.sympy for name, row in ONE_ARGUMENT.items()},
    **{name: row.sympy for name, (_, row) in TWO_ARGUMENTS.items()},
}


def to_sympy(text: str) -> sp.Expr:
    """An expression of the language (x, y, z; e, pi; the table's functions) in SymPy."""
    return parse_expr(text, local_dict={**SYMPY, **SYMBOLS, "e": sp.E, "pi": sp.pi},
                      transformations=standard_transformations + (convert_xor,))


def test_every_primitive_has_a_row() -> None:
    assert set(PRIMITIVES) == set(ONE_ARGUMENT) | set(TWO_ARGUMENTS)


# ---- the passes ----------------------------------------------------------------------------

BATCH = 2 ** 15  # points of a large batch: above the size where the passes go block by block
# The largest relative error allowed against SymPy: a few roundings (the numeric passes
# are within 4e-15 on x86-64 with glibc; the margin is for other CPUs' and libms' last
# bits). The formulas diff prints are evaluated as printed: atanh' at 0.999 there is off
# by 1.4e-14, atanh'' by 4e-12.
RTOL = {"value": 1e-14, "grad": 1e-14, "hessian": 1e-13, "diff": 1e-13, "diff --hessian": 1e-11}
ATOL = 1e-300  # derivatives that underflow (sigmoid' at -40 is 4e-18; tanh' at 25, 7e-22)


def _complex_step_at_one_point() -> Callable[..., Any]:
    from backprop.methods.numeric import complex_step

    return complex_step


@dataclass
class Expected:
    value: float | None
    grad: list[float | None]
    hessian: list[list[float | None]]


def _exact(e: sp.Expr, at: dict[sp.Symbol, float]) -> float | None:
    """``e`` at ``at`` as a float: the point's exact binary fractions put in (so that an
    exact 0, sigmoid'' at 0, comes out as 0), then 40 digits; None where the result is not
    a real number."""
    try:
        return float(e.subs({s: sp.Rational(v) for s, v in at.items()}).evalf(40))
    except TypeError:  # complex, or no number (zoo)
        return None


def _row(name: str) -> Row:
    return ONE_ARGUMENT[name] if name in ONE_ARGUMENT else TWO_ARGUMENTS[name][1]


@functools.lru_cache(maxsize=None)
def _expected(name: str, angle: str, point: tuple[float, ...]) -> Expected:
    row = _row(name)
    syms = [X] if name in ONE_ARGUMENT else [X, Y]
    args = [s * DEG if angle == "deg" and row.angle == "in" else s for s in syms]
    expr = row.sympy(*args)
    if angle == "deg" and row.angle == "out":
        expr = expr / DEG
    at = dict(zip(syms, point))
    return Expected(_exact(expr, at), [_exact(sp.diff(expr, s), at) for s in syms],
                    [[_exact(sp.diff(expr, s, t), at) for t in syms] for s in syms])


def _text(name: str) -> str:
    if name in TWO_ARGUMENTS:
        return TWO_ARGUMENTS[name][0]
    return "-x" if name == "neg" else f"{name}(x)"


Pass = Callable[[dict[str, float]], tuple[float | None, list[float]]]


def _first_order(text: str, angle: str, points: list[tuple[float, ...]]
                 ) -> dict[str, list[tuple[float | None, list[float]]]]:
    """(value, gradient) from each first-order pass at each point (value None: the pass
    gives no value)."""
    f = parse(text, angle=angle)
    names = list(f.variables)
    complex_step = _complex_step_at_one_point()
    two = parse_vector(f"{text}; x", angle=angle)  # the Jacobian of f and x
    formulas = [parse(diff_text(text, n, angle=angle)) for n in names]  # printed, parsed back

    def pair(p: dict[str, float]) -> dict[str, np.ndarray]:
        return {n: np.array([v, v]) for n, v in p.items()}

    def first(g: dict[str, Any]) -> list[float]:
        return [float(np.ravel(g[n])[0]) for n in names]

    def reverse_floats(p: dict[str, float]) -> tuple[float | None, list[float]]:
        value, grad = f.value_and_grad(**p)
        return value, first(grad)

    def trace(p: dict[str, float]) -> tuple[float | None, list[float]]:
        t = f.trace(p)
        return t.value, first(t.grad)

    def reverse_arrays(p: dict[str, float]) -> tuple[float | None, list[float]]:
        value, grad = f.value_and_grad(**pair(p))
        return float(value[0]), first(grad)

    def jacobian(mode: str) -> Pass:
        def run(p: dict[str, float]) -> tuple[float | None, list[float]]:
            values, grads = two.jacobian(mode=mode, **p)
            return float(values[0]), first(grads[0])
        return run

    def diff(p: dict[str, float]) -> tuple[float | None, list[float]]:
        return None, [float(d(**{k: p[k] for k in d.variables})) for d in formulas]

    passes: dict[str, Pass] = {
        "reverse mode, floats": reverse_floats,
        "trace": trace,
        "reverse mode, arrays": reverse_arrays,
        "forward mode, floats": lambda p: (None, first(f.forward_mode_grad(**p))),
        "forward mode, arrays": lambda p: (None, first(f.forward_mode_grad(**pair(p)))),
        "complex step, floats (compare's)": lambda p: (None, first(complex_step(f, p).grad)),
        "complex step, numpy scalars": lambda p: (None, first(f.complex_step_grad(**p))),
        "complex step, arrays": lambda p: (None, first(f.complex_step_grad(**pair(p)))),
        "Jacobian, reverse mode": jacobian("reverse"),
        "Jacobian, forward mode": jacobian("forward"),
        "diff": diff,
    }
    at = [dict(zip(names, p)) for p in points]
    out = {label: [run(p) for p in at] for label, run in passes.items()}
    # a large batch: every point many times over, in blocks over two threads
    batch = {n: np.resize(np.array([p[k] for p in points]), BATCH)
             for k, n in enumerate(names)}
    g = f.gradients(batch, threads=2)
    out["reverse mode, blocks over threads"] = [
        (float(g.value[k]), [float(g.grad[n][k]) for n in names]) for k in range(len(points))]
    return out


def _second_order(text: str, angle: str, points: list[tuple[float, ...]]
                  ) -> dict[str, list[list[list[float]]]]:
    f = parse(text, angle=angle)
    names = list(f.variables)
    out: dict[str, list[Any]] = {"Hessian, floats": [], "Hessian, arrays": [],
                                 "diff --hessian": []}
    entries = diff_expression(text, hessian=True, angle=angle).derivatives.values()
    partials = {tuple(d.names): parse(d.text()) for d in entries}
    for p in points:
        at = dict(zip(names, p))
        out["Hessian, floats"].append(np.asarray(f.hessian(**at)[2]).tolist())
        h = f.hessian(**{n: np.array([v, v]) for n, v in at.items()})[2]
        out["Hessian, arrays"].append(np.asarray(h)[..., 0].tolist())
        sym = [[math.nan] * len(names) for _ in names]
        for (u, v), d in partials.items():
            value = float(d(**{k: at[k] for k in d.variables}))
            sym[names.index(u)][names.index(v)] = sym[names.index(v)][names.index(u)] = value
        out["diff --hessian"].append(sym)
    batch = {n: np.resize(np.array([p[k] for p in points]), BATCH)
             for k, n in enumerate(names)}
    hs = f.hessians(batch, threads=2)
    out["Hessian, large batch"] = [hs.hessian[k].tolist() for k in range(len(points))]
    return out


def _close(got: float, want: float | None, rtol: float, scale: float = 0.0) -> bool:
    """``got`` within ``rtol`` of ``want``; an exact 0 within ``rtol`` of ``scale`` (the
    largest entry beside it: a sum that cancels to 0 exactly in SymPy's rationals leaves
    the roundings of its terms in float64)."""
    if want is None:
        return True  # SymPy's is complex: no real number to compare
    if math.isinf(want):
        return got == want
    return abs(got - want) <= ATOL + rtol * (abs(want) if want != 0.0 else scale)


def _largest(values: list[float | None]) -> float:
    return max((abs(v) for v in values if v is not None and math.isfinite(v)), default=0.0)


def _mismatches(name: str, angle: str, points: list[tuple[float, ...]]) -> list[str]:
    """Every entry of every pass that is not SymPy's, described."""
    text = _text(name)
    wrong = []
    for label, results in _first_order(text, angle, points).items():
        for p, (value, grad) in zip(points, results):
            want = _expected(name, angle, p)
            if value is not None and not _close(value, want.value, RTOL["value"]):
                wrong.append(f"{label}: value at {p} is {value!r}, SymPy's {want.value!r}")
            for k, (d, w) in enumerate(zip(grad, want.grad)):
                if not _close(d, w, RTOL["diff" if label == "diff" else "grad"],
                              _largest(want.grad)):
                    wrong.append(f"{label}: d/d{'xy'[k]} at {p} is {d!r}, SymPy's {w!r}")
    for label, results in _second_order(text, angle, points).items():
        for p, h in zip(points, results):
            want = _expected(name, angle, p)
            scale = _largest([w for row in want.hessian for w in row])
            rtol = RTOL["diff --hessian" if label == "diff --hessian" else "hessian"]
            for a, row in enumerate(h):
                for b, d in enumerate(row):
                    if not _close(d, want.hessian[a][b], rtol, scale):
                        wrong.append(f"{label}: d2/d{'xy'[a]}d{'xy'[b]} at {p} is {d!r}, "
                                     f"SymPy's {want.hessian[a][b]!r}")
    return wrong


def _points(row: Row, deg: bool) -> list[tuple[float, ...]]:
    return [p if isinstance(p, tuple) else (p,) for p in (row.deg_points if deg else row.points)]


@pytest.mark.parametrize("name", sorted(SYMPY))
def test_every_pass_gives_sympys_value_and_derivatives(name: str) -> None:
    wrong = _mismatches(name, "rad", _points(_row(name), False))
    assert not wrong, "\n".join([f"{name}: {len(wrong)} entries differ from SymPy's", *wrong])


@pytest.mark.parametrize("name", sorted(n for n in SYMPY if _row(n).angle))
def test_in_degrees_the_angle_is_scaled_on_every_pass(name: str) -> None:
    wrong = _mismatches(name, "deg", _points(_row(name), True))
    assert not wrong, "\n".join([f"{name} in degrees: {len(wrong)} entries differ", *wrong])


# x^y at a negative base with a whole exponent: its value and partial in x are real (the
# partial in y, x^y log x, is not, and is not compared), on every pass: a dense tangent
# never multiplies the nan partial in y into the direction of x
NEGATIVE_BASES = [(-3.0, 2.0), (-2.0, -1.0), (-1.5, 4.0), (-2.0, 3.0)]


def test_a_negative_base_with_a_whole_exponent_on_every_pass() -> None:
    wrong = _mismatches("pow", "rad", NEGATIVE_BASES)
    assert not wrong, "\n".join([f"x^y at a negative base: {len(wrong)} entries differ", *wrong])


def test_in_degrees_the_other_functions_are_unchanged() -> None:
    for name in sorted(n for n in SYMPY if not _row(n).angle):
        p = _points(_row(name), False)[0]
        f = parse(_text(name), angle="deg")
        value, grad = f.value_and_grad(**dict(zip(f.variables, p)))
        want = _expected(name, "rad", p)
        assert _close(value, want.value, RTOL["value"]), name
        assert all(_close(grad[v], w, RTOL["grad"]) for v, w in zip(f.variables, want.grad)), name


# ---- the domain sweep: the passes at one point against numpy's over arrays -------------------

ULPS = 8  # a partial is up to three roundings of an elementary function apart


def _ulps_apart(a: float, b: float) -> bool:
    return a == b or abs(a - b) <= ULPS * math.ulp(max(abs(a), abs(b)))


def _agree(text: str, points: dict[str, np.ndarray]) -> None:
    f = parse(text)
    names = list(f.variables)
    value, grad = f.value_and_grad(**points)  # numpy's passes over arrays
    tangent = f.forward_mode_grad(**points)
    for r in range(len(value)):
        at = {n: float(points[n][r]) for n in names}
        v, g = f.value_and_grad(**at)  # the passes at one point of Python floats
        t = f.forward_mode_grad(**at)
        assert _ulps_apart(v, float(value[r])), (text, at, v, value[r])
        for n in names:
            assert _ulps_apart(g[n], float(grad[n][r])), (text, n, at, g[n], grad[n][r])
            assert _ulps_apart(float(t[n]), float(tangent[n][r])), (text, n, at, t[n])


@pytest.mark.parametrize("name", sorted(n for n in ONE_ARGUMENT if n != "neg"))
def test_one_point_passes_agree_with_numpys_over_the_domain(name: str) -> None:
    lo, hi = ONE_ARGUMENT[name].domain
    x = np.random.default_rng(7).uniform(lo, hi, 400)
    x = x[np.abs(x) > 1e-3]  # away from the kinks of abs, relu, sign, step and cbrt
    _agree(f"{name}(x)", {"x": x})
    _agree(f"{name}(x)^3", {"x": x})  # a chain, well conditioned: no cancelling sum


@pytest.mark.parametrize("name", sorted(TWO_ARGUMENTS))
def test_one_point_passes_of_two_arguments_agree_with_numpys(name: str) -> None:
    rng = np.random.default_rng(11)
    x, y = rng.uniform(0.1, 5.0, 400), rng.uniform(-3.0, 3.0, 400)
    y = np.where(np.abs(y) < 1e-2, 0.5, y)
    _agree(TWO_ARGUMENTS[name][0], {"x": x, "y": y})


# ---- Richardson extrapolation (compare's) on the smooth rows -----------------------------------

# a kink, or cbrt's infinite slope at 0, within the steps is no place for finite differences
SMOOTH = sorted(n for n in ONE_ARGUMENT if n not in ("neg", "abs", "relu", "sign", "step", "cbrt"))


@pytest.mark.parametrize("name", SMOOTH)
def test_richardson_is_within_its_estimate_and_1e_9(name: str) -> None:
    from backprop.methods.numeric import RICHARDSON_FIRST_STEP, richardson

    f = parse(f"{name}(x)")
    checked = 0
    for x in ONE_ARGUMENT[name].points:
        span = RICHARDSON_FIRST_STEP * max(1.0, abs(x))  # the first step
        ends = [_exact(SYMPY[name](X), {X: x + s}) for s in (-span, span)]
        if any(e is None or not math.isfinite(e) for e in ends):
            continue  # the steps leave the domain (log at 0.01, sqrt at 0.04)
        want = _expected(name, "rad", (x,))
        r = richardson(f, {"x": x})
        error = abs(r.grad["x"] - want.grad[0])
        assert error <= r.error_estimate["x"], (name, x, r.grad["x"], want.grad[0])
        # the floor: differences of f resolve f' to a few roundings of f (tanh at -12:
        # f' = 1.5e-10 beside f = -1, found to 1.3e-15)
        floor = 2e-15 * max(1.0, abs(want.value or 0.0))
        assert error <= 1e-9 * abs(want.grad[0]) + floor, (name, x, r.grad["x"], want.grad[0])
        checked += 1
    assert checked >= 2, name


# ---- the derivative templates, symbolically ---------------------------------------------------

@pytest.mark.parametrize("name", sorted(PRIMITIVES))
def test_the_derivative_template_is_sympys_derivative(name: str) -> None:
    prim = PRIMITIVES[name]
    u, v = sp.symbols("x y", positive=True)
    expr = SYMPY[name](u) if name in ONE_ARGUMENT else SYMPY[name](u, v)
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
    assert v == -2.0 and _close(g["x"], 1.0 / 12.0, 1e-15)

"""`backprop diff` beyond first order: mixed partials (--wrt x,y), --order N labels, --hessian.

Oracle: SymPy (its own differentiation rules and definitions of the functions),
evaluated to 30 digits at random points; printed lengths against SymPy's
``simplify(diff(...))`` in this language's syntax.
"""

from __future__ import annotations

import csv
import io
import json
import math
import statistics

import pytest
import sympy as sp
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from backprop.core.function import parse
from backprop.symbolic import diff_expression, partial_label
from clikit import run_inprocess
from test_reference_table import SYMBOLS, to_sympy
from test_symbolic import expressions

X, Y = SYMBOLS["x"], SYMBOLS["y"]


def sympy_value(e: sp.Expr, point: dict[str, float]) -> float:
    return float(e.evalf(30, subs={SYMBOLS[k]: v for k, v in point.items()}))


def our_value(text: str, point: dict[str, float]) -> float:
    d = parse(text)
    return float(d(**{k: point[k] for k in d.variables}))


def close(a: float, b: float, rel: float = 1e-9, abs_: float = 1e-11) -> bool:
    return abs(a - b) <= abs_ + rel * max(abs(a), abs(b))


def cli(*argv: str) -> tuple[int, str, str]:
    r = run_inprocess(["diff", *argv])
    assert "Traceback" not in r.err
    return r.code, r.out, r.err


# ---- mixed partials ----------------------------------------------------------------------------

def test_acceptance_mixed_partial_prints_alone() -> None:
    assert cli("x^2*y", "--wrt", "x,y") == (0, "2*x\n", "")


def test_third_order_mixed_partial() -> None:
    code, out, _ = cli("x^3*y^2", "--wrt", "x,x,y")
    assert code == 0 and out == "12*x*y\n"  # d/dy d2/dx2 x^3 y^2 = 6x * 2y


points = st.floats(-1.5, 1.5, allow_nan=False)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expressions(max_ops=6), points, points,
       st.sampled_from([["x", "y"], ["y", "x"], ["x", "x", "y"], ["y", "x", "y"]]))
def test_mixed_partials_agree_with_sympy(text: str, x: float, y: float, names: list[str]) -> None:
    f = parse(text)
    assume(f.variables)
    names = [n for n in names if n in f.variables] or list(f.variables)[:1] * 2
    ours = diff_expression(text, ",".join(names)).text_lines()
    assert len(ours) == 1
    want = sp.diff(to_sympy(text), *[SYMBOLS[n] for n in names])
    point = {"x": x, "y": y}
    assert close(our_value(ours[0], point), sympy_value(want, point)), (text, names, ours[0])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expressions(max_ops=6), points, points)
def test_the_order_of_differentiation_does_not_change_the_value(text: str, x: float,
                                                                 y: float) -> None:
    if len(parse(text).variables) < 2:
        return
    point = {"x": x, "y": y}
    xy = diff_expression(text, "x,y").text_lines()[0]
    yx = diff_expression(text, "y,x").text_lines()[0]
    assert close(our_value(xy, point), our_value(yx, point), 1e-9), (text, xy, yx)


# textbook mixed partials: printed length against SymPy's simplify(diff(...)), where that is short
SHORT = 40  # characters of SymPy's simplified form
LENGTH_CASES = [
    ("x^2*y", "x,y"), ("x^2*y^3", "x,y"), ("sin(x*y)", "x,y"), ("exp(x*y)", "x,y"),
    ("x*exp(y)", "x,y"), ("log(x*y)", "x,y"), ("x/y", "x,y"), ("x^2*y + sin(y)", "x,y"),
    ("sqrt(x^2+y^2)", "x,y"), ("atan(y/x)", "x,y"), ("log(x^2+y^2)", "x,y"), ("x^y", "x,y"),
    ("(x+y)^3", "x,y"), ("x*y/(x+y)", "x,y"), ("exp(-x^2-y^2)", "x,y"), ("cos(x)*sin(y)", "x,y"),
    ("x^2/y", "x,y"), ("y*log(x)", "x,y"), ("sin(x+y)^2", "x,y"), ("x/(x+y)", "x,y"),
    ("exp(x*y)", "x,x,y"), ("x^3*y^2", "x,x,y"), ("sin(x)*cos(y)", "x,y,y"), ("x*y*z", "x,y,z"),
    ("exp(x*y*z)", "x,z"), ("(x-y)/(x+y)", "x,y"), ("x*exp(-y)", "y,x"), ("sqrt(x*y)", "x,y"),
    ("x^3*y - y^3*x", "x,y"), ("atan(x*y)", "x,y"), ("x^2*y^2 + x*y", "y,x"), ("log(x+y)", "x,y"),
    ("sin(x)*sin(y)", "x,y"), ("tanh(x*y)", "x,y"), ("1/(x*y)", "x,y"), ("x*sin(x*y)", "x,y"),
    ("exp(x)*log(y)", "x,y"), ("x^2*exp(y)", "x,x,y"), ("(x^2+y^2)^2", "x,y"), ("cos(x*y)", "y,x"),
]


def _percentile(values: list[float], q: float) -> float:
    v = sorted(values)
    k = (len(v) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def test_mixed_partials_are_as_short_as_sympys_simplified_form() -> None:
    # the targets of bench/bench_sympy.py: median <= 1.0, 90th percentile <= 1.3, worst <= 2
    ratios = []
    for text, wrt in LENGTH_CASES:
        ours = diff_expression(text, wrt).text_lines()[0]
        exact = sp.diff(to_sympy(text), *[SYMBOLS[n] for n in wrt.split(",")])
        theirs = sp.sstr(sp.simplify(exact)).replace("**", "^").replace("E", "e")
        point = {"x": 0.37, "y": 0.61, "z": 1.3}
        assert close(our_value(ours, point), sympy_value(exact, point)), (text, wrt, ours)
        # x^y's partials carry the conventions at x = 0 and y = 0 (README: the one rule at
        # the edges), which SymPy's y*x^(y-1) and x^y*log(x) leave out: not a length target
        if len(theirs) <= SHORT and text != "x^y":
            ratios.append(len(ours) / len(theirs))
    assert len(ratios) >= 30
    assert statistics.median(ratios) <= 1.0
    assert _percentile(ratios, 0.9) <= 1.3
    assert max(ratios) <= 2.0


def test_repeated_wrt_gives_several_first_partials() -> None:
    code, out, _ = cli("x^2*y + sin(y)", "--wrt", "x", "--wrt", "y")
    assert code == 0
    lines = out.splitlines()
    assert [ln.split(": ")[0] for ln in lines] == ["x", "y"]
    point = {"x": 1.3, "y": 0.4}
    assert close(our_value(lines[0].split(": ", 1)[1], point), 2 * 1.3 * 0.4)
    assert close(our_value(lines[1].split(": ", 1)[1], point), 1.3**2 + math.cos(0.4))


def test_repeated_mixed_partials_are_labelled() -> None:
    code, out, _ = cli("x^2*y^3", "--wrt", "x,y", "--wrt", "y,y")
    assert code == 0
    assert out == "d2f/dxdy: 6*x*y^2\nd2f/dy2: 6*x^2*y\n"


def test_order_n_labels_each_result() -> None:
    code, out, _ = cli("x^2*y", "--order", "2")
    assert code == 0 and out == "d2f/dx2: 2*y\nd2f/dy2: 0\n"
    code, out, _ = cli("x^3*y^4", "--order", "3")
    assert code == 0 and out == "d3f/dx3: 6*y^4\nd3f/dy3: 24*x^3*y\n"
    code, out, _ = cli("x^3*y^4", "--wrt", "y", "--order", "3")  # the one asked for, alone
    assert code == 0 and out == "24*x^3*y\n"


def test_labels() -> None:
    assert [partial_label(n) for n in (["x"], ["x", "x"], ["x", "y"], ["x", "x", "y"],
                                       ["w_1", "w_2", "w_1"])] == [
        "df/dx", "d2f/dx2", "d2f/dxdy", "d3f/dx2dy", "d3f/dw_1dw_2dw_1"]


# ---- --hessian ---------------------------------------------------------------------------------

def _hessian_cases(n: int) -> list[tuple[str, str]]:
    names = ["x", "y", "z"][:n]
    return [(names[i], names[j]) for i in range(n) for j in range(i, n)]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expressions(variables=("x", "y", "z"), max_ops=6), points, points, points)
def test_hessian_agrees_with_sympy(text: str, x: float, y: float, z: float) -> None:
    f = parse(text)
    assume(f.variables)
    r = diff_expression(text, hessian=True)
    n = len(f.variables)
    pairs = [(f.variables[i], f.variables[j]) for i in range(n) for j in range(i, n)]
    assert list(r.derivatives) == [partial_label(p) for p in pairs]  # each once, in order
    oracle = sp.hessian(to_sympy(text), [SYMBOLS[v] for v in f.variables])
    point = {"x": x, "y": y, "z": z}
    for (u, v), d in zip(pairs, r.derivatives.values()):
        i, j = f.variables.index(u), f.variables.index(v)
        assert close(our_value(d.text(), point), sympy_value(oracle[i, j], point)), (text, u, v)


def test_hessian_text_labels_in_variable_order() -> None:
    code, out, _ = cli("x^2*y + sin(y)", "--hessian")
    assert code == 0 and out == "d2f/dx2: 2*y\nd2f/dxdy: 2*x\nd2f/dy2: -sin(y)\n"


def test_hessian_entries_are_the_mixed_partials() -> None:
    text = "exp(x*y)*sin(z) + x^3*z"
    code, out, _ = cli(text, "--hessian")
    assert code == 0
    for line in out.splitlines():
        label, expr = line.split(": ", 1)
        names = diff_expression(text, hessian=True).derivatives[label].names
        assert cli(text, "--wrt", ",".join(names))[1] == expr + "\n"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expressions(variables=("x", "y", "z"), max_ops=8))
def test_hessian_shares_each_first_step_and_prints_what_each_partial_prints(text: str) -> None:
    # --hessian takes df/du once per u and goes on from a copy of that store: every entry
    # must print exactly what `--wrt u,v` (a partial of its own) prints
    from backprop.core.parser import parse_graph
    from backprop.symbolic import partial, second_partials

    g = parse_graph(text)
    names = list(g.variables)
    assume(names)
    shared = second_partials(g, names)
    for (u, v), d in shared.items():
        alone = partial(g, [u, v])
        assert (d.text(), d.size) == (alone.text(), alone.size), (text, u, v)


def test_hessian_of_100_variables_entries_and_size_cap() -> None:
    # the lecture's kind of sum, sum of sin(x_i)*x_(i+1): first partials are short, so the
    # shared first steps make the 5,050 entries cheap; entries checked by hand
    from backprop.core.parser import parse_graph
    from backprop.symbolic import SizeCapError, partial, second_partials

    text = " + ".join(f"sin(x{i})*x{i + 1}" for i in range(100))
    g = parse_graph(text)
    names = list(g.variables)
    h = second_partials(g, names)
    assert len(h) == 101 * 102 // 2
    assert h[("x5", "x5")].text() == "-x6*sin(x5)"  # d2/dx5^2 of sin(x5)*x6
    assert h[("x5", "x6")].text() == "cos(x5)" and h[("x5", "x7")].text() == "0"
    for u, v in (("x0", "x1"), ("x50", "x50"), ("x99", "x100"), ("x3", "x90")):
        assert h[(u, v)].text() == partial(g, [u, v]).text()
    with pytest.raises(SizeCapError) as err:
        second_partials(parse_graph("exp(x*y)^3*sin(x)"), ["x", "y"], max_size=5)
    with pytest.raises(SizeCapError) as alone:
        partial(parse_graph("exp(x*y)^3*sin(x)"), ["x", "x"], max_size=5)
    assert str(err.value) == str(alone.value)  # the first entry's step fails the same way


def test_hessian_wrt_limits_the_variables() -> None:
    code, out, _ = cli("x*y*z + x^2", "--hessian", "--wrt", "z,x")
    assert code == 0 and out == "d2f/dz2: 0\nd2f/dzdx: y\nd2f/dx2: 2\n"


def test_hessian_json_csv_table_latex() -> None:
    text = "x^2*y^3"
    expected = {"d2f/dx2": (["x", "x"], 2 * Y**3), "d2f/dxdy": (["x", "y"], 6 * X * Y**2),
                "d2f/dy2": (["y", "y"], 6 * X**2 * Y)}
    code, out, _ = cli(text, "--hessian", "--format", "json")
    assert code == 0
    rec = json.loads(out)
    assert rec["order"] == 2 and list(rec["derivative"]) == list(expected)
    assert rec["wrt"] == {k: v[0] for k, v in expected.items()}
    for k, (_, want) in expected.items():
        assert sp.simplify(to_sympy(rec["derivative"][k]) - want) == 0
        assert rec["size"][k] >= 1 and rec["latex"][k]
    code, out, _ = cli(text, "--hessian", "--format", "csv")
    rows = list(csv.reader(io.StringIO(out)))
    assert code == 0 and rows[0] == ["partial", "derivative", "size"]
    assert [r[0] for r in rows[1:]] == list(expected)
    assert [r[1] for r in rows[1:]] == [rec["derivative"][k] for k in expected]
    code, out, _ = cli(text, "--hessian", "--format", "table")
    assert code == 0 and all(k in out for k in expected) and "f = x^2*y^3" in out
    code, out, _ = cli(text, "--hessian", "--format", "latex")
    assert code == 0 and out.splitlines() == [
        "\\frac{\\partial^{2} f}{\\partial x^{2}} = 2\\,y^{3}",
        "\\frac{\\partial^{2} f}{\\partial x\\,\\partial y} = 6\\,x\\,y^{2}",
        "\\frac{\\partial^{2} f}{\\partial y^{2}} = 6\\,x^{2}\\,y"]


# ---- bad input: exit 2, one line ----------------------------------------------------------------

@pytest.mark.parametrize("argv,needle", [
    (["x^2*y", "--hessian", "--order", "2"], "without --order"),
    (["x^2*y", "--wrt", "x,z"], "z is not a variable"),
    (["x^2*y", "--hessian", "--wrt", "q"], "q is not a variable"),
    (["x^2*y", "--hessian", "--wrt", "x", "--wrt", "y"], "one --wrt"),
    (["x^2*y", "--hessian", "--wrt", "x,x"], "named twice"),
    (["x^2*y", "--wrt", "x,y", "--order", "2"], "already says the order"),
    (["x^2*y", "--wrt", "x", "--wrt", "x,y"], "different orders"),
    (["x^2*y", "--wrt", "x", "--wrt", "x"], "given twice"),
    (["x^2*y", "--wrt", ","], "--wrt is empty"),
    (["x^2*y", "--order", "0"], "--order"),
    (["7", "--hessian"], "no variables"),
    (["x^2*y", "--hessian", "--format", "xml"], "xml"),
])
def test_bad_input_exits_2_with_one_line(argv: list[str], needle: str) -> None:
    code, out, err = cli(*argv)
    assert code == 2 and out == ""
    assert needle in err and len(err.strip().splitlines()) == 1

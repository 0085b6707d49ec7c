"""`backprop compare --order 2`: the Hessian by forward over reverse, by the symbolic second
partials and by central differences of the reverse-mode gradient.

Oracle: SymPy's Hessian evaluated to 30 digits; the finite-difference step by its
formula (cube root of machine epsilon times max(1, |x|)).
"""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from backprop import parse
from backprop.studies.compare import HESSIAN_METHODS, compare_hessian
from clikit import run_inprocess
from test_reference_table import SYMBOLS, to_sympy
from test_symbolic import expressions

EPS = float(np.finfo(np.float64).eps)


def sympy_hessian(text: str, names: list[str], point: dict[str, float]) -> np.ndarray:
    h = sp.hessian(to_sympy(text), [SYMBOLS[v] for v in names])
    subs = {SYMBOLS[k]: sp.Float(v, 40) for k, v in point.items()}
    return np.array([[float(h[i, j].evalf(30, subs=subs)) for j in range(len(names))]
                     for i in range(len(names))])


points = st.floats(-1.5, 1.5, allow_nan=False)


@pytest.mark.slow  # a few seconds: in the slow group (docs/setup.md)
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expressions(variables=("x", "y", "z"), max_ops=6), points, points, points)
def test_three_ways_agree_with_sympy(text: str, x: float, y: float, z: float) -> None:
    f = parse(text)
    assume(f.variables)
    point = {k: v for k, v in {"x": x, "y": y, "z": z}.items() if k in f.variables}
    r = compare_hessian(f, point, min_total=0.0)
    exact = sympy_hessian(text, list(f.variables), point)
    scale = 1.0 + np.abs(exact)
    assert r.reference == "symbolic"
    for key in ("forward_over_reverse", "symbolic"):
        assert np.all(np.abs(r.methods[key].hessian - exact) <= 1e-9 * scale), (text, key)
    # central differences of an exact gradient: truncation h^2 and rounding eps/h, h ~ eps^(1/3)
    cd = r.methods["central_difference"].hessian
    assert np.all(np.abs(cd - exact) <= 1e-5 * scale), (text, cd, exact)
    # the errors are against the symbolic route, as first order's
    sym = r.methods["symbolic"].hessian
    for m in r.methods.values():
        assert np.array_equal(m.abs_error, np.abs(m.hessian - sym))


def test_forward_over_reverse_is_exact_and_differences_are_not() -> None:
    r = compare_hessian(parse("exp(x*y)"), {"x": 0.7, "y": -1.3}, min_total=0.0)
    x, y = 0.7, -1.3
    e = math.exp(x * y)
    exact = np.array([[y * y * e, (1 + x * y) * e], [(1 + x * y) * e, x * x * e]])
    assert np.allclose(r.methods["forward_over_reverse"].hessian, exact, rtol=4 * EPS, atol=0)
    cd = r.methods["central_difference"]
    assert np.max(cd.rel_error) > 0  # a finite difference has an error of its own
    assert np.max(cd.rel_error) < 1e-7
    # two gradients per variable, each one forward and one backward pass
    assert cd.passes == {"forward": 4, "backward": 4}
    # the step rule of first order: cbrt(eps) * max(1, |x|)
    assert cd.extra["steps"]["x"] == pytest.approx(EPS ** (1 / 3), rel=1e-6)
    assert cd.extra["steps"]["y"] == pytest.approx(1.3 * EPS ** (1 / 3), rel=1e-6)


def test_eps_sets_the_step() -> None:
    r = compare_hessian(parse("sin(x)*y"), {"x": 0.3, "y": 2.0}, eps=1e-3, min_total=0.0)
    assert r.methods["central_difference"].extra["steps"] == pytest.approx({"x": 1e-3, "y": 1e-3})
    # h = 1e-3: the truncation error, h^2/6 f'''' -> about 1e-7 relative, far above rounding
    assert 1e-9 < float(np.max(r.methods["central_difference"].rel_error)) < 1e-5


def test_over_the_size_cap_forward_over_reverse_is_the_reference() -> None:
    r = compare_hessian(parse("sin(sin(sin(x*y)))"), {"x": 0.5, "y": 0.4}, max_size=5,
                        min_total=0.0)
    assert r.reference == "forward_over_reverse"
    assert r.methods["symbolic"].hessian is None and "size cap" in r.methods["symbolic"].extra["error"]
    assert np.all(r.methods["forward_over_reverse"].abs_error == 0)


def test_wrt_limits_the_matrix() -> None:
    r = compare_hessian(parse("x^2*y^3*z"), {"x": 1.0, "y": 2.0, "z": 3.0}, wrt=["z", "y"],
                        min_total=0.0)
    # rows and columns z, y: d2/dz2 = 0, d2/dzdy = 3 x^2 y^2 = 12, d2/dy2 = 6 x^2 y z = 36
    assert r.methods["forward_over_reverse"].hessian.tolist() == [[0.0, 12.0], [12.0, 36.0]]


def cli(*argv: str) -> tuple[int, str, str]:
    r = run_inprocess(["compare", *argv])
    assert "Traceback" not in r.err
    return r.code, r.out, r.err


def test_cli_table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # one table (at 80 columns it is split in several)
    code, out, err = cli("x^2*y + sin(y)", "--at", "x=1,y=2", "--order", "2")
    assert code == 0 and err == ""
    assert out.startswith("Hessian of f = x^2*y + sin(y) at x = 1.0, y = 2.0")
    rows = [ln.split() for ln in out.splitlines()]
    for label in ("forward over reverse", "symbolic (evaluation)", "central diff. of the gradient"):
        partials = [r[len(label.split())] for r in rows if r[:len(label.split())] == label.split()]
        assert partials == ["d2f/dx2", "d2f/dxdy", "d2f/dy2"], label
    assert "time per Hessian" in out and "d2f/dxdy = 2*x" in out


def test_cli_json() -> None:
    code, out, _ = cli("x^2*y + sin(y)", "--at", "x=1,y=2", "--order", "2", "--format", "json")
    assert code == 0
    rec = json.loads(out)
    assert rec["order"] == 2 and rec["wrt"] == ["x", "y"] and rec["reference"] == "symbolic"
    assert list(rec["methods"]) == list(HESSIAN_METHODS)
    exact = {"x": {"x": 4.0, "y": 2.0}, "y": {"x": 2.0, "y": -math.sin(2.0)}}
    assert rec["methods"]["forward_over_reverse"]["hessian"] == exact
    assert rec["methods"]["symbolic"]["hessian"] == exact
    for m in rec["methods"].values():
        assert m["seconds"] > 0 and m["forward_passes"] > 0 and m["timing"]["repeats"] >= 5
    assert rec["forward_pass"]["seconds"] > 0


def test_cli_csv_one_row_per_method_and_partial() -> None:
    code, out, _ = cli("x*y*z", "--at", "x=1,y=2,z=3", "--order", "2", "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows[0]["method"] == "forward_pass" and float(rows[0]["value"]) == 6.0
    body = rows[1:]
    assert len(body) == 3 * 6
    exact = {"d2f/dx2": 0.0, "d2f/dxdy": 3.0, "d2f/dxdz": 2.0, "d2f/dy2": 0.0, "d2f/dydz": 1.0,
             "d2f/dz2": 0.0}
    for key in ("forward_over_reverse", "symbolic"):
        got = {r["partial"]: float(r["value"]) for r in body if r["method"] == key}
        assert got == exact
    cd = {r["partial"]: float(r["value"]) for r in body if r["method"] == "central_difference"}
    assert cd == pytest.approx(exact, abs=1e-8)


def test_first_order_csv() -> None:
    code, out, _ = cli("x^2", "--at", "3", "--format", "csv", "--methods",
                       "reverse_mode,central_difference")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["method"] for r in rows] == ["forward_pass", "reverse_mode", "central_difference"]
    assert float(rows[1]["partial_derivative"]) == 6.0
    assert float(rows[2]["partial_derivative"]) == pytest.approx(6.0, rel=1e-9)


def test_non_finite_hessian_is_named() -> None:
    code, out, err = cli("x^1.5 + y", "--at", "x=0,y=1", "--order", "2", "--format", "json")
    assert code == 0 and "Hessian is not finite" in err and "x^1.5" in err
    assert json.loads(out)["methods"]["forward_over_reverse"]["hessian"]["x"]["x"] is None


@pytest.mark.parametrize("argv,needle", [
    (["x^2", "--at", "1", "--order", "3"], "--order"),
    (["x^2", "--at", "1", "--order", "2", "--sweep"], "--order 2"),
    (["x^2", "--at", "1", "--order", "2", "--methods", "symbolic"], "--order 2"),
    (["x^2", "--at", "1", "--sweep", "--format", "csv"], "--format csv"),
    (["x^2", "--at", "-", "--order", "2"], "one point"),
    (["x*y", "--at", "x=1,y=2", "--order", "2", "--wrt", "q"], "q is not a variable"),
    (["x*y", "--at", "x=1", "--order", "2"], "no value for y"),
    (["x^2", "--at", "1", "--order", "2", "--eps", "-1"], "--eps"),
])
def test_bad_input_exits_2_with_one_line(argv: list[str], needle: str) -> None:
    code, out, err = cli(*argv)
    assert code == 2 and out == ""
    assert needle in err and len(err.strip().splitlines()) == 1


def test_an_expression_without_variables_has_no_hessian_to_compare() -> None:
    code, out, err = cli("3", "--at", "", "--order", "2")
    assert code == 2 and out == "" and "no variables" in err and len(err.splitlines()) == 1


def test_one_variable_reads_in_the_singular() -> None:
    code, out, _ = cli("x^3", "--at", "2", "--order", "2")
    assert code == 0 and "1 backward + 2 tangent" in out and "1 derivative evaluation " in out

"""`backprop compare`: the four methods side by side, the JSON schema, and --scaling."""

from __future__ import annotations

import json
import math
import sys
import time

import pytest

from backprop.cli import main
from backprop.studies.compare import Network, compare, fit_exponent
from backprop.core.function import parse
from backprop.numeric import gradient_vector
from clikit import run_backprop as run

METHODS = {"reverse_mode", "forward_mode", "symbolic", "forward_difference", "central_difference"}


def check_schema(obj: dict, variables: list[str]) -> None:
    assert set(obj) >= {"at", "value", "graph_nodes", "methods"}
    assert set(obj["at"]) == set(variables) and isinstance(obj["value"], float)
    assert isinstance(obj["graph_nodes"], int)
    assert set(obj["methods"]) == METHODS
    m = obj["methods"]
    for key in METHODS:
        assert isinstance(m[key]["seconds"], float) and m[key]["seconds"] >= 0
    for key in ("reverse_mode", "forward_mode", "forward_difference", "central_difference"):
        assert set(m[key]["grad"]) == set(variables)
        assert isinstance(m[key]["evals"], int)
    assert m["reverse_mode"]["evals"] == 1
    assert set(m["symbolic"]) >= {"grad", "derivative", "size", "seconds"}
    for key in ("forward_difference", "central_difference"):
        assert isinstance(m[key]["eps"], float)


def test_seed_example_json() -> None:
    r = run("compare", "--format", "json")
    assert r.returncode == 0 and "Traceback" not in r.stderr
    obj = json.loads(r.stdout)
    check_schema(obj, ["x"])
    assert obj["at"] == {"x": -4.499}
    x = -4.499
    # d/dx 2/sin(exp(-x)) = 2 cos(exp(-x)) exp(-x) / sin(exp(-x))^2, by hand
    exact = 2 * math.cos(math.exp(-x)) * math.exp(-x) / math.sin(math.exp(-x)) ** 2
    m = obj["methods"]
    for key in ("reverse_mode", "forward_mode", "symbolic"):
        assert m[key]["grad"]["x"] == pytest.approx(exact, rel=1e-12)
    # Central differences err by about f'''(x) h^2 / 6 (Taylor); here f''' is large, since
    # the inner exp(-x) is about 90 and every derivative multiplies by it.
    import sympy as sp

    X = sp.Symbol("x")
    f3 = float(sp.diff(2 / sp.sin(sp.exp(-X)), X, 3).evalf(30, subs={X: x}))
    h = m["central_difference"]["steps"]["x"]
    predicted = abs(f3) * h * h / 6
    error = abs(m["central_difference"]["grad"]["x"] - exact)
    assert 0.5 * predicted < error < 2 * predicted
    assert error < m["forward_difference"]["abs_error"]["x"]
    assert m["central_difference"]["evals"] == 2 and m["forward_difference"]["evals"] == 2
    assert m["forward_difference"]["abs_error"]["x"] > 0
    assert obj["graph_nodes"] == 6  # x, -x, exp, sin, 2, /
    parse(m["symbolic"]["derivative"]["x"])  # parses again


def test_several_variables_and_errors() -> None:
    f = parse("x^2*y + sin(y)")
    obj = compare(f, {"x": 1.0, "y": 2.0})
    check_schema(obj, ["x", "y"])
    m = obj["methods"]
    assert m["forward_mode"]["evals"] == 2 and m["central_difference"]["evals"] == 4
    assert m["forward_difference"]["evals"] == 3
    assert m["reverse_mode"]["grad"] == {"x": 4.0, "y": pytest.approx(1 + math.cos(2.0), rel=1e-15)}
    for v in ("x", "y"):
        assert m["reverse_mode"]["rel_error"][v] <= 1e-15
        assert m["central_difference"]["rel_error"][v] < 1e-7


def test_symbolic_cap_other_methods_still_report() -> None:
    obj = compare(parse("sin(x)*exp(x)*cos(x)"), {"x": 0.3}, max_size=5)
    m = obj["methods"]
    assert m["symbolic"]["grad"] is None and "size cap of 5" in m["symbolic"]["error"]
    assert obj["reference"] == "reverse_mode"
    for key in ("reverse_mode", "forward_mode", "forward_difference", "central_difference"):
        assert m[key]["grad"]["x"] is not None


def test_cli_table_cap_and_eps(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", "sin(x)*exp(x)", "--at", "0.5", "--max-size", "3", "--eps", "1e-4"]) == 0
    out = capsys.readouterr().out
    assert "size cap" in out and "reverse mode" in out and "central difference" in out
    assert main(["compare", "exp(x)", "--at", "1", "--eps", "1e-3", "--format", "json"]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj["methods"]["forward_difference"]["eps"] == 1e-3
    # forward difference with h = 1e-3 on exp at 1: error about e*h/2
    assert obj["methods"]["forward_difference"]["abs_error"]["x"] == pytest.approx(
        math.e * 1e-3 / 2, rel=0.01)


@pytest.mark.parametrize("args,needle", [
    (["compare", "x+"], "ends too early"),
    (["compare", "x^2", "--at", "abc"], "not a number"),
    (["compare", "x^2", "--at", "1", "--wrt", "y"], "y is not a variable"),
    (["compare", "x^2"], "--at is required"),
    (["compare", "x^2", "--at", "1", "--eps", "-1"], "--eps"),
    (["compare", "--scaling", "--max-seconds", "-3"], "--max-seconds"),
    (["compare", "x", "--scaling"], "--scaling"),
])
def test_cli_bad_input(args: list[str], needle: str) -> None:
    r = run(*args)
    assert r.returncode == 2, r.stderr
    assert needle in r.stderr and "Traceback" not in r.stderr


def test_network_backprop_matches_numeric() -> None:
    net = Network(4, 3, samples=7)
    loss, grad = net.loss_and_grad(net.w)
    assert loss == pytest.approx(net.loss(net.w), rel=1e-15)
    g_num, evals = gradient_vector(net.loss, net.w, "central")
    assert evals == 2 * net.params == 2 * (4 * 3 + 3 + 3 + 1)
    assert max(abs(a - b) for a, b in zip(g_num, grad)) < 1e-8


def test_fit_exponent() -> None:
    xs = [10.0, 100.0, 1000.0]
    assert fit_exponent(xs, [3 * x ** 2 for x in xs]) == pytest.approx(2.0)
    assert fit_exponent([5.0], [1.0]) is None


def test_scaling_within_budget_reports_exponents() -> None:
    t0 = time.perf_counter()
    r = run("compare", "--scaling", "--max-seconds", "10", "--format", "json")
    elapsed = time.perf_counter() - t0
    assert r.returncode == 0, r.stderr
    obj = json.loads(r.stdout)
    assert obj["seconds"] <= 10.0
    assert elapsed < 10.0 + 5.0  # the interpreter's start-up on top of the budget
    net = obj["network"]
    assert net["numeric_exponent"] is not None and net["backprop_exponent"] is not None
    # the numeric gradient grows faster than backpropagation
    assert net["numeric_exponent"] > net["backprop_exponent"]
    # numeric / backprop grows about like |W| (expected exponent 1)
    assert 0.7 < net["ratio_exponent"] < 1.3
    assert dep_per_level(obj) == pytest.approx(2.0)
    dep = obj["depth"]
    assert dep["symbolic_growth_factor_per_level"] > 1.5
    assert dep["graph_nodes_exponent"] < 1.2
    assert obj["gradient_over_forward"]["rows"]


def test_non_finite_warns_and_json_stays_strict() -> None:
    r = run("compare", "log(x)", "--at", "-1", "--format", "json")
    assert r.returncode == 0 and "Traceback" not in r.stderr
    assert "warning" in r.stderr and "log(x)" in r.stderr
    obj = json.loads(r.stdout)  # strict JSON: nan became null
    assert obj["value"] is None
    assert obj["methods"]["central_difference"]["grad"]["x"] is None
    # the exact methods still agree: d/dx log(x) = 1/x = -1 at -1
    assert obj["methods"]["reverse_mode"]["grad"]["x"] == -1.0


def dep_per_level(obj: dict) -> float:
    return obj["depth"]["graph_nodes_per_level"]

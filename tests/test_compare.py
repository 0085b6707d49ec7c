"""`backprop compare`: the methods side by side, the timing harness, the studies' budget."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time

import numpy as np
import pytest

from backprop.cli import main
from backprop.core.function import Function, parse
from backprop.core.printer import tree_size
from backprop.studies import fixtures
from backprop.studies.compare import compare
from backprop.studies.scaling import NetworkLoss, fit_exponent, gradient_over_forward
from backprop.studies.timing import Timing, median_ratio, time_interleaved
from backprop.methods.numeric import gradient_vector
from backprop.symbolic import derivative
from clikit import run_backprop as run

METHODS = {"reverse_mode", "forward_mode", "symbolic", "forward_difference", "central_difference",
           "richardson", "complex_step"}


def check_schema(obj: dict, variables: list[str]) -> None:
    assert set(obj) >= {"at", "value", "graph_nodes", "methods", "forward_pass"}
    assert set(obj["at"]) == set(variables) and isinstance(obj["value"], float)
    assert isinstance(obj["graph_nodes"], int)
    assert set(obj["methods"]) == METHODS
    m = obj["methods"]
    for key in METHODS:
        t = m[key]["timing"]
        assert m[key]["seconds"] == t["median"] > 0
        assert t["min"] <= t["q1"] <= t["median"] <= t["q3"] <= t["max"]
        assert t["repeats"] >= 5 and t["number"] >= 1
        assert m[key]["forward_passes"] == pytest.approx(m[key]["seconds"] / obj["forward_pass"]["seconds"])
    for key in ("reverse_mode", "forward_mode", "forward_difference", "central_difference"):
        assert set(m[key]["grad"]) == set(variables)
    n = len(variables)
    assert m["reverse_mode"]["passes"] == {"forward": 1, "backward": 1}
    assert m["forward_mode"]["passes"] == {"forward": 1, "tangent": n}
    assert m["forward_difference"]["passes"] == {"forward": n + 1} and m["forward_difference"]["evals"] == n + 1
    assert m["central_difference"]["passes"] == {"forward": 2 * n}
    assert m["richardson"]["passes"] == {"forward": m["richardson"]["evals"]}
    assert set(m["richardson"]["error_estimate"]) == set(variables)
    assert m["complex_step"]["passes"] == {"forward": 1, "complex_forward": n}
    assert set(m["symbolic"]) >= {"grad", "derivative", "size", "seconds", "differentiation_seconds"}
    for key in ("forward_difference", "central_difference"):
        assert isinstance(m[key]["eps"], float)


def test_lecture_example_json() -> None:
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
    obj = compare(f, {"x": 1.0, "y": 2.0}, min_total=0.005).to_json()
    check_schema(obj, ["x", "y"])
    m = obj["methods"]
    assert m["reverse_mode"]["grad"] == {"x": 4.0, "y": pytest.approx(1 + math.cos(2.0), rel=1e-15)}
    for v in ("x", "y"):
        assert m["reverse_mode"]["rel_error"][v] <= 1e-15
        assert m["central_difference"]["rel_error"][v] < 1e-7


def test_sines_example_many_variables_one_row_per_method(capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # one table (at 80 columns it is split in several)
    assert main(["compare", "--example", "sines", "--n", "8", "--format", "json"]) == 0
    obj = json.loads(capsys.readouterr().out)
    check_schema(obj, fixtures.sines_variables(8))
    w = obj["at"]
    assert w["w3"] == 3 / 8
    # dE/dw_i = cos(w_i) w_{i+1} + sin(w_{i-1}), by hand (cyclic)
    for i in range(1, 9):
        nxt, prv = w[f"w{i % 8 + 1}"], w[f"w{(i - 2) % 8 + 1}"]
        assert obj["methods"]["reverse_mode"]["grad"][f"w{i}"] == pytest.approx(
            math.cos(w[f"w{i}"]) * nxt + math.sin(prv), rel=1e-14)
    assert main(["compare", "--example", "sines", "--n", "8"]) == 0
    out = capsys.readouterr().out
    assert "all 8" in out and out.count("forward difference") == 1 and "9 forward" in out


def test_symbolic_cap_other_methods_still_report() -> None:
    obj = compare(parse("sin(x)*exp(x)*cos(x)"), {"x": 0.3}, max_size=5, min_total=0.005).to_json()
    m = obj["methods"]
    assert m["symbolic"]["grad"] is None and "size cap of 5" in m["symbolic"]["error"]
    assert m["symbolic"]["timing"] is None
    assert obj["reference"] == "reverse_mode"
    for key in ("reverse_mode", "forward_mode", "forward_difference", "central_difference"):
        assert m[key]["grad"]["x"] is not None


def test_cli_table_cap_and_eps(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", "sin(x)*exp(x)", "--at", "0.5", "--max-size", "3", "--eps", "1e-4"]) == 0
    out = capsys.readouterr().out
    assert "size cap" in out and "reverse mode" in out and "central difference" in out
    assert "time per gradient" in out and "1 forward + 1 backward" in out
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
    (["compare", "x", "--example", "sines"], "--example"),
    (["compare", "--n", "5"], "--n"),
    (["compare", "--example", "nested", "--n", "0"], "--n"),
])
def test_cli_bad_input(args: list[str], needle: str) -> None:
    r = run(*args)
    assert r.returncode == 2, r.stderr
    assert needle in r.stderr and "Traceback" not in r.stderr


def test_non_finite_warns_and_json_stays_strict() -> None:
    r = run("compare", "log(x)", "--at", "-1", "--format", "json")
    assert r.returncode == 0 and "Traceback" not in r.stderr
    assert "warning" in r.stderr and "log(x)" in r.stderr
    obj = json.loads(r.stdout)  # strict JSON: nan became null
    assert obj["value"] is None
    assert obj["methods"]["central_difference"]["grad"]["x"] is None
    # outside the domain the partial is nan too, on every method of passes (README: the one
    # rule); the symbolic one evaluates diff's formula, 1/x, which holds on the domain
    assert all(m["grad"]["x"] is None for k, m in obj["methods"].items() if k != "symbolic")
    assert obj["methods"]["symbolic"]["grad"]["x"] == -1.0


# ---- the timing harness -------------------------------------------------------------

def test_harness_warm_interleaved_repeated_to_a_minimum() -> None:
    calls: list[str] = []
    t = time_interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
                         min_total=0.0, min_repeats=4, sample_seconds=0.0)
    # a warm call, untimed, then timeit's autorange: 1, 2, 5, ... calls until a sample lasts
    # sample_seconds (0 here: 1 call)
    assert calls[:4] == ["a", "a", "b", "b"]
    # then one sample each per round, the order rotated from round to round
    assert calls[4:] == ["a", "b", "b", "a", "a", "b", "b", "a"]
    assert t["a"].repeats == t["b"].repeats == 4 and t["a"].number == 1
    slow = time_interleaved({"s": lambda: _spin(0.002)}, min_total=0.03, min_repeats=2)
    # each sample lasts at least 2 ms of wall time: 0.03 s of them is at most 15 samples
    assert 2 <= slow["s"].repeats <= 15 and slow["s"].number == 1
    assert slow["s"].median <= 0.002 * 1.5  # CPU time: no more than the spin's wall time


def _spin(seconds: float) -> None:
    """Busy for ``seconds`` of wall time (the harness's clock is CPU time)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_harness_never_starts_a_round_past_the_deadline() -> None:
    starts: list[float] = []

    def work() -> None:
        starts.append(time.perf_counter())
        _spin(0.01)

    deadline = time.perf_counter() + 1.0
    t = time_interleaved({"s": work}, min_total=10.0, min_repeats=1000, deadline=deadline)
    assert t["s"].repeats >= 1
    # each round is predicted from the last: none starts unless it is due to end by the deadline
    assert starts[-1] < deadline


def test_timing_median_and_ratio_by_round() -> None:
    t = Timing.of([3.0, 1.0, 2.0, 10.0], 1)
    assert (t.median, t.low, t.high) == (2.5, 1.0, 10.0)
    a, b = Timing.of([2.0, 4.0, 30.0], 1), Timing.of([1.0, 2.0, 3.0], 1)
    assert median_ratio(a, b) == 2.0  # the ratios 2, 2, 10 by round


# ---- fixtures ----------------------------------------------------------------------

def test_fixtures_text_and_graph_agree() -> None:
    for n in (1, 2, 5):
        f, g = parse(fixtures.sines_text(n)), Function(fixtures.sines_graph(n))
        p = fixtures.sines_point(n)
        assert f(**p) == g(**p) == pytest.approx(sum(math.sin(p[f"w{i + 1}"]) * p[f"w{(i + 1) % n + 1}"]
                                                     for i in range(n)), rel=1e-14)
        assert f.size == g.size
    for k in (0, 1, 4):
        f = parse(fixtures.nested_text(k))
        assert f.size == len(fixtures.nested_graph(k)) == 2 * k + 1
        v = 0.7
        for _ in range(k):
            v = v * math.sin(v)
        assert f(x=0.7) == pytest.approx(v, rel=1e-14)


def test_expand_tree_has_the_derivatives_tree_size_and_value() -> None:
    for k in (1, 3, 6):
        d = derivative(fixtures.nested_graph(k), "x")
        tree = fixtures.expand_tree(d.graph, d.root)
        assert tree_size(tree, tree.output) == d.size
        # every node but the variable used once: a tree
        uses = [0] * len(tree)
        for a in tree.args:
            for j in a:
                uses[j] += 1
        assert all(u == 1 for i, u in enumerate(uses[:-1]) if tree.ops[i] != "var")
        assert Function(tree)(x=0.9) == pytest.approx(Function(d.as_graph())(x=0.9), rel=1e-13)


# ---- the scaling study --------------------------------------------------------------

def test_network_is_the_nn_regressor_and_backprop_matches_numeric() -> None:
    from backprop.nn.layers import Affine, Tanh

    net = NetworkLoss(3, samples=7)
    assert [type(layer) for layer in net.model.layers] == [Affine, Tanh, Affine]
    assert net.params == (3 + 1) ** 2
    grad = net.gradient()
    g_num, evals = gradient_vector(lambda w: (net.w.__setitem__(slice(None), w), net.forward())[1],
                                   net.w.copy(), "central")
    assert evals == 2 * net.params
    np.testing.assert_allclose(g_num, grad, rtol=1e-6, atol=1e-9)


def test_fit_exponent() -> None:
    xs = [10.0, 100.0, 1000.0]
    assert fit_exponent(xs, [3 * x ** 2 for x in xs]) == pytest.approx(2.0)
    assert fit_exponent([5.0], [1.0]) is None


def test_one_backward_pass_takes_each_local_derivative_once_at_any_size() -> None:
    """The lecture's cost claim, counted: the backward pass evaluates one local derivative
    per edge, at most two per module, whatever n is, so the gradient costs a constant
    times the forward pass. The time ratio itself is a benchmark's figure (a shared
    machine's load moves it): bench/bench_reverse_cost.py and compare --scaling print it."""
    for n in (10, 100, 1_000):
        f = Function(fixtures.sines_graph(n))
        t = f.trace({v: 0.5 for v in f.variables})
        modules = [s for s in t.forward if s.module not in ("var", "const")]
        assert len(modules) == 3 * n - 1  # n sines, n products, n - 1 sums: the forward pass
        assert len(t.backward) == 2 * len(modules) - n  # each module's edges; sin has one
        assert len(t.backward) <= 2 * len(modules)


def test_gradient_over_forward_reports_a_ratio_of_medians() -> None:
    """The timing study itself runs and reports what it measured (not a bound on it)."""
    cost = gradient_over_forward(100, min_total=0.01, min_repeats=3)
    assert cost.graph_nodes == 100 + 3 * 100 - 1  # the variables and the modules
    assert cost.repeats >= 3 and cost.forward_seconds > 0 and cost.gradient_seconds > 0
    assert cost.ratio >= 1.0  # the gradient includes a forward pass: ~3x its work


def _burn(seconds: float) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c",
                             f"import time\nt = time.time() + {seconds}\nwhile time.time() < t: pass"])


@pytest.mark.slow  # a few seconds: in the slow group (docs/setup.md)
def test_scaling_budget_holds_under_load() -> None:
    budget, margin = 8.0, 2.0  # the margin compare --help states
    burner = _burn(budget + 10)
    try:
        t0 = time.perf_counter()
        r = run("compare", "--scaling", "--max-seconds", str(budget), "--format", "json",
                timeout=budget + 30)
        elapsed = time.perf_counter() - t0
    finally:
        burner.kill()
        burner.wait()
    assert r.returncode == 0, r.stderr
    assert elapsed < budget + margin, elapsed
    obj = json.loads(r.stdout)
    assert obj["seconds"] <= budget
    assert obj["blas_threads"] == "1 BLAS thread"  # threadpoolctl's own report, not the request
    net = obj["network"]
    measured = [x for x in net["rows"] if x["numeric_seconds"] is not None]
    assert measured  # a small budget under load may leave the numeric gradient one size
    # the numeric gradient checks backpropagation at every size it measured
    assert all(x["max_difference"] < 1e-6 for x in measured)
    dep = obj["depth"]
    assert dep["graph_nodes_per_level"] == pytest.approx(2.0)
    assert dep["symbolic_growth_factor_per_level"] > 1.5
    timed = [x for x in dep["rows"] if x["tree_seconds"] is not None]
    assert timed and all(x["tree_nodes"] <= x["symbolic_size"] for x in timed)
    assert obj["gradient_over_forward"]["rows"]

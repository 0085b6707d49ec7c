"""Symbolic differentiation and `backprop diff`.

Oracles: reverse mode (an independent algorithm on the same graph) and SymPy
(its own differentiation rules and its own definitions of the functions).
"""

from __future__ import annotations

import math
import time

import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backprop.core import engine
from backprop.cli import main
from backprop.studies.fixtures import nested_graph
from backprop.core.function import Function, parse
from backprop.symbolic import SizeCapError, derivative, diff_text, simplify
from clikit import run_backprop as run
from test_reference_table import SYMBOLS, to_sympy

SMOOTH_UNARY = ["sin", "cos", "tanh", "atan", "sigmoid", "softplus", "exp"]


@st.composite
def expressions(draw: st.DrawFn, variables: tuple[str, ...] = ("x", "y"), max_ops: int = 9) -> str:
    """A random smooth expression, grown bottom-up from a pool of subexpressions."""
    pool = [draw(st.sampled_from(variables)) for _ in range(2)]
    pool.append(repr(draw(st.sampled_from([0.5, 1.0, 2.0, 3.0, -1.5]))))
    for _ in range(draw(st.integers(1, max_ops))):
        kind = draw(st.sampled_from(["unary", "add", "sub", "mul", "div", "pow", "neg"]))
        a = draw(st.sampled_from(pool))
        b = draw(st.sampled_from(pool))
        if kind == "unary":
            fn = draw(st.sampled_from(SMOOTH_UNARY))
            # exp of something bounded, so nothing overflows
            e = f"exp(sin({a}))" if fn == "exp" else f"{fn}({a})"
        elif kind == "add":
            e = f"({a}) + ({b})"
        elif kind == "sub":
            e = f"({a}) - ({b})"
        elif kind == "mul":
            e = f"({a})*({b})"
        elif kind == "div":
            e = f"({a})/(1 + ({b})^2)"
        elif kind == "pow":
            e = f"({a})^{draw(st.sampled_from([2, 3]))}"
        else:
            e = f"-({a})"
        pool.append(e)
    return pool[-1]


points = st.floats(-1.5, 1.5, allow_nan=False)


def close(a: float, b: float, rel: float, abs_: float = 1e-12) -> bool:
    return abs(a - b) <= abs_ + rel * max(abs(a), abs(b))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expressions(), points, points)
def test_diff_output_parses_and_agrees_with_reverse_mode(text: str, x: float, y: float) -> None:
    f = parse(text)
    for v in f.variables:
        d_text = diff_text(text, v)
        d = parse(d_text)  # the output parses again
        assert set(d.variables) <= set(f.variables)
        values = {"x": x, "y": y}
        exact = float(f.value_and_grad([v], **{k: values[k] for k in f.variables})[1][v])
        got = float(d(**{k: values[k] for k in d.variables}))
        assert close(got, exact, 1e-9), (text, v, d_text, got, exact)


@settings(max_examples=40, deadline=None)
@given(expressions(), points, points)
def test_forward_mode_agrees_with_reverse_mode(text: str, x: float, y: float) -> None:
    f = parse(text)
    values = {k: {"x": x, "y": y}[k] for k in f.variables}
    rev = f.value_and_grad(**values)[1]
    fwd = f.forward_mode_grad(**values)
    for v in f.variables:
        assert close(float(fwd[v]), float(rev[v]), 1e-12), (text, v)


X, Y = SYMBOLS["x"], SYMBOLS["y"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expressions(max_ops=6), points, points)
def test_sympy_agrees_on_values(text: str, x: float, y: float) -> None:
    f = parse(text)
    oracle = to_sympy(text)
    for v in f.variables:
        ours = parse(diff_text(text, v))
        want = float(sp.diff(oracle, SYMBOLS[v]).evalf(30, subs={X: x, Y: y}))
        got = float(ours(**{k: {"x": x, "y": y}[k] for k in ours.variables}))
        assert close(got, want, 1e-9, 1e-11), (text, v)


@pytest.mark.parametrize("text,order", [("sin(x)*exp(x)", 3), ("x^5 - 2*x^2", 4),
                                        ("atan(x)/(1 + x^2)", 2), ("tanh(x)", 5)])
def test_order_n_against_sympy(text: str, order: int) -> None:
    ours = parse(diff_text(text, "x", order=order))
    want = sp.diff(to_sympy(text), X, order)
    for x in (-1.3, 0.2, 0.9):
        exact = float(want.evalf(30, subs={X: x}))
        got = float(ours(x=x)) if ours.variables else float(ours())
        assert close(got, exact, 1e-9, 1e-11), (text, order, x)


# ---- the simplifier: expectations worked out by hand --------------------------------------

@pytest.mark.parametrize("text,expected", [
    ("x - x", "0"), ("3*x", "3"), ("-(-x)", "1"), ("x*1 + 0", "1"), ("x^2", "2*x"),
    ("2*(3*x)", "6"), ("x/1", "1"), ("sin(x)", "cos(x)"), ("x*x", "2*x"), ("x + x", "2"),
    ("5", "0"), ("x^1", "1"), ("2^3*x", "8"), ("exp(x)", "exp(x)"),
])
def test_simplified_derivatives(text: str, expected: str) -> None:
    wrt = "x"
    assert diff_text(text, wrt) == expected


@pytest.mark.parametrize("text,expected", [
    ("x - x", "0"), ("--x", "x"), ("0*y + 1*x", "x"), ("2*(3*x)", "6*x"), ("x + 0", "x"),
    ("1 + 2", "3"), ("x^1", "x"), ("y^0", "1"), ("x*x", "x^2"), ("(x + 1) + 2", "x + 3"),
])
def test_simplify(text: str, expected: str) -> None:
    from backprop.core.parser import parse_graph

    g = parse_graph(text)
    s = simplify(g)
    assert s.text() == expected


def test_structurally_equal_subtrees_cancel() -> None:
    # the two sides are built separately, so only a structural comparison sees them equal
    assert diff_text("sin(x*y) - sin(x*y) + y", "x") == "0"


# ---- the size cap ------------------------------------------------------------------------

def test_cap_hit_quickly_with_message_while_reverse_mode_answers() -> None:
    g = nested_graph(40)  # f_{k+1} = f_k * sin(f_k): 81 nodes, a tree of over 2^40
    t0 = time.perf_counter()
    with pytest.raises(SizeCapError) as info:
        derivative(g, "x")
    assert time.perf_counter() - t0 < 5.0
    msg = str(info.value)
    assert "1,000,000" in msg and "step" in msg and "reached" in msg
    assert info.value.size > 1_000_000
    assert 1 <= info.value.step <= info.value.steps
    t0 = time.perf_counter()
    value, grad = Function(g).value_and_grad(x=0.3)
    assert time.perf_counter() - t0 < 1.0
    assert math.isfinite(float(grad["x"]))


def test_sizes_grow_exponentially_but_the_graph_linearly() -> None:
    sizes = [derivative(nested_graph(k), "x").size for k in range(1, 10)]
    nodes = [len(nested_graph(k)) for k in range(1, 10)]
    assert all(b - a == 2 for a, b in zip(nodes, nodes[1:]))
    assert all(b > 2 * a for a, b in zip(sizes[2:], sizes[3:]))


def test_small_cap_and_order_in_message() -> None:
    with pytest.raises(SizeCapError) as info:
        derivative(parse("sin(sin(x))*exp(x)").graph, "x", order=3, max_size=30)
    assert "size cap of 30" in str(info.value)


def test_reported_size_is_the_tree_size_of_the_printed_text() -> None:
    d = derivative(parse("sin(x)^2*exp(x)").graph, "x")
    reparsed = parse(d.text())
    from backprop.core.printer import tree_size

    assert tree_size(reparsed.graph) == d.size


@pytest.mark.slow  # over ten seconds on 2 busy cores (README, "Tests")
def test_deep_expression_is_iterative() -> None:
    depth = 1500  # the derivative is a product of 1,500 cosines: a tree of about 1.1M nodes
    text = "sin(" * depth + "x" + ")" * depth
    d = derivative(parse(text).graph, "x", max_size=10_000_000)
    g = d.as_graph()
    vals = engine.forward(g, engine.Plan.of(g), {"x": 0.1})
    exact = float(parse(text).value_and_grad(x=0.1)[1]["x"])
    assert close(float(vals[d.root]), exact, 1e-9)


# ---- the command line ----------------------------------------------------------------------



def test_cli_diff_round_trips_through_grad() -> None:
    d = run("diff", "x^2*sin(x)")
    assert d.returncode == 0 and d.stderr == ""
    g = run("grad", d.stdout.strip(), "--at", "1", "--format", "json")
    assert g.returncode == 0, g.stderr
    import json

    value = json.loads(g.stdout)["value"]
    assert close(value, 2 * math.sin(1) + math.cos(1), 1e-12)


def test_cli_several_variables_one_line_each(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diff", "x^2*y + sin(y)"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split(":")[0] for ln in lines] == ["x", "y"]
    dx = parse(lines[0].split(": ", 1)[1])
    dy = parse(lines[1].split(": ", 1)[1])
    assert close(float(dx(x=1.5, y=2.0)), 2 * 1.5 * 2.0, 1e-12)
    assert close(float(dy(x=1.5, y=2.0)), 1.5 ** 2 + math.cos(2.0), 1e-12)


def test_cli_order_and_leading_minus(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diff", "-x^3", "--order", "2"]) == 0
    d = parse(capsys.readouterr().out.strip())
    assert close(float(d(x=2.0)), -12.0, 1e-12)


def test_cli_json(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert main(["diff", "x*y", "--wrt", "y", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["derivative"] == {"y": "x"} and out["size"] == {"y": 1} and out["order"] == 1


@pytest.mark.parametrize("args,code,needle", [
    (["diff", "x+"], 2, "ends too early"),
    (["diff", "x*y", "--wrt", "z"], 2, "z is not a variable"),
    (["diff", "x", "--order", "0"], 2, "order"),
    (["diff", "x^2*sin(x)", "--max-size", "5"], 1, "size cap of 5"),
    (["diff", "7", "--hessian"], 2, "no variables"),
])
def test_cli_errors(args: list[str], code: int, needle: str) -> None:
    r = run(*args)
    assert r.returncode == code
    assert needle in r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""

"""Big inputs through `backprop grad` (issue 6, "Sizes").

The documented limits (SECURITY.md):
* an expression is at most 1,000,000 characters (backprop.core.parser.MAX_TEXT);
  one character more is refused at once, before parsing, with exit 2;
* since every node costs at least one character, that also bounds a graph
  from text to ~1,000,000 nodes and nesting to ~500,000 parentheses;
* on the real command line one argument is at most 131,071 bytes (Linux
  MAX_ARG_STRLEN), so only the library and main(argv) see longer texts.

Oracles are computed independently here (plain loops over numpy), never copied
from the tool's output. The slowest cases carry the ``slow`` marker: they run
by default; ``-m "not slow"`` deselects them.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from clikit import run_inprocess, run_subprocess
from fuzzkit import check_contract

from backprop.core.parser import MAX_TEXT


def _grad_json(expr: str, at: str = "0.5") -> dict:
    r = run_inprocess(["grad", expr, "--at", at, "--format", "json"])
    check_contract(r, allowed=(0,))
    return json.loads(r.out)


def _megabyte_expression() -> tuple[str, list[tuple[float, float]]]:
    """c0*sin(x*k0) - c1*sin(x*k1) - ... - x, padded with spaces to exactly MAX_TEXT characters."""
    parts, terms, n, i = [], [], 0, 0
    while True:
        c, k = f"{(i % 97) / 7:.15f}", f"{i % 13 + 1}.5"
        t = f"{c}*sin(x*{k}) - "
        if n + len(t) + 1 > MAX_TEXT:
            break
        parts.append(t)
        terms.append((float(c), float(k)))
        n += len(t)
        i += 1
    text = "".join(parts) + "x"
    return text + " " * (MAX_TEXT - len(text)), terms


@pytest.mark.slow
def test_a_megabyte_expression_is_answered() -> None:
    text, terms = _megabyte_expression()
    assert len(text) == MAX_TEXT == 1_000_000
    x = np.float64(0.5)
    value = terms[0][0] * np.sin(x * terms[0][1])
    grad = terms[0][0] * terms[0][1] * np.cos(x * terms[0][1])
    for c, k in terms[1:]:
        value -= c * np.sin(x * k)
        grad -= c * k * np.cos(x * k)
    value, grad = value - x, grad - 1.0
    out = _grad_json(text)
    assert out["value"] == pytest.approx(float(value), rel=1e-12, abs=1e-9)
    assert out["grad"]["x"] == pytest.approx(float(grad), rel=1e-12, abs=1e-9)


def test_one_character_over_the_limit_is_refused_at_once() -> None:
    # 1,000,000 negations of x: a graph of 1,000,001 nodes, 1,000,001 characters
    r = run_inprocess(["grad", "-" * 1_000_000 + "x", "--at", "1"])
    check_contract(r)
    assert r.code == 2
    assert "1,000,001 characters long; the limit is 1,000,000" in r.err
    assert r.err.count("\n") == 1  # one line, no echo of a megabyte of text


@pytest.mark.slow  # over ten seconds on 2 busy cores (README, "Tests")
@pytest.mark.parametrize("depth", [100_000, 100_001])
def test_negation_nested_100000_deep(depth: int) -> None:
    sign = -1.0 if depth % 2 else 1.0
    out = _grad_json("-" * depth + "x", at="0.25")
    assert out == {"at": {"x": 0.25}, "value": sign * 0.25, "grad": {"x": sign}}


def test_parentheses_nested_100000_deep() -> None:
    depth = 100_000
    out = _grad_json("(" * depth + "x^3" + ")" * depth, at="2")
    assert out == {"at": {"x": 2.0}, "value": 8.0, "grad": {"x": 12.0}}


def test_unbalanced_deep_parentheses_are_refused() -> None:
    r = run_inprocess(["grad", "(" * 100_000 + "x" + ")" * 99_999, "--at", "1"])
    check_contract(r)
    assert r.code == 2 and "ends too early" in r.err


@pytest.mark.slow
def test_sin_nested_100000_deep_matches_a_loop() -> None:
    depth = 100_000
    x = np.float64(0.5)
    v, g = x, np.float64(1.0)
    for _ in range(depth):  # chain rule by hand: d sin(v) = cos(v) dv
        g = g * np.cos(v)
        v = np.sin(v)
    out = _grad_json("sin(" * depth + "x" + ")" * depth)
    assert out["value"] == pytest.approx(float(v), rel=1e-13)
    assert out["grad"]["x"] == pytest.approx(float(g), rel=1e-9)


@pytest.mark.slow
def test_a_million_node_graph_through_the_engine() -> None:
    """1,000,000 nodes built by the library (text that long is over the limit): v <- v*0.5 + x."""
    from backprop.core.function import Function
    from backprop.core.graph import GraphBuilder

    b = GraphBuilder()
    x, half = b.var("x"), b.const(0.5)
    v = x
    while len(b.graph) < 1_000_000:
        v = b.apply("add", b.apply("mul", v, half), x)
    f = Function(b.finish(v), "")
    assert f.size >= 1_000_000
    value, grad = f.value_and_grad(x=3.0)
    # v_n = x * (2 - 0.5^n) -> 2x for n ~ 500,000 steps; dv/dx -> 2
    assert value == pytest.approx(6.0, rel=1e-15)
    assert grad["x"] == pytest.approx(2.0, rel=1e-15)


@pytest.mark.slow  # over ten seconds on 2 busy cores (README, "Tests")
def test_the_longest_argument_the_os_allows_through_a_real_process() -> None:
    n = 65_000  # "x+" * n + "x": 130,001 bytes, under Linux's 131,072 per argument
    r = run_subprocess(["grad", "x+" * n + "x", "--at", "0.5", "--format", "json"], timeout=120)
    check_contract(r, allowed=(0,))
    assert json.loads(r.out) == {"at": {"x": 0.5}, "value": 0.5 * (n + 1), "grad": {"x": n + 1.0}}


def test_trace_table_of_a_big_graph_is_refused_but_csv_is_answered() -> None:
    expr = "-" * 5_000 + "x"
    r = run_inprocess(["grad", expr, "--at", "1", "--trace"])
    check_contract(r)
    assert r.code == 2 and "at most 1,000 nodes" in r.err
    r = run_inprocess(["grad", expr, "--at", "1", "--trace", "--format", "csv"])
    check_contract(r, allowed=(0,))
    lines = r.out.splitlines()
    assert len(lines) == 1 + 5_000 + 5_000  # header, forward steps, backward steps

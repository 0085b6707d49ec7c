"""The canonical form, its printing, higher orders, LaTeX and the docstring examples.

Expected texts are worked out by hand (they are also what SymPy prints, in
this language's syntax); values are checked against SymPy and against the
engine's reverse mode.
"""

from __future__ import annotations

import doctest
import importlib
import json

import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backprop.cli import main
from backprop.core.function import parse
from backprop.core.parser import parse_graph
from backprop.core.printer import tree_size
from backprop.symbolic import DiffResult, derivative, diff_expression, diff_text, simplify
from backprop.errors import InputError
from backprop.symbolic.store import SizeCap, Store, SYM, FN

from test_reference_table import to_sympy
from test_symbolic import X, Y, close, expressions, points


# ---- the targets, and the canonical form's rules ------------------------------------

@pytest.mark.parametrize("text,wrt,order,expected", [
    ("1/x", "x", 4, "24/x^5"),                       # (-1)^4 * 4! / x^5
    ("x/x", "x", 1, "0"),
    ("log(x*y)", "x", 1, "1/x"),
    ("log2(x)", "x", 1, "1/(x*log(2))"),
    ("log10(x)", "x", 1, "1/(x*log(10))"),
    ("(x^2-1)/(x-1)", "x", 1, "1"),                  # x + 1 where defined
    ("exp(2*log(x))", "x", 1, "2*x"),                # x^2
    ("(1-x)/(1+x)", "x", 1, "-2/(x + 1)^2"),
    ("1/x", "x", 1, "-1/x^2"),
    ("x - x^3/3", "x", 1, "1 - x^2"),                # positive terms first
    ("x^4 + x", "x", 1, "4*x^3 + 1"),                # descending powers
    ("2*x^3 - 5*x^2 + 7*x", "x", 1, "6*x^2 - 10*x + 7"),  # ... whatever their signs
    ("sin(pi*x)", "x", 1, "pi*cos(pi*x)"),           # pi stays pi
    ("x^2*y + sin(y)", "y", 1, "x^2 + cos(y)"),
    ("sqrt(x)", "x", 1, "1/(2*sqrt(x))"),
    ("sqrt(x)", "x", 3, "3/(8*x^(5/2))"),
    ("x*log(x)", "x", 3, "-1/x^2"),
    ("exp(x)*sin(x)", "x", 2, "2*cos(x)*exp(x)"),    # sin terms cancel
    ("x/(x+1)", "x", 3, "6/(x + 1)^4"),
    ("(x^2+1)^3", "x", 1, "6*x*(x^2 + 1)^2"),
    ("x^y", "y", 1, "x^y*log(x^abs(sign(x)))"),  # log(1) at x = 0: 0^y is 0 for y > 0
    ("cos(x)/(1+sin(x))", "x", 1, "-1/(sin(x) + 1)"),  # cos^2 + sin^2 = 1, then cancelled
    ("log((x+1)/(x-1))", "x", 1, "-2/(x^2 - 1)"),
    ("sin(x)*cos(x)", "x", 1, "cos(2*x)"),
    ("log(sin(x))", "x", 1, "1/tan(x)"),
    ("0.1*x + 0.2*x", "x", 1, "0.3"),  # exact decimals: 3/10, not 0.30000000000000004
])
def test_derivatives_by_hand(text: str, wrt: str, order: int, expected: str) -> None:
    assert diff_text(text, wrt, order) == expected


@pytest.mark.parametrize("text,expected", [
    ("x + x", "2*x"), ("x*x^2", "x^3"), ("x/x", "1"), ("y/(x*y)", "1/x"), ("x - x", "0"),
    ("2*x + 3*x - 5*x", "0"), ("(x*y)^2/x", "x*y^2"), ("x^(1/2)*x^(1/2)", "x"),
    ("exp(x)*exp(-x)", "1"), ("log(exp(x))", "x"), ("exp(log(x))", "x"), ("-(-x)", "x"),
    ("1/3 + 1/6", "1/2"), ("cos(-x) + sin(-x)", "cos(x) - sin(x)"), ("2*(x + 1)", "2*x + 2"),
    ("x*y + y*x", "2*x*y"), ("sqrt(4)*x", "2*x"), ("(x^2)^(1/2)", "sqrt(x^2)"),
    ("(x^2)^y", "(x^2)^y"), ("sqrt(x)^2", "x"),
    # the order of a sum's terms: descending powers, the constant after the other terms of
    # degree 0 and before 1/x (as SymPy writes them), a positive term first where there is one
    ("10 - 10*x + 2*x^2", "2*x^2 - 10*x + 10"), ("x + 1/x + 1 + cos(x)", "x + cos(x) + 1 + 1/x"),
    ("5 - x^2 + 3*x", "3*x + 5 - x^2"), ("-1 - x^2", "-x^2 - 1"), ("2 - 1/x", "2 - 1/x"),
])
def test_canonical_form(text: str, expected: str) -> None:
    assert simplify(parse_graph(text)).text() == expected


def test_domain_restricted_rewrites_are_not_made() -> None:
    # (x^2)^(1/2) is |x|, not x; a rewrite to x would be wrong for x < 0
    f = parse(simplify(parse_graph("(x^2)^(1/2)")).text())
    assert float(f(x=-2.0)) == 2.0


def test_store_cap_is_the_store_s_own() -> None:
    s = Store()
    x = s.node(SYM, "x")
    small = s.with_cap(3)
    sin_x = small.node(FN, ("sin", (x,)))  # size 2
    with pytest.raises(SizeCap) as info:
        small.node(FN, ("sin", (small.node(FN, ("sin", (sin_x,))),)))
    assert info.value.size == 4
    assert s.node(FN, ("sin", (s.node(FN, ("sin", (sin_x,))),))) > 0  # the uncapped view goes on


# ---- printed size, re-parsing, higher orders -----------------------------------------------

@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expressions(max_ops=6), st.sampled_from(["x", "y"]), st.integers(1, 3))
def test_size_is_the_tree_size_of_the_printed_text(text: str, wrt: str, order: int) -> None:
    f = parse(text)
    if wrt not in f.variables:
        return
    d = derivative(f.graph, wrt, order)
    assert tree_size(parse(d.text()).graph) == d.size


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expressions(max_ops=4), st.integers(2, 4), points, points)
def test_orders_2_to_4_agree_with_sympy(text: str, order: int, x: float, y: float) -> None:
    f = parse(text)
    oracle = to_sympy(text)
    for v in f.variables:
        ours = parse(diff_text(text, v, order))
        want = float(sp.diff(oracle, sp.Symbol(v, real=True), order).evalf(30, subs={X: x, Y: y}))
        got = float(ours(**{k: {"x": x, "y": y}[k] for k in ours.variables}))
        assert close(got, want, 1e-8, 1e-10), (text, v, order)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expressions(max_ops=5), st.integers(2, 4), points, points)
def test_order_n_is_the_engine_s_gradient_of_order_n_minus_1(text: str, order: int, x: float,
                                                             y: float) -> None:
    """d^n f = reverse mode's gradient of the printed d^(n-1) f: two algorithms, one answer."""
    f = parse(text)
    values = {"x": x, "y": y}
    for v in f.variables:
        before = parse(diff_text(text, v, order - 1))
        ours = parse(diff_text(text, v, order))
        if v not in before.variables:
            exact = 0.0
        else:
            exact = float(before.value_and_grad([v], **{k: values[k] for k in before.variables})[1][v])
        got = float(ours(**{k: values[k] for k in ours.variables}))
        assert close(got, exact, 1e-8, 1e-10), (text, v, order)


def test_swell_is_still_exponential_on_the_lecture_s_example() -> None:
    from backprop.studies.fixtures import nested_graph

    sizes = [derivative(nested_graph(k), "x").size for k in range(1, 12)]
    assert all(b > 2 * a for a, b in zip(sizes[4:], sizes[5:])), sizes


@pytest.mark.slow  # over ten seconds on 2 busy cores (README, "Tests")
def test_deep_expressions_are_iterative() -> None:
    depth = 100_000
    d = simplify(parse_graph("sin(" * depth + "x" + ")" * depth))
    assert d.size == depth + 1
    assert len(d.text()) == 5 * depth + 1
    assert d.latex().count(r"\sin") == depth
    assert diff_text("(1 + " * depth + "x" + ")" * depth) == "1"
    assert diff_text("-(" * depth + "x" + ")" * depth) == "1"


@pytest.mark.slow  # over ten seconds on 2 busy cores (README, "Tests")
def test_a_long_sum_is_collected_in_one_pass() -> None:
    # a chain of 20,000 '+' would be quadratic if each + made a new sum
    text = " + ".join(f"{k}*x^{k % 5}" for k in range(20_000))
    c = sum(k for k in range(20_000) if k % 5 == 1)
    assert diff_text(text).startswith(f"{4 * sum(k for k in range(20_000) if k % 5 == 4)}*x^3")
    assert diff_text(text).endswith(f" + {c}")


# ---- LaTeX ------------------------------------------------------------------------------------

@pytest.mark.parametrize("text,expected", [
    ("log2(x)", r"\frac{1}{x\,\log\left(2\right)}"),
    ("1/x", r"-\frac{1}{x^{2}}"),
    ("sin(x)^2", r"\sin\left(2\,x\right)"),
    ("x^2*sin(x)", r"x^{2}\,\cos\left(x\right) + 2\,x\,\sin\left(x\right)"),
    ("x^3", r"3\,x^{2}"),
])
def test_latex_by_hand(text: str, expected: str) -> None:
    assert derivative(parse_graph(text), "x").latex() == expected


LATEX_SAMPLES = ["x^2*sin(x)", "1/x", "log2(x)", "sqrt(1-x^2)", "(1-x)/(1+x)", "atan(y/x)",
                 "exp(-x^2)*W_1", "sigmoid(x)*max(x, y)", "abs(x)^3", "x^(3/2)", "tanh(x)",
                 "relu(x) - softplus(x)", "pi*x*e", "1e-20*x", "x^-y", "(-2)^x", "rate*x_2"]


@pytest.mark.parametrize("text", LATEX_SAMPLES)
def test_latex_renders_with_mathtext(text: str) -> None:
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    from matplotlib.mathtext import MathTextParser

    f = parse(text)
    parser = MathTextParser("agg")
    for v in f.variables:
        latex = derivative(f.graph, v).latex()
        parser.parse(f"${latex}$", 72)  # raises ValueError on invalid LaTeX
    from backprop.symbolic.latex import to_latex

    parser.parse(f"${to_latex(f.graph)}$", 72)


def test_mathtext_rejects_what_it_should() -> None:
    """The rendering test can fail: mathtext raises on broken LaTeX."""
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    from matplotlib.mathtext import MathTextParser

    with pytest.raises(ValueError):
        MathTextParser("agg").parse(r"$\frac{1}{x$", 72)


# ---- the command --------------------------------------------------------------------------------

def test_cli_latex_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diff", "log2(x)", "--format", "latex"]) == 0
    assert capsys.readouterr().out == "\\frac{1}{x\\,\\log\\left(2\\right)}\n"
    assert main(["diff", "x^2*y", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out == {"expression": "x^2*y", "order": 1,
                   "derivative": {"x": "2*x*y", "y": "x^2"},
                   "latex": {"x": "2\\,x\\,y", "y": "x^{2}"},
                   "size": {"x": 5, "y": 3}, "wrt": {"x": ["x"], "y": ["y"]}}
    assert main(["diff", "x^2*y", "--format", "latex", "--order", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["\\frac{\\partial^{2} f}{\\partial x^{2}} = 2\\,y",
                     "\\frac{\\partial^{2} f}{\\partial y^{2}} = 0"]


def test_cli_targets(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diff", "1/x", "--order", "4"]) == 0
    assert capsys.readouterr().out == "24/x^5\n"
    assert main(["diff", "log(x*y)", "--wrt", "x"]) == 0
    # the one partial named by --wrt alone, so that it passes on to grad
    assert capsys.readouterr().out == "1/x\n"
    assert main(["diff", "log(x*y)", "--wrt", "x", "--wrt", "y"]) == 0
    # several: each line says which partial it is
    assert capsys.readouterr().out == "x: 1/x\ny: 1/y\n"


def test_diff_expression_result() -> None:
    r = diff_expression("x*y", ["y", "x"])
    assert isinstance(r, DiffResult)
    assert r.text_lines() == ["y: x", "x: y"]
    assert diff_expression("x*y", "y,x").text_lines() == ["1"]  # d2f/dydx


# ---- the fast paths give what the slow ones gave ---------------------------------------------

def test_integers_are_ints_and_one_node_whatever_their_type() -> None:
    from fractions import Fraction

    from backprop.symbolic import canonical as cf
    from backprop.symbolic.store import MUL, NUM, exact

    assert type(exact(Fraction(4, 2))) is int and exact(Fraction(4, 2)) == 2
    assert exact(Fraction(1, 3)) == Fraction(1, 3)
    s = Store()
    two = cf.num(s, 2)
    assert cf.num(s, Fraction(6, 3)) == two and type(s.data(two)) is int
    x = cf.sym(s, "x")
    # a product keyed by an int coefficient and by the equal Fraction is one node
    assert s.node(MUL, (2, ((x, cf.num(s, 3)),))) == s.node(MUL, (Fraction(2), ((x, cf.num(s, 3)),)))
    # an int's negative power is an exact fraction, never a float: 2^-3 = 1/8, (1/2)^-2 = 4
    eighth = cf.power(s, two, cf.num(s, -3))
    assert s.kind(eighth) == NUM and s.data(eighth) == Fraction(1, 8)
    assert type(s.data(eighth)) is Fraction
    assert s.data(cf.power(s, cf.num(s, Fraction(1, 2)), cf.num(s, -2))) == 4
    # (3*x)^-1 = 1/(3*x): the coefficient's power is exact too
    inverse = cf.power(s, cf.mul(s, [cf.num(s, 3), x]), cf.num(s, -1))
    assert s.data(inverse)[0] == Fraction(1, 3)
    # 1/2 + 1/2 collects to the int 1, and x/2 + x/2 to x
    half = cf.num(s, Fraction(1, 2))
    assert type(s.data(cf.add(s, [half, half]))) is int
    assert cf.add(s, [cf.mul(s, [half, x]), cf.mul(s, [half, x])]) == x


def test_sizes_with_int_and_fraction_coefficients_are_the_printed_tree_sizes() -> None:
    for text in ("-x/3 + 2*y - 1", "3*x^2*y/7 - x", "-x*y", "x^(1/2)*y^-1 + 1/3", "-2*x + 5/4"):
        s_result = simplify(parse_graph(text))
        assert s_result.size == tree_size(parse_graph(s_result.text()))


def test_cancel_keeps_the_base_it_found() -> None:
    # (8 - 8x)/(1 - x)^6 = 8(1 - x)/(1 - x)^6 = 8/(1 - x)^5: the factor 1 - x stays as written,
    # so the third derivative of 1/(1 - x)^2 (= 24/(1 - x)^5 by hand) has one base, not two
    assert simplify(parse_graph("(8 - 8*x)/(1 - x)^6")).text() == "8/(1 - x)^5"
    assert diff_text("1/(1-x)^2", "x", 3) == "24/(1 - x)^5"
    assert diff_text("(x-1)/(x^2-1)", "x", 1) == "-1/(x + 1)^2"  # (x - 1) cancelled: 1/(x + 1)


def test_rewrites_are_remembered_not_changed() -> None:
    from backprop.symbolic import rational
    from backprop.symbolic.canonical import add, div, mul, num, power, sub, sym

    s = Store()
    x = sym(s, "x")
    frac = add(s, [div(s, num(s, -1), add(s, [x, num(s, 1)])),
                   div(s, sub(s, x, num(s, 1)), power(s, add(s, [x, num(s, 1)]), num(s, 2)))])
    for name in ("together", "factor_terms", "expand", "pythagoras"):
        rewrite = getattr(rational, name)
        first = rewrite(s, frac)
        assert rewrite(s, frac) is first  # the remembered result itself
        assert first == rewrite.__wrapped__(s, frac)  # what the rewrite makes without memory
    assert rational.together(s, frac)  # there is something to remember
    prod = mul(s, [add(s, [x, num(s, 1)]), power(s, sub(s, x, num(s, 1)), num(s, -1))])
    assert rational.cancel(s, prod) == rational.cancel.__wrapped__(s, prod)


def test_the_shortener_s_graph_is_the_lowered_graph() -> None:
    from backprop.symbolic.printer import graph_text, lower, lower_mapped
    from backprop.symbolic.rational import Shortener

    for text in ("x^2*sin(x)/(x + 1) - 3*x", "(1-x)/(1+x) + 2", "exp(x)*(x^2 - 2*x + 2)"):
        g = parse_graph(text)
        d = derivative(g, "x", 2)  # made from the shortener's own lowering
        s = Store()
        from backprop.symbolic.derivative import canonical_of
        node = canonical_of(s, d.as_graph(), d.as_graph().reachable()).get(d.root)
        shortener = Shortener(s)
        shortener.text_length(node)  # something lowered already
        mine, root = shortener.lowered(node)
        fresh, fresh_root = lower(s, node)
        assert graph_text(mine, root) == graph_text(fresh, fresh_root)
        assert tree_size(mine, root) == tree_size(fresh, fresh_root)
        assert len(mine) == len(mine.reachable(root))  # only what the result uses
        # lower_mapped: each graph node it maps prints as the canonical node it names
        mg, mroot, back = lower_mapped(s, node)
        for gi, ci in back.items():
            assert graph_text(mg, gi) == graph_text(*lower(s, ci))


def test_polynomial_gcd_and_division_against_sympy() -> None:
    import random
    from fractions import Fraction

    from backprop.symbolic import rational

    rng = random.Random(15)

    def poly(degree: int) -> dict:
        return {k: rng.choice([rng.randint(-5, 5), Fraction(rng.randint(-5, 5), rng.randint(1, 4))])
                for k in range(degree + 1)}

    def times(p: dict, q: dict) -> dict:
        out: dict = {}
        for i, u in p.items():
            for j, v in q.items():
                out[i + j] = out.get(i + j, 0) + u * v
        return {k: v for k, v in out.items() if v != 0}

    def expr(p: dict) -> sp.Expr:
        return sum((sp.Rational(v.numerator, v.denominator) * X**k for k, v in p.items()), sp.S(0))

    checked = 0
    for _ in range(80):
        common = poly(rng.randint(0, 2))
        a, b = times(poly(rng.randint(0, 3)), common), times(poly(rng.randint(0, 3)), common)
        if not a or not b:
            continue
        g = rational._gcd(a, b)
        assert sp.expand(expr(g) - sp.Poly(sp.gcd(expr(a), expr(b)), X).monic().as_expr()) == 0
        q, r = rational._divmod(a, b)
        assert sp.expand(expr(q) * expr(b) + expr(r) - expr(a)) == 0
        assert not r or max(r) < max(b)
        assert not any(isinstance(v, float) for v in [*g.values(), *q.values(), *r.values()])
        checked += 1
    assert checked > 50


def test_the_collector_is_paused_and_restored() -> None:
    import gc

    from backprop.symbolic.store import collector_paused

    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner pause does not end the outer one
    assert gc.isenabled()
    with pytest.raises(ValueError), collector_paused():
        raise ValueError
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()  # off before: still off
    finally:
        gc.enable()
    with pytest.raises(InputError):
        diff_text("x +")  # a parse error inside the pause
    assert gc.isenabled()


# ---- every docstring example runs --------------------------------------------------------------

@pytest.mark.parametrize("module", ["backprop.symbolic", "backprop.symbolic.store",
                                    "backprop.symbolic.canonical", "backprop.symbolic.rational",
                                    "backprop.symbolic.derivative", "backprop.symbolic.printer",
                                    "backprop.symbolic.latex"])
def test_docstring_examples(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module))
    assert result.failed == 0
    assert module == "backprop.symbolic.derivative" or result.attempted > 0

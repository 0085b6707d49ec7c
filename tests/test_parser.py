"""The grammar (grammars/expr.lark), the parser's errors, hash-consing and the printer."""

from __future__ import annotations

import math
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backprop import ExpressionError, parse
from backprop.core.graph import Graph
from backprop.core.parser import parse_graph
from backprop.core.printer import to_text
from backprop.core.ops import FUNCTIONS


def canon(graph: Graph, table: dict) -> int:
    """A structural id of the graph's output: equal ids <=> equal expression trees.

    Iterative (arguments precede their users); ``table`` is shared between the
    graphs being compared.
    """
    ids: dict[int, int] = {}
    for i in graph.reachable():
        leaf = graph.leaf[i]
        key = (graph.ops[i], repr(leaf), tuple(ids[j] for j in graph.args[i]))
        ids[i] = table.setdefault(key, len(table))
    return ids[graph.output]


def tree(text: str):
    """The parse as a nested tuple (small expressions only), for readable asserts."""
    g = parse_graph(text)
    out: dict[int, object] = {}
    for i in g.reachable():
        op = g.ops[i]
        out[i] = g.leaf[i] if op in ("const", "var") else (op, *(out[j] for j in g.args[i]))
    return out[g.output]


def same(a: str, b: str) -> bool:
    table: dict = {}
    return canon(parse_graph(a), table) == canon(parse_graph(b), table)


def error(text: str) -> ExpressionError:
    with pytest.raises(ExpressionError) as info:
        parse_graph(text)
    return info.value


def caret_column(exc: ExpressionError) -> int:
    """The column of the caret in the message, relative to the echoed text."""
    lines = str(exc).splitlines()
    caret = lines[-1]
    echoed = lines[-2]
    assert caret.strip() == "^", str(exc)
    # both lines share the same indentation; map back to the text's column
    indent = len(echoed) - len(echoed.lstrip(" "))
    return caret.index("^") - indent


# ---- numbers --------------------------------------------------------------------------

@pytest.mark.parametrize("text,value", [("3", 3.0), ("3.5", 3.5), (".5", 0.5), ("1e-3", 1e-3),
                                        ("2.5E+4", 25000.0), ("3.", 3.0), ("007", 7.0),
                                        ("1E5", 1e5), ("0.1", 0.1)])
def test_numbers(text: str, value: float) -> None:
    assert tree(text) == value
    assert parse(text)() == value


@pytest.mark.parametrize("text", ["1e", "1.2.3", "e5x", ".", "1e+", "..5"])
def test_bad_numbers(text: str) -> None:
    if text == "e5x":  # a variable name, not a number: parses
        assert parse(text).variables == ("e5x",)
        return
    error(text)


# ---- precedence and associativity -----------------------------------------------------

@pytest.mark.parametrize("text,expected", [
    ("-x^2", ("neg", ("pow", "x", 2.0))),
    ("2^3^2", ("pow", 2.0, ("pow", 3.0, 2.0))),
    ("x^-2", ("pow", "x", ("neg", 2.0))),
    ("x**2", ("pow", "x", 2.0)),
    ("x**-y^2", ("pow", "x", ("neg", ("pow", "y", 2.0)))),
    ("a - b - c", ("sub", ("sub", "a", "b"), "c")),
    ("a / b / c", ("div", ("div", "a", "b"), "c")),
    ("a + b * c", ("add", "a", ("mul", "b", "c"))),
    ("a * b + c", ("add", ("mul", "a", "b"), "c")),
    ("-a * b", ("mul", ("neg", "a"), "b")),
    ("a * -b", ("mul", "a", ("neg", "b"))),
    ("--x", ("neg", ("neg", "x"))),
    ("+x", "x"),
    ("-+-x", ("neg", ("neg", "x"))),
    ("(a + b) * c", ("mul", ("add", "a", "b"), "c")),
    ("2^-x^2", ("pow", 2.0, ("neg", ("pow", "x", 2.0)))),
    ("-2^2", ("neg", ("pow", 2.0, 2.0))),
    ("a - -b", ("sub", "a", ("neg", "b"))),
])
def test_precedence(text: str, expected: object) -> None:
    assert tree(text) == expected


def test_precedence_values() -> None:
    assert parse("-x^2")(x=3.0) == -9.0
    assert parse("2^3^2")() == 512.0
    assert parse("x^-2")(x=2.0) == 0.25
    assert parse("2**3**2")() == 512.0
    assert parse("10 - 4 - 3")() == 3.0
    assert parse("64 / 4 / 2")() == 8.0


def test_whitespace_anywhere() -> None:
    assert same(" \t sin ( x ) ^ 2\n*\r\ny ", "sin(x)^2*y")


def test_double_star_must_be_adjacent() -> None:
    error("x * * 2")


def test_unicode_spaces_are_spaces_and_other_characters_are_rejected() -> None:
    # a no-break space pasted from a document is a space (core/normalize.py)
    assert same("x\u00a0+ 1", "x + 1")
    e = error("x + \u03b1")
    assert "not part of the language" in str(e) and "alpha" in str(e)
    assert caret_column(e) == 4


# ---- names: variables, constants, functions -------------------------------------------

def test_constants() -> None:
    assert parse("pi")() == math.pi
    assert parse("e")() == math.e
    assert parse("pi*x + e").variables == ("x",)


def test_identifiers_are_case_sensitive_and_may_contain_digits_and_underscores() -> None:
    f = parse("Pi + PI + E + Sin + x_1 + _y + X")
    assert f.variables == ("Pi", "PI", "E", "Sin", "x_1", "_y", "X")
    assert parse("sinx").variables == ("sinx",)
    assert parse("pi2 + e_").variables == ("pi2", "e_")


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_a_function_name_is_not_a_variable(name: str) -> None:
    e = error(f"1 + {name}")
    assert name in str(e) and "function" in str(e)
    assert caret_column(e) == 4


@pytest.mark.parametrize("name", ["pi", "e"])
def test_a_constant_is_not_a_function(name: str) -> None:
    e = error(f"2*{name}(x)")
    assert "constant" in str(e)
    assert caret_column(e) == 2


def test_unknown_function() -> None:
    e = error("x + foo(x)")
    assert "unknown function 'foo'" in str(e)
    assert caret_column(e) == 4
    e = error("Sinn(x)")  # no function of that name in any case
    assert "unknown function 'Sinn'" in str(e)


@pytest.mark.parametrize("text,col", [("sin(x, y)", 0), ("x + max(x)", 4), ("pow(1, 2, 3)", 0),
                                      ("1 + exp(1,2)", 4), ("atan2(x,y,x)", 0)])
def test_arity_errors(text: str, col: int) -> None:
    e = error(text)
    assert "argument" in str(e)
    assert caret_column(e) == col


def test_arity_message_says_how_many() -> None:
    assert "sin takes 1 argument, got 2" in str(error("sin(x, y)"))
    assert "max takes 2 arguments, got 1" in str(error("max(x)"))


def test_empty_call_is_an_error() -> None:
    error("sin()")


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_function_parses_with_its_arity(name: str) -> None:
    arity = FUNCTIONS[name].arity
    args = ", ".join(["x", "y"][:arity])
    g = parse_graph(f"{name}({args})")
    assert g.ops[g.output] == FUNCTIONS[name].name


# ---- implicit multiplication and other syntax errors, with the caret -----------------

@pytest.mark.parametrize("text,col", [("2x", 1), ("x y", 2), ("2(x)", 1), ("(x)(y)", 3),
                                      ("sin(x) cos(x)", 7), ("3 4", 2), ("x 2", 2)])
def test_no_implicit_multiplication(text: str, col: int) -> None:
    e = error(text)
    assert "implicit multiplication" in str(e)
    assert caret_column(e) == col


@pytest.mark.parametrize("text,col", [("x + * y", 4), ("x +", 3), ("(x + 1", 6), ("x + 1)", 5),
                                      ("sin(x", 5), ("x ^ ^ 2", 4), ("x $ 2", 2), ("", None),
                                      ("   ", None), ("x,y", 1), ("max(x,)", 6)])
def test_syntax_errors_point_at_the_fault(text: str, col: int | None) -> None:
    e = error(text)
    msg = str(e)
    assert "Traceback" not in msg
    if col is None:
        assert "empty" in msg
    elif "too early" in msg:
        # the text ends too early: the caret is under its last character or just past it
        assert caret_column(e) in (len(text.rstrip()) - 1, len(text.rstrip())), msg
    else:
        assert msg.splitlines()[-2].strip().startswith(text.strip()[:3])
        assert caret_column(e) == col, msg


def test_caret_in_a_long_expression_is_windowed() -> None:
    text = "x + " * 200 + "2 3" + " + x" * 200
    e = error(text)
    lines = str(e).splitlines()
    assert len(lines[-2]) < 120
    # the caret sits under the '3' that follows '2 '
    echoed, caret = lines[-2], lines[-1]
    assert echoed[caret.index("^")] == "3"


def test_error_message_is_one_message_then_the_text_and_caret() -> None:
    lines = str(error("sin(x) + 2x")).splitlines()
    assert len(lines) == 3
    assert lines[1].strip() == "sin(x) + 2x"


# ---- hash-consing ----------------------------------------------------------------------

def test_identical_subexpressions_are_one_node() -> None:
    g = parse_graph("sin(x)*sin(x) + sin(x)")
    ops = [g.ops[i] for i in g.reachable()]
    assert ops.count("sin") == 1 and ops.count("var") == 1
    g = parse_graph("(x+1)*(x+1)")
    assert [g.ops[i] for i in g.reachable()].count("add") == 1
    g = parse_graph("2*x + 2*y + 2")
    assert [g.ops[i] for i in g.reachable()].count("const") == 1


def test_different_subexpressions_stay_apart() -> None:
    g = parse_graph("x - y + (y - x)")
    assert [g.ops[i] for i in g.reachable()].count("sub") == 2
    g = parse_graph("2 + 2.0 + 2e0")  # one value, one node
    assert [g.ops[i] for i in g.reachable()].count("const") == 1


def test_exponential_tree_is_a_linear_graph() -> None:
    # t_{k+1} = (t_k)*(t_k): a tree of 2^40 leaves, a graph of ~40 nodes
    text = "x"
    for _ in range(40):
        text = f"({text})*({text})" if len(text) < 2000 else text
    g = parse_graph(text)
    assert len(g.reachable()) < 50


# ---- deep and large inputs: no recursion ---------------------------------------------

def test_100000_deep_parentheses() -> None:
    n = 100_000
    f = parse("(" * n + "x" + ")" * n)
    assert f.size == 1 and f(x=2.5) == 2.5


@pytest.mark.slow  # over ten seconds on 2 busy cores (README, "Tests")
def test_100000_deep_chain_of_modules() -> None:
    # -sin(-sin(...(x)...)): 100,000 nested modules, parsed, differentiated and printed
    n = 50_000
    text = "-sin(" * n + "x" + ")" * n
    f = parse(text)
    assert f.size == 2 * n + 1
    x = 0.9
    value, grad = f.value_and_grad(x=x)
    v, d = x, 1.0  # the same chain by hand, innermost module first
    for _ in range(n):
        d *= -math.cos(v)
        v = -math.sin(v)
    assert value == pytest.approx(v, rel=1e-12) and grad["x"] == pytest.approx(d, rel=1e-9)
    table: dict = {}
    assert canon(parse_graph(to_text(f.graph)), table) == canon(f.graph, table)


@pytest.mark.slow  # over ten seconds on 2 busy cores (README, "Tests")
def test_200000_node_expression(recwarn) -> None:
    # a long sum of distinct terms: a wide, shallow graph with > 200,000 nodes
    n = 40_100
    text = "+".join(f"sin(x+{k})*{k}" for k in range(1, n + 1))  # 5 nodes per term
    assert len(text) < 1_000_000
    f = parse(text)
    assert f.size > 200_000
    v, g = f.value_and_grad(x=0.5)
    assert math.isfinite(v) and math.isfinite(g["x"])
    assert sys.getrecursionlimit() < 200_000  # the test would be pointless otherwise


@pytest.mark.slow  # over ten seconds on 2 busy cores (README, "Tests")
def test_100000_deep_right_associative_power_chain_prints_and_parses_back() -> None:
    n = 100_000
    g = parse_graph("x" + "^x" * n)
    t = to_text(g)
    assert t == "x" + "^x" * n  # right-associative: no parentheses needed
    table: dict = {}
    assert canon(parse_graph(t), table) == canon(g, table)


# ---- the printer round trip --------------------------------------------------------------

NAMES = st.sampled_from(["x", "y", "z1", "pi", "e", "2", "0.5", "1e-3", "3.25e10"])
UNARY = st.sampled_from(["-", "+", *sorted(n for n, p in FUNCTIONS.items() if p.arity == 1)])
BINARY = st.sampled_from(["+", "-", "*", "/", "^", "**", "pow", "max", "min"])


def _un(op: str, a: str) -> str:
    return f"{op}{a}" if op in "-+" else f"{op}({a})"


def _bin(op: str, a: str, b: str, paren_a: bool, paren_b: bool) -> str:
    if op in ("pow", "max", "min"):
        return f"{op}({a}, {b})"
    a = f"({a})" if paren_a else a
    b = f"({b})" if paren_b else b
    return f"{a} {op} {b}"


TEXTS = st.recursive(
    NAMES,
    lambda c: st.one_of(st.builds(_un, UNARY, c),
                        st.builds(_bin, BINARY, c, c, st.booleans(), st.booleans())),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(TEXTS)
def test_printer_round_trip(text: str) -> None:
    try:
        g = parse_graph(text)
    except ExpressionError:
        return  # random text need not parse (e.g. 'x ^ -y ^ z' does; '2 + -' cannot arise)
    printed = to_text(g)
    table: dict = {}
    assert canon(parse_graph(printed), table) == canon(g, table), (text, printed)
    # printing is a fixed point after one round
    assert to_text(parse_graph(printed)) == printed


@pytest.mark.parametrize("text,printed", [
    ("a-(b-c)", "a - (b - c)"), ("(a-b)-c", "a - b - c"), ("a/(b/c)", "a/(b/c)"),
    ("(a^b)^c", "(a^b)^c"), ("a^(b^c)", "a^b^c"), ("(-a)^2", "(-a)^2"), ("-(a^2)", "-a^2"),
    ("a^(-b)", "a^-b"), ("-(-a)", "--a"), ("(a*b)*c", "a*b*c"), ("a*(b*c)", "a*(b*c)"),
    ("((x))", "x"), ("sin((x+1))", "sin(x + 1)"),
])
def test_printer_uses_fewest_parentheses(text: str, printed: str) -> None:
    assert to_text(parse_graph(text)) == printed


def test_round_trip_of_every_function_and_deg_constants() -> None:
    for name, prim in FUNCTIONS.items():
        args = ", ".join(["x - 1", "-y^2"][:prim.arity])
        g = parse_graph(f"{name}({args})")
        table: dict = {}
        assert canon(parse_graph(to_text(g)), table) == canon(g, table)
    g = parse_graph("sin(x) + atan(x)", angle="deg")  # constants like pi/180 print exactly
    table = {}
    assert canon(parse_graph(to_text(g)), table) == canon(g, table)


def test_parse_is_thread_safe_enough_to_reuse() -> None:
    # the parser object is shared; two parses in a row must not leak nodes into each other
    a = parse_graph("x + y")
    b = parse_graph("sin(z)")
    assert len(b.reachable()) == 2 and len(a.reachable()) == 3

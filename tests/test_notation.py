"""The notation of slides and textbooks (issue 27, part 2): each form is read as what it
means, checked against SymPy's value and derivative of the same function written
in SymPy's own terms, or refused with a message that says what to write."""

from __future__ import annotations

import json
import math
import re

import pytest
import sympy as sp
from clikit import run_inprocess

from backprop.core.function import parse
from backprop.errors import ExpressionError
from test_reference_table import SYMPY

X = sp.Symbol("x", real=True)
SIG = SYMPY["sigmoid"](X)


def cli(*argv: str, stdin: str | None = None):
    return run_inprocess(list(argv), stdin)


def check(text: str, reference: sp.Expr, points: tuple[float, ...] = (0.7, 1.3, 2.9),
          warns: bool = False) -> None:
    """``text``'s value and derivative equal SymPy's ``reference`` (in x) at ``points``."""
    f = parse(text)
    assert f.variables == ("x",)
    assert bool(f.warnings) == warns, f.warnings
    d = sp.diff(reference, X)
    for x in points:
        value, grad = f.value_and_grad(x=x)
        assert float(value) == pytest.approx(float(reference.subs(X, x).evalf(30)), rel=1e-13,
                                             abs=1e-14)
        assert float(grad["x"]) == pytest.approx(float(d.subs(X, x).evalf(30)), rel=1e-12,
                                                 abs=1e-13)


@pytest.mark.parametrize("text", ["σ(x)", "σ (x)", "sigma(x)", "Sigma(x)", "sigmoid(x)"])
def test_sigma_is_the_sigmoid(text: str) -> None:
    check(text, SIG, warns=text == "Sigma(x)")


def test_sigma_alone_is_still_a_letter_to_spell_out() -> None:
    with pytest.raises(ExpressionError, match="sigma"):
        parse("σ*x")
    assert parse("sigma*x").variables == ("sigma", "x")  # a variable called sigma


@pytest.mark.parametrize("text,reference,warns", [
    ("ReLU(x) + Softplus(x)", sp.Max(0, X) + SYMPY["softplus"](X), False),
    ("Abs(x - 3) + Max(1, x) + Min(x, 2)", sp.Abs(X - 3) + sp.Max(1, X) + sp.Min(X, 2), False),
    ("Tanh(x)", sp.tanh(X), True),
    ("Exp(x) + Sin(x)", sp.exp(X) + sp.sin(X), True),
    ("LOG(x)", sp.log(X), True),
])
def test_names_in_another_case_are_the_function(text: str, reference: sp.Expr,
                                                warns: bool) -> None:
    check(text, reference, warns=warns)


def test_another_case_warns_once_per_name_and_names_it() -> None:
    f = parse("Tanh(x) + Tanh(2*x) + ReLU(x)")
    assert f.warnings == ("'Tanh' is read as the function tanh",)


def test_a_declared_variable_keeps_its_name() -> None:
    # --vars Tanh: Tanh(x) is then that variable next to a parenthesis, not tanh
    with pytest.raises(ExpressionError, match=r"Tanh\*\(x\)"):
        parse("Tanh(x)", vars=["Tanh", "x"])
    with pytest.raises(ExpressionError, match=r"sigma\*\(x\)"):
        parse("sigma(x)", vars=["sigma", "x"])


@pytest.mark.parametrize("text,reference", [
    ("|x - 3|", sp.Abs(X - 3)),
    ("||x| - 1|", sp.Abs(sp.Abs(X) - 1)),
    ("|x - |x - 2||*2", 2 * sp.Abs(X - sp.Abs(X - 2))),
    ("|-x| + |x|^2", sp.Abs(-X) + sp.Abs(X) ** 2),
])
def test_bars_are_the_absolute_value(text: str, reference: sp.Expr) -> None:
    check(text, reference, points=(0.7, 1.3, 2.9, -1.7, 3.4))


@pytest.mark.parametrize("text,message", [
    ("|x", "a '|' is not closed"), ("x|", "bars come in pairs"), ("|x - |y|", "not closed"),
    ("|x||y|", "write |a|*|b|"), ("2|x|", "write |a|*|b|"),
    ("|x|(2)", "no implicit multiplication"), ("||", "ends too early")])
def test_bars_that_do_not_pair_are_a_clear_error(text: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=re.escape(message)):
        parse(text)


@pytest.mark.parametrize("text,reference", [
    ("sin^2(x)", sp.sin(X) ** 2),
    ("sin²(x) + cos²(x)", sp.Integer(1) + 0 * X),
    ("sin**2(x)", sp.sin(X) ** 2),
    ("tanh^3(x/2)", sp.tanh(X / 2) ** 3),
    ("2*cos^2(x) - 1", 2 * sp.cos(X) ** 2 - 1),
])
def test_a_power_of_a_function_is_the_power_of_its_value(text: str, reference: sp.Expr) -> None:
    check(text, reference)


def test_inverse_notation_suggests_the_inverse_function() -> None:
    with pytest.raises(ExpressionError, match=r"write asin\(\.\.\.\)"):
        parse("sin^-1(x)")
    with pytest.raises(ExpressionError, match=r"write atan\(\.\.\.\)"):
        parse("tan⁻¹(x)")
    with pytest.raises(ExpressionError, match=r"cos\(\.\.\.\)\^-2"):
        parse("cos^-2(x)")
    with pytest.raises(ExpressionError, match="no implicit multiplication"):
        parse("x^2(x)")  # a variable's power, then a parenthesis


@pytest.mark.parametrize("text,reference", [
    ("max(1, x^2, x + 1)", sp.Max(1, X ** 2, X + 1)),
    ("min(x, 2, x^2, 3)", sp.Min(X, 2, X ** 2, 3)),
    ("Max(1, x, x^3/4)", sp.Max(1, X, X ** 3 / 4)),
])
def test_max_and_min_of_more_arguments_nest(text: str, reference: sp.Expr) -> None:
    check(text, reference, points=(0.7, 1.3, 2.9, -1.7, 0.5))


@pytest.mark.parametrize("text,reference", [
    ("sec(x)", sp.sec(X)), ("csc(x)", sp.csc(X)), ("cot(x)", sp.cot(X)),
    ("sech(x)", sp.sech(X)), ("csch(x)", sp.csch(X)), ("coth(x)", sp.coth(X)),
    ("acot(x)", sp.acot(X)), ("Sec(x)", sp.sec(X)),
    ("log(x, 2)", sp.log(X, 2)), ("log(x, 10)", sp.log(X, 10)), ("log(x, 3)", sp.log(X, 3)),
    ("ln(x, 7)", sp.log(X, 7)),
])
def test_functions_the_language_lacks_by_their_definition(text: str, reference: sp.Expr) -> None:
    check(text, reference, points=(0.7, 1.3, 2.9, -1.7) if "log" not in text and "ln" not in text
          else (0.7, 1.3, 2.9), warns=text == "Sec(x)")


def test_acot_follows_sympy_on_negative_numbers_and_rewrites_print_as_definitions() -> None:
    assert parse("acot(x)").value_and_grad(x=-2.0)[0] == pytest.approx(float(sp.acot(-2)))
    assert str(parse("sec(x)")) == "1/cos(x)"
    assert str(parse("log(x, 2)")) == "log2(x)"
    assert str(parse("log(x, b)")) == "log(x)/log(b)"
    # degrees reach the definition: sec(60 degrees) = 2
    assert parse("sec(x)", angle="deg").value_and_grad(x=60.0)[0] == pytest.approx(2.0)


def test_declared_variables_have_a_partial_of_zero() -> None:
    f = parse("x^2", vars=["x", "y"])
    assert f.variables == ("x", "y")
    value, grad = f.value_and_grad(x=1.0, y=2.0)
    assert (value, grad["x"], grad["y"]) == (1.0, 2.0, 0.0)


def test_grad_and_diff_of_a_declared_variable_give_zero() -> None:
    r = cli("grad", "x^2", "--vars", "x,y", "--at", "x=1,y=2", "--format", "json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["grad"] == {"x": 2.0, "y": 0.0}
    r = cli("diff", "x^2", "--wrt", "y", "--vars", "x,y")
    assert (r.code, r.out) == (0, "0\n")
    r = cli("diff", "pi", "--wrt", "x", "--vars", "x")
    assert (r.code, r.out) == (0, "0\n")


def test_without_vars_the_typo_guard_says_how_to_ask_for_the_zero() -> None:
    r = cli("diff", "x^2", "--wrt", "y")
    assert r.code == 2 and "y is not a variable" in r.err and "--vars x,y" in r.err
    r = cli("grad", "x^2", "--wrt", "y", "--at", "1")
    assert r.code == 2 and "--vars x,y" in r.err


@pytest.mark.parametrize("args", [["diff", "3"], ["diff", "3", "--wrt", "x"],
                                  ["diff", "pi", "--wrt", "x"], ["diff", "2*pi + e^2"]])
def test_the_derivative_of_a_constant_is_zero(args: list[str]) -> None:
    r = cli(*args)
    assert (r.code, r.out) == (0, "0\n"), r.err


@pytest.mark.parametrize("text,hint", [("sin x", "did you mean sin(x)?"),
                                       ("2*exp x", "did you mean exp(x)?"),
                                       ("cos 2", "did you mean cos(2)?")])
def test_a_function_without_parentheses_gets_them_as_a_hint(text: str, hint: str) -> None:
    with pytest.raises(ExpressionError, match=hint.replace("(", r"\(").replace(")", r"\)")
                       .replace("?", r"\?")):
        parse(text)


def test_a_file_named_without_its_at_sign(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "points.csv").write_text("x\n1\n2\n")
    r = cli("grad", "x^2", "--at", "points.csv")
    assert r.code == 2 and "did you mean --at @points.csv?" in r.err
    r = cli("grad", "x*y", "--at", "points.csv")
    assert r.code == 2 and "did you mean --at @points.csv?" in r.err


@pytest.mark.parametrize("args", [["--format", "JSON"], ["--format", "Json", "--angle", "DEG"],
                                  ["--angle", "degrees", "--format", "json"],
                                  ["--angle", "Deg", "-f", "json"]])
def test_choices_ignore_case_and_take_the_units_names(args: list[str]) -> None:
    r = cli("grad", "sin(x)", "--at", "30", *args)
    assert r.code == 0, r.err
    value = json.loads(r.out)["value"]
    deg = "deg" in " ".join(args).lower()
    assert value == pytest.approx(0.5 if deg else math.sin(30.0))
    r = cli("grad", "sin(x)", "--at", "1", "--angle", "Radians", "--format", "CSV")
    assert r.code == 0 and r.out.splitlines()[1].split(",")[1] == repr(math.sin(1.0))


def test_the_trace_shows_local_derivatives_simplified() -> None:
    r = cli("grad", "x^2 + x^3 + x^0.5 + sigmoid(x)", "--at", "2", "--trace", "--format", "json")
    assert r.code == 0, r.err
    t = json.loads(r.out)
    local = {(b["node"], b["input"]): b["local"] for b in t["backward"]}
    computes = {s["node"]: s["computes"] for s in t["forward"]}
    by_text = {computes[n]: text for (n, i), text in local.items() if i == "x"}
    assert by_text["x^2"] == "2*x"
    assert by_text["x^3"] == "3*x^2"
    assert by_text["x^0.5"] == "0.5*x^(-0.5)"
    assert by_text["sigmoid(x)"] == "sigmoid(x)*(1 - sigmoid(x))"
    # and each shown local derivative is the value the pass used (by hand)
    values = {(b["node"], b["input"]): b["local_value"] for b in t["backward"]}
    for (n, i), text in local.items():
        if i == "x":
            expected = {"x^2": 4.0, "x^3": 12.0, "x^0.5": 0.5 / math.sqrt(2.0),
                        "sigmoid(x)": math.exp(-2) / (1 + math.exp(-2)) ** 2}[computes[n]]
            assert values[(n, i)] == pytest.approx(expected, rel=1e-15)


def test_the_trace_warns_as_grad_does() -> None:
    plain = cli("grad", "asin(x)", "--at", "2")
    traced = cli("grad", "asin(x)", "--at", "2", "--trace")
    assert plain.code == traced.code == 0
    assert "warning:" in plain.err and plain.err == traced.err

"""Input that never silently means something else (issue 12): typos, pasted notation,
aliases, numbers that overflow, constant expressions as point values, -0.0, and the
command line's messages about them."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import sympy as sp
from clikit import run_backprop, run_inprocess

from backprop.core.constant import constant
from backprop.core.function import parse
from backprop.core.normalize import normalize
from backprop.core.ops import ALIASES, FUNCTIONS, PRIMITIVES
from backprop.core.parser import typo_guess
from backprop.errors import ExpressionError, InputError


def cli(*argv: str, stdin: str | None = None):
    return run_inprocess(list(argv), stdin)


def caret_column(e: ExpressionError) -> int:
    line = str(e).splitlines()[-1]
    return line.index("^") - 2


# ---- 1. names that look like typos -------------------------------------------------------

# Real variable names from code, papers and spreadsheets: none may warn, alone or with x.
REAL_NAMES = [
    "cost", "costs", "cost_total", "expected", "expectation", "sine_rate", "exponent",
    "cosmic", "tangent", "logit", "logits", "pixel", "pixels", "pitch", "pivot", "pipe",
    "signal", "signed", "steps", "stepsize", "absolute", "absent", "maximum", "minimum",
    "sine", "cosine", "cosy", "tanker", "login", "logic", "expiry", "export", "exports",
    "sinusoid", "tank", "tant", "sinh_rate", "square", "sqrtm_est", "relu_out", "powder",
    "power", "sigmoid_scale", "softplus_beta", "acosmic", "asinine", "lnorm", "lng",
    "arctic", "expense", "explained", "logistic", "sign_flip", "x", "y", "lr", "tau", "W", "b",
    "ex", "ey", "eta", "epsilon", "e0",
]


@pytest.mark.parametrize("name", REAL_NAMES)
def test_real_names_do_not_warn(name: str) -> None:
    assert parse(name).warnings == ()
    assert parse(f"{name}*x + x").warnings == ()


@pytest.mark.parametrize("name, meant", [
    ("sinx", "sin(x)"), ("expx", "exp(x)"), ("logx", "log(x)"), ("sqrtx", "sqrt(x)"),
    ("pix", "pi*x"), ("lnx", "ln(x)"), ("cosx1", "cos(x1)"), ("tantheta", "tan(theta)"),
    ("sin2x", "sin(2*x)"), ("log10x", "log10(x)"), ("sinhx", "sinh(x)"), ("arctanx", "arctan(x)"),
    ("cost0", "cos(t0)"),
])
def test_function_glued_to_its_argument_warns(name: str, meant: str) -> None:
    (w,) = parse(name).warnings
    assert w == f"'{name}' is read as one variable; did you mean {meant}?"


def test_a_name_also_used_alone_makes_the_glued_name_a_typo() -> None:
    # rule (1): "cost" alone is a word; next to a variable t it reads as cos(t)
    assert parse("cost * x").warnings == ()
    assert parse("cost + t").warnings == ("'cost' is read as one variable; did you mean cos(t)?",)
    assert typo_guess("expy", ["y"]) == "exp(y)"
    assert typo_guess("expy", []) is None


def test_call_of_a_variable_suggests_the_product() -> None:
    with pytest.raises(ExpressionError) as info:
        parse("x(x+1)")
    assert "did you mean x*(x+1)?" in str(info.value)
    assert caret_column(info.value) == 0
    with pytest.raises(ExpressionError) as info:
        parse("2*sine(x)")
    assert "did you mean sin?" in str(info.value)


def test_declared_variables() -> None:
    assert parse("x*y", vars=["x", "y"]).variables == ("x", "y")
    # declared but unused: a variable all the same (its partial derivative is 0; issue 27)
    assert parse("x", vars=["x", "y"]).variables == ("x", "y")
    with pytest.raises(ExpressionError) as info:
        parse("x + sinx", vars=["x"])
    assert "'sinx' is not one of the declared variables (x); did you mean sin(x)?" in str(info.value)
    assert caret_column(info.value) == 4
    with pytest.raises(ExpressionError, match="'sin' is a function"):
        parse("x", vars=["sin"])
    with pytest.raises(ExpressionError, match="not a variable name"):
        parse("x", vars=["2x"])


def test_cli_typo_warning_and_vars() -> None:
    r = cli("grad", "sinx", "--at", "1")
    assert r.code == 0 and "sin(x)" in r.err and "warning" in r.err
    r = cli("grad", "cost*x", "--at", "cost=1,x=2")
    assert r.code == 0 and r.err == ""
    r = cli("grad", "--vars", "x", "sinx", "--at", "1")
    assert r.code == 2 and "sin(x)" in r.err and "^" in r.err and "Traceback" not in r.err
    for command in (["diff"], ["compare", "--at", "1"], ["descend", "--from", "1"], ["graph"]):
        r = cli(command[0], "--vars", "x", "x*y", *command[1:])
        assert r.code == 2, (command, r.err)
        assert "'y' is not one of the declared variables (x)" in r.err
    r = cli("grad", "--vars", "pi", "x", "--at", "1")
    assert r.code == 2 and "--vars: 'pi' is a constant" in r.err
    r = cli("grad", "--vars", ",", "x", "--at", "1")
    assert r.code == 2 and "--vars is empty" in r.err


def test_several_expressions_warn_of_typos_and_take_vars() -> None:
    """A Jacobian's expressions are read like one expression's: same warnings, same --vars."""
    r = cli("grad", "sinx; x", "--at", "sinx=1,x=2", "--format", "csv")
    assert r.code == 0 and "'sinx' is read as one variable; did you mean sin(x)?" in r.err
    r = cli("grad", "--vars", "x", "sinx; x", "--at", "x=2")
    assert r.code == 2 and "'sinx' is not one of the declared variables (x)" in r.err
    assert "^" in r.err and "Traceback" not in r.err
    r = cli("grad", "--vars", "x,y", "x*y; x+y", "--at", "x=1,y=2", "--format", "csv")
    assert r.code == 0 and r.err == ""
    assert r.out.splitlines()[1] == "1.0,2.0,2.0,3.0,2.0,1.0,1.0,1.0"  # x*y, x+y: by hand


# ---- 2. aliases and new primitives, against SymPy --------------------------------------------

def test_aliases_are_the_same_modules() -> None:
    for alias, name in ALIASES.items():
        assert name in FUNCTIONS, alias
        f, g = parse(f"{alias}(x)"), parse(f"{name}(x)")
        assert str(f) == str(g)


X = sp.Symbol("x", real=True)


# asinh, acosh, atanh and atan2 (with the others) against SymPy on every pass, their
# templates too, at their edges (1e200, 0.999, x = 0): tests/test_reference_table.py


def test_issue_example_ln_arctan_atan2_exact() -> None:
    r = cli("grad", "ln(x) + arctan(x) + atan2(x, 2)", "--at", "1.5", "--format", "json")
    assert r.code == 0, r.err
    out = json.loads(r.out)
    expr = sp.log(X) + sp.atan(X) + sp.atan2(X, 2)
    x0 = sp.Rational(3, 2)
    assert out["value"] == pytest.approx(float(expr.subs(X, x0)), rel=1e-15)
    assert out["grad"]["x"] == pytest.approx(float(sp.diff(expr, X).subs(X, x0)), rel=1e-15)


def test_atan2_in_degrees_returns_degrees() -> None:
    f = parse("atan2(y, x)", angle="deg")
    assert f(y=1.0, x=1.0) == pytest.approx(45.0, rel=1e-15)


def test_symbolic_derivative_of_aliases_parses_back() -> None:
    r = cli("diff", "ln(x)*arcsin(x)")
    assert r.code == 0, r.err
    g = parse(r.out.strip())
    x0 = 0.3
    want = math.asin(x0) / x0 + math.log(x0) / math.sqrt(1 - x0 * x0)
    assert g(x=x0) == pytest.approx(want, rel=1e-14)


# ---- 3. the notation people paste ------------------------------------------------------------

@pytest.mark.parametrize("typed, ascii_", [
    ("π·x² − 1", "pi*x^2 - 1"), ("x × y ÷ 2", "x * y / 2"), ("x⁻¹", "x^-1"),
    ("(x+1)³", "(x+1)^3"), ("√(x)", "sqrt(x)"), ("√x + √2", "sqrt(x) + sqrt(2)"),
    ("x\u00a0+\u20091", "x + 1"), ("x – 1", "x - 1"), ("x⋅y", "x*y"), ("x¹⁰", "x^10"),
    ("2·π", "2*pi"), ("π", "pi"),
])
def test_normalised_notation_means_the_ascii(typed: str, ascii_: str) -> None:
    f, g = parse(typed), parse(ascii_)
    assert str(f) == str(g)
    point = {v: 0.7 + k for k, v in enumerate(g.variables)}
    assert f(**point) == g(**point)


def test_issue_example_unicode_equals_ascii_exactly() -> None:
    a = cli("grad", "π·x² − 1", "--at", "2", "--format", "json")
    b = cli("grad", "pi*x^2 - 1", "--at", "2", "--format", "json")
    assert a.code == b.code == 0 and a.out == b.out


def test_position_map_keeps_carets_under_the_typed_character() -> None:
    text, origin = normalize("π·x² + √y")
    assert text == "pi*x^2 + sqrt(y)"
    assert origin is not None and len(origin) == len(text) + 1
    for i, ch in enumerate(text):
        assert 0 <= origin[i] < len("π·x² + √y")
    with pytest.raises(ExpressionError) as info:
        parse("π·x² + (")  # ends too early: the caret under the last typed character
    assert caret_column(info.value) == len("π·x² + ")
    with pytest.raises(ExpressionError) as info:
        parse("x² * 2π")  # "2pi": implicit multiplication, caret under π
    assert caret_column(info.value) == len("x² * 2")
    with pytest.raises(ExpressionError) as info:
        parse("π·x² + 1e999")
    assert caret_column(info.value) == len("π·x² + ")


@pytest.mark.parametrize("typed, hint", [
    ("x + θ", "theta"), ("x — 1", "'-'"), ("ｘ + 1", "did you mean 'x'?"),
    ("“x”", "quotes"), ("x∞", "infinity"), ("sin(30°)", "--angle deg"), ("xⁿ", "^"),
    ("x ⊕ y", ""),
])
def test_other_non_ascii_is_refused_with_a_hint(typed: str, hint: str) -> None:
    with pytest.raises(ExpressionError) as info:
        parse(typed)
    msg = str(info.value)
    assert "is not part of the language" in msg and hint in msg
    bad = next(i for i, ch in enumerate(typed) if not ch.isascii() and ch not in "²")
    assert caret_column(info.value) == bad


def test_ascii_text_is_not_copied() -> None:
    text = "x*y" * 1000
    out, origin = normalize(text)
    assert out is text and origin is None


# ---- 4. numbers ------------------------------------------------------------------------------

def test_overflowing_literal_is_an_input_error() -> None:
    r = cli("grad", "x*1e999", "--at", "1")
    assert r.code == 2 and "1e999" in r.err and "too large" in r.err
    with pytest.raises(ExpressionError):
        parse("1.8e308")
    assert parse("1.7e308")() == 1.7e308


def test_overflowing_point_value_is_an_input_error() -> None:
    for argv in (["grad", "x", "--at", "1e400"], ["grad", "x*y", "--at", "x=1,y=-1e400"],
                 ["descend", "x^2", "--from", "1e400"]):
        r = cli(*argv)
        assert r.code == 2, argv
        assert "1e400" in r.err and "too large" in r.err
    assert "--from" in cli("descend", "x^2", "--from", "1e400").err


@pytest.mark.parametrize("text, want", [
    ("pi/4", math.pi / 4), ("-1e-3", -1e-3), ("2^-10", 2.0 ** -10), ("sqrt(2)", math.sqrt(2)),
    ("atan2(1, 1)", math.pi / 4), ("-(e)", -math.e), ("π/2", math.pi / 2), ("inf", math.inf),
])
def test_constant_expressions_as_point_values(text: str, want: float) -> None:
    assert constant(text) == want


def test_constant_expression_errors_name_the_option() -> None:
    with pytest.raises(InputError, match="--at x: .*cannot name a variable"):
        constant("x+1", "--at x")
    with pytest.raises(InputError, match="--at: 1/0 is inf"):
        constant("1/0", "--at")
    with pytest.raises(InputError, match="--at: log\\(-1\\) is nan"):
        constant("log(-1)", "--at")


def test_cli_at_constant_expressions() -> None:
    r = cli("grad", "sin(x)", "--at", "pi/4", "--format", "json")
    assert r.code == 0, r.err
    out = json.loads(r.out)
    assert out["at"]["x"] == math.pi / 4 and out["grad"]["x"] == math.cos(math.pi / 4)
    r = cli("grad", "x*y", "--at", "x=atan2(1, 1),y=2^-10", "--format", "json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["at"] == {"x": math.pi / 4, "y": 2.0 ** -10}


# ---- 5. the small ones -----------------------------------------------------------------------

def test_kinks_never_return_negative_zero() -> None:
    # PyTorch: relu(-2) = 0.0, relu'(-2) = 0.0, abs'(0) = 0.0, sign(-0.0)... the forward
    # values and local derivatives at and left of each kink have no sign bit.
    xs = np.array([-2.0, -1e-300, -0.0, 0.0])
    for name in ("relu", "abs", "step", "sign"):
        p = PRIMITIVES[name]
        out = p.forward(xs)
        locals_ = np.broadcast_to(p.partials[0](out, xs), xs.shape)
        for arr in (out[[0, 1, 2, 3]] if name != "abs" else out[2:], locals_):
            zeros = arr[arr == 0]
            assert not np.signbit(zeros).any(), (name, arr)
    r = cli("grad", "relu(x)", "--at", "-2", "--format", "json")
    assert json.loads(r.out) == {"at": {"x": -2.0}, "value": 0.0, "grad": {"x": 0.0}}
    assert '"value": 0.0' in r.out
    assert not math.copysign(1.0, parse("relu(x)")(x=-3.0)) < 0


def test_no_variables_point_message_does_not_suggest_a_comma() -> None:
    r = cli("grad", "3", "--at", "1")
    assert r.code == 2 and "'--at ,'" not in r.err and "no variables" in r.err
    assert cli("grad", "3", "--at", "").code == 0


def test_descend_at_points_to_from() -> None:
    r = cli("descend", "x^2", "--at", "1")
    assert r.code == 2 and "--from 1" in r.err and "No such option" not in r.err
    r = cli("descend", "x^2")
    assert r.code == 2 and "missing option '--from'" in r.err


def test_train_errors_name_the_option_typed(tmp_path) -> None:
    from pathlib import Path

    config = str(Path(__file__).resolve().parent.parent / "configs" / "sine.yaml")
    r = cli("train", config, "--lr", "0", "--quiet")
    assert r.code == 2 and r.err.startswith("backprop: error: --lr: ") and "learning_rate" not in r.err
    r = cli("train", config, "--learning-rate", "-1", "--quiet")
    assert r.code == 2 and "--learning-rate: " in r.err
    r = cli("train", config, "--epochs", "0", "--quiet")
    assert r.code == 2 and "--epochs: " in r.err
    r = cli("train", config, "--lr", "0.1", "--learning-rate", "0.2", "--quiet")
    assert r.code == 2 and "once" in r.err


def test_predict_on_a_config_says_it_is_not_a_model() -> None:
    from pathlib import Path

    config = str(Path(__file__).resolve().parent.parent / "configs" / "sine.yaml")
    r = cli("predict", config, "--at", "1")
    assert r.code == 2
    assert "not a backprop model file" in r.err and "backprop train" in r.err
    assert "pickle" not in r.err


def test_bare_backprop_prints_the_help_and_exits_0() -> None:
    r = cli()
    assert r.code == 0 and r.err == ""
    assert "Usage: backprop" in r.out and "grad" in r.out


def test_long_option_with_one_dash_is_named() -> None:
    r = cli("grad", "x", "-at", "3")
    assert r.code == 2
    assert "no such option '-at': did you mean '--at'?" in r.err and "Missing option" not in r.err
    r = cli("grad", "x", "--at", "1", "-wrt", "x")
    assert r.code == 2 and "'--wrt'" in r.err
    # before the expression, -at is the expression -(at)
    r = cli("grad", "-at", "--at", "at=2", "--format", "csv")
    assert r.code == 0 and r.out.splitlines()[1] == "2.0,-2.0,-1.0"


def test_shell_completion_is_available() -> None:
    import os

    r = cli("--help")
    assert "--install-completion" in r.out and "--show-completion" in r.out
    env = {**os.environ, "COMP_WORDS": "backprop gr", "COMP_CWORD": "1",
           "_BACKPROP_COMPLETE": "complete_bash"}
    p = run_backprop(env=env, timeout=60)
    assert p.returncode == 0 and p.stdout.split() == ["grad", "graph"], p.stderr
    env.update(COMP_WORDS="backprop grad x --f", COMP_CWORD="3")
    p = run_backprop(env=env, timeout=60)
    assert "--format" in p.stdout.split(), p.stderr


def test_python_api_top_level_parse_warns_and_declares() -> None:
    import backprop

    with pytest.warns(UserWarning, match=r"did you mean sin\(x\)\?"):
        f = backprop.parse("sinx")
    assert f.warnings and f.variables == ("sinx",)
    with pytest.raises(backprop.ExpressionError, match="declared variables"):
        backprop.parse("sinx", vars=["x"])
    assert backprop.parse("sin(x)", vars=["x"]).variables == ("x",)

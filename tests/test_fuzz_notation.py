"""Fuzzing the pasted notation and the aliases (issue 12).

* Random text over an alphabet that mixes ASCII tokens with the characters
  core/normalize.py rewrites (and some it refuses): parsing returns a Function
  or raises ExpressionError, never anything else, and the caret of an error
  stands inside the typed text.
* Differential: an expression written with the pasted notation and the same
  expression in ASCII print the same graph and give the same output through
  the command line, byte for byte.
* Typo warnings never fire on the real names, whatever they are combined with.
"""

from __future__ import annotations

import json

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from clikit import run_inprocess
from fuzzkit import check_contract
from test_input import REAL_NAMES

from backprop.core.function import parse
from backprop.core.normalize import normalize
from backprop.errors import ExpressionError

FUZZ = settings(deadline=None, suppress_health_check=list(HealthCheck), derandomize=False)

PASTED = ["π", "·", "×", "÷", "−", "–", "²", "³", "⁻", "⁺", "¹", "⁰", "√", "\u00a0", "\u2009",
          "θ", "—", "ｘ", "∞", "°", "ⁿ", "“"]
ASCII = ["x", "y", "1", "2", ".5", "1e3", "(", ")", ",", "+", "-", "*", "/", "^", " ", "pi", "e",
         "sin(", "ln(", "arctan(", "atan2(", "asinh(", "sqrt(", "sinx", "cost", "x(", "1e999"]

# (pasted, ascii) pairs that must mean the same; built from pieces below
TWINS = [("π", "pi"), ("x²", "x^2"),
         ("y³", "y^3"), ("x⁻¹", "x^-1"), ("√(x)", "sqrt(x)"), ("√y", "sqrt(y)"),
         ("ln(x)", "log(x)"), ("arctan(y)", "atan(y)"), ("arsinh(x)", "asinh(x)")]
OPS = ["+", "*", "-", "/"]
PASTED_OPS = {"*": ["*", "·", "×"], "/": ["/", "÷"], "-": ["-", "−"], "+": ["+"]}


@given(parts=st.lists(st.sampled_from(PASTED + ASCII), max_size=25))
@settings(FUZZ, max_examples=400)
def test_random_pasted_text_parses_or_is_refused(parts: list[str]) -> None:
    text = "".join(parts)
    try:
        rewritten, origin = normalize(text)
    except ExpressionError:
        rewritten, origin = None, None
    if origin is not None:
        assert len(origin) == len(rewritten) + 1
        assert all(0 <= o <= len(text) for o in origin)
        assert origin == sorted(origin)  # rewriting never reorders
    try:
        parse(text)
    except ExpressionError as exc:
        last = str(exc).splitlines()[-1]
        if last.strip() == "^":  # the caret line: within the shown line (plus one for the end)
            assert len(last) - 3 <= len(str(exc).splitlines()[-2]) - 2 + 1


@st.composite
def twin(draw: st.DrawFn) -> tuple[str, str]:
    n = draw(st.integers(1, 5))
    pasted, ascii_ = [], []
    for k in range(n):
        if k:
            op = draw(st.sampled_from(OPS))
            pasted.append(draw(st.sampled_from(PASTED_OPS[op])))
            ascii_.append(op)
        a, b = draw(st.sampled_from(TWINS))
        pasted.append(a)
        ascii_.append(b)
    return " ".join(pasted), " ".join(ascii_)


@given(pair=twin())
@settings(FUZZ, max_examples=60)
def test_pasted_notation_gives_the_ascii_output(pair: tuple[str, str]) -> None:
    pasted, ascii_ = pair
    assert str(parse(pasted)) == str(parse(ascii_))
    variables = parse(ascii_).variables
    point = ",".join(f"{v}={0.6 + k}" for k, v in enumerate(variables)) or ""
    a = run_inprocess(["grad", pasted, "--at", point, "--format", "json"])
    b = run_inprocess(["grad", ascii_, "--at", point, "--format", "json"])
    check_contract(a, allowed=(0, 2))  # answered, or bad input with one message
    assert (a.code, a.out) == (b.code, b.out)
    if a.code == 0:
        json.loads(a.out)


# ("cost + t" and "cosy + y" warn by rule (1), as documented: a name ending in the other
# variable is left out)
@given(name=st.sampled_from(REAL_NAMES), other=st.sampled_from(["x", "y", "z", "W", "tau", "b1"]),
       op=st.sampled_from(OPS))
@settings(FUZZ, max_examples=150)
def test_real_names_never_warn(name: str, other: str, op: str) -> None:
    assume(name == other or not name.endswith(other))
    f = parse(f"{name} {op} {other}")
    assert f.warnings == (), (name, other)

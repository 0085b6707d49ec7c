"""The float passes at one point (core/scalar.py) against numpy's passes over arrays.

The two are separate implementations of every primitive (the math module and
numpy), so each checks the other: values and partial derivatives must agree to
within a few units in the last place, and where math raises, the float passes
must hand over to numpy (None), never answer something else.
"""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backprop import parse
from backprop.core.ops import PRIMITIVES
from backprop.core.scalar import FloatPasses

# where each module of one argument is smooth and finite
DOMAINS = {
    "asin": (-0.99, 0.99), "acos": (-0.99, 0.99), "atanh": (-0.99, 0.99),
    "acosh": (1.01, 50.0), "log": (0.01, 100.0), "log2": (0.01, 100.0),
    "log10": (0.01, 100.0), "sqrt": (0.01, 100.0), "tan": (-1.5, 1.5),
    "log1p": (-0.99, 100.0),
}
ONE_ARGUMENT = sorted(p for p, prim in PRIMITIVES.items() if prim.arity == 1 and p != "neg")
TWO_ARGUMENTS = {"add": "x + y", "sub": "x - y", "mul": "x*y", "div": "x/y", "pow": "x^y",
                 "max": "max(x, y)", "min": "min(x, y)", "atan2": "atan2(x, y)",
                 "hypot": "hypot(x, y)"}
ULPS = 8  # a partial is up to three roundings of an elementary function apart


def close(a: float, b: float, ulps: int = ULPS) -> bool:
    return a == b or abs(a - b) <= ulps * math.ulp(max(abs(a), abs(b)))


def agree(text: str, points: dict[str, np.ndarray], ulps: int = ULPS,
          may_hand_over: bool = False) -> None:
    f = parse(text)
    names = list(f.variables)
    batch = f.gradients(points, names)  # numpy's passes over arrays
    passes = FloatPasses(f.graph, names)
    for r, row in enumerate(batch.rows()):
        found = passes({v: float(points[v][r]) for v in names})
        if found is None and may_hand_over:
            continue  # math raised (cosh overflows inside tanh's derivative): numpy answers
        assert found is not None, (text, row)
        value, partials = found
        k = len(names)
        assert close(value, row[k], ulps), (text, row, value)
        for m, d in enumerate(partials):
            assert close(d, row[k + 1 + m], ulps), (text, names[m], row, partials)


def test_every_primitive_is_in_the_check() -> None:
    assert set(PRIMITIVES) == set(ONE_ARGUMENT) | set(TWO_ARGUMENTS) | {"neg"}


@pytest.mark.parametrize("op", ONE_ARGUMENT)
def test_functions_of_one_argument_agree_with_numpy(op: str) -> None:
    lo, hi = DOMAINS.get(op, (-20.0, 20.0))
    x = np.random.default_rng(7).uniform(lo, hi, 400)
    x = x[np.abs(x) > 1e-3]  # away from the kinks of abs, relu, sign, step
    agree(f"{op}(x)", {"x": x})
    agree(f"{op}(x)^3", {"x": x})  # a chain, well conditioned: no cancelling sum


@pytest.mark.parametrize("op", sorted(TWO_ARGUMENTS))
def test_operators_and_functions_of_two_arguments_agree_with_numpy(op: str) -> None:
    rng = np.random.default_rng(11)
    x, y = rng.uniform(0.1, 5.0, 400), rng.uniform(-3.0, 3.0, 400)
    y = np.where(np.abs(y) < 1e-2, 0.5, y)
    agree(TWO_ARGUMENTS[op], {"x": x, "y": y})


@settings(max_examples=60, deadline=None)
@given(st.floats(-1, 30), st.floats(-30, 30), st.floats(-30, 30))
def test_the_lecture_example_and_a_layer_agree_with_numpy(x: float, y: float, z: float) -> None:
    # sin(u) at u = exp(-x) <= e has a condition number below 7: a last-bit difference in
    # exp may grow that much, hence 8 times the ulps
    agree("2/sin(exp(-x))", {"x": np.array([x])}, ulps=8 * ULPS)
    agree("sigmoid(3*y - 2*z + 1)*tanh(y*z) * relu(z - y)^2 * softplus(y)",
          {"y": np.array([y]), "z": np.array([z])}, may_hand_over=True)


@pytest.mark.parametrize("text,x", [
    ("relu(x)", 0.0), ("relu(x)", -0.0), ("abs(x)", 0.0), ("abs(x)", -0.0),
    ("sign(x)", -0.0), ("step(x)", 0.0), ("max(x, 1)", 1.0), ("min(x, 1)", 1.0),
    ("max(x, 0)", -0.0), ("min(x, 0)", -0.0), ("x^0", 0.0), ("x^1", 0.0), ("x^2", -0.0),
])
def test_kinks_ties_and_signed_zeros_are_bit_for_bit_numpys(text: str, x: float) -> None:
    """No elementary function is involved: the two must be the same float, sign included."""
    f = parse(text)
    row = f.gradients({"x": np.array([x])}).rows()[0]
    found = FloatPasses(f.graph, ["x"])({"x": x})
    assert found is not None
    assert [math.copysign(1, v) for v in (found[0], *found[1])] == \
        [math.copysign(1, v) for v in row[1:]]
    assert [found[0], *found[1]] == row[1:]


@pytest.mark.parametrize("text,point", [
    ("log(x)", {"x": 0.0}),  # math raises where numpy gives -inf
    ("1/x", {"x": 0.0}),  # ZeroDivisionError where numpy gives inf
    ("exp(x)", {"x": 1000.0}),  # OverflowError where numpy gives inf
    ("sqrt(x)", {"x": 0.0}),  # a finite value, an infinite derivative
    ("x*y", {"x": 1e308, "y": 10.0}),  # overflow without an exception
    ("asin(x)", {"x": 1.0}),
    ("x^y", {"x": -8.0, "y": 1 / 3}),  # math.pow raises where numpy gives nan
])
def test_where_math_cannot_answer_the_float_passes_hand_over(text: str, point: dict) -> None:
    f = parse(text)
    assert FloatPasses(f.graph, list(f.variables))(point) is None
    # and the façade still answers with numpy's IEEE values
    value, grad = f.value_and_grad(**point)
    assert not (math.isfinite(value) and all(math.isfinite(g) for g in grad.values()))


def test_variables_left_out_of_wrt_and_unreached_ones() -> None:
    f = parse("x*y + 3")
    assert FloatPasses(f.graph, ["y"])({"x": 2.0, "y": 5.0}) == (13.0, [2.0])
    assert FloatPasses(f.graph, ["x", "z"])({"x": 2.0, "y": 5.0}) == (13.0, [5.0, 0.0])


def test_the_float_passes_use_no_numpy() -> None:
    """Every primitive, forward and local derivative, in a process without numpy."""
    exprs = [f"{op}(x)" for op in ONE_ARGUMENT] + list(TWO_ARGUMENTS.values())
    code = textwrap.dedent(f"""
        import sys
        from backprop.core.parser import parse_text
        from backprop.core.scalar import FloatPasses
        for text in {exprs!r}:
            g = parse_text(text).graph
            names = [n for n in ("x", "y") if n in g.variables]
            found = FloatPasses(g, names)({{"x": 1.7 if "acosh" in text else 0.7, "y": 0.3}})
            assert found is not None, text
        print("numpy" in sys.modules)
    """)
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert (p.returncode, p.stdout.strip()) == (0, "False"), p.stderr


def test_trace_ends_on_the_digits_grad_prints() -> None:
    # the trace runs the passes `grad` runs at one point: the float passes, whose value and
    # gradient it ends on, and whose recorded steps sum to them; numpy's where math cannot
    rng = np.random.default_rng(21)
    for text in ("2/sin(exp(-x))", "exp(x)*sin(3*x)", "tanh(x)^2 + log(1+x^2)"):
        f = parse(text)
        for x in rng.uniform(-5, 5, 300).tolist():
            t = f.trace({"x": x})
            value, grad = f.value_and_grad(x=x)
            assert t.value == value and t.grad == grad, (text, x)
            reached = sum(s.contribution for s in t.backward if s.input == "x")
            assert reached == pytest.approx(grad["x"], rel=1e-12, abs=1e-300)
    f = parse("log(x) + x")  # log 0: math raises, numpy's passes answer with -inf and inf
    t = f.trace({"x": 0.0})
    assert t.value == -math.inf and t.grad["x"] == math.inf
    assert [s.local for s in t.backward] == ["1", "1", "1/x"]

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
from backprop.core.scalar import FloatPasses
from test_reference_table import ONE_ARGUMENT, TWO_ARGUMENTS

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


# every primitive over its domain, value and partials: tests/test_reference_table.py (the
# passes at one point against numpy's over arrays, and both against SymPy)


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
    exprs = [f"{op}(x)" for op in ONE_ARGUMENT if op != "neg"]
    exprs += [text for text, _ in TWO_ARGUMENTS.values()]
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

"""Numeric differentiation: forward and central differences of the forward pass."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backprop.errors import InputError
from backprop.core.function import parse
from backprop.methods.numeric import (CENTRAL_EPS, FORWARD_EPS, MACHINE_EPS, central_difference,
                              forward_difference, gradient_vector, step)

# smooth functions with their derivatives written out by hand (the oracle)
SMOOTH = [
    ("sin(x)", lambda x: math.cos(x)),
    ("exp(x)", lambda x: math.exp(x)),
    ("x^3 - 2*x", lambda x: 3 * x * x - 2),
    ("atan(x)", lambda x: 1 / (1 + x * x)),
    ("log(1 + x^2)", lambda x: 2 * x / (1 + x * x)),
    ("tanh(x)", lambda x: 1 - math.tanh(x) ** 2),
]


def test_default_steps_are_scaled() -> None:
    assert FORWARD_EPS == pytest.approx(math.sqrt(MACHINE_EPS))
    assert CENTRAL_EPS == pytest.approx(MACHINE_EPS ** (1 / 3))
    assert step(0.5, "forward") == pytest.approx(FORWARD_EPS, rel=1e-6)
    assert step(-300.0, "forward") == pytest.approx(300 * FORWARD_EPS, rel=1e-6)
    assert step(1e4, "central") == pytest.approx(1e4 * CENTRAL_EPS, rel=1e-6)
    for x in (0.1, -7.3, 12345.678):
        h = step(x, "central")
        assert (x + h) - x == h  # exactly representable


def test_eps_overrides_the_step() -> None:
    f = parse("x^2")
    r = forward_difference(f, {"x": 100.0}, eps=1e-3)
    assert r.steps["x"] == pytest.approx(1e-3, rel=1e-9)
    assert r.grad["x"] == pytest.approx(200.0 + 1e-3, rel=1e-9)  # (x+h)^2 - x^2 over h = 2x + h
    with pytest.raises(InputError):
        forward_difference(f, {"x": 1.0}, eps=0.0)
    with pytest.raises(InputError):
        central_difference(f, {"x": 1.0}, eps=float("nan"))


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(range(len(SMOOTH))), st.floats(-2.0, 2.0, allow_nan=False))
def test_central_agrees_to_1e_6(k: int, x: float) -> None:
    text, dfdx = SMOOTH[k]
    r = central_difference(parse(text), {"x": x})
    assert abs(r.grad["x"] - dfdx(x)) <= 1e-6 * max(1.0, abs(dfdx(x)))


def test_central_beats_forward() -> None:
    fwd_err, cen_err = [], []
    for text, dfdx in SMOOTH:
        f = parse(text)
        for x in np.linspace(-2.0, 2.0, 9):
            exact = dfdx(float(x))
            fwd_err.append(abs(forward_difference(f, {"x": float(x)}).grad["x"] - exact))
            cen_err.append(abs(central_difference(f, {"x": float(x)}).grad["x"] - exact))
    # over many functions and points central differences are the more accurate, by far
    assert np.median(cen_err) * 10 < np.median(fwd_err)
    assert max(cen_err) < max(fwd_err)


def test_evaluation_counts_and_forward_pass_only() -> None:
    class CountingFunction:
        """Only the forward pass: no value_and_grad, no graph. Numeric needs nothing more."""

        variables = ("a", "b", "c")

        def __init__(self) -> None:
            self.calls = 0

        def __call__(self, a: float, b: float, c: float) -> float:
            self.calls += 1
            return a * b + math.sin(c)

    f = CountingFunction()
    r = forward_difference(f, {"a": 1.0, "b": 2.0, "c": 0.5})
    assert r.evals == f.calls == 4  # n + 1
    assert r.grad["a"] == pytest.approx(2.0, rel=1e-6)
    f2 = CountingFunction()
    r2 = central_difference(f2, {"a": 1.0, "b": 2.0, "c": 0.5})
    assert r2.evals == f2.calls == 6  # 2n
    assert r2.grad["c"] == pytest.approx(math.cos(0.5), rel=1e-9)


def test_wrt_subset() -> None:
    r = central_difference(parse("x*y^2"), {"x": 3.0, "y": 2.0}, wrt=["y"])
    assert set(r.grad) == {"y"} and r.evals == 2
    assert r.grad["y"] == pytest.approx(12.0, rel=1e-9)


def test_gradient_vector_matches_analytic() -> None:
    rng = np.random.default_rng(1)
    A = rng.standard_normal((5, 5))

    def quad(w: np.ndarray) -> float:
        return float(w @ A @ w)

    w = rng.standard_normal(5)
    exact = (A + A.T) @ w
    g, evals = gradient_vector(quad, w, "central")
    assert evals == 10
    np.testing.assert_allclose(g, exact, rtol=1e-7, atol=1e-9)
    g, evals = gradient_vector(quad, w, "forward")
    assert evals == 6
    np.testing.assert_allclose(g, exact, rtol=1e-5, atol=1e-6)


# ---- the one kernel ------------------------------------------------------------------

def test_kernel_restores_x_counts_calls_and_takes_the_step_rule() -> None:
    from backprop.methods.numeric import CENTRAL, FORWARD, differences

    x = np.array([[0.3, -2.0], [1e3, 7.0]])
    before = x.copy()
    calls = []

    def f() -> float:
        calls.append(1)
        return float(np.sum(np.sin(x)))

    d = differences(f, x, FORWARD)
    assert np.array_equal(x, before)  # every entry restored exactly
    assert d.evals == len(calls) == x.size + 1 and d.complete
    # truncation error |f''| h / 2 <= h / 2 (Taylor), plus rounding about eps |f| / h
    err = np.abs(d.grad - np.cos(before).reshape(-1))
    assert np.all(err <= d.steps / 2 + 8 * MACHINE_EPS * 4 / d.steps)
    assert list(d.steps) == [step(v, FORWARD) for v in before.reshape(-1)]
    d = differences(f, x, CENTRAL, indices=[3, 0])
    assert list(d.indices) == [3, 0] and d.evals == 4
    np.testing.assert_allclose(d.grad, np.cos([7.0, 0.3]), rtol=1e-9)
    # f0 given: no call at the unperturbed point
    n = len(calls)
    differences(f, x, FORWARD, f0=f(), indices=[1])
    assert len(calls) - n == 2  # the f0 call above and one perturbation


def test_kernel_stops_at_the_deadline_and_says_so() -> None:
    import time

    from backprop.methods.numeric import FORWARD, differences

    x = np.zeros(1000)

    def slow() -> float:
        t = time.perf_counter() + 0.002
        while time.perf_counter() < t:
            pass
        return float(x.sum())

    t0 = time.perf_counter()
    d = differences(slow, x, FORWARD, deadline=t0 + 0.05)
    assert not d.complete and 1 <= d.indices.size < 1000
    assert d.grad.size == d.steps.size == d.indices.size
    assert np.all(x == 0.0)


def test_kernel_refuses_a_copy_it_could_not_write_through() -> None:
    from backprop.methods.numeric import differences

    with pytest.raises(ValueError):
        differences(lambda: 0.0, np.zeros((3, 3))[:, 0])  # not contiguous: a reshape would copy
    with pytest.raises(ValueError):
        differences(lambda: 0.0, np.zeros(3, dtype=np.float32))


def test_train_gradcheck_uses_the_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    import backprop.methods.numeric as numeric
    from backprop.nn import train

    seen = []
    original = numeric.differences

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(args[2] if len(args) > 2 else kwargs.get("method"))
        return original(*args, **kwargs)

    monkeypatch.setattr(numeric, "differences", spy)
    g = train._numeric(lambda: 0.0, np.zeros(3), 1e-6)
    assert seen == ["central"] and g.shape == (3,)

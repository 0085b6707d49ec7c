"""sin and cos over arrays from numpy or Intel MKL (vector_math.py).

The rest of the suite runs numpy's (conftest.py sets BACKPROP_VECTOR_MATH=numpy) and
holds it to numpy's bits. Here MKL's are held to an mpmath oracle (1 ulp, Intel's
documented bound for them), and the passes that use them to the
same bit-for-bit rules as numpy's: blocked equal to whole-array, threads or not.
"""

from __future__ import annotations

import os
import sys

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backprop import parse, vector_math
from backprop.errors import InputError
from clikit import run_backprop

from test_blocked import blocked, bits, expressions, whole_array

try:
    vector_math.load("mkl")
    HAVE_MKL = vector_math.load("mkl").name == "mkl"
except InputError:
    HAVE_MKL = False
needs_mkl = pytest.mark.skipif(not HAVE_MKL, reason="the mkl extra is not installed")


def ulps_from_truth(fn: object, xs: np.ndarray, exact: object) -> np.ndarray:
    """|fn(x) - exact(x)| in units in the last place of the exact value (mpmath, at 1,200
    bits: reducing an argument near 2**1023 modulo pi takes over 1,100)."""
    got = np.asarray(fn(xs))  # type: ignore[operator]
    out = np.empty(len(xs))
    with mpmath.workprec(1200):
        for k, (x, g) in enumerate(zip(xs.tolist(), got.tolist())):
            t = exact(mpmath.mpf(x))  # type: ignore[operator]
            out[k] = float(abs(mpmath.mpf(g) - t)) / float(np.spacing(abs(float(t))))
    return out


def hard_arguments(rng: np.random.Generator) -> np.ndarray:
    """Arguments across float64: small, large, huge, and the doubles nearest k*pi/2,
    where sin or cos is tiny and a careless range reduction loses every digit."""
    k = rng.integers(1, 10**7, 300).astype(float)
    return np.concatenate([
        rng.uniform(-10, 10, 600), rng.uniform(-1e6, 1e6, 300),
        10.0 ** rng.uniform(-300, 300, 300) * rng.choice([-1.0, 1.0], 300),
        k * (np.pi / 2), [6381956970095103.0 * 2.0**797, 5.319372648326541e+255,
                          1e22, 2.0**1023, 1e-310, 5e-324]])


def test_unknown_choice_is_an_input_error() -> None:
    with pytest.raises(InputError, match="BACKPROP_VECTOR_MATH must be one of auto, numpy, mkl"):
        vector_math.load("fast")


def test_unknown_choice_from_the_environment_exits_2_with_a_message() -> None:
    env = {**os.environ, "BACKPROP_VECTOR_MATH": "fast"}
    run = run_backprop("grad", "sin(x)", "--at", "-", stdin="1\n2\n", env=env)
    assert run.returncode == 2
    assert "BACKPROP_VECTOR_MATH must be one of auto, numpy, mkl, not 'fast'" in run.stderr
    assert "Traceback" not in run.stderr and run.stdout == ""


def test_numpy_choice_runs_numpys_sin_and_cos() -> None:
    chosen = vector_math.load("numpy")
    assert chosen.sin is np.sin and chosen.cos is np.cos


def test_the_suite_runs_numpys() -> None:
    # conftest.py: every other test file holds numpy's bits
    assert vector_math.active().name == "numpy"


def test_mkl_asked_for_but_missing_names_the_package_and_the_extra(monkeypatch) -> None:
    monkeypatch.setattr(vector_math, "_loaded", {})
    # import raises ModuleNotFoundError, for either package of the extra: the test holds
    # whether the extra is installed or not (mkl-service's `mkl` is imported first)
    monkeypatch.setitem(sys.modules, "mkl_umath", None)
    monkeypatch.setitem(sys.modules, "mkl", None)
    with pytest.raises(InputError, match=r"needs the package 'mkl(_umath)?'.*\[mkl\]"):
        vector_math.load("mkl")
    assert vector_math.load("auto").name == "numpy"  # auto: quietly numpy's


def test_a_broken_mkl_warns_and_runs_numpys(monkeypatch) -> None:
    monkeypatch.setattr(vector_math, "_loaded", {})

    def broken() -> vector_math.VectorMath:
        raise OSError("libmkl_core.so.3: cannot open shared object file")

    monkeypatch.setattr(vector_math, "_load_mkl", broken)
    with pytest.warns(RuntimeWarning, match="MKL's sin and cos could not be loaded"):
        assert vector_math.load("mkl").name == "numpy"


def test_using_restores_the_choice_before_it() -> None:
    before = vector_math.active()
    with vector_math.using("numpy") as chosen:
        assert vector_math.active() is chosen
    assert vector_math.active() is before


@needs_mkl
def test_mkl_is_the_automatic_choice_when_installed(monkeypatch) -> None:
    assert vector_math.load("auto").name == "mkl"


@needs_mkl
@pytest.mark.parametrize("name", ["sin", "cos"])
def test_mkl_sin_and_cos_within_one_ulp_of_the_truth(name: str) -> None:
    xs = hard_arguments(np.random.default_rng(5))
    mkl_fn = getattr(vector_math.load("mkl"), name)
    exact = getattr(mpmath, name)
    worst = ulps_from_truth(mkl_fn, xs, exact).max()
    # Intel documents 1 ulp for its high-accuracy functions; 0.50 measured here, where the C
    # library's cos is 7.95 ulps off at the hardest argument (about 5.3e255)
    assert worst <= 1.0, (name, worst)


@needs_mkl
def test_mkl_special_values_are_ieees() -> None:
    mkl = vector_math.load("mkl")
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, -5e-324, 1e-310])
    s, c = mkl.sin(x), mkl.cos(x)
    assert np.array_equal(np.signbit(s[:2]), [False, True])  # sin(-0.0) = -0.0
    assert np.all(np.isnan(s[2:5])) and np.all(np.isnan(c[2:5]))
    assert np.array_equal(s[5:], x[5:])  # sin(x) = x for subnormal x
    assert np.all(c[[0, 1, 5, 6, 7]] == 1.0)


@needs_mkl
def test_mkl_gives_each_number_the_same_bits_wherever_it_sits() -> None:
    # the blocks of a batch start at any row: a number's sin must not depend on its
    # neighbours, its alignment in memory or the length of the call (SIMD tails)
    mkl = vector_math.load("mkl")
    x = np.random.default_rng(3).uniform(-1e4, 1e4, 1024)
    whole_sin, whole_cos = mkl.sin(x), mkl.cos(x)
    for start in range(0, 40):
        for length in (1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 200):
            part = slice(start, start + length)
            assert np.array_equal(mkl.sin(x[part]), whole_sin[part]), (start, length)
            assert np.array_equal(mkl.cos(x[part]), whole_cos[part]), (start, length)


@needs_mkl
def test_mkl_gives_a_number_the_same_bits_in_a_batch_of_any_length_or_layout() -> None:
    # mkl_umath itself would not: arrays of up to 8,192 numbers, and arrays it buffers
    # (strided, or not float64), go to the C library's sin (vector_math.MKL_SHORTEST)
    import mkl_umath

    mkl = vector_math.load("mkl")
    x = np.random.default_rng(8).uniform(-50, 50, 3 * vector_math.MKL_SHORTEST)
    whole = mkl.sin(x)
    raw_short = mkl_umath.sin(x[:vector_math.MKL_SHORTEST - 1])
    assert not np.array_equal(raw_short, whole[:vector_math.MKL_SHORTEST - 1])  # the trap
    assert np.array_equal(raw_short, np.sin(x[:vector_math.MKL_SHORTEST - 1]))
    for n in (1, 2, 100, 8191, 8192, 8193, 8194, 20000):
        assert np.array_equal(mkl.sin(x[:n]), whole[:n]), n
        assert np.array_equal(mkl.cos(x[:n]), mkl.cos(x)[:n]), n
    assert np.array_equal(mkl.sin(x[::3]), whole[::3])  # strided
    assert np.array_equal(mkl.sin(x.reshape(-1, 3)), whole.reshape(-1, 3))  # 2-D
    ints = np.arange(-5000, 5000)
    assert np.array_equal(mkl.sin(ints), mkl.sin(ints.astype(float)))
    # one number is the C library's (numpy's and the math module's), as at one point
    assert mkl.sin(np.float64(x[0])) == np.sin(x[0])


@needs_mkl
def test_mkl_runs_each_call_on_one_thread_and_leaves_the_setting_as_it_was(monkeypatch) -> None:
    import mkl  # mkl-service
    import mkl_umath

    seen: list[int] = []
    real_sin = mkl_umath.sin

    def spy(a: np.ndarray) -> np.ndarray:
        seen.append(mkl.get_max_threads())
        return real_sin(a)

    monkeypatch.setattr(vector_math, "_loaded", {})
    monkeypatch.setattr(mkl_umath, "sin", spy)
    chosen = vector_math.load("mkl")
    mkl.set_num_threads(2)  # as threadpoolctl leaves it after a limit
    chosen.sin(np.linspace(0, 1, 10))
    chosen.sin(np.linspace(0, 1, 20000))
    assert seen == [1, 1]
    assert mkl.get_max_threads() == 2


@needs_mkl
def test_the_passes_over_arrays_take_mkls_sin_and_cos() -> None:
    x = np.random.default_rng(9).uniform(-50, 50, 200_000)
    mkl = vector_math.load("mkl")
    before = vector_math.active()
    with vector_math.using("mkl"):
        value, grad = parse("sin(x)").value_and_grad(x=x)
        cvalue, cgrad = parse("cos(x)").value_and_grad(x=x)
    assert np.array_equal(value, mkl.sin(x)) and np.array_equal(grad["x"], mkl.cos(x))
    assert vector_math.active() is before  # using() put it back
    assert np.array_equal(cvalue, mkl.cos(x)) and np.array_equal(cgrad["x"], -mkl.sin(x))
    # and they are not numpy's: at about 0.14% of points the two differ in the last bit
    assert not np.array_equal(mkl.sin(x), np.sin(x))


@needs_mkl
@settings(max_examples=80, deadline=None)
@given(text=expressions(), n=st.sampled_from([1, 7, 8, 13, 21, 50]),
       threads=st.sampled_from([1, 2]), seed=st.integers(0, 2**16))
def test_blocked_equals_whole_array_bit_for_bit_with_mkl(text: str, n: int, threads: int,
                                                         seed: int) -> None:
    rng = np.random.default_rng(seed)
    with vector_math.using("mkl"):
        f = parse(text)
        points = {v: rng.normal(0, 30, n) for v in f.variables}
        with np.errstate(all="ignore"):
            want = whole_array(f, points, n)
            got = blocked(f, points, n, threads, rows=7)
    assert np.array_equal(bits(got), bits(want)), text


@needs_mkl
def test_the_command_with_mkl_agrees_with_the_truth() -> None:
    # the whole command, MKL chosen by the environment: d/dx 2/sin(exp(-x)) at points in
    # a stream, against mpmath's value of -2 cos(u) (-u) / sin(u)^2 with u = exp(-x)
    xs = np.linspace(-4.6, -3.0, 41)
    env = {**os.environ, "BACKPROP_VECTOR_MATH": "mkl"}
    run = run_backprop("grad", "2/sin(exp(-x))", "--at", "-", "--format", "csv",
                       stdin="".join(f"{x!r}\n" for x in xs.tolist()), env=env, check=True)
    rows = [line.split(",") for line in run.stdout.splitlines()[1:]]
    assert len(rows) == len(xs)
    with mpmath.workprec(120):
        for x, (_, value, grad) in zip(xs.tolist(), rows):
            u = mpmath.exp(-mpmath.mpf(x))
            want_v = 2 / mpmath.sin(u)
            want_g = 2 * mpmath.cos(u) * u / mpmath.sin(u) ** 2
            # each rounding (at most half an ulp, 2**-53) is magnified by the chain: an
            # error in u by u*cot(u) in sin(u) and u*tan(u) in cos(u); bounds twice that sum
            ucot, utan = float(abs(u * mpmath.cot(u))), float(abs(u * mpmath.tan(u)))
            assert abs(float(value) - want_v) <= (ucot + 3) * 2**-52 * abs(want_v), x
            assert abs(float(grad) - want_g) <= (utan + 2 * ucot + 6) * 2**-52 * abs(want_g), x


@needs_mkl
def test_hessians_with_mkl_are_the_same_bits_for_any_threads_and_blocks() -> None:
    # the second-order passes call sin and cos's local derivatives too, block by block:
    # one block of 24,584 rows with 1 thread, two of about 12,300 with 2
    rng = np.random.default_rng(12)
    n = 3 * vector_math.MKL_SHORTEST + 5
    pts = {"x": rng.uniform(-3, 3, n), "y": rng.uniform(-3, 3, n)}
    with vector_math.using("mkl"):
        f = parse("sin(x*y) + cos(x)^2*y")
        one = f.hessians(pts, threads=1)
        two = f.hessians(pts, threads=2)
        value, grad = f.value_and_grad(**pts)
    assert np.array_equal(one.hessian, two.hessian) and np.array_equal(one.grad, two.grad)
    assert np.array_equal(one.value, value)  # the first-order passes agree with the second
    assert np.array_equal(one.grad[:, 0], grad["x"]) and np.array_equal(one.grad[:, 1], grad["y"])

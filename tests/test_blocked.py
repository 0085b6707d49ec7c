"""Blocked and threaded passes (issue 17): the same bits as one whole-array pass.

The oracle is the plain forward and backward passes over the whole arrays
(engine.forward / engine.backward), which the blocked passes only split by rows.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backprop import parse
from backprop import threads as threads_
from backprop.core import engine
from backprop.errors import InputError
from clikit import run_backprop

UNARY = ["sin", "cos", "tan", "exp", "log", "sqrt", "abs", "tanh", "sigmoid", "relu",
         "softplus", "atan", "asin", "sinh"]
BINARY = ["+", "-", "*", "/", "^"]
LEAVES = ["x", "y", "2", "0.5", "-3", "x"]


@st.composite
def expressions(draw: st.DrawFn, depth: int = 4) -> str:
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return draw(st.sampled_from(LEAVES))
    if draw(st.booleans()):
        return f"{draw(st.sampled_from(UNARY))}({draw(expressions(depth - 1))})"
    op = draw(st.sampled_from(BINARY + ["max", "min"]))
    a, b = draw(expressions(depth - 1)), draw(expressions(depth - 1))
    return f"{op}({a}, {b})" if op in ("max", "min") else f"({a}) {op} ({b})"


def bits(a: object) -> np.ndarray:
    """The float64 bits, every nan as one nan: a nan's sign and payload are not part of
    its value (numpy's vector and scalar loops may differ there; every writer says "nan")."""
    arr = np.array(a, dtype=np.float64)
    arr[np.isnan(arr)] = np.nan
    return arr.view(np.uint64)


def whole_array(f, points: dict[str, np.ndarray], n: int) -> np.ndarray:
    """The unblocked passes' columns: value, then df/dv for every variable."""
    vals = engine.forward(f.graph, f._plan, points)
    grads = engine.backward(f.graph, f._plan, vals, list(f.variables))
    cols = [vals[f.graph.output], *(grads[v] for v in f.variables)]
    return np.stack([np.broadcast_to(np.asarray(c, dtype=np.float64), (n,)) for c in cols], 1)


def blocked(f, points: dict[str, np.ndarray], n: int, threads: int,
            rows: int | None) -> np.ndarray:
    k = len(f.variables)
    out = np.full((n, 1 + k), 12345.0)
    engine.value_and_grad_blocked(f.graph, f._plan, points, list(f.variables), n, out, 0,
                                  range(1, 1 + k), threads=threads, block_rows=rows)
    return out


@settings(max_examples=150, deadline=None)
@given(text=expressions(), n=st.sampled_from([1, 6, 7, 8, 13, 14, 15, 21, 22, 50]),
       threads=st.sampled_from([1, 2, 3]), seed=st.integers(0, 2**16))
def test_blocked_equals_whole_array_bit_for_bit(text: str, n: int, threads: int, seed: int) -> None:
    f = parse(text)
    rng = np.random.default_rng(seed)
    # wide range, with the special values that produce nan and inf mixed in
    pool = np.concatenate([rng.normal(0, 3, 64), [0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan,
                                                   5e-324, 1e308, -1e-300]])
    points = {v: rng.choice(pool, n) for v in f.variables}
    want = whole_array(f, points, n)
    got = blocked(f, points, n, threads, rows=7)  # blocks of 7: boundaries at 7, 14, 21
    assert np.array_equal(bits(got), bits(want)), text


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_real_block_size_boundaries(threads: int) -> None:
    f = parse("2/sin(exp(-x)) + x*y^2 + sqrt(y)")
    rows = engine.rows_per_block(len(f._plan.order))  # the size the rule picks for f
    for n in (rows - 1, rows, rows + 1, 3 * rows + 5):
        rng = np.random.default_rng(n)
        points = {"x": rng.uniform(-5, 1, n), "y": rng.uniform(-1, 2, n)}
        assert np.array_equal(bits(blocked(f, points, n, threads, None)),
                              bits(whole_array(f, points, n)))


def test_facade_threads_agree_and_one_thread_is_todays_pass() -> None:
    f = parse("x*sin(y) + exp(-x*y)")
    rng = np.random.default_rng(1)
    n = 2 * engine.rows_per_block(len(f._plan.order)) + 3
    pts = {"x": rng.normal(size=n), "y": rng.normal(size=n)}
    want = whole_array(f, pts, n)
    for threads in (1, 2, 3):
        g = f.gradients(pts, threads=threads)
        assert np.array_equal(bits(g.data[:, 2:]), bits(want))
        assert np.array_equal(bits(g.data[:, :2]), bits(np.stack([pts["x"], pts["y"]], 1)))


def test_facade_broadcasts_a_scalar_and_rejects_unequal_lengths() -> None:
    f = parse("x*y")
    g = f.gradients({"x": np.arange(5.0), "y": 2.0})
    assert g.value.tolist() == [0.0, 2.0, 4.0, 6.0, 8.0]  # x*2 by hand
    assert g.grad["y"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    with pytest.raises(InputError, match="differ in length"):
        f.gradients({"x": np.arange(5.0), "y": np.arange(4.0)})


def test_diagnosis_still_names_the_module() -> None:
    f = parse("log(x) + 1")
    n = engine.BLOCKED_FROM + 10
    x = np.ones(n)
    x[-1] = -1.0
    d = f.gradients({"x": x}, threads=2).diagnosis()
    assert d is not None and d.value_node == "log(x)"


def test_threads_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKPROP_THREADS", "3")
    assert threads_.default_threads() == 3
    monkeypatch.setenv("BACKPROP_THREADS", "0")
    with pytest.raises(InputError, match="at least 1"):
        threads_.default_threads()
    monkeypatch.delenv("BACKPROP_THREADS")
    assert threads_.default_threads() == len(os.sched_getaffinity(0))


def test_grad_threads_option_same_csv() -> None:
    lines = "\n".join(str(v) for v in np.linspace(-3, 3, 40_001)) + "\n"
    outs = []
    for threads in ("1", "2"):
        r = run_backprop("grad", "x*sin(x)^2", "--at", "-", "--format", "csv", "--threads",
                         threads, stdin=lines, check=True)
        outs.append(r.stdout)
    assert outs[0] == outs[1] and len(outs[0].splitlines()) == 40_002
    r = run_backprop("grad", "x", "--at", "1", "--threads", "0")
    assert r.returncode == 2 and "--threads must be at least 1" in r.stderr


def test_value_and_grad_of_a_large_batch_is_the_plain_pass() -> None:
    f = parse("2/sin(exp(-x)) * y + x")
    rng = np.random.default_rng(5)
    n = 2 * engine.rows_per_block(len(f._plan.order)) + 1
    x, y = rng.uniform(-5, -4, n), rng.normal(size=n)
    want = whole_array(f, {"x": x, "y": y}, n)
    for yy in (y, 0.5):
        pts = {"x": x, "y": yy}
        want = whole_array(f, pts, n)
        value, grad = f.value_and_grad(**pts)
        got = np.stack([value, grad["x"], grad["y"]], 1)
        assert np.array_equal(bits(got), bits(want))
        assert value.shape == (n,) and grad["y"].flags.c_contiguous


@settings(max_examples=150, deadline=None)
@given(text=expressions(), seed=st.integers(0, 2**16), only_x=st.booleans())
def test_one_point_passes_equal_the_plain_passes(text: str, seed: int, only_x: bool) -> None:
    f = parse(text)
    rng = np.random.default_rng(seed)
    pool = [0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 5e-324, 1e308, *rng.normal(0, 3, 8)]
    point = {v: float(rng.choice(pool)) for v in f.variables}
    wrt = ["x"] if only_x else list(f.variables)
    vals = engine.forward(f.graph, f._plan, point)
    grads = engine.backward(f.graph, f._plan, vals, wrt)
    want = [vals[f.graph.output], *(grads[v] for v in wrt)]
    value, grad = engine.point_passes(f.graph, wrt)(point)
    assert np.array_equal(bits([value, *grad]), bits(want)), text
    if not only_x:
        # value_and_grad at a point of floats: the float passes (the math module; close to
        # these, see test_scalar.py), or where they cannot answer, these passes bit for bit
        v2, g2 = f.value_and_grad(**point)
        floats = f._float_passes(wrt)(point)
        if floats is not None:
            want = [floats[0], *floats[1]]
        assert np.array_equal(bits([v2, *g2.values()]), bits(want)) and list(g2) == wrt
        assert type(v2) is float and all(type(g) is float for g in g2.values())


# ---- second order: Hessians block by block over the threads ---------------------------------

def whole_second_order(f, points: dict[str, np.ndarray], n: int) -> np.ndarray:
    """The unblocked second-order passes' columns: value, gradient, then H row by row."""
    from backprop.core import gradient_graph

    so = gradient_graph.evaluate(f._second_order_plan(list(f.variables)), points)
    k = len(f.variables)
    n = n if points else 1  # no variables: one point
    cols = [so.value, *(so.grad[v] for v in f.variables)]
    h = (np.broadcast_to(so.hessian.reshape(k, k, -1), (k, k, n)).transpose(2, 0, 1) if k
         else np.zeros((n, 0, 0)))
    return np.column_stack([np.broadcast_to(np.asarray(c, dtype=np.float64), (n,)) for c in cols]
                           + [h.reshape(n, k * k)])


def hessians_columns(h) -> np.ndarray:
    n, k = len(h.value), len(h.wrt)
    return np.column_stack([h.value, h.grad, h.hessian.reshape(n, k * k)])


@settings(max_examples=120, deadline=None)
@given(text=expressions(depth=3), n=st.sampled_from([1, 4, 5, 6, 9, 10, 11, 13, 14, 15, 22, 40]),
       threads=st.sampled_from([1, 2, 3]), seed=st.integers(0, 2**16))
def test_blocked_hessians_equal_the_whole_array_pass_bit_for_bit(text: str, n: int, threads: int,
                                                                 seed: int) -> None:
    from backprop.core import gradient_graph

    f = parse(text)
    rng = np.random.default_rng(seed)
    pool = np.concatenate([rng.normal(0, 3, 64), [0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan,
                                                   5e-324, 1e308, -1e-300]])
    points = {v: rng.choice(pool, n) for v in f.variables}
    # small thresholds, so that small arrays cross block boundaries (7 rows) and the
    # by-direction tangent pass (5 points; below it the whole batch is one block)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(gradient_graph, "BY_DIRECTION_POINTS", 5)
        mp.setattr(engine, "BLOCK_ROWS", 7)
        want = whole_second_order(f, points, n)
        got = f.hessians(points, threads=threads)
    assert np.array_equal(bits(hessians_columns(got)), bits(want)), text


def test_rows_per_block_fit_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    # the rule by hand: the largest power of two of rows whose 8-byte arrays fit the cache,
    # clamped to [MIN_BLOCK_ROWS, MAX_BLOCK_ROWS]
    monkeypatch.setattr(threads_, "_cache", [32 << 20])
    assert engine.rows_per_block(6) == engine.MAX_BLOCK_ROWS == 65_536  # 699k fit
    assert engine.rows_per_block(103) == 32_768  # 40.7k fit: 26 MiB a block
    assert engine.rows_per_block(303) == 8_192  # 13.8k fit
    assert engine.rows_per_block(10_000) == engine.MIN_BLOCK_ROWS == 4_096  # 419 fit
    monkeypatch.setattr(threads_, "_cache", [8 << 20])
    assert engine.rows_per_block(103) == 8_192  # 10.2k fit
    monkeypatch.setattr(engine, "BLOCK_ROWS", 7)
    assert engine.rows_per_block(103) == 7


def test_cache_bytes_reads_the_system() -> None:
    threads_._cache.clear()
    size = threads_.cache_bytes()
    index = Path("/sys/devices/system/cpu/cpu0/cache")
    if index.is_dir():
        sizes = [(d / "size").read_text().strip() for d in index.glob("index*")]
        largest = max(int(t[:-1]) << {"K": 10, "M": 20}[t[-1]] for t in sizes)
        assert size == largest
    else:
        assert size == threads_.DEFAULT_CACHE_BYTES


def test_block_bounds_cover_every_row_once() -> None:
    for n in (1, 6, 7, 8, 20, 21, 22, 100):
        for threads in (1, 2, 3):
            for min_rows in (1, 5):
                b = engine.block_bounds(n, threads, 7, min_rows)
                assert b[0][0] == 0 and b[-1][1] == n
                assert all(s1 == e0 for (_, e0), (s1, _) in zip(b, b[1:]))
                assert all(e - s >= min(min_rows, n) for s, e in b)
                assert all(e - s <= max(7, 2 * min_rows) for s, e in b)
    # several threads and fewer blocks than threads: shorter blocks, one per thread
    assert engine.block_bounds(20, 2, 16) == [(0, 10), (10, 20)]


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_hessians_real_block_size_boundaries(threads: int) -> None:
    f = parse("sin(x*y) + x^2*exp(-y) + sqrt(y)")
    rows = engine.rows_per_block(len(f._second_order_plan(["x", "y"]).plan.order) * 3)
    for n in (rows - 1, rows + 1, 3 * rows + 5):
        rng = np.random.default_rng(n)
        points = {"x": rng.uniform(-2, 2, n), "y": rng.uniform(-1, 2, n)}
        want = whole_second_order(f, points, n)
        got = f.hessians(points, threads=threads)
        assert np.array_equal(bits(hessians_columns(got)), bits(want))
        assert np.array_equal(got.points, np.column_stack([points["x"], points["y"]]))


def test_hessian_of_a_large_batch_is_the_plain_pass_and_checks_sympy() -> None:
    # f.hessian(**arrays), the Python API's batch call: blocked, the same bits as one pass,
    # and the numbers are the hand-derived second derivatives
    f = parse("x^2*y + sin(y)")
    rng = np.random.default_rng(3)
    n = 2 * engine.rows_per_block(len(f._second_order_plan(["x", "y"]).plan.order) * 3) + 11
    x, y = rng.normal(size=n), rng.normal(size=n)
    value, grad, h = f.hessian(x=x, y=y)
    want = whole_second_order(f, {"x": x, "y": y}, n)
    got = np.column_stack([value, grad["x"], grad["y"], h.transpose(2, 0, 1).reshape(n, 4)])
    assert np.array_equal(bits(got), bits(want))
    assert h.shape == (2, 2, n) and value.shape == (n,)
    # by hand: d2/dx2 = 2y, d2/dxdy = 2x, d2/dy2 = -sin(y)
    assert np.allclose(h[0, 0], 2 * y, rtol=0, atol=0) and np.allclose(h[0, 1], 2 * x, rtol=0, atol=0)
    assert np.allclose(h[1, 1], -np.sin(y), rtol=1e-15, atol=0)
    # a scalar input is the same at every point
    value, grad, h = f.hessian(x=x, y=0.5)
    assert np.array_equal(h[0, 0], np.full(n, 1.0)) and np.array_equal(h[0, 1], 2 * x)


def test_blocked_hessian_diagnosis_names_the_module() -> None:
    # x^1.5: value and gradient 1.5*sqrt(x) finite at 0, the second derivative 0.75/sqrt(x) not
    f = parse("x^1.5 + y")
    for n in (10, engine.BLOCKED_FROM + 10):  # one pass, and blocks (which keep no cache)
        x = np.ones(n)
        x[-1] = 0.0
        h = f.hessians({"x": x, "y": np.ones(n)}, threads=2)
        assert np.isinf(h.hessian[-1, 0, 0]) and np.isfinite(h.grad).all()
        d = h.diagnosis()
        assert d is not None and d.node == "x^1.5"


def test_hessian_threads_option_same_csv() -> None:
    rng = np.random.default_rng(8)
    lines = "x,y\n" + "".join(f"{a!r},{b!r}\n" for a, b in rng.uniform(-2, 2, (40_001, 2)).tolist())
    outs = []
    for threads in ("1", "2"):
        r = run_backprop("hessian", "sin(x*y) + x^2*exp(-y)", "--at", "-", "--format", "csv",
                         "--threads", threads, stdin=lines, check=True)
        outs.append(r.stdout)
    assert outs[0] == outs[1] and len(outs[0].splitlines()) == 40_002
    # the fast CSV path writes what the csv module writes for the same rows
    f = parse("sin(x*y) + x^2*exp(-y)")
    pts = np.array([row.split(",") for row in lines.splitlines()[1:]], dtype=np.float64)
    h = f.hessians({"x": pts[:, 0], "y": pts[:, 1]}, threads=1)
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(h.columns)
    w.writerows(h.rows())
    assert outs[0] == buf.getvalue()
    r = run_backprop("hessian", "x^2", "--at", "1", "--threads", "0")
    assert r.returncode == 2 and "--threads must be at least 1" in r.stderr


# ---- a model's predictions over the threads ---------------------------------------------------

@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A regressor of two inputs (tanh, 64 hidden units) and the wine classifier, 1 epoch each."""
    import yaml

    from backprop.cli import main
    from backprop.nn.model import load_model

    d = tmp_path_factory.mktemp("models")
    cfg = {"data": {"synthetic": {"expr": "sin(3*x1) + 0.5*x2^2", "ranges": {"x1": [-1, 1],
                                                                            "x2": [-1, 1]},
                                  "n": 300}, "target": "y"},
           "model": {"hidden": 64, "activation": "tanh"},
           "training": {"epochs": 1, "seed": 1}, "output": {"model": str(d / "r.npz")}}
    (d / "r.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["train", str(d / "r.yaml"), "--quiet"]) == 0
    wine = os.path.join(os.path.dirname(__file__), "..", "configs", "wine.yaml")
    assert main(["train", wine, "--quiet", "--epochs", "1", "--out", str(d / "c.npz")]) == 0
    return {"regressor": load_model(d / "r.npz")[0], "classifier": load_model(d / "c.npz")[0],
            "regressor file": d / "r.npz"}


@pytest.mark.parametrize("kind", ["regressor", "classifier"])
def test_threaded_predictions_do_not_depend_on_the_threads(models: dict[str, object],
                                                           kind: str) -> None:
    from backprop.nn.predict import PREDICT_BLOCK_ROWS, predictions

    model = models[kind]
    d = len(model.input_names)  # type: ignore[attr-defined]
    rows = PREDICT_BLOCK_ROWS
    for n in (2 * rows - 1, 2 * rows, 2 * rows + 1, 3 * rows + 5, 65_536):
        X = np.random.default_rng(n).normal(0, 2, (n, d))
        X[5, 0] = np.nan  # a nan input gives a nan prediction in its row only
        runs = [predictions(model, X, kind == "classifier", threads=t) for t in (1, 2, 3)]
        for got in runs[1:]:
            assert len(got) == len(runs[0])
            for g, w in zip(got, runs[0]):
                if g.dtype == object:
                    assert g.tolist() == w.tolist()
                else:
                    assert np.array_equal(bits(g), bits(w)), (kind, n)
        # and they are the model's predictions: one call over the whole chunk agrees to
        # rounding (BLAS may add in another order there), labels exactly where the
        # probabilities are not tied
        whole = (model.predict_proba(X) if kind == "classifier"  # type: ignore[attr-defined]
                 else model.predict(X))  # type: ignore[attr-defined]
        got = runs[0]
        if kind == "classifier":
            p = np.column_stack(got[1:])
            assert np.allclose(p, whole, rtol=1e-13, atol=1e-15, equal_nan=True)
            labels = model.predict(X).tolist()  # type: ignore[attr-defined]
            assert np.delete(got[0], 5).tolist() == labels[:5] + labels[6:]  # row 5: nan
        else:
            assert np.allclose(got[0], whole[:, 0], rtol=1e-13, atol=1e-14, equal_nan=True)
            assert np.isnan(got[0][5]) and np.isfinite(np.delete(got[0], 5)).all()


def test_predict_threads_option_same_csv(models: dict[str, object], tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    data = tmp_path / "d.csv"
    data.write_text("x1,x2,id\n" + "".join(f"{a!r},{b!r},r{i}\n" for i, (a, b) in
                                           enumerate(rng.uniform(-1, 1, (40_000, 2)).tolist())))
    model = models["regressor file"]
    outs = []
    for threads in ("1", "2"):
        r = run_backprop("predict", str(model), str(data), "--format", "csv", "--threads",
                         threads, check=True)
        outs.append(r.stdout)
    assert outs[0] == outs[1] and len(outs[0].splitlines()) == 40_001
    r = run_backprop("predict", str(model), str(data), "--threads", "0")
    assert r.returncode == 2 and "--threads must be at least 1" in r.stderr

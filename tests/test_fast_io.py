"""The fast CSV formatter (issue 17): the csv module's bytes, every float64 round-tripping.

The oracle is ``csv.writer(...).writerows(array.tolist())``, what CsvWriter wrote
before the fast path, and ``float(text)`` giving back the same bits.
"""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backprop import parse
from backprop.views.writers import CSV_BLOCK_MIN_ROWS, CsvWriter, csv_block, csv_cells_and_block
from clikit import run_backprop

SPECIAL = [0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 2.225073858507201e-308,
           1.7976931348623157e308, -1.7976931348623157e308, 1e16, 9999999999999998.0, 1e15,
           1e-4, 9.999999999999999e-05, 1e-5, 0.00011, 1.0, -1.0, 0.1, 2.0**53, 2.0**63, 1e22,
           99999990.00000001, 123456789012345.6, 1e-300, 1e300, 10.00001, 100.000001,
           0.00010000001, -2.5e-05, 1.00000001e-05, 40.000000001, 7.0000001e-300]


def csv_module(data: np.ndarray) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(data.tolist())
    return buf.getvalue()


def check(data: np.ndarray) -> None:
    text = csv_block(data)
    assert text is not None
    assert text == csv_module(data)
    back = np.array([[float(c) for c in line.split(",")] for line in text.splitlines()])
    assert np.array_equal(back.view(np.uint64), data.view(np.uint64))  # -0.0 stays -0.0


def test_special_values_and_every_decade() -> None:
    decades = [m * 10.0**e for e in range(-324, 309) for m in (1.0, 1.5, 9.999999,
                                                                  1.2345678901234567)]
    vals = np.array([v for v in SPECIAL + decades if np.isfinite(v)] * 1)
    vals = np.concatenate([vals, -vals])
    vals = vals[: len(vals) // 3 * 3].reshape(-1, 3)
    check(vals)


@pytest.mark.slow  # a few seconds: in the slow group (docs/setup.md)
def test_random_bit_patterns() -> None:
    rng = np.random.default_rng(17)
    raw = rng.integers(0, 2**64, 600_000, dtype=np.uint64).view(np.float64)
    raw = raw[np.isfinite(raw)]
    check(raw[: len(raw) // 2 * 2].reshape(-1, 2))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False, width=64),
                min_size=CSV_BLOCK_MIN_ROWS * 2, max_size=CSV_BLOCK_MIN_ROWS * 2))
def test_any_finite_floats(values: list[float]) -> None:
    check(np.array(values).reshape(-1, 2))


def test_nan_inf_and_small_blocks_take_the_csv_module() -> None:
    data = np.ones((100, 2))
    data[5, 1] = np.nan
    assert csv_block(data) is None
    assert csv_block(np.ones((CSV_BLOCK_MIN_ROWS - 1, 2))) is None
    f = parse("log(x)")
    g = f.gradients({"x": np.append(np.linspace(-1, 1, 200), 0.0)})
    out = io.StringIO()
    CsvWriter(g.columns, out).write(g)
    assert out.getvalue() == "x,f,df/dx\n" + csv_module(g.data)
    assert "nan" in out.getvalue() and "-inf" in out.getvalue()


def test_pipeline_bytes_equal_the_csv_module() -> None:
    rng = np.random.default_rng(3)
    xs = np.concatenate([rng.normal(size=5000) * 10.0 ** rng.integers(-12, 20, 5000),
                         [0.0, -0.0, 5e-324, 1e-5]])
    lines = "".join(f"{v!r}\n" for v in xs.tolist())
    r = run_backprop("grad", "x^3 - x", "--at", "-", "--format", "csv", stdin=lines, check=True)
    f = parse("x^3 - x")
    want = f.gradients({"x": xs}, threads=1)
    assert r.stdout == "x,f,df/dx\n" + csv_module(want.data)


@pytest.mark.parametrize("bad,message", [
    ("1\n2\nabc\n4\n", "stdin line 3: 'abc' is not a number"),
    ("x,y\n1,2\n3\n", "stdin line 3: expected 2 column(s), found 1"),
])
def test_bad_lines_keep_their_messages(bad: str, message: str) -> None:
    expr = "x*y" if bad.startswith("x,y") else "x^2"
    r = run_backprop("grad", expr, "--at", "-", "--format", "csv", stdin=bad)
    assert r.returncode == 2 and message in r.stderr


def test_bad_line_numbers_exact_across_blocks_and_blank_lines() -> None:
    from backprop.core.points import CHUNK_ROWS

    good = ["1.5\n"] * (CHUNK_ROWS + 10)
    good[3] = "\n"  # a blank line in the first block
    good[CHUNK_ROWS + 2] = "   \n"  # and one in the second
    lines = good + ["2..5\n", "3\n"]
    r = run_backprop("grad", "x^2", "--at", "-", "--format", "csv", stdin="".join(lines))
    assert r.returncode == 2
    assert f"stdin line {CHUNK_ROWS + 11}: '2..5' is not a number" in r.stderr
    ok = run_backprop("grad", "x^2", "--at", "-", "--format", "csv", stdin="".join(good),
                      check=True)
    assert ok.stdout.count("\n") == 1 + CHUNK_ROWS + 8  # header + every non-blank line
    assert set(ok.stdout.splitlines()[1:]) == {"1.5,2.25,3.0"}  # 1.5^2, 2*1.5


# ---- text cells followed by numbers (predict's rows): the csv module's bytes -------------

def csv_module_rows(rows: list[list[object]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


@pytest.mark.slow  # a few seconds: in the slow group (docs/setup.md)
@settings(max_examples=300, deadline=None)
@given(cells=st.lists(st.lists(st.text(max_size=6), min_size=2, max_size=2),
                      min_size=CSV_BLOCK_MIN_ROWS, max_size=CSV_BLOCK_MIN_ROWS + 3),
       plain=st.booleans(), seed=st.integers(0, 2**16))
def test_cells_and_numbers_are_the_csv_modules_bytes(cells: list[list[str]], plain: bool,
                                                     seed: int) -> None:
    # any text (commas, quotes, line breaks, spaces, empty cells) against the csv module;
    # with ``plain`` the cells are numbers' texts, which the fast path must take
    rng = np.random.default_rng(seed)
    if plain:
        cells = [[repr(float(v)) for v in row] for row in rng.normal(size=(len(cells), 2))]
    data = rng.normal(size=(len(cells), 2)) * 10.0 ** rng.integers(-8, 20, (len(cells), 2))
    text = csv_cells_and_block(cells, data)
    want = csv_module_rows([[*c, *d] for c, d in zip(cells, data.tolist())])
    if plain:
        assert text == want
    else:
        assert text is None or text == want
    assert csv_cells_and_block([[]] * len(cells), data) == csv_module(data)  # numbers alone


def test_cells_the_csv_module_would_quote_take_its_path() -> None:
    data = np.ones((CSV_BLOCK_MIN_ROWS, 1))
    for odd in ['Paris, 5e', 'say "hi"', "two\nlines", "cr\r", ""]:
        cells = [["a", "b"]] * (CSV_BLOCK_MIN_ROWS - 1) + [["a", odd]]
        text = csv_cells_and_block(cells, data)
        assert text is None or text == csv_module_rows([[*c, *d] for c, d in
                                                        zip(cells, data.tolist())]), odd
    assert csv_cells_and_block([["a", "b"]] * (CSV_BLOCK_MIN_ROWS - 1) + [["a", "b", "c"]],
                               data) is None  # rows of several widths
    assert csv_cells_and_block([["1", "2"]] * CSV_BLOCK_MIN_ROWS, data)  # plain cells: fast


def test_predict_stream_bytes_equal_the_csv_module(tmp_path) -> None:
    # a model's predictions over a CSV with text columns: the fast writer's bytes are the
    # csv module's for the same rows (the cells as read, then the predictions' repr)
    from backprop.nn.model import load_model
    from backprop.nn.predict import predict_csv

    cfg = tmp_path / "c.yaml"
    cfg.write_text("data:\n  synthetic: {expr: 'x1 - x2', ranges: {x1: [0, 1], x2: [0, 1]}, "
                   "n: 64}\n  target: z\nmodel: {hidden: 3}\ntraining: {epochs: 1, seed: 1}\n"
                   f"output: {{model: {tmp_path / 'm.npz'}}}\n")
    run_backprop("train", str(cfg), "--quiet", check=True)
    rng = np.random.default_rng(4)
    rows = [[f"id{k}", repr(a), "Paris, 5e" if k == 7 else "Lyon", repr(b)]
            for k, (a, b) in enumerate(rng.uniform(0, 1, (3 * CSV_BLOCK_MIN_ROWS, 2)).tolist())]
    for name, body in (("quoted.csv", rows), ("plain.csv", [r[:2] + r[3:] for r in rows])):
        header = ["id", "x1", "city", "x2"] if len(body[0]) == 4 else ["id", "x1", "x2"]
        path = tmp_path / name
        path.write_text(csv_module_rows([header, *body]))
        model, _ = load_model(tmp_path / "m.npz")
        stream = predict_csv(model, path, chunk_rows=CSV_BLOCK_MIN_ROWS)
        out = io.StringIO()
        writer = CsvWriter(stream.columns, out)
        want = [stream.columns]
        fast = 0
        for chunk in stream.chunks:
            writer.write(chunk)
            want += chunk.rows()
            fast += csv_cells_and_block(*chunk.cells_and_block()) is not None
        assert fast == (2 if name == "quoted.csv" else 3), name  # the chunk with a comma: not
        assert out.getvalue() == csv_module_rows(want), name
        r = run_backprop("predict", str(tmp_path / "m.npz"), str(path), "--format", "csv",
                         check=True)
        assert r.stdout == csv_module_rows(want), name


@pytest.mark.parametrize("rows", [3, CSV_BLOCK_MIN_ROWS, 1000])
def test_pass_through_columns_kept_in_blocks_of_any_size(rows: int) -> None:
    """An id column beside the points: in every row, also when the block writer takes the
    rows (it once wrote the numbers alone under the header that named the id)."""
    from clikit import run_inprocess

    ids = [f"p{k}" for k in range(rows)]
    text = "x,id\n" + "".join(f"{k}.5,{i}\n" for k, i in enumerate(ids))
    r = run_inprocess(["grad", "x^2", "--at", "-", "--format", "csv"], text)
    assert r.code == 0, r.err
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["id", "x", "f", "df/dx"])
    for k, i in enumerate(ids):  # x^2 and 2x by hand
        x = k + 0.5
        w.writerow([i, x, x * x, 2 * x])
    assert r.out == buf.getvalue()

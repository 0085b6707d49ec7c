"""Parquet in and out (issue 28, the extra ``parquet``): the same values and columns as CSV."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from clikit import run_inprocess  # noqa: E402


def points_table(n: int = 500, seed: int = 0) -> tuple[object, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n)
    y = rng.integers(-3, 4, n)  # an integer column: a variable read as float64
    table = pa.table({"id": pa.array(np.arange(n) + 1000, type=pa.int64()),
                      "x": x, "label": [f"p{k},\"q\"" for k in range(n)], "y": y})
    return table, x, y.astype(np.float64)


def as_csv(table: object) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(table.column_names)
    for row in zip(*(c.to_pylist() for c in table.columns)):
        w.writerow(row)
    return buf.getvalue()


@pytest.fixture()
def points_file(tmp_path: Path) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    table, x, y = points_table()
    pq.write_table(table, tmp_path / "p.parquet", row_group_size=128)
    (tmp_path / "p.csv").write_text(as_csv(table))
    return tmp_path / "p.parquet", tmp_path / "p.csv", x, y


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_parquet_in_gives_what_the_same_csv_gives(points_file, fmt: str) -> None:
    pq_path, csv_path, x, y = points_file
    a = run_inprocess(["grad", "sin(x)*y", "--at", f"@{pq_path}", "--format", fmt])
    b = run_inprocess(["grad", "sin(x)*y", "--at", f"@{csv_path}", "--format", fmt])
    assert a.code == 0 and b.code == 0, a.err + b.err
    if fmt == "json":  # the id is a number in Parquet, text in CSV: the rest is the same
        import json

        ra, rb = ([json.loads(line) for line in r.out.splitlines()] for r in (a, b))
        assert [r["id"] for r in ra] == [int(r["id"]) for r in rb]
        assert [{k: v for k, v in r.items() if k != "id"} for r in ra] == \
            [{k: v for k, v in r.items() if k != "id"} for r in rb]
    else:
        assert a.out == b.out
        rows = list(csv.reader(io.StringIO(a.out)))
        assert rows[0] == ["id", "label", "x", "y", "f", "df/dx", "df/dy"]
        f = np.array([float(r[4]) for r in rows[1:]])
        assert np.allclose(f, np.sin(x) * y, rtol=1e-15, atol=0)  # by hand


def test_parquet_out_has_the_csv_columns_with_their_types(points_file, tmp_path: Path) -> None:
    pq_path, csv_path, x, y = points_file
    out = tmp_path / "out.parquet"
    r = run_inprocess(["grad", "sin(x)*y", "--at", f"@{pq_path}", "--format", "parquet",
                       "-o", str(out)])
    assert r.code == 0 and r.out == "", r.err
    c = run_inprocess(["grad", "sin(x)*y", "--at", f"@{csv_path}", "--format", "csv"])
    rows = list(csv.reader(io.StringIO(c.out)))
    t = pq.read_table(out)
    assert t.column_names == rows[0]
    assert t.schema.field("id").type == pa.int64()
    assert t.schema.field("label").type == pa.string()
    for name in ["x", "y", "f", "df/dx", "df/dy"]:
        assert t.schema.field(name).type == pa.float64()
        k = rows[0].index(name)
        assert t.column(name).to_numpy().tobytes() == \
            np.array([float(r[k]) for r in rows[1:]]).tobytes()  # to the bit
    assert t.column("label").to_pylist() == [r[1] for r in rows[1:]]
    # by hand: d(sin(x) y)/dx = cos(x) y
    assert np.allclose(t.column("df/dx").to_numpy(), np.cos(x) * y, rtol=1e-15, atol=0)


def test_csv_in_parquet_out_and_hessian(tmp_path: Path) -> None:
    data = tmp_path / "p.csv"
    data.write_text("name,x,y\na,1,2\nb,3,-1\n")
    out = tmp_path / "h.parquet"
    r = run_inprocess(["hessian", "x^2*y", "--at", f"@{data}", "--format", "parquet", "-o",
                       str(out)])
    assert r.code == 0, r.err
    t = pq.read_table(out)
    assert t.column_names == ["name", "x", "y", "f", "df/dx", "df/dy", "d2f/dx2", "d2f/dxdy",
                              "d2f/dy2"]
    # f = x^2 y; f_x = 2xy, f_y = x^2, f_xx = 2y, f_xy = 2x, f_yy = 0
    assert t.to_pylist() == [
        {"name": "a", "x": 1.0, "y": 2.0, "f": 2.0, "df/dx": 4.0, "df/dy": 1.0, "d2f/dx2": 4.0,
         "d2f/dxdy": 2.0, "d2f/dy2": 0.0},
        {"name": "b", "x": 3.0, "y": -1.0, "f": -9.0, "df/dx": -6.0, "df/dy": 9.0,
         "d2f/dx2": -2.0, "d2f/dxdy": 6.0, "d2f/dy2": 0.0}]


def test_parquet_never_goes_to_stdout(points_file) -> None:
    pq_path = points_file[0]
    r = run_inprocess(["grad", "x*y", "--at", f"@{pq_path}", "--format", "parquet"])
    assert r.code == 2 and "-o" in r.err and r.out == ""


def test_a_null_or_text_variable_is_refused_and_no_file_is_left(tmp_path: Path) -> None:
    n = 300
    x = pa.array([float(k) for k in range(n)])
    x_null = pa.array([None if k == 250 else float(k) for k in range(n)])
    pq.write_table(pa.table({"x": x_null}), tmp_path / "null.parquet", row_group_size=100)
    out = tmp_path / "out.parquet"
    r = run_inprocess(["grad", "x^2", "--at", f"@{tmp_path / 'null.parquet'}", "--format",
                       "parquet", "-o", str(out)])
    assert r.code == 2 and "row 251, column x: null" in r.err, r.err
    assert not out.exists() and not list(tmp_path.glob(".out.parquet*"))
    pq.write_table(pa.table({"x": pa.array([str(k) for k in range(3)])}), tmp_path / "t.parquet")
    r = run_inprocess(["grad", "x^2", "--at", f"@{tmp_path / 't.parquet'}"])
    assert r.code == 2 and "column x holds string, not numbers" in r.err
    pq.write_table(pa.table({"z": x}), tmp_path / "z.parquet")
    r = run_inprocess(["grad", "x^2", "--at", f"@{tmp_path / 'z.parquet'}"])
    assert r.code == 2 and "no column for x" in r.err
    (tmp_path / "bad.parquet").write_text("x\n1\n")
    r = run_inprocess(["grad", "x^2", "--at", f"@{tmp_path / 'bad.parquet'}"])
    assert r.code == 2 and "not a Parquet file" in r.err


def test_read_a_batch_at_a_time(tmp_path: Path) -> None:
    from backprop.core.points import open_points

    table, x, _ = points_table(1000)
    pq.write_table(table, tmp_path / "p.parquet", row_group_size=300)
    stream = open_points([f"@{tmp_path / 'p.parquet'}"], ["x", "y"], sys.stdin, 256)
    sizes = [chunk.rows for chunk in stream]
    assert max(sizes) <= 256 and sum(sizes) == 1000 and len(sizes) >= 4


def test_without_pyarrow_the_message_names_the_extra(tmp_path: Path) -> None:
    table, _, _ = points_table(3)
    pq.write_table(table, tmp_path / "p.parquet")
    code = (f"import sys; sys.modules['pyarrow'] = None; sys.modules['pyarrow.parquet'] = None\n"
            f"from backprop.cli import main\n"
            f"sys.exit(main(['grad', 'x*y', '--at', '@{tmp_path / 'p.parquet'}']))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2, p.stderr
    assert "backprop-cli[parquet]" in p.stderr and "Traceback" not in p.stderr


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import yaml

    from backprop.cli import main

    d = tmp_path_factory.mktemp("m")
    cfg = {"data": {"synthetic": {"expr": "x + 2*y", "ranges": {"x": [-2, 2], "y": [-3, 3]},
                                  "n": 100}, "target": "z"},
           "model": {"hidden": 3, "activation": "tanh"}, "training": {"epochs": 2, "seed": 1},
           "output": {"model": str(d / "m.npz")}}
    (d / "c.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["train", str(d / "c.yaml"), "--quiet"]) == 0
    return d / "m.npz"


def test_predict_and_evaluate_read_parquet_as_csv(model: Path, points_file) -> None:
    pq_path, csv_path, x, y = points_file
    a = run_inprocess(["predict", str(model), str(pq_path), "--format", "csv"])
    b = run_inprocess(["predict", str(model), str(csv_path), "--format", "csv"])
    assert a.code == 0 and a.out == b.out and a.out.startswith("id,x,label,y,z_pred\n")
    t = pa.table({"x": x, "y": y, "z": x + 2 * y})
    folder = pq_path.parent
    pq.write_table(t, folder / "lab.parquet")
    (folder / "lab.csv").write_text(as_csv(t))
    a = run_inprocess(["evaluate", str(model), str(folder / "lab.parquet"), "--format", "json"])
    b = run_inprocess(["evaluate", str(model), str(folder / "lab.csv"), "--format", "json"])
    assert a.code == 0, a.err
    assert a.out.replace("lab.parquet", "lab.csv") == b.out

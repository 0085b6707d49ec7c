"""Dask (issue 28, the extra ``dask``): on a LocalCluster of 2 worker processes, the same bits
as in process, pass-through columns kept, and the same exit-2 message for a bad row."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("distributed")
dd = pytest.importorskip("dask.dataframe")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
import pandas as pd  # noqa: E402

from backprop import parse  # noqa: E402
from clikit import run_inprocess  # noqa: E402


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=":0")
    with Client(cluster) as c:
        yield c
    cluster.close()


def frame(n: int = 2000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"id": np.arange(n), "x": rng.standard_normal(n),
                         "tag": [f"t{k % 7}" for k in range(n)], "y": rng.uniform(-2, 2, n)})


def test_a_function_pickles_after_use() -> None:
    f = parse("sin(x)*y + relu(x)")
    pts = {"x": np.linspace(-1, 1, 9), "y": np.linspace(0, 2, 9)}
    before = f.gradients(pts).number_block()
    f.value_and_grad(x=0.5, y=1.0)
    g = pickle.loads(pickle.dumps(f))
    assert g.gradients(pts).number_block().tobytes() == before.tobytes()


@pytest.mark.slow
def test_gradients_on_a_local_cluster_equal_in_process(client) -> None:
    from backprop.dask import gradients

    pdf = frame()
    ddf = dd.from_pandas(pdf, npartitions=4)
    out = gradients(ddf, "sin(x)*y")
    assert isinstance(out, dd.DataFrame)  # lazy: nothing computed yet
    assert list(out.columns) == ["id", "tag", "x", "y", "f", "df/dx", "df/dy"]
    got = out.compute()
    assert list(got.columns) == list(out.columns)
    f = parse("sin(x)*y")
    want = f.gradients({"x": pdf["x"].to_numpy(), "y": pdf["y"].to_numpy()}).number_block()
    assert got[["x", "y", "f", "df/dx", "df/dy"]].to_numpy().tobytes() == want.tobytes()
    assert got["id"].tolist() == pdf["id"].tolist() and got["tag"].tolist() == pdf["tag"].tolist()
    # by hand: d(sin(x) y)/dx = cos(x) y
    assert np.allclose(got["df/dx"], np.cos(pdf["x"]) * pdf["y"], rtol=1e-15, atol=0)


def test_hessians_and_predict_on_a_local_cluster(client, tmp_path: Path) -> None:
    import yaml

    from backprop.cli import main
    from backprop.dask import hessians, predict
    from backprop.nn.model import load_model

    pdf = frame(600)
    ddf = dd.from_pandas(pdf, npartitions=3)
    got = hessians(ddf, "x^2*y", ["x"]).compute()
    assert list(got.columns) == ["id", "tag", "x", "y", "f", "df/dx", "d2f/dx2"]
    assert np.array_equal(got["d2f/dx2"], 2 * pdf["y"])  # by hand
    cfg = {"data": {"synthetic": {"expr": "x - y", "ranges": {"x": [-2, 2], "y": [-2, 2]},
                                  "n": 100}, "target": "z"},
           "model": {"hidden": 3, "activation": "tanh"}, "training": {"epochs": 2, "seed": 1},
           "output": {"model": str(tmp_path / "m.npz")}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["train", str(tmp_path / "c.yaml"), "--quiet"]) == 0
    pred = predict(ddf, tmp_path / "m.npz").compute()
    assert list(pred.columns) == ["id", "x", "tag", "y", "z_pred"]
    net, _ = load_model(tmp_path / "m.npz")
    assert np.allclose(pred["z_pred"], net.predict(pdf[["x", "y"]].to_numpy())[:, 0],
                       rtol=1e-12, atol=1e-12)


def test_a_column_that_is_not_numeric_is_refused_before_anything_runs() -> None:
    from backprop.dask import gradients
    from backprop.errors import InputError

    ddf = dd.from_pandas(frame(10), npartitions=2)
    with pytest.raises(InputError, match="column tag is not numeric"):
        gradients(ddf, "x*tag")
    with pytest.raises(InputError, match="no column for z"):
        gradients(ddf, "x*z")


def write_parts(folder: Path, bad: bool = False) -> None:
    folder.mkdir()
    for k in range(3):
        pdf = frame(400, seed=k)
        x = pa.array(pdf["x"])
        if bad and k == 1:
            x = pa.array([None if i == 17 else v for i, v in enumerate(pdf["x"])])
        pq.write_table(pa.table({"id": pdf["id"], "x": x, "y": pdf["y"]}), folder / f"p{k}.parquet",
                       row_group_size=150)


@pytest.mark.slow
def test_cli_scheduler_local_equals_in_process(tmp_path: Path) -> None:
    write_parts(tmp_path / "data")
    pattern = f"@{tmp_path / 'data'}/*.parquet"
    here = run_inprocess(["grad", "sin(x)*y", "--at", pattern, "--format", "parquet", "-o",
                          str(tmp_path / "here")])
    assert here.code == 0, here.err
    dask = run_inprocess(["grad", "sin(x)*y", "--at", pattern, "--format", "parquet", "-o",
                          str(tmp_path / "dask"), "--scheduler", "local"])
    assert dask.code == 0, dask.err
    for k in range(3):
        a = pq.read_table(tmp_path / "here" / f"p{k}.parquet")
        b = pq.read_table(tmp_path / "dask" / f"p{k}.parquet")
        assert a.equals(b)
        assert a.column_names == ["id", "x", "y", "f", "df/dx", "df/dy"]
        one = run_inprocess(["grad", "sin(x)*y", "--at", f"@{tmp_path / 'data'}/p{k}.parquet",
                             "--format", "parquet", "-o", str(tmp_path / "one.parquet")])
        assert one.code == 0 and pq.read_table(tmp_path / "one.parquet").equals(a)


@pytest.mark.slow
def test_cli_a_bad_row_in_one_partition_gives_the_in_process_message(tmp_path: Path) -> None:
    write_parts(tmp_path / "data", bad=True)
    pattern = f"@{tmp_path / 'data'}/*.parquet"
    here = run_inprocess(["grad", "x*y", "--at", pattern, "--format", "parquet", "-o",
                          str(tmp_path / "here")])
    dask = run_inprocess(["grad", "x*y", "--at", pattern, "--format", "parquet", "-o",
                          str(tmp_path / "dask"), "--scheduler", "local"])
    assert here.code == dask.code == 2
    assert "p1.parquet row 18, column x: null" in here.err
    assert dask.err == here.err
    assert not (tmp_path / "dask" / "p1.parquet").exists()


def test_cli_partition_options_are_checked(tmp_path: Path) -> None:
    write_parts(tmp_path / "data")
    pattern = f"@{tmp_path / 'data'}/*.parquet"
    r = run_inprocess(["grad", "x*y", "--at", pattern, "--format", "csv"])
    assert r.code == 2 and "--format parquet -o out/" in r.err
    r = run_inprocess(["grad", "x*y", "--at", pattern, "--format", "parquet"])
    assert r.code == 2 and "-o" in r.err
    r = run_inprocess(["grad", "x*y", "--at", f"@{tmp_path}/none*.parquet", "--format",
                       "parquet", "-o", str(tmp_path / "o")])
    assert r.code == 2 and "no file matches" in r.err
    r = run_inprocess(["grad", "x*y", "--at", pattern, "--format", "parquet", "-o",
                       str(tmp_path / "o"), "--scheduler", "nowhere"])
    assert r.code == 2 and "tcp://HOST:8786" in r.err

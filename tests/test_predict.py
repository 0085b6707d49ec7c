"""backprop predict: the round trip through the model file, and files that are not models."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from backprop.cli import main
from backprop.nn.model import Regressor
from clikit import run_cli




@pytest.fixture(scope="module")
def surface_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("surface")
    cfg = {"data": {"synthetic": {"expr": "x1 + 2*x2", "ranges": {"x1": [0, 10], "x2": [-5, 5]},
                                  "n": 200}, "target": "z"},
           "model": {"hidden": 4, "activation": "relu"},
           "training": {"epochs": 3, "seed": 1},
           "output": {"model": str(d / "m.npz")}}
    (d / "c.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["train", str(d / "c.yaml"), "--quiet", "--epochs", "4"]) == 0
    return d / "m.npz"


def by_hand(path: Path, X: np.ndarray) -> np.ndarray:
    """The seed's formulas applied to the arrays in the file, read with plain numpy."""
    with np.load(path, allow_pickle=False) as z:
        zx = (X - z["x_mean"]) / z["x_std"]
        assert str(z["activation"]) == "relu"
        h = np.maximum(zx @ z["W"].T + z["b"], 0)
        return (h @ z["V"].T + z["c"]) * z["y_std"] + z["y_mean"]


def test_model_file_holds_weights_scaling_names_and_config(surface_model: Path) -> None:
    with np.load(surface_model, allow_pickle=False) as z:
        assert z["W"].shape == (4, 2) and z["V"].shape == (1, 4)
        assert list(z["input_names"]) == ["x1", "x2"] and list(z["target_names"]) == ["z"]
        config = json.loads(str(z["config"]))
    assert config["training"]["epochs"] == 4  # the override, as used
    assert config["model"]["activation"] == "relu"
    # Standardisation statistics of raw inputs spread over [0, 10] and [-5, 5].
    model, _ = Regressor.load(surface_model)
    assert 3 < model.x_scale.mean[0] < 7 and 2 < model.x_scale.std[0] < 4


def test_predict_at_a_point(surface_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["predict", str(surface_model), "--at", "x1=2,x2=-1", "--format", "json"],
                           capsys)
    assert code == 0
    row = json.loads(out)
    assert list(row) == ["x1", "x2", "z_pred"] and row["x1"] == 2.0 and row["x2"] == -1.0
    assert row["z_pred"] == pytest.approx(by_hand(surface_model, np.array([[2.0, -1.0]]))[0, 0],
                                          rel=1e-12)


def test_predict_from_stdin(surface_model: Path, capsys: pytest.CaptureFixture[str],
                            monkeypatch: pytest.MonkeyPatch) -> None:
    X = np.array([[0.0, 0.0], [1.5, 2.5], [9.0, -4.0]])
    # Columns in another order, plus one the model ignores.
    text = "x2,extra,x1\n" + "".join(f"{b!r},7,{a!r}\n" for a, b in X.tolist())
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    code, out, _ = run_cli(["predict", str(surface_model), "--format", "csv"], capsys)
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0] == "x2,extra,x1,z_pred"  # every input column, in order, then the prediction
    got = np.array([[float(c) for c in ln.split(",")] for ln in lines[1:]])
    np.testing.assert_array_equal(got[:, [2, 0]], X)
    assert (got[:, 1] == 7).all()
    np.testing.assert_allclose(got[:, 3], by_hand(surface_model, X)[:, 0], rtol=1e-12)


def test_predict_input_errors(surface_model: Path, capsys: pytest.CaptureFixture[str],
                              monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = run_cli(["predict", str(surface_model), "--at", "x1=2"], capsys)
    assert code == 2 and "x2" in err
    code, _, err = run_cli(["predict", str(surface_model), "--at", "x1=2,x3=1"], capsys)
    assert code == 2 and "x3" in err
    monkeypatch.setattr("sys.stdin", io.StringIO("x1,x2\n1,2\n3,oops\n"))
    code, _, err = run_cli(["predict", str(surface_model)], capsys)
    assert code == 2 and "line 3" in err


@pytest.mark.parametrize("content", [
    b"not a zip file at all",
    b"PK\x03\x04truncated",
    b"",
])
def test_corrupt_files_exit_2(content: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.npz"
    bad.write_bytes(content)
    code, _, err = run_cli(["predict", str(bad), "--at", "1"], capsys)
    assert code == 2 and "not a backprop model file" in err


def test_foreign_and_truncated_models_exit_2(surface_model: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, weights=np.ones(3))
    code, _, err = run_cli(["predict", str(foreign), "--at", "1"], capsys)
    assert code == 2 and "not a backprop model file" in err

    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, format=np.array("backprop-regressor"), W=np.array([{"a": 1}], dtype=object))
    code, _, err = run_cli(["predict", str(pickled), "--at", "1"], capsys)
    assert code == 2 and "model file" in err

    half = tmp_path / "half.npz"
    half.write_bytes(surface_model.read_bytes()[: surface_model.stat().st_size // 2])
    code, _, err = run_cli(["predict", str(half), "--at", "1"], capsys)
    assert code == 2 and "model file" in err

    with np.load(surface_model, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["V"] = np.ones((1, 5))  # does not fit W
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, **arrays)
    code, _, err = run_cli(["predict", str(wrong), "--at", "x1=1,x2=1"], capsys)
    assert code == 2 and "corrupt" in err

    code, _, err = run_cli(["predict", str(tmp_path / "absent.npz"), "--at", "1"], capsys)
    assert code == 2 and "no such model file" in err


def test_predict_keeps_every_column_and_never_overwrites_the_target(
        surface_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "d.csv"
    data.write_text('"id","city","x1","x2","z"\nA1,"Paris, 5e",1.5,2.5,99\nB2,Lyon,9,-4,-1\n')
    X = np.array([[1.5, 2.5], [9.0, -4.0]])
    code, out, err = run_cli(["predict", str(surface_model), str(data), "--format", "csv"], capsys)
    assert code == 0 and err == ""
    import csv
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["id", "city", "x1", "x2", "z", "z_pred"]
    assert rows[1][:5] == ["A1", "Paris, 5e", "1.5", "2.5", "99"] and rows[2][4] == "-1"
    np.testing.assert_allclose([float(r[5]) for r in rows[1:]], by_hand(surface_model, X)[:, 0],
                               rtol=1e-12)
    code, out, _ = run_cli(["predict", str(surface_model), str(data), "--format", "json"], capsys)
    first = json.loads(out.splitlines()[0])
    assert first["id"] == "A1" and first["city"] == "Paris, 5e" and first["x1"] == 1.5
    assert first["z"] == "99" and "z_pred" in first  # the true value kept as written
    code, out, _ = run_cli(["predict", str(surface_model), str(data), "--format", "csv",
                            "--only-predictions"], capsys)
    assert out.splitlines()[0] == "z_pred" and len(out.splitlines()) == 3


def test_predict_warns_once_when_extrapolating(surface_model: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from backprop.nn.model import load_model

    lo, hi = load_model(surface_model)[0].x_range  # the training rows' range, about [0, 10], [-5, 5]
    w = hi - lo
    # x1 one range width past its max (the worst); x2 10% of its width below its min; a
    # third row only 4% past x1's max: inside the 5% margin, not counted
    rows = [[lo[0] + w[0] / 2, 0], [hi[0] + w[0], 0], [lo[0], lo[1] - 0.1 * w[1]],
            [hi[0] + 0.04 * w[0], 0]]
    text = "x1,x2\n" + "".join(f"{float(a)!r},{float(b)!r}\n" for a, b in rows)
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    code, out, err = run_cli(["predict", str(surface_model), "--format", "csv"], capsys)
    assert code == 0 and len(out.splitlines()) == 5
    assert err.count("warning") == 1
    assert "extrapolating: 2 of 4 rows" in err and "farthest out: column x1 (1 row, up to 1 times" in err
    assert "and 1 other column" in err
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    code, out, err = run_cli(["predict", str(surface_model), "--format", "csv", "--quiet"], capsys)
    assert code == 0 and len(out.splitlines()) == 5 and err == ""
    monkeypatch.setattr("sys.stdin", io.StringIO("x1,x2\n5,0\n"))
    code, _, err = run_cli(["predict", str(surface_model)], capsys)
    assert code == 0 and err == ""


def test_predict_checks_the_header_before_printing(surface_model: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "d.csv"
    data.write_text("x1,z\n1,2\n")
    code, out, err = run_cli(["predict", str(surface_model), str(data), "--format", "csv"], capsys)
    assert code == 2 and out == "" and "no column x2" in err
    code, _, err = run_cli(["predict", str(surface_model), "--at", "x1=1,x2=1", "--proba"], capsys)
    assert code == 2 and "regressor" in err

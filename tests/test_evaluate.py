"""backprop evaluate and nn.metrics: hand formulas always, scikit-learn where installed."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from backprop.cli import main
from backprop.nn import metrics
from backprop.nn.model import Classifier, load_model


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(11)


def test_regression_metrics_by_hand(rng: np.random.Generator) -> None:
    y = np.array([[1.0, 10.0], [2.0, 20.0], [4.0, 40.0]])
    p = np.array([[1.5, 10.0], [2.0, 22.0], [3.0, 37.0]])
    # target 1: errors .5, 0, -1; target 2: 0, 2, -3
    assert list(metrics.mean_squared_error(y, p, True)) == pytest.approx([1.25 / 3, 13 / 3])
    assert list(metrics.mean_absolute_error(y, p, True)) == pytest.approx([0.5, 5 / 3])
    assert metrics.root_mean_squared_error(y, p) == pytest.approx((np.sqrt(1.25 / 3) + np.sqrt(13 / 3)) / 2)
    # R² = 1 - SSE / SST; SST of (1, 2, 4) is 14/3, of (10, 20, 40) is 1400/3
    assert list(metrics.r2_score(y, p, True)) == pytest.approx([1 - 1.25 / (14 / 3), 1 - 13 / (1400 / 3)])
    assert metrics.r2_score([3.0, 3.0], [3.0, 3.0]) == 1.0 and metrics.r2_score([3.0, 3.0], [3.0, 4.0]) == 0.0


def test_classification_metrics_by_hand() -> None:
    true = np.array([0, 0, 1, 2, 2, 2])
    proba = np.array([[.7, .2, .1], [.3, .6, .1], [.1, .8, .1], [.2, .2, .6], [.5, .1, .4], [0., 0., 1.]])
    r = metrics.classification_report(true, proba, ["a", "b", "c"])
    assert r["accuracy"] == pytest.approx(4 / 6)
    assert r["confusion_matrix"] == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    assert r["precision"] == pytest.approx({"a": 0.5, "b": 0.5, "c": 1.0})
    assert r["recall"] == pytest.approx({"a": 0.5, "b": 1.0, "c": 2 / 3})
    p_true = [.7, .3, .8, .6, .4, 1 - np.finfo(float).eps]
    assert r["log_loss"] == pytest.approx(-np.mean(np.log(p_true)), rel=1e-13)
    assert metrics.precision_recall(np.array([[1, 0], [1, 0]]))[0][1] != metrics.precision_recall(
        np.array([[1, 0], [1, 0]]))[0][1]  # nothing predicted as class 1: undefined (nan), not 0


def test_metrics_agree_with_scikit_learn(rng: np.random.Generator) -> None:
    import sklearn.metrics as skm  # the dev extra installs scikit-learn: never skipped
    y, p = rng.normal(size=(50, 3)) * 10, rng.normal(size=(50, 3)) * 10
    for ours, theirs in ((metrics.mean_squared_error, skm.mean_squared_error),
                         (metrics.mean_absolute_error, skm.mean_absolute_error),
                         (metrics.r2_score, skm.r2_score),
                         (metrics.root_mean_squared_error, skm.root_mean_squared_error)):
        assert abs(ours(y, p) - theirs(y, p)) <= 1e-9 * max(1.0, abs(theirs(y, p)))
        np.testing.assert_allclose(ours(y, p, True), theirs(y, p, multioutput="raw_values"),
                                   rtol=1e-9, atol=0)
    true = rng.integers(0, 4, 200)
    z = rng.normal(size=(200, 4)) * 3
    proba = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    r = metrics.classification_report(true, proba, ["p", "q", "r", "s"])
    pred = proba.argmax(axis=1)
    assert abs(r["accuracy"] - skm.accuracy_score(true, pred)) <= 1e-12
    assert abs(r["log_loss"] - skm.log_loss(true, proba, labels=[0, 1, 2, 3])) <= 1e-9
    np.testing.assert_array_equal(r["confusion_matrix"], skm.confusion_matrix(true, pred, labels=[0, 1, 2, 3]))
    np.testing.assert_allclose(list(r["precision"].values()),
                               skm.precision_score(true, pred, average=None, labels=[0, 1, 2, 3]), rtol=1e-12)
    np.testing.assert_allclose(list(r["recall"].values()),
                               skm.recall_score(true, pred, average=None, labels=[0, 1, 2, 3]), rtol=1e-12)


def houses(tmp_path: Path) -> tuple[Path, Path]:
    """Training and held-out CSVs with an id, a text column and quoted headers."""
    rng = np.random.default_rng(1)
    paths = []
    for name, n in (("train.csv", 150), ("test.csv", 40)):
        lines = ['"id","city","area","rooms","price"']
        for i in range(n):
            area, rooms = rng.uniform(30, 150), int(rng.integers(1, 6))
            lines.append(f"{name[:2]}{i},\"Paris, {i % 20}e\",{area!r},{rooms},"
                         f"{3 * area + 10 * rooms + rng.normal(0, 5)!r}")
        (tmp_path / name).write_text("\n".join(lines) + "\n")
        paths.append(tmp_path / name)
    cfg = {"data": {"csv": "train.csv", "target": "price", "inputs": ["area", "rooms"]},
           "model": {"hidden": [8, 4]}, "training": {"epochs": 30, "seed": 3},
           "output": {"model": str(tmp_path / "m.npz")}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["train", str(tmp_path / "c.yaml"), "--quiet"]) == 0
    return paths[1], tmp_path / "m.npz"


def test_evaluate_regression_equals_the_formulas_on_predict_output(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    test, model_path = houses(tmp_path)
    capsys.readouterr()
    code, out, _ = run_cli(["predict", str(model_path), str(test), "--format", "csv"], capsys)
    rows = list(csv.DictReader(io.StringIO(out)))
    y = np.array([float(r["price"]) for r in rows])
    p = np.array([float(r["price_pred"]) for r in rows])
    code, out, err = run_cli(["evaluate", str(model_path), str(test), "--format", "json"], capsys)
    assert code == 0, err
    result = json.loads(out)
    assert result["rows"] == 40 and [r["target"] for r in result["metrics"]] == ["price", "overall"]
    model, _ = load_model(model_path)
    X = np.array([[float(r["area"]), float(r["rooms"])] for r in rows])
    lo, hi = model.x_range
    # counted: a row with an input more than 5% of the training range beyond it
    margin = 0.05 * (hi - lo)
    assert result["extrapolated_rows"] == int(np.sum(((X < lo - margin) | (X > hi + margin))
                                                     .any(axis=1)))
    got = result["metrics"][0]
    mse = float(np.mean((y - p) ** 2))
    assert got["mse"] == pytest.approx(mse, rel=1e-12)
    assert got["rmse"] == pytest.approx(np.sqrt(mse), rel=1e-12)
    assert got["mae"] == pytest.approx(float(np.mean(np.abs(y - p))), rel=1e-12)
    assert got["r2"] == pytest.approx(1 - np.sum((y - p) ** 2) / np.sum((y - y.mean()) ** 2), rel=1e-12)
    import sklearn.metrics as skm  # the dev extra installs scikit-learn: never skipped
    for key, fn in (("mse", skm.mean_squared_error), ("rmse", skm.root_mean_squared_error),
                    ("mae", skm.mean_absolute_error), ("r2", skm.r2_score),
                    ("explained_variance", skm.explained_variance_score),
                    ("mape", skm.mean_absolute_percentage_error)):
        assert abs(got[key] - fn(y, p)) <= 1e-9 * max(1.0, abs(fn(y, p))), key


def test_evaluate_reads_stdin_and_prints_table_and_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    test, model_path = houses(tmp_path)
    capsys.readouterr()
    monkeypatch.setattr("sys.stdin", io.StringIO(test.read_text()))
    code, out, _ = run_cli(["evaluate", str(model_path), "-", "--format", "csv"], capsys)
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["target"] for r in rows] == ["price", "overall"] and set(rows[0]) == {
        "target", "mse", "rmse", "mae", "r2", "explained_variance", "mape"}
    code, out, _ = run_cli(["evaluate", str(model_path), str(test)], capsys)
    assert code == 0 and "R²" in out and "RMSE" in out and "MAPE" in out
    assert max(map(len, out.splitlines()[1:])) <= 80  # the table (its title names the file)
    # tables: at most 6 significant digits
    cell = out.splitlines()[-2].split()[1]
    assert len(cell.replace(".", "").replace("-", "").lstrip("0")) <= 6


def test_evaluate_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    test, model_path = houses(tmp_path)
    capsys.readouterr()
    nolabel = tmp_path / "n.csv"
    nolabel.write_text("area,rooms\n50,2\n")
    code, _, err = run_cli(["evaluate", str(model_path), str(nolabel)], capsys)
    assert code == 2 and "no column price" in err
    code, _, err = run_cli(["evaluate", str(model_path), str(tmp_path / "absent.csv")], capsys)
    assert code == 2 and "absent.csv" in err


def test_evaluate_classification_against_predict_and_scikit_learn(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(2)
    W, b, V, c = rng.normal(size=(5, 2)), rng.normal(size=5), rng.normal(size=(3, 5)), rng.normal(size=3)
    model = Classifier([(W, b)], V, c, "tanh", classes=["lo", "mid", "hi"], input_names=["u", "v"],
                       target_names=["level"])
    model.save(tmp_path / "m.npz")
    X = rng.normal(size=(60, 2))
    labels = np.array(["lo", "mid", "hi"])[rng.integers(0, 3, 60)]
    data = tmp_path / "d.csv"
    data.write_text("u,v,level\n" + "".join(f"{u!r},{v!r},{k}\n" for (u, v), k in zip(X.tolist(), labels)))
    code, out, err = run_cli(["evaluate", str(tmp_path / "m.npz"), str(data), "--format", "json"], capsys)
    assert code == 0, err
    result = json.loads(out)
    z = np.tanh(X @ W.T + b) @ V.T + c
    proba = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)  # by hand
    true = np.array([["lo", "mid", "hi"].index(k) for k in labels])
    assert result["accuracy"] == pytest.approx(np.mean(proba.argmax(1) == true), rel=1e-12)
    assert result["log_loss"] == pytest.approx(-np.mean(np.log(proba[np.arange(60), true])), rel=1e-10)
    code, out, _ = run_cli(["predict", str(tmp_path / "m.npz"), str(data), "--proba", "--format", "csv"],
                           capsys)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == ["u", "v", "level", "level_pred", "level_proba_lo", "level_proba_mid",
                             "level_proba_hi"]
    np.testing.assert_allclose([[float(r[f"level_proba_{k}"]) for k in ("lo", "mid", "hi")] for r in rows],
                               proba, rtol=1e-12)
    import sklearn.metrics as skm  # the dev extra installs scikit-learn: never skipped
    assert abs(result["log_loss"] - skm.log_loss(labels, proba[:, [2, 0, 1]],
                                                 labels=["hi", "lo", "mid"])) <= 1e-9
    assert result["confusion_matrix"] == skm.confusion_matrix(
        labels, np.array(["lo", "mid", "hi"])[proba.argmax(1)], labels=["lo", "mid", "hi"]).tolist()
    predicted = np.array(["lo", "mid", "hi"])[proba.argmax(1)]
    for key, theirs in (("f1_macro", skm.f1_score(labels, predicted, average="macro")),
                        ("f1_weighted", skm.f1_score(labels, predicted, average="weighted")),
                        ("balanced_accuracy", skm.balanced_accuracy_score(labels, predicted)),
                        ("roc_auc_ovr", skm.roc_auc_score(labels, proba[:, [2, 0, 1]],
                                                          multi_class="ovr"))):
        assert abs(result[key] - theirs) <= 1e-9, key
    f1 = skm.f1_score(labels, predicted, average=None, labels=["lo", "mid", "hi"])
    np.testing.assert_allclose([result["f1"][k] for k in ("lo", "mid", "hi")], f1, rtol=1e-9)
    bad = tmp_path / "bad.csv"
    bad.write_text("u,v,level\n1,2,extreme\n")
    code, _, err = run_cli(["evaluate", str(tmp_path / "m.npz"), str(bad)], capsys)
    assert code == 2 and "'extreme'" in err and "not a class" in err
    code, out, _ = run_cli(["evaluate", str(tmp_path / "m.npz"), str(data)], capsys)
    assert code == 0 and "Confusion matrix" in out and "F1 (macro)" in out and "macro avg" in out
    assert max(len(ln) for ln in out.splitlines() if "rows, target" not in ln) <= 80

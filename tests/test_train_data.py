"""train on real CSVs (chosen columns, quoting, delimiters), deeper nets, classification,
and the checks that fail before any training (issue 13)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from backprop.cli import main
from backprop.nn import config as settings
from backprop.nn import train as training
from backprop.nn.layers import SoftmaxCrossEntropy
from backprop.nn.model import Classifier, Regressor, load_model

ROOT = Path(__file__).resolve().parent.parent


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def write(tmp_path: Path, cfg: dict, name: str = "c.yaml") -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(cfg))
    return p


def houses(tmp_path: Path, n: int = 120) -> Path:
    """An id column, a text column (with a comma inside quotes), quoted headers; price = f(area, rooms)."""
    rng = np.random.default_rng(0)
    lines = ['"id","city","area","rooms","price"']
    for i in range(n):
        area, rooms = rng.uniform(30, 150), int(rng.integers(1, 6))
        price = 3 * area + 10 * rooms + rng.normal(0, 1)
        city = '"Paris, 5e"' if i % 3 == 0 else "Lyon"
        lines.append(f"A{i:04d},{city},{area!r},{rooms},{price!r}")
    p = tmp_path / "houses.csv"
    p.write_text("\n".join(lines) + "\n")
    return p


def house_config(tmp_path: Path, **model: object) -> dict:
    return {"data": {"csv": "houses.csv", "target": "price", "inputs": ["area", "rooms"],
                     "validation_split": 0.25},
            "model": {"hidden": 8, **model},
            "training": {"epochs": 60, "learning_rate": 0.05, "seed": 1},
            "output": {"model": str(tmp_path / "m.npz")}}


def test_only_the_named_columns_are_parsed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    houses(tmp_path)
    code, out, err = run_cli(["train", str(write(tmp_path, house_config(tmp_path))), "--quiet",
                              "--format", "json"], capsys)
    assert code == 0, err
    model, _ = load_model(tmp_path / "m.npz")
    assert model.input_names == ["area", "rooms"] and model.target_names == ["price"]
    # price = 3 area + 10 rooms + noise, area in [30, 150]: a variance of about 3,600;
    # a trained net explains almost all of it
    assert json.loads(out)["saved_val_mse_raw"] < 100


def test_default_inputs_are_the_columns_of_numbers_and_the_text_left_out_is_named(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    houses(tmp_path)
    cfg = house_config(tmp_path)
    del cfg["data"]["inputs"]
    code, _, err = run_cli(["train", str(write(tmp_path, cfg)), "--quiet"], capsys)
    assert code == 0, err
    model, _ = load_model(tmp_path / "m.npz")
    assert model.input_names == ["area", "rooms"]
    # one note: the columns used, and those left out with the first text cell of each
    [note] = [ln for ln in err.splitlines() if "Left out" in ln]
    assert "inputs: area, rooms (2 columns)" in note
    assert "id (line 2: 'A0000')" in note and "city (line 2: 'Paris, 5e')" in note


@pytest.mark.parametrize("delimiter,text", [
    (";", 'a;"b";y\n1;2;3\n4;5;6\n7;8;9\n'),
    ("\t", "a\tb\ty\n1\t2\t3\n4\t5\t6\n7\t8\t9\n"),
])
def test_delimiter(delimiter: str, text: str, tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text(text)
    cfg = settings.validate({"data": {"csv": "d.csv", "delimiter": delimiter, "validation_split": 0}})
    run = training.prepare(cfg, tmp_path)
    np.testing.assert_array_equal(run.data.X, [[1, 2], [4, 5], [7, 8]])
    np.testing.assert_array_equal(run.data.Y, [[3], [6], [9]])


@pytest.mark.parametrize("data,expected", [
    ({"csv": "d.csv", "target": "x", "inputs": ["x", "z"]}, "x is also a target"),
    ({"synthetic": {"expr": "sin(x)", "ranges": {"x": [0, 1]}}, "target": "x"}, "x is also an input"),
    ({"csv": "d.csv", "inputs": ["a", "nope"]}, "data.inputs: "),
    ({"csv": "d.csv", "delimiter": ";;"}, "data.delimiter"),
])
def test_column_config_errors(data: dict, expected: str, tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "d.csv").write_text("a,z,y\n1,2,3\n4,5,6\n")
    cfg = {"data": data, "output": {"model": str(tmp_path / "m.npz")}}
    code, _, err = run_cli(["train", str(write(tmp_path, cfg)), "--quiet"], capsys)
    assert code == 2 and expected in err, err


# -- fail before the work ------------------------------------------------------

def sine(tmp_path: Path, out: str) -> Path:
    return write(tmp_path, {"data": {"synthetic": {"expr": "sin(x)", "ranges": {"x": [0, 1]}, "n": 50}},
                            "training": {"epochs": 3}, "output": {"model": out}})


@pytest.mark.parametrize("out,expected", [
    ("/sys/foo.npz", "cannot write /sys/foo.npz"),
    ("{tmp}/runs/", "is a folder; give a file name"),
    ("{tmp}/afile/m.npz", "is a file, not a folder"),
])
def test_an_unwritable_output_fails_before_the_first_epoch(
        out: str, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "afile").write_text("")
    (tmp_path / "runs").mkdir()
    started = []
    monkeypatch.setattr(training, "execute", lambda *a, **k: started.append(1))
    code, _, err = run_cli(["train", str(sine(tmp_path, out.format(tmp=tmp_path))), "--quiet"], capsys)
    assert code == 2 and expected in err, err
    assert ".tmp" not in err and not started


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_a_read_only_folder_fails_before_training(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        code, _, err = run_cli(["train", str(sine(tmp_path, str(ro / "m.npz"))), "--quiet"], capsys)
    finally:
        ro.chmod(0o700)
    assert code == 2 and f"cannot write {ro / 'm.npz'}" in err


# -- deeper nets ---------------------------------------------------------------

def test_hidden_list_builds_the_layers_and_passes_gradcheck(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    houses(tmp_path)
    cfg = house_config(tmp_path, hidden=[64, 32])
    code, out, err = run_cli(["train", str(write(tmp_path, cfg)), "--quiet", "--gradcheck",
                              "--format", "json", "--epochs", "2"], capsys)
    assert code == 0, err
    assert json.loads(out)["gradcheck_max_rel_error"] < 1e-6
    model, config = load_model(tmp_path / "m.npz")
    assert model.hidden_sizes == [64, 32] and config["model"]["hidden"] == [64, 32]
    assert [p.shape for p in model.params.values()] == [(64, 2), (64,), (32, 64), (32,), (1, 32), (1,)]


def test_gradcheck_names_every_layer_of_a_deep_net_and_catches_each(
        monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    model = Regressor.init(3, [5, 4, 3], 2, "sigmoid", rng)
    x, y = rng.normal(size=(6, 3)), rng.normal(size=(6, 2))
    errors = training.gradcheck(model, x, y, rng)
    assert max(errors.values()) < 1e-6
    for name in ("W1 x + b1", "W2 x + b2", "W3 x + b3", "V h + c", "sigmoid (layer 3)",
                 "network: dE/dW2", "network: dE/db3"):
        assert any(k.startswith(name) for k in errors), name
    # a wrong backward in the middle layer only (it forgets dE/dW): the network's check fails
    layer = model.layers[2]

    def forgetful(up: np.ndarray) -> np.ndarray:
        layer.grads["W"][...] = 0.0
        return up @ layer.W

    monkeypatch.setattr(layer, "backward", forgetful)
    errors = training.gradcheck(model, x, y, rng)
    assert errors["network: dE/dW2"] > 1e-3


def test_deep_regressor_against_a_hand_forward_pass() -> None:
    rng = np.random.default_rng(4)
    model = Regressor.init(2, [3, 4], 1, "relu", rng)
    X = rng.normal(size=(5, 2))
    (W1, b1), (W2, b2) = model.hidden_weights
    h = np.maximum(np.maximum(X @ W1.T + b1, 0) @ W2.T + b2, 0)
    np.testing.assert_allclose(model.predict(X), h @ model.V.T + model.c, rtol=1e-13)
    np.testing.assert_allclose(model.forward(X), h @ model.V.T + model.c, rtol=1e-13)


def test_a_first_format_model_file_still_loads(tmp_path: Path) -> None:
    """Version 1 (one hidden layer, W b V c, no task, no ranges), written from arrays as before."""
    rng = np.random.default_rng(5)
    W, b, V, c = rng.normal(size=(4, 2)), rng.normal(size=4), rng.normal(size=(1, 4)), rng.normal(size=1)
    old = tmp_path / "old.npz"
    np.savez(old, format=np.array("backprop-regressor"), version=np.array(1), W=W, b=b, V=V, c=c,
             activation=np.array("tanh"), x_mean=np.array([1.0, 2.0]), x_std=np.array([2.0, 4.0]),
             y_mean=np.array([10.0]), y_std=np.array([3.0]),
             input_names=np.array(["p", "q"]), target_names=np.array(["r"]),
             config=np.array(json.dumps({"model": {"hidden": 4}})))
    model, config = load_model(old)
    assert isinstance(model, Regressor) and model.hidden_sizes == [4] and config["model"]["hidden"] == 4
    X = rng.normal(size=(3, 2))
    z = (X - [1.0, 2.0]) / [2.0, 4.0]
    np.testing.assert_allclose(model.predict(X), (np.tanh(z @ W.T + b) @ V.T + c) * 3.0 + 10.0,
                               rtol=1e-13)
    assert not model.outside_range(X * 1e6).any()  # no ranges in the file: no warning


# -- classification ------------------------------------------------------------

def test_softmax_cross_entropy_by_hand_and_with_huge_scores() -> None:
    rng = np.random.default_rng(6)
    z, labels = rng.normal(size=(5, 3)), np.array([0, 2, 1, 1, 0])
    layer = SoftmaxCrossEntropy()
    E = layer.forward(z, labels)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    assert E == pytest.approx(-np.mean(np.log(p[np.arange(5), labels])), rel=1e-13)
    onehot = np.eye(3)[labels]
    np.testing.assert_allclose(layer.backward(), (p - onehot) / 5, rtol=1e-12)
    # scores of 1000 overflow exp: the log-sum-exp form stays finite and exact
    big = np.array([[1000.0, 0.0], [0.0, 1000.0]])
    assert layer.forward(big, np.array([0, 0])) == pytest.approx(500.0, rel=1e-12)
    assert np.all(np.isfinite(layer.backward()))


def labelled(tmp_path: Path, n: int = 300) -> Path:
    """Three clusters in the plane, labels 'yes' / 'no' / 'maybe' (text)."""
    rng = np.random.default_rng(8)
    centres = {"yes": (2.0, 0.0), "no": (-2.0, 0.0), "maybe": (0.0, 2.5)}
    lines = ["id,u,v,answer"]
    for i in range(n):
        label = list(centres)[i % 3]
        u, v = (np.array(centres[label]) + rng.normal(0, 0.6, 2)).tolist()
        lines.append(f"{i},{u!r},{v!r},{label}")
    p = tmp_path / "labels.csv"
    p.write_text("\n".join(lines) + "\n")
    return p


def classifier_config(tmp_path: Path, **training_keys: object) -> Path:
    labelled(tmp_path)
    return write(tmp_path, {"task": "classification",
                            "data": {"csv": "labels.csv", "target": "answer", "inputs": ["u", "v"]},
                            "model": {"hidden": [8, 8]},
                            "training": {"epochs": 40, "learning_rate": 0.1, "seed": 2,
                                         **training_keys},
                            "output": {"model": str(tmp_path / "m.npz")}})


def test_classifier_learns_text_labels_and_saves_them(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["train", str(classifier_config(tmp_path)), "--quiet", "--format",
                              "json", "--gradcheck"], capsys)
    assert code == 0, err
    summary = json.loads(out)
    assert summary["task"] == "classification" and summary["gradcheck_max_rel_error"] < 1e-6
    # clusters 4 standard deviations apart: nearly every point is on its side
    assert summary["saved_val_accuracy"] > 0.95
    model, _ = load_model(tmp_path / "m.npz")
    assert isinstance(model, Classifier) and model.classes == ["maybe", "no", "yes"]
    assert list(model.predict(np.array([[2.0, 0.0], [-2.0, 0.0], [0.0, 2.5]]))) == ["yes", "no", "maybe"]
    p = model.predict_proba(np.array([[2.0, 0.0]]))
    assert p.sum() == pytest.approx(1.0) and p[0, 2] > 0.9


def test_early_stopping_watches_the_validation_cross_entropy(tmp_path: Path) -> None:
    cfg = settings.load(classifier_config(tmp_path, epochs=500, learning_rate=0.5,
                                          early_stopping={"patience": 5}))
    run = training.prepare(cfg, tmp_path)
    fit = training.execute(run)
    vals = [e.val_loss for e in fit.history]
    assert fit.stopped == "early stopping" and fit.best_epoch == 1 + int(np.argmin(vals))
    Xv, Tv = run.scaled(run.val_rows)
    assert training.loss_of(run.model, Xv, Tv) == pytest.approx(min(vals), rel=1e-12)


@pytest.mark.parametrize("text,expected", [
    ("u,answer\n1,yes\n2,yes\n3,yes\n", "holds one label only"),
    ("u,answer\n1,yes\n2,\n3,no\n", "line 3, column answer: empty cell"),
])
def test_unusable_labels_fail_before_training(text: str, expected: str, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "d.csv").write_text(text)
    cfg = {"task": "classification", "data": {"csv": "d.csv", "target": "answer"},
           "output": {"model": str(tmp_path / "m.npz")}}
    code, _, err = run_cli(["train", str(write(tmp_path, cfg)), "--quiet"], capsys)
    assert code == 2 and expected in err, err


def test_a_regression_on_text_labels_suggests_classification(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "d.csv").write_text("u,answer\n1,yes\n2,no\n")
    code, _, err = run_cli(["train", str(write(tmp_path, {"data": {"csv": "d.csv", "target": "answer"}})),
                            "--quiet"], capsys)
    assert code == 2 and "task: classification" in err


def test_shipped_wine_config_trains_and_evaluates(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(["train", str(ROOT / "configs" / "wine.yaml"), "--quiet", "--format",
                              "json"], capsys)
    assert code == 0, err
    assert json.loads(out)["saved_val_accuracy"] >= 0.9
    code, out, err = run_cli(["evaluate", "runs/wine/model.npz", str(ROOT / "configs/data/wine_test.csv"),
                              "--format", "json"], capsys)
    assert code == 0, err
    result = json.loads(out)
    assert result["classes"] == ["class_0", "class_1", "class_2"] and result["accuracy"] > 0.9
    assert np.sum(result["confusion_matrix"]) == 36 and result["rows"] == 36


# -- the scikit-learn-style estimators --------------------------------------------

def test_estimators_fit_predict_score_and_validate_first() -> None:
    from backprop.nn.estimators import NetClassifier, NetRegressor

    rng = np.random.default_rng(9)
    X = rng.uniform(-1, 1, (400, 2))
    y = np.sin(3 * X[:, 0]) + X[:, 1]
    net = NetRegressor(hidden=[16, 8], epochs=60, learning_rate=0.1).fit(X, y)
    p = net.predict(X)
    assert p.shape == (400,)
    assert net.score(X, y) == pytest.approx(1 - np.sum((y - p) ** 2) / np.sum((y - y.mean()) ** 2))
    assert net.score(X, y) > 0.95
    labels = np.where(X[:, 0] > 0, 3, 7)
    clf = NetClassifier(hidden=8, epochs=40, learning_rate=0.1).fit(X, labels)
    assert list(clf.classes_) == [3, 7] and clf.predict(X).dtype.kind == "i"
    assert clf.score(X, labels) == pytest.approx(np.mean(clf.predict(X) == labels))
    assert clf.score(X, labels) > 0.95
    np.testing.assert_allclose(clf.predict_proba(X).sum(axis=1), 1.0)
    for bad, message in BAD_CALLS(NetRegressor, NetClassifier, X, y, net):
        with pytest.raises(ValueError, match=message):
            bad()


def BAD_CALLS(NetRegressor: Any, NetClassifier: Any, X: np.ndarray, y: np.ndarray,
              net: Any) -> list[tuple[Any, str]]:
    """Calls that must raise a ValueError, and what the message says (scikit-learn's
    validation where it is installed, the estimators' own without it)."""
    return [(lambda: NetRegressor(hidden=[8, 0]).fit(X, y), "hidden"),
            (lambda: NetRegressor(hidden=200_000).fit(X, y), "hidden: .*100000"),
            (lambda: NetRegressor(learning_rate=-1).fit(X, y), "learning_rate"),
            (lambda: NetRegressor(activation="softplus").fit(X, y), "activation"),
            (lambda: NetRegressor(random_state=-1).fit(X, y), "random_state"),
            (lambda: NetRegressor().fit(X[:, 0], y), "2-?D"),
            (lambda: NetRegressor().fit(X, y[:-1]), "one value|inconsistent numbers of samples"),
            (lambda: NetRegressor().fit(np.where(X > 0.99, np.nan, X), y), "(?i)nan"),
            (lambda: NetClassifier().fit(X, np.ones(len(X))), "one class"),
            (lambda: net.predict(X[:, :1]), "X has 1 features, but NetRegressor is expecting 2"),
            (lambda: NetRegressor().predict(X), "not fitted")]


def test_estimator_and_train_start_from_the_same_weights(tmp_path: Path) -> None:
    """NetRegressor(random_state=s) draws the weights `backprop train` draws with training.seed s."""
    from backprop.nn.estimators import NetRegressor

    (tmp_path / "d.csv").write_text("a,b,y\n" + "".join(f"{i},{i % 3},{i * 0.5}\n" for i in range(30)))
    cfg = settings.validate({"data": {"csv": "d.csv", "validation_split": 0},
                             "model": {"hidden": [5, 3]}, "training": {"seed": 4}})
    run = training.prepare(cfg, tmp_path)
    net = NetRegressor(hidden=[5, 3], random_state=4, epochs=1)
    init, _ = net._rngs(net._seed())
    fresh = Regressor.init(2, [5, 3], 1, "tanh", init)
    for k, v in run.model.params.items():
        np.testing.assert_array_equal(fresh.params[k], v)


def test_a_two_valued_regression_target_gets_a_warning(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    # learnable (sick from u >= 10), so that the model is saved
    (tmp_path / "d.csv").write_text("u,sick\n" + "".join(f"{i},{int(i >= 10)}\n" for i in range(20)))
    cfg = {"data": {"csv": "d.csv", "target": "sick"}, "training": {"epochs": 2},
           "output": {"model": str(tmp_path / "m.npz")}}
    code, _, err = run_cli(["train", str(write(tmp_path, cfg)), "--quiet"], capsys)
    assert code == 0 and "takes two values only (0 and 1)" in err and "task: classification" in err


@pytest.mark.parametrize("hidden,expected", [([], "at least one hidden layer"), ([64, 0], "1 to 100000"),
                                             ("many", "model.hidden")])
def test_hidden_errors(hidden: object, expected: str, tmp_path: Path,
                       capsys: pytest.CaptureFixture[str]) -> None:
    cfg = {"data": {"synthetic": {"expr": "sin(x)", "ranges": {"x": [0, 1]}}}, "model": {"hidden": hidden}}
    code, _, err = run_cli(["train", str(write(tmp_path, cfg)), "--quiet"], capsys)
    assert code == 2 and expected in err, err


def test_predict_reads_bare_numbers_for_a_one_input_model(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    cfg = {"data": {"synthetic": {"expr": "2*x", "ranges": {"x": [0, 1]}, "n": 40}},
           "training": {"epochs": 2}, "output": {"model": str(tmp_path / "m.npz")}}
    assert main(["train", str(write(tmp_path, cfg)), "--quiet"]) == 0
    capsys.readouterr()
    monkeypatch.setattr("sys.stdin", io.StringIO("0.5\n0.25\n"))
    code, out, err = run_cli(["predict", str(tmp_path / "m.npz"), "--format", "csv"], capsys)
    model, _ = load_model(tmp_path / "m.npz")
    lines = out.splitlines()
    assert code == 0 and lines[0] == "x,y_pred" and len(lines) == 3
    assert float(lines[1].split(",")[1]) == pytest.approx(model.predict(np.array([[0.5]]))[0, 0], rel=1e-12)

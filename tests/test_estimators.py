"""NetRegressor and NetClassifier are scikit-learn estimators (issue 29): they pass its
``check_estimator``, and clone, Pipeline, GridSearchCV and cross_val_score take them;
without scikit-learn they still fit and predict; the command line never imports it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from backprop.nn.estimators import NetClassifier, NetRegressor

ROOT = Path(__file__).resolve().parent.parent


def python(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=600, env={**os.environ, **(env or {})})


@pytest.mark.slow  # a few seconds: in the slow group (docs/setup.md)
@pytest.mark.parametrize("name", ["NetRegressor", "NetClassifier"])
def test_check_estimator_passes_every_check(name: str) -> None:
    # In a process of its own: the array API check needs SCIPY_ARRAY_API set before scipy
    # is first imported. No check may fail, and none is skipped (pandas is in the dev extra).
    p = python(f"""
        import json, warnings
        warnings.simplefilter("ignore")
        from sklearn.utils.estimator_checks import check_estimator
        from backprop.nn.estimators import {name}
        results = check_estimator({name}(), on_fail=None)
        print(json.dumps([[r["check_name"], r["status"], repr(r["exception"])[:300]]
                          for r in results]))
    """, {"SCIPY_ARRAY_API": "1"})
    assert p.returncode == 0, p.stderr[-3000:]
    results = json.loads(p.stdout.splitlines()[-1])
    assert len(results) >= 50
    assert [r for r in results if r[1] != "passed"] == []


def blobs(n: int = 240, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = np.array([[0, 0], [3, 3], [0, 4]]) * 100.0  # far from standardised on purpose
    y = rng.integers(0, 3, n)
    return centres[y] + rng.normal(0, 60, (n, 2)), np.array(["a", "b", "c"])[y]


def test_clone_get_params_and_set_params() -> None:
    net = NetRegressor(hidden=(8, 4), learning_rate=0.01, random_state=3)
    twin = clone(net)
    assert twin is not net and twin.get_params() == net.get_params()
    assert net.set_params(epochs=5) is net and net.epochs == 5
    with pytest.raises(ValueError):
        net.set_params(no_such_thing=1)
    assert "hidden=(8, 4)" in repr(net)


def test_fitted_attributes_end_in_an_underscore_and_follow_scikit_learns_layout() -> None:
    X, y = blobs()
    clf = NetClassifier(hidden=[6, 5], epochs=20, random_state=0).fit(X, y)
    assert clf.n_features_in_ == 2 and list(clf.classes_) == ["a", "b", "c"]
    assert [c.shape for c in clf.coefs_] == [(2, 6), (6, 5), (5, 3)]
    assert [b.shape for b in clf.intercepts_] == [(6,), (5,), (3,)]
    assert clf.n_iter_ == 20 and len(clf.loss_curve_) == 20
    # coefs_ are the network's weights: the forward pass by hand from them gives predict_proba
    z = (X - clf.model_.x_scale.mean) / clf.model_.x_scale.std
    for W, b in zip(clf.coefs_[:-1], clf.intercepts_[:-1]):
        z = np.tanh(z @ W + b)
    s = z @ clf.coefs_[-1] + clf.intercepts_[-1]
    p = np.exp(s - s.max(axis=1, keepdims=True))
    np.testing.assert_allclose(clf.predict_proba(X), p / p.sum(axis=1, keepdims=True), rtol=1e-10)
    # predict_log_proba (scikit-learn's classifier API): the log of those, by the hand formula
    log_p = s - s.max(axis=1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(clf.predict_log_proba(X), log_p, rtol=1e-10, atol=1e-12)


def test_random_state_repeats_a_fit_and_none_draws_afresh() -> None:
    X, y = blobs()
    a = NetClassifier(hidden=5, epochs=3, random_state=7).fit(X, y).predict_proba(X)
    b = NetClassifier(hidden=5, epochs=3, random_state=7).fit(X, y).predict_proba(X)
    c = NetClassifier(hidden=5, epochs=3, random_state=None).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    d = NetClassifier(hidden=5, epochs=3, random_state=np.random.RandomState(0)).fit(X, y)
    assert d.predict_proba(X).shape == (len(X), 3)


def test_pipeline_grid_search_and_cross_val_score() -> None:
    X, y = blobs()
    pipe = make_pipeline(StandardScaler(), NetClassifier(epochs=30, random_state=0))
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,) and np.all(scores > 0.8)
    grid = GridSearchCV(NetClassifier(epochs=30, random_state=0),
                        {"hidden": [2, (8, 4)], "learning_rate": [0.05, 0.1]}, cv=3)
    grid.fit(X, y)
    assert grid.best_params_["hidden"] in (2, (8, 4))
    assert set(grid.cv_results_["param_hidden"]) == {2, (8, 4)}
    assert grid.score(X, y) > 0.8
    rng = np.random.default_rng(1)
    Xr = rng.uniform(-1, 1, (200, 3))
    yr = np.sin(2 * Xr[:, 0]) + Xr[:, 1] * Xr[:, 2]
    r2 = cross_val_score(make_pipeline(StandardScaler(), NetRegressor(hidden=16, epochs=80)),
                         Xr, yr, cv=3)
    assert np.all(r2 > 0.8)


def test_the_settings_are_checked_by_the_config_models() -> None:
    """Limits of nn/config.py, so the estimators and `backprop train` refuse alike."""
    from backprop.nn import config as settings
    from backprop.errors import InputError

    X, y = blobs(40)
    for model, training, argument in (({"hidden": 100_001}, {}, "hidden"),
                                      ({"hidden": [4] * 101}, {}, "hidden"),
                                      ({}, {"momentum": 1.0}, "momentum"),
                                      ({}, {"batch_size": 0}, "batch_size"),
                                      ({}, {"optimizer": "rmsprop"}, "optimizer")):
        with pytest.raises(InputError):
            settings.validate({"data": {"csv": "x.csv"}, "model": model, "training": training})
        with pytest.raises(ValueError, match=f"^{argument}: "):
            NetClassifier(**model, **training).fit(X, y)


def test_without_scikit_learn_the_estimators_still_work() -> None:
    p = python("""
        import sys
        sys.modules["sklearn"] = None  # an import of it now fails, as where it is absent
        import numpy as np
        from backprop.nn import estimators as e
        assert not e.HAVE_SKLEARN
        rng = np.random.default_rng(0)
        X = rng.uniform(-1, 1, (300, 2))
        y = np.sin(3 * X[:, 0]) + X[:, 1]
        net = e.NetRegressor(hidden=16, epochs=60, learning_rate=0.1)
        assert net.get_params()["hidden"] == 16 and net.set_params(epochs=80) is net
        print(net.fit(X, y).score(X, y))
        clf = e.NetClassifier(hidden=8, epochs=40).fit(X, np.where(X[:, 0] > 0, "p", "n"))
        print(clf.score(X, np.where(X[:, 0] > 0, "p", "n")), clf.n_features_in_, clf.classes_.tolist())
        for bad in (lambda: e.NetRegressor().predict(X), lambda: net.predict(X[:, :1]),
                    lambda: e.NetRegressor(hidden=0).fit(X, y), lambda: net.fit(X[:, 0], y)):
            try:
                bad()
            except ValueError as exc:
                print(type(exc).__name__, str(exc)[:60])
    """)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert float(lines[0]) > 0.9
    accuracy, width, classes = lines[1].split(" ", 2)
    assert float(accuracy) > 0.9 and width == "2" and classes == "['n', 'p']"
    assert lines[2].startswith("NotFittedError") and "not fitted" in lines[2]
    assert "X has 1 features, but NetRegressor is expecting 2" in lines[3]
    assert lines[4].startswith("ValueError hidden: ") and "2-D" in lines[5]


def test_the_command_line_does_not_import_scikit_learn(tmp_path: Path) -> None:
    p = python(f"""
        import contextlib, io, os, sys
        from backprop.cli import main
        os.chdir({str(tmp_path)!r})
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            assert main(["train", {str(ROOT / "configs" / "wine.yaml")!r}, "--quiet",
                         "--epochs", "2", "--out", "m.npz"]) == 0
            assert main(["evaluate", "m.npz", {str(ROOT / "configs/data/wine_test.csv")!r},
                         "--format", "json"]) == 0
            assert main(["predict", "m.npz", {str(ROOT / "configs/data/wine_test.csv")!r},
                         "--format", "csv"]) == 0
        print(sorted(m for m in sys.modules if m == "sklearn" or m.startswith("sklearn.")))
    """)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "[]"


def test_partial_fit_goes_on_where_it_stopped() -> None:
    rng = np.random.default_rng(4)
    X = rng.uniform(-1, 1, (120, 2))
    y = X[:, 0] - 2 * X[:, 1]
    # plain SGD keeps no state between steps: two calls of one epoch each are fit(epochs=2)
    whole = NetRegressor(hidden=5, epochs=2, random_state=3).fit(X, y)
    step = NetRegressor(hidden=5, random_state=3).partial_fit(X, y)
    assert step.n_iter_ == 1
    step.partial_fit(X, y)
    np.testing.assert_array_equal(step.predict(X), whole.predict(X))
    assert step.n_iter_ == 2 and step.loss_curve_ == whole.loss_curve_
    with pytest.raises(ValueError, match="features"):
        step.partial_fit(X[:, :1], y)
    Xc, labels = blobs()
    clf = NetClassifier(hidden=5, random_state=0)
    with pytest.raises(ValueError, match="classes"):
        clf.partial_fit(Xc, labels)
    clf.partial_fit(Xc[labels != "c"], labels[labels != "c"], classes=["a", "b", "c"])
    assert list(clf.classes_) == ["a", "b", "c"] and clf.predict_proba(Xc).shape == (240, 3)
    for _ in range(30):
        clf.partial_fit(Xc, labels)
    assert clf.score(Xc, labels) > 0.8 and clf.n_iter_ == 31
    with pytest.raises(ValueError, match="not among classes"):
        clf.partial_fit(Xc[:2], np.array(["a", "z"]))

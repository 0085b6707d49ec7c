"""nn/metrics.py against scikit-learn's metrics (the oracle), to 1e-9, on random cases
with ties, absent classes, constant targets and zeros (issue 29)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from sklearn import metrics as sk

from backprop.nn import metrics

TOL = dict(rtol=1e-9, atol=1e-12)  # numpy
APX = dict(rel=1e-9, abs=1e-12)  # pytest.approx


@st.composite
def labelled(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, int]:
    """True and predicted class indices over k classes, some classes possibly absent."""
    k = draw(st.integers(2, 5))
    n = draw(st.integers(1, 40))
    y = np.array(draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)))
    p = np.array(draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)))
    return y, p, k


@pytest.mark.slow  # a few seconds: in the slow group (docs/setup.md)
@settings(max_examples=150, deadline=None)
@given(labelled())
def test_f1_precision_recall_and_balanced_accuracy_equal_scikit_learns(
        case: tuple[np.ndarray, np.ndarray, int]) -> None:
    y, p, k = case
    counts = metrics.confusion_matrix(y, p, k)
    np.testing.assert_array_equal(counts, sk.confusion_matrix(y, p, labels=list(range(k))))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn's warnings about 0/0
        ours = metrics.f1_scores(counts)
        assert ours["f1_macro"] == pytest.approx(sk.f1_score(y, p, average="macro"), **APX)
        assert ours["f1_weighted"] == pytest.approx(sk.f1_score(y, p, average="weighted"), **APX)
        assert metrics.balanced_accuracy(counts) == pytest.approx(
            sk.balanced_accuracy_score(y, p), **APX)
        present = sorted(set(y) | set(p))
        f1 = metrics.f1_per_class(counts)
        np.testing.assert_allclose(f1[present], sk.f1_score(y, p, average=None), **TOL)
        assert np.all(np.isnan(np.delete(f1, present)))  # absent everywhere: undefined
        precision, recall = metrics.precision_recall(counts)
        for ours_each, theirs in ((precision, sk.precision_score), (recall, sk.recall_score)):
            macro, weighted = metrics._averages(ours_each, counts)
            assert macro == pytest.approx(theirs(y, p, average="macro"), **APX)
            assert weighted == pytest.approx(theirs(y, p, average="weighted"), **APX)


@st.composite
def scored(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """Binary labels with both classes, and scores drawn from a few values (many ties)."""
    n = draw(st.integers(2, 60))
    y = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    y[0], y[1] = True, False
    levels = draw(st.integers(1, 8))
    s = np.array(draw(st.lists(st.integers(0, levels), min_size=n, max_size=n)), dtype=float) / levels
    return y, s


@settings(max_examples=150, deadline=None)
@given(scored())
def test_binary_roc_auc_equals_scikit_learns_with_ties(case: tuple[np.ndarray, np.ndarray]) -> None:
    y, s = case
    assert metrics.binary_roc_auc(y, s) == pytest.approx(sk.roc_auc_score(y, s), **APX)


def test_roc_auc_two_classes_and_one_vs_rest() -> None:
    rng = np.random.default_rng(5)
    for k in (2, 3, 4, 6):
        for n in (k, 30, 500):
            y = np.concatenate([np.arange(k), rng.integers(0, k, n - k)])
            z = rng.standard_normal((n, k)) + 1.5 * np.eye(k)[y] * rng.uniform(0, 1)
            z = np.round(z, 1)  # ties
            p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
            theirs = sk.roc_auc_score(y, p[:, 1]) if k == 2 else sk.roc_auc_score(
                y, p, multi_class="ovr")
            assert metrics.roc_auc(y, p) == pytest.approx(theirs, **APX)
    # a class absent from the true labels: undefined, as scikit-learn refuses it
    assert metrics.roc_auc(np.array([0, 0, 2, 2]), np.full((4, 3), 1 / 3)) is None
    assert metrics.binary_roc_auc(np.array([True, True]), np.array([0.2, 0.4])) is None


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 30), st.integers(1, 3), st.integers(0, 2**32 - 1),
       st.sampled_from(["normal", "constant", "zeros", "exact"]))
def test_explained_variance_and_mape_equal_scikit_learns(n: int, k: int, seed: int,
                                                          kind: str) -> None:
    rng = np.random.default_rng(seed)
    y = rng.standard_normal((n, k)) * 10
    if kind == "constant":
        y[:, 0] = 3.0
    if kind == "zeros":
        y[: max(1, n // 3), 0] = 0.0  # MAPE divides by eps there
    p = y.copy() if kind == "exact" else y + rng.standard_normal((n, k))
    for ours, theirs in ((metrics.explained_variance_score, sk.explained_variance_score),
                         (metrics.mean_absolute_percentage_error,
                          sk.mean_absolute_percentage_error)):
        np.testing.assert_allclose(ours(y, p, per_target=True),
                                   theirs(y, p, multioutput="raw_values"), **TOL)
        assert ours(y, p) == pytest.approx(theirs(y, p), **APX)
        assert ours(y[:, 0], p[:, 0]) == pytest.approx(theirs(y[:, 0], p[:, 0]), **APX)


def test_the_report_names_the_figures_as_scikit_learns_scorers() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 200)
    p = rng.dirichlet(np.ones(3), 200)
    report = metrics.classification_report(y, p, ["a", "b", "c"])
    pred = p.argmax(axis=1)
    assert report["f1_macro"] == pytest.approx(sk.f1_score(y, pred, average="macro"), **APX)
    assert report["roc_auc_ovr"] == pytest.approx(sk.roc_auc_score(y, p, multi_class="ovr"), **APX)
    assert report["balanced_accuracy"] == pytest.approx(sk.balanced_accuracy_score(y, pred), **APX)
    theirs = sk.classification_report(y, pred, output_dict=True, target_names=["a", "b", "c"])
    for k in "abc":
        assert report["f1"][k] == pytest.approx(theirs[k]["f1-score"], **APX)
        assert report["support"][k] == theirs[k]["support"]
    assert report["precision_weighted"] == pytest.approx(theirs["weighted avg"]["precision"], **APX)
    assert report["recall_macro"] == pytest.approx(theirs["macro avg"]["recall"], **APX)
    two = metrics.classification_report(y % 2, p[:, :2] / p[:, :2].sum(axis=1, keepdims=True),
                                        ["no", "yes"])
    assert "roc_auc" in two and "roc_auc_ovr" not in two

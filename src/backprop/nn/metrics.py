"""Plain metric functions, with scikit-learn's definitions (and names).

Regression: arrays of shape (N,) or (N, K); with K targets the overall figure
is the mean over the targets (scikit-learn's ``multioutput='uniform_average'``).
Classification: label arrays of shape (N,), and probabilities (N, classes).
Nothing here knows about models or files.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from backprop.nn.layers import Array


def _two_d(a: Array) -> Array:
    a = np.asarray(a, dtype=np.float64)
    return a[:, None] if a.ndim == 1 else a


def mean_squared_error(y: Array, y_hat: Array, per_target: bool = False) -> Array | float:
    d = _two_d(y_hat) - _two_d(y)
    each = np.mean(d * d, axis=0)
    return each if per_target else float(np.mean(each))


def root_mean_squared_error(y: Array, y_hat: Array, per_target: bool = False) -> Array | float:
    """sqrt(MSE) per target; overall, the mean of the per-target RMSEs (as scikit-learn)."""
    each = np.sqrt(mean_squared_error(y, y_hat, per_target=True))
    return each if per_target else float(np.mean(each))


def mean_absolute_error(y: Array, y_hat: Array, per_target: bool = False) -> Array | float:
    each = np.mean(np.abs(_two_d(y_hat) - _two_d(y)), axis=0)
    return each if per_target else float(np.mean(each))


def r2_score(y: Array, y_hat: Array, per_target: bool = False) -> Array | float:
    """1 - sum (y - y_hat)^2 / sum (y - mean y)^2 per target.

    A constant target has no variance to explain: 1 when predicted exactly,
    else 0 (scikit-learn's convention).
    """
    y2, p2 = _two_d(y), _two_d(y_hat)
    residual = np.sum((y2 - p2) ** 2, axis=0)
    total = np.sum((y2 - y2.mean(axis=0)) ** 2, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        each = np.where(total > 0, 1.0 - residual / np.where(total > 0, total, 1.0),
                        np.where(residual == 0, 1.0, 0.0))
    return each if per_target else float(np.mean(each))


def accuracy_score(labels: Array, predicted: Array) -> float:
    return float(np.mean(np.asarray(labels) == np.asarray(predicted)))


def log_loss(indices: Array, proba: Array) -> float:
    """Mean of -log p[true class] over the rows.

    As scikit-learn: each row's probabilities are divided by their sum and
    clipped to [eps, 1 - eps] (eps of float64), so a confident wrong answer
    costs about 36, not infinity.
    """
    p = np.asarray(proba, dtype=np.float64)
    p = p / p.sum(axis=1, keepdims=True)
    eps = np.finfo(np.float64).eps
    p = np.clip(p, eps, 1 - eps)
    idx = np.asarray(indices, dtype=np.int64)
    return float(-np.mean(np.log(p[np.arange(len(idx)), idx])))


def confusion_matrix(indices: Array, predicted: Array, classes: int) -> Array:
    """counts[i, j]: rows of true class i predicted as class j."""
    counts = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(counts, (np.asarray(indices, dtype=np.int64), np.asarray(predicted, dtype=np.int64)), 1)
    return counts


def precision_recall(counts: Array) -> tuple[Array, Array]:
    """Per class, from a confusion matrix: TP / predicted and TP / actual (nan where 0/0)."""
    tp = np.diag(counts).astype(np.float64)
    predicted, actual = counts.sum(axis=0), counts.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (np.where(predicted > 0, tp / np.maximum(predicted, 1), np.nan),
                np.where(actual > 0, tp / np.maximum(actual, 1), np.nan))


def explained_variance_score(y: Array, y_hat: Array, per_target: bool = False) -> Array | float:
    """1 - Var(y - y_hat) / Var(y) per target (a constant target: 1 if matched exactly, else 0)."""
    y2, p2 = _two_d(y), _two_d(y_hat)
    d = y2 - p2
    numerator = np.mean((d - d.mean(axis=0)) ** 2, axis=0)
    denominator = np.mean((y2 - y2.mean(axis=0)) ** 2, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        each = np.where(denominator > 0, 1.0 - numerator / np.where(denominator > 0, denominator, 1.0),
                        np.where(numerator == 0, 1.0, 0.0))
    return each if per_target else float(np.mean(each))


def mean_absolute_percentage_error(y: Array, y_hat: Array,
                                   per_target: bool = False) -> Array | float:
    """mean |y - y_hat| / |y| per target, as a fraction (0.05 is 5%).

    As scikit-learn: |y| below the float64 epsilon counts as that epsilon, so a
    true 0 gives a huge figure rather than infinity.
    """
    y2, p2 = _two_d(y), _two_d(y_hat)
    each = np.mean(np.abs(p2 - y2) / np.maximum(np.abs(y2), np.finfo(np.float64).eps), axis=0)
    return each if per_target else float(np.mean(each))


# -- from a confusion matrix ---------------------------------------------------

def _present(counts: Array) -> Array:
    """The classes that are true or predicted at least once (scikit-learn's default labels)."""
    return (counts.sum(axis=0) + counts.sum(axis=1)) > 0


def f1_per_class(counts: Array) -> Array:
    """2 TP / (2 TP + FP + FN) per class: the harmonic mean of precision and recall.

    nan for a class neither true nor predicted anywhere (0 / 0).
    """
    tp = np.diag(counts).astype(np.float64)
    denominator = counts.sum(axis=0) + counts.sum(axis=1)  # (TP + FP) + (TP + FN)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), np.nan)


def _averages(each: Array, counts: Array) -> tuple[float, float]:
    """Macro (plain mean) and weighted (by support) averages over the classes present; an
    undefined value counts as 0, as scikit-learn's ``zero_division`` default does."""
    present = _present(counts)
    values = np.nan_to_num(each[present], nan=0.0)
    support = counts.sum(axis=1)[present].astype(np.float64)
    macro = float(np.mean(values)) if values.size else 0.0
    weighted = float(np.sum(values * support) / support.sum()) if support.sum() > 0 else 0.0
    return macro, weighted


def f1_scores(counts: Array) -> dict[str, float]:
    """F1 averaged over the classes: ``f1_macro`` and ``f1_weighted`` (by support)."""
    macro, weighted = _averages(f1_per_class(counts), counts)
    return {"f1_macro": macro, "f1_weighted": weighted}


def balanced_accuracy(counts: Array) -> float:
    """The mean recall over the classes that occur in the true labels."""
    tp = np.diag(counts).astype(np.float64)
    actual = counts.sum(axis=1)
    seen = actual > 0
    return float(np.mean(tp[seen] / actual[seen]))


def binary_roc_auc(positive: Array, score: Array) -> float | None:
    """The area under the ROC curve: the chance that a positive row scores above a negative
    one, ties counting one half (the Mann-Whitney U over P N). None with one class only."""
    pos = np.asarray(positive, dtype=bool).reshape(-1)
    s = np.asarray(score, dtype=np.float64).reshape(-1)
    n_pos = int(pos.sum())
    n_neg = pos.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    # mid-ranks: each group of tied scores shares the mean of the ranks it spans
    values, inverse, tied = np.unique(s, return_inverse=True, return_counts=True)
    upper = np.cumsum(tied)
    mid = upper - (tied - 1) / 2.0
    rank_sum = float(np.sum(mid[inverse][pos]))
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def roc_auc(indices: Array, proba: Array) -> float | None:
    """Two classes: the AUC of the second class's probability. More: one-vs-rest, the mean
    of each class's AUC (scikit-learn's ``multi_class='ovr'``, ``average='macro'``). None
    when a class is absent from the true labels (its AUC is undefined)."""
    idx = np.asarray(indices, dtype=np.int64)
    p = np.asarray(proba, dtype=np.float64)
    k = p.shape[1]
    if k == 2:
        return binary_roc_auc(idx == 1, p[:, 1])
    each = [binary_roc_auc(idx == j, p[:, j]) for j in range(k)]
    if any(a is None for a in each):
        return None
    return float(np.mean(each))


def regression_report(y: Array, y_hat: Array, names: Sequence[str]) -> list[dict[str, object]]:
    """One row per target (MSE, RMSE, MAE, R², explained variance, MAPE), then 'overall'."""
    per = {"mse": mean_squared_error(y, y_hat, True), "rmse": root_mean_squared_error(y, y_hat, True),
           "mae": mean_absolute_error(y, y_hat, True), "r2": r2_score(y, y_hat, True),
           "explained_variance": explained_variance_score(y, y_hat, True),
           "mape": mean_absolute_percentage_error(y, y_hat, True)}
    rows: list[dict[str, object]] = [{"target": n, **{k: float(v[j]) for k, v in per.items()}}
                                     for j, n in enumerate(names)]
    rows.append({"target": "overall", **{k: float(np.mean(v)) for k, v in per.items()}})
    return rows


def _by_class(classes: Sequence[str], values: Array) -> dict[str, float | None]:
    return {k: (None if np.isnan(v) else float(v)) for k, v in zip(classes, values)}


def classification_report(indices: Array, proba: Array, classes: Sequence[str]) -> dict[str, object]:
    """The figures of scikit-learn's metrics, under the names of its scorers.

    accuracy, balanced_accuracy, log_loss, f1_macro, f1_weighted,
    precision_/recall_ macro and weighted, roc_auc (two classes) or
    roc_auc_ovr (more); per class precision, recall, f1 and support (None
    where undefined: a class never predicted has no precision); the confusion
    matrix (rows: true class).
    """
    predicted = np.argmax(proba, axis=1)
    counts = confusion_matrix(indices, predicted, len(classes))
    precision, recall = precision_recall(counts)
    f1 = f1_per_class(counts)
    p_macro, p_weighted = _averages(precision, counts)
    r_macro, r_weighted = _averages(recall, counts)
    auc_key = "roc_auc" if len(classes) == 2 else "roc_auc_ovr"
    return {
        "rows": int(len(indices)),
        "accuracy": accuracy_score(indices, predicted),
        "balanced_accuracy": balanced_accuracy(counts),
        "log_loss": log_loss(indices, proba),
        **f1_scores(counts),
        "precision_macro": p_macro, "precision_weighted": p_weighted,
        "recall_macro": r_macro, "recall_weighted": r_weighted,
        auc_key: roc_auc(indices, proba),
        "classes": list(classes),
        "precision": _by_class(classes, precision),
        "recall": _by_class(classes, recall),
        "f1": _by_class(classes, f1),
        "support": {k: int(v) for k, v in zip(classes, counts.sum(axis=1))},
        "confusion_matrix": counts.tolist(),
    }

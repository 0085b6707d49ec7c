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


def regression_report(y: Array, y_hat: Array, names: Sequence[str]) -> list[dict[str, object]]:
    """One row per target (MSE, RMSE, MAE, R², in the target's units), then 'overall'."""
    per = {"mse": mean_squared_error(y, y_hat, True), "rmse": root_mean_squared_error(y, y_hat, True),
           "mae": mean_absolute_error(y, y_hat, True), "r2": r2_score(y, y_hat, True)}
    rows: list[dict[str, object]] = [{"target": n, **{k: float(v[j]) for k, v in per.items()}}
                                     for j, n in enumerate(names)]
    rows.append({"target": "overall", **{k: float(np.mean(v)) for k, v in per.items()}})
    return rows


def classification_report(indices: Array, proba: Array, classes: Sequence[str]) -> dict[str, object]:
    """Accuracy, log loss, per-class precision/recall/support and the confusion matrix."""
    predicted = np.argmax(proba, axis=1)
    counts = confusion_matrix(indices, predicted, len(classes))
    precision, recall = precision_recall(counts)
    return {
        "rows": int(len(indices)),
        "accuracy": accuracy_score(indices, predicted),
        "log_loss": log_loss(indices, proba),
        "classes": list(classes),
        "precision": {k: (None if np.isnan(v) else float(v)) for k, v in zip(classes, precision)},
        "recall": {k: (None if np.isnan(v) else float(v)) for k, v in zip(classes, recall)},
        "support": {k: int(v) for k, v in zip(classes, counts.sum(axis=1))},
        "confusion_matrix": counts.tolist(),
    }

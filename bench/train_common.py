"""Shared by bench_train.py and bench_classify.py: whole `backprop train` processes beside
whole scikit-learn processes, on the same CSV files, from the same initial weights.

Each side is one fresh Python process that imports its library, reads the
training CSV (the csv module), standardises the inputs (and, for a regression,
the target) with the training rows' statistics, trains, and saves the weights.
The clock is the wall time of that process, as a user running it would see.
The test score is computed afterwards, outside the timing, from the saved
weights.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

# BLAS single-threaded in every child process, for both sides alike.
ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

SKLEARN_SCRIPT = r'''
import csv, sys, warnings
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.utils import check_random_state

train, init, out, task, target, lr, epochs, batch, seed = sys.argv[1:10]
with open(train, newline="") as f:
    rows = list(csv.reader(f))
header, rows = rows[0], rows[1:]
t = header.index(target)
X = np.array([[r[j] for j in range(len(header)) if j != t] for r in rows], dtype=float)
mx, sx = X.mean(0), X.std(0)
X = (X - mx) / np.where(sx > 0, sx, 1.0)
with np.load(init) as z:
    coefs = [z[f"W{k}"] for k in range(int(z["layers"]))]
    intercepts = [z[f"b{k}"] for k in range(int(z["layers"]))]
sizes = tuple(W.shape[1] for W in coefs[:-1])
common = dict(hidden_layer_sizes=sizes, activation="tanh", solver="sgd", alpha=0.0,
              batch_size=int(batch), learning_rate="constant", learning_rate_init=float(lr),
              momentum=0.0, nesterovs_momentum=False, max_iter=int(epochs), shuffle=True,
              random_state=int(seed), tol=0.0, n_iter_no_change=int(epochs) + 1,
              early_stopping=False, warm_start=True)
if task == "regression":
    y = np.array([float(r[t]) for r in rows])
    my, sy = y.mean(), y.std()
    y = (y - my) / sy
    mlp = MLPRegressor(**common)
    widths = [X.shape[1], *sizes, 1]
else:
    labels = np.array([r[t] for r in rows])
    y = labels
    my, sy = 0.0, 1.0
    mlp = MLPClassifier(**common)
    mlp.classes_ = np.unique(labels)
    from sklearn.preprocessing import LabelBinarizer
    mlp._label_binarizer = LabelBinarizer().fit(labels)
    widths = [X.shape[1], *sizes, len(mlp.classes_)]
# Private API, for the same start only: scikit-learn's own set-up, then the given weights.
mlp._random_state = check_random_state(int(seed))
mlp._initialize(y.reshape(-1, 1) if task == "regression" else mlp._label_binarizer.transform(labels),
                widths, X.dtype)
mlp.n_features_in_ = X.shape[1]
mlp.coefs_, mlp.intercepts_ = coefs, intercepts
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    mlp.fit(X, y)
assert mlp.n_iter_ == int(epochs), mlp.n_iter_
arrays = {f"W{k}": W for k, W in enumerate(mlp.coefs_)}
arrays |= {f"b{k}": b for k, b in enumerate(mlp.intercepts_)}
np.savez(out, layers=len(mlp.coefs_), x_mean=mx, x_std=np.where(sx > 0, sx, 1.0), y_mean=my,
         y_std=sy, classes=np.array(getattr(mlp, "classes_", []), dtype=str), **arrays)
'''


def write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    import csv

    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def initial_weights(config: Path, out: Path) -> None:
    """The first weights `backprop train` will start from, for scikit-learn (not timed)."""
    from backprop.nn import config as settings
    from backprop.nn import train as training

    run = training.prepare(settings.load(config), config.parent)
    layers = [(W, b) for W, b in run.model.hidden_weights] + [(run.model.V, run.model.c)]
    np.savez(out, layers=len(layers), **{f"W{k}": W.T.copy() for k, (W, _) in enumerate(layers)},
             **{f"b{k}": b.copy() for k, (_, b) in enumerate(layers)})


def timed(argv: list[str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, env=ENV, capture_output=True, text=True)
    took = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(argv[:3])} ...\n{proc.stderr}")
    return took


def backprop_command() -> list[str]:
    exe = Path(sys.executable).with_name("backprop")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "backprop"]


def sklearn_scores(path: Path, X: np.ndarray) -> np.ndarray:
    """The output layer of the network scikit-learn saved (tanh hidden layers)."""
    with np.load(path) as z:
        h = (X - z["x_mean"]) / z["x_std"]
        L = int(z["layers"])
        for k in range(L):
            h = h @ z[f"W{k}"] + z[f"b{k}"]
            if k < L - 1:
                h = np.tanh(h)
        return h


def sklearn_regression(path: Path, X: np.ndarray) -> np.ndarray:
    with np.load(path) as z:
        my, sy = float(z["y_mean"]), float(z["y_std"])
    return sklearn_scores(path, X)[:, 0] * sy + my


def sklearn_labels(path: Path, X: np.ndarray) -> np.ndarray:
    with np.load(path) as z:
        classes = [str(c) for c in z["classes"]]
    s = sklearn_scores(path, X)
    return np.array(classes)[np.argmax(s, axis=1)]


def load_summary_line(text: str) -> dict[str, Any]:
    return json.loads(text.strip().splitlines()[-1])


def load_average() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unknown"

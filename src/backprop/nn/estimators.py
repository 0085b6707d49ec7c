"""scikit-learn-style estimators over the same layers: ``fit``, ``predict``, ``score``.

    from backprop.nn.estimators import NetRegressor
    net = NetRegressor(hidden=[64, 32], learning_rate=0.05, epochs=30).fit(X, y)
    net.predict(X_new); net.score(X_test, y_test)   # R²

The arguments are checked when ``fit`` starts, before any work, with a
ValueError naming the argument (scikit-learn's habit). The inputs (and a
regression's targets) are standardised with the training rows' statistics;
the fitted network is ``model_`` (a ``Regressor`` or ``Classifier``, which
saves and loads like those ``backprop train`` writes).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from backprop.nn.layers import ACTIVATIONS, Array
from backprop.nn.model import Classifier, Regressor, Standardization
from backprop.nn.train import Fit, fit as train_loop


def _as_inputs(X: Any) -> Array:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        raise ValueError("X must be 2-D (rows, columns); for one column use X.reshape(-1, 1)")
    if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"X must be 2-D with at least one row and one column, got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError("X holds nan or infinite values")
    return X


class _Net:
    def __init__(self, hidden: int | Sequence[int] = 64, activation: str = "tanh",
                 learning_rate: float = 0.05, epochs: int = 200, batch_size: int | None = 32,
                 optimizer: str = "sgd", momentum: float = 0.9, seed: int = 0) -> None:
        self.hidden = hidden
        self.activation = activation
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.momentum = momentum
        self.seed = seed

    def _check_settings(self) -> list[int]:
        sizes = [self.hidden] if isinstance(self.hidden, (int, np.integer)) else list(self.hidden)
        if not sizes or any(not isinstance(k, (int, np.integer)) or k < 1 for k in sizes):
            raise ValueError(f"hidden must be a positive int or a list of them, got {self.hidden!r}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {self.activation!r}")
        if not (np.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise ValueError(f"learning_rate must be a positive number, got {self.learning_rate!r}")
        if not isinstance(self.epochs, (int, np.integer)) or self.epochs < 1:
            raise ValueError(f"epochs must be a positive int, got {self.epochs!r}")
        if self.batch_size is not None and (not isinstance(self.batch_size, (int, np.integer))
                                            or self.batch_size < 1):
            raise ValueError(f"batch_size must be a positive int or None, got {self.batch_size!r}")
        if self.optimizer not in ("sgd", "momentum", "adam"):
            raise ValueError(f"optimizer must be sgd, momentum or adam, got {self.optimizer!r}")
        return [int(k) for k in sizes]

    def _rngs(self) -> tuple[np.random.Generator, np.random.Generator]:
        # the streams `backprop train` uses for the same seed: init, then shuffle
        kids = np.random.SeedSequence(self.seed).spawn(3)
        return np.random.default_rng(kids[0]), np.random.default_rng(kids[2])

    def _train(self, model: Any, X: Array, T: Array, shuffle_rng: np.random.Generator) -> None:
        self.fit_: Fit = train_loop(model, model.x_scale.apply(X), T,
                                    learning_rate=self.learning_rate, epochs=self.epochs,
                                    batch_size=self.batch_size, rng=shuffle_rng,
                                    optimizer=self.optimizer, momentum=self.momentum)
        if self.fit_.stopped == "diverged":
            raise ArithmeticError(self.fit_.message)
        self.model_ = model

    def _fitted(self) -> Any:
        if not hasattr(self, "model_"):
            raise RuntimeError(f"this {type(self).__name__} is not fitted yet: call fit(X, y) first")
        return self.model_

    def _check_width(self, X: Any) -> Array:
        X = _as_inputs(X)
        model = self._fitted()
        if X.shape[1] != model.W.shape[1]:
            raise ValueError(f"X has {X.shape[1]} columns; the network was fitted on {model.W.shape[1]}")
        return X


class NetRegressor(_Net):
    """Numbers from numbers: MSE loss on standardised targets; ``score`` is R²."""

    def fit(self, X: Any, y: Any) -> "NetRegressor":
        sizes = self._check_settings()
        X = _as_inputs(X)
        Y = np.asarray(y, dtype=np.float64)
        Y = Y[:, None] if Y.ndim == 1 else Y
        if Y.ndim != 2 or len(Y) != len(X):
            raise ValueError(f"y must have one value (or row) per row of X: {len(X)} rows, y shape {Y.shape}")
        if not np.all(np.isfinite(Y)):
            raise ValueError("y holds nan or infinite values")
        if len(X) < 2:
            raise ValueError("fit needs at least 2 rows")
        self._one_target = np.ndim(y) == 1
        init, shuffle = self._rngs()
        y_scale = Standardization.fit(Y)
        model = Regressor.init(X.shape[1], sizes, Y.shape[1], self.activation, init,
                               x_scale=Standardization.fit(X), y_scale=y_scale,
                               x_range=(X.min(axis=0), X.max(axis=0)))
        self._train(model, X, y_scale.apply(Y), shuffle)
        return self

    def predict(self, X: Any) -> Array:
        out = self._fitted().predict(self._check_width(X))
        return out[:, 0] if self._one_target else out

    def score(self, X: Any, y: Any) -> float:
        from backprop.nn.metrics import r2_score

        return r2_score(y, self.predict(X))


class NetClassifier(_Net):
    """Labels from numbers: softmax + cross-entropy; ``score`` is the accuracy."""

    def fit(self, X: Any, y: Any) -> "NetClassifier":
        sizes = self._check_settings()
        X = _as_inputs(X)
        labels = np.asarray(y)
        if labels.ndim != 1 or len(labels) != len(X):
            raise ValueError(f"y must be one label per row of X: {len(X)} rows, y shape {labels.shape}")
        from backprop.nn.train import class_labels

        classes = class_labels(labels)
        if len(classes) < 2:
            raise ValueError(f"y holds one class only ({classes[0]!r}); a classifier needs two or more")
        # as scikit-learn: classes_ in the type of y (the text of each label parsed back)
        self.classes_ = (np.array(classes).astype(labels.dtype) if labels.dtype.kind in "iuf"
                         else np.array(classes))
        init, shuffle = self._rngs()
        model = Classifier.init(X.shape[1], sizes, len(classes), self.activation, init,
                                classes=classes, x_scale=Standardization.fit(X),
                                x_range=(X.min(axis=0), X.max(axis=0)))
        self._train(model, X, model.targets(labels.astype(str)), shuffle)
        return self

    def predict_proba(self, X: Any) -> Array:
        return self._fitted().predict_proba(self._check_width(X))

    def predict(self, X: Any) -> Array:
        """The most probable label of each row, of the type ``y`` had."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def score(self, X: Any, y: Any) -> float:
        from backprop.nn.metrics import accuracy_score

        return accuracy_score(np.asarray(y).astype(str), self.predict(X).astype(str))

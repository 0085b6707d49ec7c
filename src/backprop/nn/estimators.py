"""scikit-learn estimators over the same layers: ``fit``, ``predict``, ``score``.

    from backprop.nn.estimators import NetRegressor
    net = NetRegressor(hidden=[64, 32], learning_rate=0.05, epochs=30).fit(X, y)
    net.predict(X_new); net.score(X_test, y_test)   # R²

Where scikit-learn is installed they are its estimators (``BaseEstimator``
with ``RegressorMixin`` or ``ClassifierMixin``): ``clone``, ``Pipeline``,
``GridSearchCV`` and ``cross_val_score`` take them, and they pass
``check_estimator``. Without it they work alike, on plain numpy. The command
line never imports this module.

The arguments are checked when ``fit`` starts, before any work, by the
pydantic models that check a training config (``nn/config.py``): the same
limits, a ValueError naming the argument. The inputs (and a regression's
targets) are standardised with the training rows' statistics; the fitted
network is ``model_`` (a ``Regressor`` or ``Classifier``, which saves and
loads like those ``backprop train`` writes). ``random_state`` s draws the
weights ``backprop train`` draws with ``training.seed: s``.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from backprop.nn.layers import Array
from backprop.nn.model import Classifier, Regressor, Standardization
from backprop.nn.train import Fit, fit as train_loop

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_is_fitted

    try:  # scikit-learn 1.6 and later
        from sklearn.utils.validation import validate_data as _sk_validate
    except ImportError:  # pragma: no cover - older scikit-learn
        def _sk_validate(est: Any, *args: Any, **kwargs: Any) -> Any:
            return est._validate_data(*args, **kwargs)

    HAVE_SKLEARN = True
except ImportError:
    HAVE_SKLEARN = False

    class NotFittedError(ValueError, AttributeError):  # type: ignore[no-redef]
        """predict before fit (scikit-learn's exception of that name, where it is installed)."""

    class BaseEstimator:  # type: ignore[no-redef]
        """get_params / set_params from ``__init__``'s arguments, as scikit-learn's."""

        @classmethod
        def _get_param_names(cls) -> list[str]:
            sig = inspect.signature(cls.__init__)
            return sorted(p.name for p in sig.parameters.values()
                          if p.name != "self" and p.kind != p.VAR_KEYWORD)

        def get_params(self, deep: bool = True) -> dict[str, Any]:
            return {k: getattr(self, k) for k in self._get_param_names()}

        def set_params(self, **params: Any) -> "BaseEstimator":
            valid = self._get_param_names()
            for k, v in params.items():
                if k not in valid:
                    raise ValueError(f"invalid parameter {k!r} for {type(self).__name__}; "
                                     f"valid parameters: {', '.join(valid)}")
                setattr(self, k, v)
            return self

        def __repr__(self) -> str:
            defaults = {p.name: p.default for p in
                        inspect.signature(type(self).__init__).parameters.values()}
            changed = [f"{k}={v!r}" for k, v in self.get_params().items() if v != defaults.get(k)]
            return f"{type(self).__name__}({', '.join(changed)})"

    class RegressorMixin:  # type: ignore[no-redef]
        _estimator_type = "regressor"

        def score(self, X: Any, y: Any) -> float:
            """R² of the predictions (the mean over targets)."""
            from backprop.nn.metrics import r2_score

            return r2_score(y, self.predict(X))  # type: ignore[attr-defined]

    class ClassifierMixin:  # type: ignore[no-redef]
        _estimator_type = "classifier"

        def score(self, X: Any, y: Any) -> float:
            """The accuracy of the predicted labels."""
            from backprop.nn.metrics import accuracy_score

            return accuracy_score(np.asarray(y), self.predict(X))  # type: ignore[attr-defined]


# -- input checks without scikit-learn -------------------------------------------------

def _as_inputs(X: Any, min_rows: int = 1) -> Array:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        raise ValueError("X must be 2-D (rows, columns); for one column use X.reshape(-1, 1)")
    if X.ndim != 2 or X.shape[0] < min_rows or X.shape[1] < 1:
        raise ValueError(f"X must be 2-D with at least {min_rows} row(s) and one column, got "
                         f"shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError("X holds nan or infinite values")
    return X


def _validate(est: Any, X: Any, y: Any = None, *, reset: bool, min_rows: int = 1,
              classifier: bool = False) -> Any:
    """X (and y) as float arrays, checked: scikit-learn's validate_data where installed."""
    if HAVE_SKLEARN:
        if y is None and not reset:
            return _sk_validate(est, X, reset=False, dtype=np.float64)
        return _sk_validate(est, X, y, reset=reset, dtype=np.float64,
                            ensure_min_samples=min_rows, y_numeric=not classifier,
                            multi_output=not classifier)
    X = _as_inputs(X, min_rows)
    if reset:
        est.n_features_in_ = X.shape[1]
    elif X.shape[1] != est.n_features_in_:
        raise ValueError(f"X has {X.shape[1]} features, but {type(est).__name__} is expecting "
                         f"{est.n_features_in_} features as input")
    if y is None:
        return X
    y = np.asarray(y) if classifier else np.asarray(y, dtype=np.float64)
    if len(y) != len(X):
        raise ValueError(f"y must have one value (or row) per row of X: {len(X)} rows, y shape "
                         f"{y.shape}")
    if not classifier and not np.all(np.isfinite(y)):
        raise ValueError("y holds nan or infinite values")
    return X, y


def _check_fitted(est: Any) -> None:
    if HAVE_SKLEARN:
        check_is_fitted(est)
    elif not hasattr(est, "model_"):
        raise NotFittedError(f"this {type(est).__name__} is not fitted yet: call fit(X, y) first")


# -- the estimators ----------------------------------------------------------------------

# the config's key paths named as the estimators' arguments
_ARGUMENTS = {"seed": "random_state"}


class _Net(BaseEstimator):
    def __init__(self, hidden: Any = 64, activation: str = "tanh", learning_rate: float = 0.05,
                 epochs: int = 200, batch_size: int | None = 32, optimizer: str = "sgd",
                 momentum: float = 0.9, random_state: Any = 0) -> None:
        self.hidden = hidden
        self.activation = activation
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.momentum = momentum
        self.random_state = random_state

    def _settings(self) -> tuple[list[int], Any, int]:
        """The hidden sizes, the training settings and the seed, checked as a config is."""
        from pydantic import ValidationError

        from backprop.nn.config import ModelConfig, TrainingConfig, first_problem

        def plain(v: Any) -> Any:  # numpy scalars as Python numbers, for pydantic
            return v.item() if isinstance(v, np.generic) else v

        hidden = self.hidden
        if not isinstance(hidden, (int, np.integer, str)) and np.ndim(hidden) == 1:
            hidden = [plain(k) for k in hidden]
        seed = self._seed()
        try:
            model = ModelConfig(hidden=plain(hidden), activation=self.activation)
            training = TrainingConfig(learning_rate=plain(self.learning_rate),
                                      epochs=plain(self.epochs),
                                      batch_size=plain(self.batch_size), optimizer=self.optimizer,
                                      momentum=plain(self.momentum), seed=seed)
        except ValidationError as exc:
            problem = first_problem(exc)
            key, _, rest = problem.partition(":")
            raise ValueError(f"{_ARGUMENTS.get(key, key)}:{rest}") from None
        return model.sizes, training, seed

    def _seed(self) -> int:
        r = self.random_state
        if r is None:
            return int(np.random.SeedSequence().generate_state(1)[0])
        if isinstance(r, np.random.RandomState):
            return int(r.randint(0, 2**31 - 1))
        if isinstance(r, np.random.Generator):
            return int(r.integers(0, 2**31 - 1))
        if isinstance(r, (bool, np.bool_)) or not isinstance(r, (int, np.integer)):
            raise ValueError(f"random_state: an int, None or a numpy random generator, not {r!r}")
        return int(r)  # a negative one: TrainingConfig says so

    @staticmethod
    def _rngs(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
        # the streams `backprop train` uses for the same seed: init, then shuffle
        kids = np.random.SeedSequence(seed).spawn(3)
        return np.random.default_rng(kids[0]), np.random.default_rng(kids[2])

    def _train(self, model: Any, X: Array, T: Array, training: Any,
               shuffle: np.random.Generator, epochs: int | None = None) -> None:
        """``epochs`` of training (default: all); one, from partial_fit, goes on from before."""
        fit: Fit = train_loop(model, model.x_scale.apply(X), T,
                              learning_rate=training.learning_rate,
                              epochs=training.epochs if epochs is None else epochs,
                              batch_size=training.batch_size, rng=shuffle,
                              optimizer=training.optimizer, momentum=training.momentum)
        if fit.stopped == "diverged":
            raise ArithmeticError(fit.message)
        going_on = epochs is not None and hasattr(self, "loss_curve_")
        self.fit_ = fit
        self.model_ = model
        losses = [e.train_loss for e in fit.history]
        self.loss_curve_ = (self.loss_curve_ + losses) if going_on else losses
        self.n_iter_ = len(self.loss_curve_)
        self.best_loss_ = min(self.loss_curve_) if self.loss_curve_ else None
        # scikit-learn's MLP layout: coefs_[i] is (inputs, outputs) of layer i (views of W.T)
        self.coefs_ = [W.T for W, _ in model.hidden_weights] + [model.V.T]
        self.intercepts_ = [b for _, b in model.hidden_weights] + [model.c]

    def _widen_range(self, X: Array) -> None:
        """partial_fit: the training range (for the extrapolation warning) takes in new rows."""
        lo, hi = self.model_.x_range
        self.model_.x_range = (np.minimum(lo, X.min(axis=0)), np.maximum(hi, X.max(axis=0)))

    def _inputs(self, X: Any) -> Array:
        _check_fitted(self)
        return _validate(self, X, reset=False)


class NetRegressor(RegressorMixin, _Net):
    """Numbers from numbers: MSE loss on standardised targets; ``score`` is R².

    ``y`` of shape (rows,) gives predictions of that shape; (rows, targets), a
    column of predictions per target.
    """

    def fit(self, X: Any, y: Any) -> "NetRegressor":
        sizes, training, seed = self._settings()
        X, Y = _validate(self, X, y, reset=True, min_rows=2)
        model, self._shuffle = self._begin(X, Y, sizes, seed)
        self._train(model, X, model.targets(self._two_d(Y)), training, self._shuffle)
        return self

    def partial_fit(self, X: Any, y: Any) -> "NetRegressor":
        """One epoch over these rows; the first call sets up the network (its standardisation
        from these rows). Momentum and Adam start their running averages afresh each call."""
        sizes, training, seed = self._settings()
        first = not hasattr(self, "model_")
        X, Y = _validate(self, X, y, reset=first)
        if first:
            model, self._shuffle = self._begin(X, Y, sizes, seed)
        else:
            model = self.model_
            if (np.ndim(Y) == 1) != self._one_target or self._two_d(Y).shape[1] != self.n_outputs_:
                raise ValueError(f"y has shape {np.shape(Y)}; the network was fitted on "
                                 f"{self.n_outputs_} target(s)")
            self._widen_range(X)
        self._train(model, X, model.targets(self._two_d(Y)), training, self._shuffle, epochs=1)
        return self

    @staticmethod
    def _two_d(Y: Any) -> Array:
        Y = np.asarray(Y, dtype=np.float64)
        return Y[:, None] if Y.ndim == 1 else Y

    def _begin(self, X: Array, Y: Array, sizes: list[int],
               seed: int) -> tuple[Regressor, np.random.Generator]:
        self._one_target = np.ndim(Y) == 1
        Y = self._two_d(Y)
        self.n_outputs_ = Y.shape[1]
        init, shuffle = self._rngs(seed)
        model = Regressor.init(X.shape[1], sizes, Y.shape[1], self.activation, init,
                               x_scale=Standardization.fit(X), y_scale=Standardization.fit(Y),
                               x_range=(X.min(axis=0), X.max(axis=0)))
        return model, shuffle

    def predict(self, X: Any) -> Array:
        X = self._inputs(X)
        out = self.model_.predict(X)
        return out[:, 0] if self._one_target else out

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class NetClassifier(ClassifierMixin, _Net):
    """Labels from numbers: softmax + cross-entropy; ``score`` is the accuracy.

    ``classes_`` are the distinct labels of ``y``, sorted (``numpy.unique``),
    in ``y``'s type; ``predict_proba``'s columns follow them.
    """

    def fit(self, X: Any, y: Any) -> "NetClassifier":
        sizes, training, seed = self._settings()
        X, labels = _validate(self, X, y, reset=True, classifier=True)
        labels = self._labels(labels)
        classes, index = np.unique(labels, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(f"y holds one class only ({classes[0]!r}); a classifier "
                             "needs two or more")
        model, self._shuffle = self._begin(X, classes, sizes, seed)
        self._train(model, X, index.reshape(-1).astype(np.int64), training, self._shuffle)
        return self

    def partial_fit(self, X: Any, y: Any, classes: Any = None) -> "NetClassifier":
        """One epoch over these rows. The first call names every class (``classes``) and sets
        up the network (its standardisation from these rows); momentum and Adam start their
        running averages afresh each call."""
        sizes, training, seed = self._settings()
        first = not hasattr(self, "model_")
        X, labels = _validate(self, X, y, reset=first, classifier=True)
        labels = self._labels(labels)
        if first:
            if classes is None:
                raise ValueError("classes: the first call of partial_fit names every class "
                                 "(classes=[...]); later calls may hold only some")
            all_classes = np.unique(np.asarray(classes))
            if len(all_classes) < 2:
                raise ValueError("classes: a classifier needs two or more")
            model, self._shuffle = self._begin(X, all_classes, sizes, seed)
        else:
            model = self.model_
            if classes is not None and not np.array_equal(np.unique(classes), self.classes_):
                raise ValueError(f"classes: {list(np.unique(classes))} differs from the first "
                                 f"call's {list(self.classes_)}")
            self._widen_range(X)
        unknown = np.setdiff1d(labels, self.classes_)
        if unknown.size:
            raise ValueError(f"y holds {list(unknown[:5])}, not among classes "
                             f"{list(self.classes_)}")
        index = np.searchsorted(self.classes_, labels)
        self._train(model, X, index.astype(np.int64), training, self._shuffle, epochs=1)
        return self

    @staticmethod
    def _labels(labels: Any) -> Array:
        labels = np.asarray(labels)
        if labels.ndim != 1:
            raise ValueError(f"y must be one label per row of X, got shape {labels.shape}")
        if HAVE_SKLEARN:
            check_classification_targets(labels)
        return labels

    def _begin(self, X: Array, classes: Array, sizes: list[int],
               seed: int) -> tuple[Classifier, np.random.Generator]:
        self.classes_ = classes
        init, shuffle = self._rngs(seed)
        model = Classifier.init(X.shape[1], sizes, len(classes), self.activation, init,
                                classes=[str(k) for k in classes],
                                x_scale=Standardization.fit(X),
                                x_range=(X.min(axis=0), X.max(axis=0)))
        return model, shuffle

    def predict_proba(self, X: Any) -> Array:
        """(rows, classes) probabilities, columns in the order of ``classes_``."""
        X = self._inputs(X)
        return self.model_.predict_proba(X)

    def predict_log_proba(self, X: Any) -> Array:
        """The log of :meth:`predict_proba`, computed without underflow (scikit-learn's API)."""
        X = self._inputs(X)
        return self.model_.predict_log_proba(X)

    def predict(self, X: Any) -> Array:
        """The most probable label of each row, of the type ``y`` had."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

"""The training loop: mini-batch gradient descent with the layers' backward.

One epoch visits every training row once, in an order drawn from a random
generator started from the run's seed (so a run can be repeated). Early stopping watches the validation loss; a non-finite loss
stops at once (divergence); SIGINT/SIGTERM stop after the current batch. The
weights kept at the end are those of the best epoch (lowest validation loss,
or lowest training loss without a validation set).
"""

from __future__ import annotations

import math
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import numpy as np

from backprop.errors import InputError
from backprop.nn.config import Config, check_size
from backprop.nn.data import Dataset, load, split
from backprop.nn.layers import Affine, Array, Layer
from backprop.nn.model import Classifier, Model, Network, Regressor, Standardization
from backprop.nn.optim import make_optimizer

GRADCHECK_TOLERANCE = 1e-6
# --gradcheck-method: central differences (the default), Richardson extrapolation, or the
# complex step; the tolerance of each is what it can promise on a correct backward pass
GRADCHECK_METHODS = ("central", "richardson", "complex")
GRADCHECK_TOLERANCES = {"central": GRADCHECK_TOLERANCE, "richardson": 1e-8, "complex": 1e-12}


@dataclass
class Epoch:
    epoch: int
    train_loss: float  # mean of the batch losses over the epoch
    val_loss: Optional[float]


@dataclass
class Fit:
    history: list[Epoch] = field(default_factory=list)
    best_epoch: Optional[int] = None
    stopped: str = "completed"  # completed | early stopping | interrupted | diverged
    message: str = ""
    seconds: float = 0.0
    batches: int = 0
    initial_loss: Optional[float] = None  # the watched loss before the first step
    best_loss: Optional[float] = None  # the watched loss of the best epoch

    @property
    def improved(self) -> bool:
        """The best epoch's loss is finite and no worse than before training: worth saving."""
        if self.best_loss is None or not math.isfinite(self.best_loss):
            return False
        return self.initial_loss is None or not self.best_loss > self.initial_loss

    def not_improved_message(self) -> str:
        if self.best_loss is None or not math.isfinite(self.best_loss):
            return f"the best epoch's loss is {self.best_loss}, not a finite number"
        return (f"the best epoch's loss ({self.best_loss:.4g}) is worse than the loss of the "
                f"weights as drawn, before training ({self.initial_loss:.4g})")


def _seeds(seed: int) -> dict[str, np.random.Generator]:
    # Independent streams: changing the data does not change the initial weights.
    kids = np.random.SeedSequence(seed).spawn(3)
    return {"init": np.random.default_rng(kids[0]), "split": np.random.default_rng(kids[1]),
            "shuffle": np.random.default_rng(kids[2])}


def mse(model: Network, X: Array, Y: Array) -> float:
    d = model.forward(X) - Y
    return float(np.mean(d * d))


def loss_of(model: Network, X: Array, T: Array) -> float:
    """The model's training loss (MSE, or cross-entropy) on standardised inputs and its targets."""
    return model.loss().forward(model.forward(X), T)


def fit(model: Network, X: Array, Y: Array, Xv: Array | None = None, Yv: Array | None = None, *,
        learning_rate: float, epochs: int, batch_size: int | None, rng: np.random.Generator,
        optimizer: str = "sgd", momentum: float = 0.9, patience: int | None = None,
        min_delta: float = 0.0, stop: threading.Event | None = None,
        on_epoch: Callable[[Epoch], None] | None = None, shuffle: bool = True) -> Fit:
    """Train ``model`` in place on standardised inputs; at the end it holds the best epoch's weights.

    ``Y`` is what the model's loss compares with: standardised targets (a
    Regressor) or class indices (a Classifier). ``shuffle=False`` visits the
    rows in their order every epoch (for comparisons).
    """
    n = len(X)
    bs = n if batch_size is None else min(batch_size, n)
    has_val = Xv is not None and Yv is not None and len(Xv) > 0
    loss = model.loss()
    params, grads = model.params, model.grads  # the layers' own arrays, updated in place
    opt = make_optimizer(optimizer, params, learning_rate, momentum)
    out = Fit()
    best_loss, best_params, wait = math.inf, None, 0
    started = time.perf_counter()
    with np.errstate(over="ignore", invalid="ignore"):  # the loss of the weights as drawn
        out.initial_loss = loss_of(model, Xv, Yv) if has_val else loss_of(model, X, Y)  # type: ignore[arg-type]
    with np.errstate(over="ignore", invalid="ignore"):  # non-finite losses are caught below
        for epoch in range(1, epochs + 1):
            order = rng.permutation(n) if shuffle else np.arange(n)
            total, seen = 0.0, 0
            for start in range(0, n, bs):
                idx = order[start:start + bs]
                y_hat = model.forward(X[idx])
                E = loss.forward(y_hat, Y[idx])
                if not math.isfinite(E):
                    out.stopped = "diverged"
                    out.message = (f"the training loss became {E} in epoch {epoch} (batch "
                                   f"{start // bs + 1}): training diverged; try a smaller "
                                   f"learning rate (now {learning_rate})")
                    break
                model.backward(loss.backward())
                opt.step(grads)
                rows = len(idx)
                total += E * rows
                seen += rows
                if stop is not None and stop.is_set():
                    out.stopped = "interrupted"
                    break
            out.batches += -(-seen // bs)
            if out.stopped != "completed" or seen < n:
                break  # a partial epoch is not recorded: its loss is not comparable
            val = loss_of(model, Xv, Yv) if has_val else None  # type: ignore[arg-type]
            if val is not None and not math.isfinite(val):
                out.stopped = "diverged"
                out.message = (f"the validation loss became {val} in epoch {epoch}: training "
                               f"diverged; try a smaller learning rate (now {learning_rate})")
                break
            record = Epoch(epoch, total / seen, val)
            out.history.append(record)
            watched = val if val is not None else record.train_loss
            if watched < best_loss - (min_delta if patience else 0.0):
                best_loss, best_params, wait = watched, model.copy_params(), 0
                out.best_epoch = epoch
            else:
                wait += 1
            if on_epoch is not None:
                on_epoch(record)
            if patience is not None and wait >= patience:
                out.stopped = "early stopping"
                out.message = f"no improvement of the validation loss in {patience} epochs"
                break
    out.seconds = time.perf_counter() - started
    if best_params is not None:
        model.set_params(best_params)
        # the saved weights' own loss on the whole set (an epoch's training loss is the mean
        # over its batches, taken while the weights moved)
        with np.errstate(over="ignore", invalid="ignore"):
            out.best_loss = best_loss if has_val else loss_of(model, X, Y)
    return out


@contextmanager
def _on_signals(handler: Callable[[int, Any], None]) -> Iterator[None]:
    """``handler`` for SIGINT and SIGTERM in this block, the previous handlers after it (only
    the main thread can set handlers: elsewhere the block runs without)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """SIGINT and SIGTERM set the event (the loop stops after its batch); a second SIGINT aborts."""
    stop = threading.Event()

    def handler(signum: int, frame: Any) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.set()

    with _on_signals(handler):
        yield stop


@contextmanager
def interrupt_reading(stop: threading.Event) -> Iterator[None]:
    """While the config and the data are read: SIGINT and SIGTERM end the reading at once.

    A read can block on a pipe that sends nothing, or never end (an endless
    stream of rows): the flag that stop_on_signals sets would be looked at only
    after it. Here the signal sets the flag and raises KeyboardInterrupt, which
    ends a blocked read too; nothing is written while reading.
    """
    def handler(signum: int, frame: Any) -> None:
        stop.set()
        raise KeyboardInterrupt

    with _on_signals(handler):
        yield


@contextmanager
def shield(stop: threading.Event) -> Iterator[None]:
    """While the results are written: SIGINT and SIGTERM only set ``stop``.

    A second Ctrl-C aborts training at once (stop_on_signals), but must not
    land inside the writing of the model file, where a KeyboardInterrupt in a
    zip file's cleanup is printed as a traceback and the run loses its summary.
    """
    def handler(signum: int, frame: Any) -> None:
        stop.set()

    with _on_signals(handler):
        yield


# -- gradient check ---------------------------------------------------------

def _numeric(f: Callable[[], Any], x: Array, h: float, method: str = "central",
             install: Callable[[Array], None] | None = None) -> Array:
    """The gradient of f with respect to every element of x, numerically.

    central and richardson change x in place and restore it (the kernel of
    :mod:`backprop.methods.numeric`); complex needs f to read a complex copy of x, which
    ``install`` puts where f reads x (and puts x back afterwards).
    """
    from backprop.methods.numeric import CENTRAL, COMPLEX_STEP, differences, extrapolate
    from backprop.methods.numeric import gradient_vector

    if method == "central":
        return differences(f, x, CENTRAL, eps=h).grad.reshape(x.shape)
    if method == "richardson":
        g = np.empty(x.size)
        for i in range(x.size):
            g[i] = extrapolate(f, x, i).estimate
        return g.reshape(x.shape)
    assert install is not None and method == "complex"

    def at(xc: Array) -> Any:
        install(xc)
        return f()

    try:
        return gradient_vector(at, x, COMPLEX_STEP)[0].reshape(x.shape)
    finally:
        install(x)


def relative_error(analytic: Array, numeric: Array) -> float:
    """max |analytic - numeric| over the array, relative to the array's largest entry."""
    scale = max(float(np.max(np.abs(analytic), initial=0.0)), float(np.max(np.abs(numeric), initial=0.0)))
    return float(np.max(np.abs(analytic - numeric), initial=0.0)) / scale if scale > 0 else 0.0


def check_layer(layer: Layer, x: Array, rng: np.random.Generator, h: float = 1e-6,
                input_grad: bool = True, method: str = "central") -> dict[str, float]:
    """Backward of one layer against numeric derivatives of s = sum(forward(x) * R), R random."""
    state = {"x": x.copy()}
    R = rng.standard_normal(layer.forward(state["x"]).shape)
    dx = layer.backward(R)
    analytic = {k: g.copy() for k, g in layer.grads.items()}

    def s() -> Any:
        return np.sum(layer.forward(state["x"]) * R)

    def into(key: str) -> Callable[[Array], None]:
        # a parameter's array, as the layer's forward reads it (Affine: self.W, self.b)
        return lambda a: setattr(layer, key, a)

    errors = {k: relative_error(analytic[k], _numeric(s, p, h, method, into(k)))
              for k, p in layer.params.items()}
    if input_grad:
        errors["input"] = relative_error(
            dx, _numeric(s, state["x"], h, method, lambda a: state.__setitem__("x", a)))
    return errors


def _holder(model: Network, p: Array) -> Callable[[Array], None]:
    """Where the layers read the parameter array ``p``: installs another array there."""
    for layer in model.layers:
        for key in ("W", "b"):
            if getattr(layer, key, None) is p:
                return lambda a, layer=layer, key=key: setattr(layer, key, a)
    raise AssertionError("a parameter no layer reads")


def gradcheck(model: Network, X: Array, Y: Array, rng: np.random.Generator,
              h: float = 1e-6, method: str = "central") -> dict[str, float]:
    """Every layer's backward, the loss's and the whole network's, against numeric derivatives.

    ``method``: central differences (relative errors near 1e-8 on a correct
    backward), Richardson extrapolation (near 1e-11) or the complex step (near
    machine precision: the forward passes run on complex arrays; relu's kink
    makes it inapplicable, see :func:`gradcheck_method`). ``Y``: what the loss
    compares with (standardised targets, or class indices). The model's
    weights are unchanged afterwards.
    """
    if method not in GRADCHECK_METHODS:
        raise ValueError(f"method must be one of {', '.join(GRADCHECK_METHODS)}, not {method!r}")
    errors: dict[str, float] = {}
    saved = model.copy_params()
    names = iter(model.params)
    x = X
    for k, layer in enumerate(model.layers):
        if isinstance(layer, Affine):
            wn, bn = next(names), next(names)
            label = f"{wn} x + {bn}" if k < len(model.layers) - 1 else "V h + c"
            # the same arrays, with dE/dx too (the first layer skips it in training)
            checked: Layer = Affine(layer.W, layer.b, input_grad=True)
        else:
            label = (model.activation if len(model.hidden_weights) == 1
                     else f"{model.activation} (layer {k // 2 + 1})")
            checked = layer
        for key, e in check_layer(checked, x, rng, h, method=method).items():
            errors[f"{label}: d/d{key}"] = e
        x = layer.forward(x).copy()
    loss = model.loss()
    y_hat = x
    loss.forward(y_hat, Y)
    dy = loss.backward()
    name = "mse" if isinstance(model, Regressor) else "softmax cross-entropy"
    state = {"y_hat": y_hat}
    errors[f"{name}: d/d{'y_hat' if isinstance(model, Regressor) else 'z'}"] = relative_error(
        dy, _numeric(lambda: loss.forward(state["y_hat"], Y), y_hat, h, method,
                     lambda a: state.__setitem__("y_hat", a)))
    total = model.loss()
    total.forward(model.forward(X), Y)
    model.backward(total.backward())
    grads = {k: g.copy() for k, g in model.grads.items()}
    for k, p in model.params.items():
        errors[f"network: dE/d{k}"] = relative_error(
            grads[k], _numeric(lambda: loss_of(model, X, Y), p, h, method, _holder(model, p)))
    model.set_params(saved)
    return errors


# -- a whole run from a config ----------------------------------------------

@dataclass
class Run:
    config: Config
    data: Dataset
    model: Model
    train_rows: Array
    val_rows: Array
    fit: Fit | None = None
    gradcheck: dict[str, float] | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def classification(self) -> bool:
        return isinstance(self.model, Classifier)

    def scaled(self, rows: Array) -> tuple[Array, Array]:
        """Standardised inputs and what the loss compares with (standardised targets, class indices)."""
        return self.model.x_scale.apply(self.data.X[rows]), self.model.targets(self.data.Y[rows])

    def raw_mse(self, rows: Array) -> float | None:
        """A regressor's MSE in the target's own units (None for no rows)."""
        if len(rows) == 0 or not isinstance(self.model, Regressor):
            return None
        d = self.model.predict(self.data.X[rows]) - self.data.Y[rows]
        return float(np.mean(d * d))

    def accuracy(self, rows: Array) -> float | None:
        """A classifier's accuracy (None for no rows)."""
        if len(rows) == 0 or not isinstance(self.model, Classifier):
            return None
        return self.model.score(self.data.X[rows], self.data.Y[rows])


def class_labels(values: Array) -> list[str]:
    """The distinct labels in a sensible order: by value if all are numbers, else alphabetical."""
    distinct = sorted({str(v) for v in np.asarray(values).reshape(-1)})
    try:
        return sorted(distinct, key=float)
    except ValueError:
        return distinct


def prepare(config: Config, config_dir: Path) -> Run:
    """Data loaded, split and standardised (statistics of the training rows), weights initialised.

    Everything about the data that can fail does so here, before any training.
    """
    t = config.training
    rngs = _seeds(t.seed)
    classify = config.task == "classification"
    synthetic = config.data.synthetic
    if synthetic is not None:  # its size is known before its rows are made
        check_size(config, len(synthetic.ranges), 1, synthetic.n)
    data = load(config.data, config_dir, t.seed, classification=classify)
    train_rows, val_rows = split(len(data.X), config.data.validation_split, rngs["split"])
    notes: list[str] = list(data.notes)
    with np.errstate(over="ignore", invalid="ignore"):  # checked just below, by column
        x_scale = (Standardization.fit(data.X[train_rows]) if config.data.standardize
                   else Standardization.identity(data.X.shape[1]))
        y_scale = (Standardization.fit(data.Y[train_rows]) if config.data.standardize and not classify
                   else Standardization.identity(data.Y.shape[1]))
    for names, scale in ((data.input_names, x_scale), (data.target_names, y_scale)):
        bad = [n for n, m, s in zip(names, scale.mean, scale.std)
               if not (np.isfinite(m) and np.isfinite(s))]
        if bad:
            raise InputError(f"data: column {', '.join(bad)}: the values are too large to "
                             "standardise (the mean or standard deviation overflows); "
                             "rescale the column")
    x_train = data.X[train_rows]
    x_range = (x_train.min(axis=0), x_train.max(axis=0))
    common = dict(x_scale=x_scale, input_names=data.input_names, target_names=data.target_names,
                  x_range=x_range, encoding=data.encoding)
    sizes = config.model.sizes
    classes = class_labels(data.Y) if classify else []
    check_size(config, data.X.shape[1], len(classes) if classify else data.Y.shape[1],
               len(data.X))  # before the weights are made
    model: Model
    if classify:
        target = data.target_names[0]
        if len(classes) < 2:
            raise InputError(f"data.target: column {target} of {data.source} holds one label only "
                             f"({classes[0]!r}); a classifier needs at least two classes")
        seen = set(class_labels(data.Y[train_rows]))
        absent = [k for k in classes if k not in seen]
        if absent:
            notes.append(f"class {', '.join(map(repr, absent))} of column {target} is only in the "
                         "validation rows: the model cannot learn it")
        if len(classes) > max(20, len(data.X) // 2):
            notes.append(f"column {target} has {len(classes)} distinct labels in {len(data.X)} rows: "
                         "is it a number to predict (task: regression)?")
        model = Classifier.init(data.X.shape[1], sizes, len(classes), config.model.activation,
                                rngs["init"], classes=classes, **common)
    else:
        for k, name in enumerate(data.target_names):
            distinct = np.unique(data.Y[:, k])
            if len(distinct) == 2 and len(data.X) > 10:
                notes.append(f"target {name} takes two values only ({distinct[0]:g} and "
                             f"{distinct[1]:g}): if they are classes, set task: classification")
        model = Regressor.init(data.X.shape[1], sizes, data.Y.shape[1], config.model.activation,
                               rngs["init"], y_scale=y_scale, **common)
    return Run(config, data, model, train_rows, val_rows, warnings=notes)


def gradcheck_method(model: Network, method: str) -> tuple[str, str | None]:
    """The method --gradcheck will use for ``model``, and why it is not the one asked for.

    The complex step needs every module analytic; relu has a kink at 0, so a relu
    network is checked by Richardson extrapolation instead (said in the note).
    """
    if method == "complex" and model.activation == "relu":
        return "richardson", ("the complex step needs analytic layers and relu has a kink at 0: "
                              "--gradcheck-method complex checks this network by richardson")
    return method, None


def check(run: Run, rows: int = 8, method: str = "central") -> dict[str, float]:
    """--gradcheck: on the first few training rows, before any training."""
    X, Y = run.scaled(run.train_rows[:rows])
    run.gradcheck = gradcheck(run.model, X, Y, np.random.default_rng(run.config.training.seed),
                              method=method)
    return run.gradcheck


def execute(run: Run, stop: threading.Event | None = None,
            on_epoch: Callable[[Epoch], None] | None = None) -> Fit:
    t = run.config.training
    X, Y = run.scaled(run.train_rows)
    Xv, Yv = run.scaled(run.val_rows)
    es = t.early_stopping
    run.fit = fit(run.model, X, Y, Xv, Yv, learning_rate=t.learning_rate, epochs=t.epochs,
                  batch_size=t.batch_size, rng=_seeds(t.seed)["shuffle"], optimizer=t.optimizer,
                  momentum=t.momentum, patience=es.patience if es else None,
                  min_delta=es.min_delta if es else 0.0, stop=stop, on_epoch=on_epoch)
    if not run.config.data.standardize and (run.fit.stopped == "diverged"
                                            or not run.fit.improved):
        run.fit.message = (run.fit.message + "; " if run.fit.message else "") + (
            "the likely cause: data.standardize is false, so inputs and targets of large or "
            "unequal scales make the steps too long: turn standardize on (data.standardize: "
            "true)")
    return run.fit


def summary(run: Run) -> dict[str, Any]:
    """The figures of a finished run.

    Regression: losses are MSEs on the standardised scale the optimiser sees,
    and the saved model's MSE in the targets' units. Classification: losses
    are the mean cross-entropy (log loss), and the saved model's accuracy.
    ``loop_seconds`` is the time of the training loop alone.
    """
    f = run.fit
    assert f is not None
    hist = f.history
    vals = [e.val_loss for e in hist if e.val_loss is not None]
    kind = "log_loss" if run.classification else "mse"
    out: dict[str, Any] = {
        "task": run.config.task,
        "stopped": f.stopped,
        "epochs_run": len(hist),
        "best_epoch": f.best_epoch,
        f"final_train_{kind}": hist[-1].train_loss if hist else None,
        f"best_train_{kind}": min(e.train_loss for e in hist) if hist else None,
        f"final_val_{kind}": vals[-1] if vals else None,
        f"best_val_{kind}": min(vals) if vals else None,
        "standardized": run.config.data.standardize,
        "train_rows": int(len(run.train_rows)),
        "val_rows": int(len(run.val_rows)),
        "seconds": None,  # the command's wall time, filled in by the caller that measures it
        "loop_seconds": f.seconds,
    }
    if f.best_epoch is not None:
        if run.classification:
            out["saved_train_accuracy"] = run.accuracy(run.train_rows)
            out["saved_val_accuracy"] = run.accuracy(run.val_rows)
        else:
            out["saved_train_mse_raw"] = run.raw_mse(run.train_rows)
            out["saved_val_mse_raw"] = run.raw_mse(run.val_rows)
    if run.gradcheck is not None:
        out["gradcheck_max_rel_error"] = max(run.gradcheck.values())
    return out

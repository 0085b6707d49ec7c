"""The networks: a = W x + b, h = sigma(a) for each hidden layer, then y_hat = V h + c.

``Regressor`` predicts numbers (MSE loss, standardised targets);
``Classifier`` predicts class labels (a fused softmax + cross-entropy output
layer). Both are built from the same layers and saved in the same file: an
``.npz`` holding the architecture, the weights, the standardisation, the
training range of each input, the column names (and class labels) and the
config that made it, readable with ``numpy.load(..., allow_pickle=False)`` and
written atomically. Files of the first format (one hidden layer, regression)
still load.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence, Union

import numpy as np

from backprop.errors import InputError
from backprop.files import check_output, open_output
from backprop.nn.encoding import Encoding
from backprop.nn.layers import (ACTIVATIONS, Affine, Array, Layer, MSELoss, SoftmaxCrossEntropy,
                                log_softmax, softmax)

FORMAT = "backprop-network"
FORMAT_VERSION = 2
OLD_FORMAT = "backprop-regressor"  # version 1: one hidden layer, regression, W b V c


@dataclass
class Standardization:
    """z = (raw - mean) / std per column; std 1 for a constant column or when off."""

    mean: Array
    std: Array

    @classmethod
    def identity(cls, width: int) -> "Standardization":
        return cls(np.zeros(width), np.ones(width))

    @classmethod
    def fit(cls, data: Array) -> "Standardization":
        std = data.std(axis=0)
        return cls(data.mean(axis=0), np.where(std > 0, std, 1.0))

    def apply(self, raw: Array) -> Array:
        return (raw - self.mean) / self.std

    def invert(self, z: Array) -> Array:
        return z * self.std + self.mean


def glorot_bound(fan_in: int, fan_out: int, activation: str) -> float:
    # scikit-learn's MLP initialisation (Glorot uniform; factor 2 for the
    # logistic sigmoid), so that the two start from the same distribution.
    factor = 2.0 if activation == "sigmoid" else 6.0
    return float(np.sqrt(factor / (fan_in + fan_out)))


def hidden_names(layers: int) -> list[tuple[str, str]]:
    """The lecture's W, b for one hidden layer; W1, b1, W2, b2, ... for more."""
    if layers == 1:
        return [("W", "b")]
    return [(f"W{k}", f"b{k}") for k in range(1, layers + 1)]


class Network:
    """Hidden layers Affine + activation, then an output Affine (V, c)."""

    task = "regression"

    def __init__(self, hidden: Sequence[tuple[Array, Array]], V: Array, c: Array,
                 activation: str = "tanh", *, x_scale: Standardization | None = None,
                 input_names: Sequence[str] | None = None, target_names: Sequence[str] | None = None,
                 x_range: tuple[Array, Array] | None = None,
                 encoding: Encoding | None = None) -> None:
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}")
        if not hidden:
            raise ValueError("a network needs at least one hidden layer")
        self.activation = activation
        self.hidden_weights = [(W, b) for W, b in hidden]
        self.V, self.c = V, c
        self.layers: list[Layer] = []
        # The first layer's input is the data: nobody needs dE/dx there.
        for k, (W, b) in enumerate(self.hidden_weights):
            self.layers += [Affine(W, b, input_grad=k > 0), ACTIVATIONS[activation]()]
        self.output = Affine(V, c)
        self.layers.append(self.output)
        D = hidden[0][0].shape[1]
        K = V.shape[0]
        self.x_scale = x_scale or Standardization.identity(D)
        self.input_names = list(input_names or [f"x{i + 1}" for i in range(D)])
        self.target_names = list(target_names or (["y"] if K == 1 or self.task != "regression"
                                                  else [f"y{k + 1}" for k in range(K)]))
        self.x_range = x_range  # (min, max) of each raw input over the training rows
        # the CSV columns read and the categories of those one-hot encoded (None: the inputs)
        self.encoding = encoding

    @property
    def columns(self) -> list[str]:
        """The CSV columns the model reads (a categorical column once, not per category)."""
        return self.encoding.columns if self.encoding is not None else self.input_names

    # -- shape and parameters ------------------------------------------------

    @property
    def hidden_sizes(self) -> list[int]:
        return [W.shape[0] for W, _ in self.hidden_weights]

    @property
    def W(self) -> Array:  # the lecture's names, for the first layer
        return self.hidden_weights[0][0]

    @property
    def b(self) -> Array:
        return self.hidden_weights[0][1]

    @property
    def params(self) -> dict[str, Array]:
        """The parameters by name (W, b, ..., V, c); the arrays are the layers' own."""
        out: dict[str, Array] = {}
        for (wn, bn), (W, b) in zip(hidden_names(len(self.hidden_weights)), self.hidden_weights):
            out[wn], out[bn] = W, b
        out["V"], out["c"] = self.V, self.c
        return out

    @property
    def grads(self) -> dict[str, Array]:
        """dE/d(parameter) from the last backward pass, by the same names."""
        affines = [layer for layer in self.layers if isinstance(layer, Affine)]
        out: dict[str, Array] = {}
        for (wn, bn), layer in zip(hidden_names(len(self.hidden_weights)), affines):
            out[wn], out[bn] = layer.grads["W"], layer.grads["b"]
        out["V"], out["c"] = self.output.grads["W"], self.output.grads["b"]
        return out

    def copy_params(self) -> dict[str, Array]:
        return {k: v.copy() for k, v in self.params.items()}

    def set_params(self, values: dict[str, Array]) -> None:
        params = self.params
        for k, v in values.items():
            params[k][...] = v  # in place: the layers hold these arrays

    @classmethod
    def init(cls, inputs: int, hidden: int | Sequence[int], outputs: int, activation: str,
             rng: np.random.Generator, **kwargs: Any) -> Any:
        """Weights and biases uniform in +-glorot_bound, drawn layer by layer (W then b) from ``rng``."""
        sizes = [hidden] if isinstance(hidden, int) else list(hidden)
        widths = [inputs, *sizes, outputs]
        drawn = []
        for fan_in, fan_out in zip(widths[:-1], widths[1:]):
            bound = glorot_bound(fan_in, fan_out, activation)
            W = rng.uniform(-bound, bound, (fan_out, fan_in))
            b = rng.uniform(-bound, bound, fan_out)
            drawn.append((W, b))
        (V, c) = drawn.pop()
        return cls(drawn, V, c, activation, **kwargs)

    # -- passes ----------------------------------------------------------------

    def forward(self, x: Array) -> Array:
        """The output (y_hat or the class scores) for a batch of standardised inputs; layers cache."""
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, upstream: Array) -> None:
        """From dE/d(output), fill ``grads`` (dE/dx of the data is not needed)."""
        for layer in reversed(self.layers):
            upstream = layer.backward(upstream)

    def loss(self) -> Any:
        raise NotImplementedError

    def scores(self, raw_x: Array) -> Array:
        """The output layer's values for raw inputs; no layer's cache is touched."""
        # nan or inf inputs (stdin may carry them) give nan or inf outputs, not
        # numpy's RuntimeWarnings on stderr
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            z = self.x_scale.apply(np.asarray(raw_x, dtype=np.float64))
            sigma = ACTIVATIONS[self.activation]()
            for W, b in self.hidden_weights:
                z = sigma.forward(z @ W.T + b)
            return z @ self.V.T + self.c

    def outside_range(self, raw_x: Array) -> Array:
        """(N, D) booleans: which finite inputs lie outside the training rows' range.

        None for a model file without the ranges (the first format). nan and
        inf are not counted: their predictions are nan, which says so itself.
        """
        if self.x_range is None:
            return np.zeros(np.shape(raw_x), dtype=bool)
        lo, hi = self.x_range
        with np.errstate(invalid="ignore"):
            return np.isfinite(raw_x) & ((raw_x < lo) | (raw_x > hi))

    def range_excess(self, raw_x: Array) -> Array:
        """(N, D): how far each finite input lies outside the training range, in widths of it.

        0 inside the range; 0.1 is 10% of (max - min) beyond max or below min.
        A column constant in training measures in units of max(|value|, 1)
        instead. nan and inf are 0: their predictions are nan, which says so.
        """
        x = np.asarray(raw_x, dtype=np.float64)
        if self.x_range is None:
            return np.zeros(np.shape(x))
        lo, hi = self.x_range
        width = hi - lo
        width = np.where(width > 0, width, np.maximum(np.abs(hi), 1.0))
        with np.errstate(invalid="ignore", over="ignore"):
            beyond = np.maximum(np.maximum(lo - x, x - hi), 0.0) / width
        return np.where(np.isfinite(x), beyond, 0.0)

    # -- the file ------------------------------------------------------------

    def arrays(self, config: dict[str, Any] | None = None) -> dict[str, Array]:
        out: dict[str, Array] = {
            "format": np.array(FORMAT), "version": np.array(FORMAT_VERSION),
            "task": np.array(self.task), "activation": np.array(self.activation),
            "hidden": np.array(self.hidden_sizes, dtype=np.int64),
            **self.params,
            "x_mean": self.x_scale.mean, "x_std": self.x_scale.std,
            "input_names": np.array(self.input_names, dtype=str),
            "target_names": np.array(self.target_names, dtype=str),
            "config": np.array(json.dumps(config or {}, sort_keys=True)),
        }
        if self.x_range is not None:
            out["x_min"], out["x_max"] = self.x_range
        if self.encoding is not None:
            out["columns"] = np.array(self.encoding.columns, dtype=str)
            out["categories"] = np.array(json.dumps(self.encoding.categories, sort_keys=True))
        return out

    def save(self, path: str | os.PathLike[str], config: dict[str, Any] | None = None) -> None:
        save_npz(path, self.arrays(config))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> tuple[Any, dict[str, Any]]:
        return load_model(path)


class Regressor(Network):
    """Numbers out: y_hat in the targets' own units (the standardisation undone)."""

    task = "regression"

    def __init__(self, hidden: Sequence[tuple[Array, Array]], V: Array, c: Array,
                 activation: str = "tanh", *, y_scale: Standardization | None = None,
                 **kwargs: Any) -> None:
        super().__init__(hidden, V, c, activation, **kwargs)
        self.y_scale = y_scale or Standardization.identity(V.shape[0])

    def loss(self) -> MSELoss:
        return MSELoss()

    def targets(self, raw_y: Array) -> Array:
        """What the loss compares the output with: standardised targets."""
        return self.y_scale.apply(raw_y)

    def predict(self, raw_x: Array) -> Array:
        """Raw inputs in, raw targets out (N, K)."""
        with np.errstate(invalid="ignore", over="ignore"):
            return self.y_scale.invert(self.scores(raw_x))

    def score(self, raw_x: Array, raw_y: Array) -> float:
        """R² (the mean over targets), as scikit-learn's regressors' ``score``."""
        from backprop.nn.metrics import r2_score

        return r2_score(raw_y, self.predict(raw_x))

    def arrays(self, config: dict[str, Any] | None = None) -> dict[str, Array]:
        return {**super().arrays(config), "y_mean": self.y_scale.mean, "y_std": self.y_scale.std}


class Classifier(Network):
    """Class labels out: softmax over one score per class; ``classes`` maps index -> label."""

    task = "classification"

    def __init__(self, hidden: Sequence[tuple[Array, Array]], V: Array, c: Array,
                 activation: str = "tanh", *, classes: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(hidden, V, c, activation, **kwargs)
        self.classes = [str(k) for k in classes] or [str(k) for k in range(V.shape[0])]
        if len(self.classes) != V.shape[0]:
            raise ValueError(f"{len(self.classes)} class labels for {V.shape[0]} outputs")

    def loss(self) -> SoftmaxCrossEntropy:
        return SoftmaxCrossEntropy()

    def targets(self, labels: Array) -> Array:
        """Class indices of label strings (every label must be one of ``classes``)."""
        index = {k: i for i, k in enumerate(self.classes)}
        flat = np.asarray(labels).reshape(-1)
        return np.fromiter((index[str(v)] for v in flat), dtype=np.int64, count=flat.size)

    def predict_proba(self, raw_x: Array) -> Array:
        """(N, number of classes) probabilities, in the order of ``classes``."""
        with np.errstate(invalid="ignore", over="ignore"):
            return softmax(self.scores(raw_x))

    def predict_log_proba(self, raw_x: Array) -> Array:
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            return log_softmax(self.scores(raw_x))

    def predict(self, raw_x: Array) -> Array:
        """The most probable label of each row (N,) (strings)."""
        scores = self.scores(raw_x)
        return np.array(self.classes, dtype=object)[np.argmax(scores, axis=1)]

    def score(self, raw_x: Array, labels: Array) -> float:
        """Accuracy, as scikit-learn's classifiers' ``score``."""
        from backprop.nn.metrics import accuracy_score

        return accuracy_score(np.asarray(labels, dtype=str).reshape(-1),
                              np.asarray(self.predict(raw_x), dtype=str))

    def arrays(self, config: dict[str, Any] | None = None) -> dict[str, Array]:
        return {**super().arrays(config), "classes": np.array(self.classes, dtype=str)}


Model = Union[Regressor, Classifier]


def load_model(path: str | os.PathLike[str]) -> tuple[Model, dict[str, Any]]:
    """The model and the config that made it; any foreign or corrupt file is an InputError."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such model file")
    with p.open("rb") as fh:
        magic = fh.read(4)
    if magic != b"PK\x03\x04":  # a model is a .npz, i.e. a zip archive
        hint = (": it looks like a training config; train it with 'backprop train "
                f"{p}', then predict with the model it saves") if p.suffix in (".yaml", ".yml") else ""
        raise InputError(f"{p}: not a backprop model file (a model is the .npz that "
                         f"'backprop train' saves){hint}")
    try:
        with np.load(p, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except Exception as exc:  # zipfile, format and pickle refusals alike
        raise InputError(f"{p}: not a backprop model file ({type(exc).__name__}: {exc})") from None
    marker = str(data.get("format", ""))
    if marker not in (FORMAT, OLD_FORMAT):
        raise InputError(f"{p}: not a backprop model file (no '{FORMAT}' marker)")
    try:
        version = int(data.get("version", -1))
    except (TypeError, ValueError):
        version = -1
    if (marker, version) not in ((OLD_FORMAT, 1), (FORMAT, FORMAT_VERSION)):
        raise InputError(f"{p}: model format version {data.get('version')} is not supported "
                         f"(this backprop reads versions 1 and {FORMAT_VERSION})")
    try:
        return _from_arrays(data, version), json.loads(str(data["config"]))
    except (KeyError, ValueError, TypeError, IndexError) as exc:
        raise InputError(f"{p}: a corrupt backprop model file ({exc})") from None


def _floats(data: dict[str, Array], key: str) -> Array:
    return np.asarray(data[key], dtype=np.float64)


def _from_arrays(data: dict[str, Array], version: int) -> Model:
    task = "regression" if version == 1 else str(data["task"])
    if task not in ("regression", "classification"):
        raise ValueError(f"unknown task {task!r}")
    layers = 1 if version == 1 else int(np.asarray(data["hidden"]).size)
    if layers < 1:
        raise ValueError("no hidden layer")
    hidden = [(_floats(data, wn), _floats(data, bn)) for wn, bn in hidden_names(layers)]
    V, c = _floats(data, "V"), _floats(data, "c")
    width = hidden[0][0].shape[1] if hidden[0][0].ndim == 2 else -1
    D = width
    for W, b in hidden:
        if W.ndim != 2 or W.shape[1] != width or b.shape != (W.shape[0],):
            raise ValueError("the weight shapes do not fit together")
        width = W.shape[0]
    K = V.shape[0] if V.ndim == 2 else -1
    if V.ndim != 2 or V.shape[1] != width or c.shape != (K,):
        raise ValueError("the weight shapes do not fit together")
    x_scale = Standardization(_floats(data, "x_mean"), _floats(data, "x_std"))
    if x_scale.mean.shape != (D,) or x_scale.std.shape != (D,):
        raise ValueError("the standardisation does not fit the weights")
    x_range = None
    if "x_min" in data:
        x_range = (_floats(data, "x_min"), _floats(data, "x_max"))
        if x_range[0].shape != (D,) or x_range[1].shape != (D,):
            raise ValueError("the input ranges do not fit the weights")
    names = dict(input_names=[str(s) for s in data["input_names"]],
                 target_names=[str(s) for s in data["target_names"]])
    if len(names["input_names"]) != D:
        raise ValueError("the input names do not fit the weights")
    encoding = None
    if "categories" in data:
        cats = json.loads(str(data["categories"]))
        if not isinstance(cats, dict) or not all(
                isinstance(v, list) and all(isinstance(k, str) for k in v) for v in cats.values()):
            raise ValueError("the categories are not lists of labels")
        encoding = Encoding([str(s) for s in data["columns"]], cats)
        if encoding.names != names["input_names"]:
            raise ValueError("the categories do not fit the input names")
    activation = str(data["activation"])
    if task == "regression":
        y_scale = Standardization(_floats(data, "y_mean"), _floats(data, "y_std"))
        if y_scale.mean.shape != (K,) or y_scale.std.shape != (K,):
            raise ValueError("the standardisation does not fit the weights")
        return Regressor(hidden, V, c, activation, x_scale=x_scale, y_scale=y_scale,
                         x_range=x_range, encoding=encoding, **names)
    return Classifier(hidden, V, c, activation, x_scale=x_scale, x_range=x_range,
                      classes=[str(s) for s in data["classes"]], encoding=encoding, **names)


def check_writable(path: str | os.PathLike[str], key: str = "output.model") -> Path:
    """Before any work: the model's folder exists (or is made) and ``path`` can be written
    there, by the rule every output follows (:func:`backprop.files.check_output`).

    The errors name ``path`` as the user gave it, never a temporary file.
    """
    return check_output(path, key, make_folder=True)


def save_npz(path: str | os.PathLike[str], arrays: dict[str, Array]) -> None:
    """Write an .npz by :func:`backprop.files.open_output`'s rule: a regular file is
    replaced atomically (a temporary file in the same folder, then a rename), a
    device or a FIFO written directly.

    The zip entries carry a fixed timestamp, so the same arrays give the same bytes.
    An error names ``path``, not the temporary file.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open_output(path, durable=True) as f:
            with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as zf:
                for name, value in arrays.items():
                    buf = io.BytesIO()
                    np.lib.format.write_array(buf, np.asarray(value), allow_pickle=False)
                    info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                    zf.writestr(info, buf.getvalue())
    except OSError as exc:
        from backprop.errors import BackpropError

        raise BackpropError(f"cannot write {path} ({exc.strerror or exc})") from None

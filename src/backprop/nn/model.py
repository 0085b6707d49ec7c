"""The regressor of the seed: a = W x + b, h = sigma(a), y_hat = V h + c.

Also its file: an ``.npz`` holding the weights, the standardisation, the
column names and the config that made it (as a JSON string), readable with
``numpy.load(..., allow_pickle=False)`` and written atomically.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from backprop.errors import InputError
from backprop.files import atomic_write
from backprop.nn.layers import ACTIVATIONS, Affine, Array, Layer

FORMAT = "backprop-regressor"
FORMAT_VERSION = 1


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


@dataclass
class Regressor:
    """One hidden layer: D inputs, H hidden units, K outputs."""

    W: Array  # (H, D)
    b: Array  # (H,)
    V: Array  # (K, H)
    c: Array  # (K,)
    activation: str = "tanh"
    x_scale: Standardization | None = None
    y_scale: Standardization | None = None
    input_names: list[str] = field(default_factory=list)
    target_names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.activation!r}")
        self.hidden = Affine(self.W, self.b, input_grad=False)
        self.sigma: Layer = ACTIVATIONS[self.activation]()
        self.output = Affine(self.V, self.c)
        self.layers: list[Layer] = [self.hidden, self.sigma, self.output]
        D, K = self.W.shape[1], self.V.shape[0]
        self.x_scale = self.x_scale or Standardization.identity(D)
        self.y_scale = self.y_scale or Standardization.identity(K)
        self.input_names = self.input_names or [f"x{i + 1}" for i in range(D)]
        self.target_names = self.target_names or (["y"] if K == 1 else [f"y{k + 1}" for k in range(K)])

    @classmethod
    def init(cls, inputs: int, hidden: int, outputs: int, activation: str,
             rng: np.random.Generator, **kwargs: Any) -> "Regressor":
        """Random weights and biases, uniform in +-glorot_bound, from ``rng``."""
        b1 = glorot_bound(inputs, hidden, activation)
        b2 = glorot_bound(hidden, outputs, activation)
        W = rng.uniform(-b1, b1, (hidden, inputs))
        b = rng.uniform(-b1, b1, hidden)
        V = rng.uniform(-b2, b2, (outputs, hidden))
        c = rng.uniform(-b2, b2, outputs)
        return cls(W, b, V, c, activation, **kwargs)

    @property
    def params(self) -> dict[str, Array]:
        """The parameters by the seed's names; the arrays are the layers' own."""
        return {"W": self.W, "b": self.b, "V": self.V, "c": self.c}

    @property
    def grads(self) -> dict[str, Array]:
        """dE/d(parameter) from the last backward pass."""
        return {"W": self.hidden.grads["W"], "b": self.hidden.grads["b"],
                "V": self.output.grads["W"], "c": self.output.grads["b"]}

    def forward(self, x: Array) -> Array:
        """y_hat for a batch of (standardised) inputs; every layer caches its part."""
        a = self.hidden.forward(x)
        h = self.sigma.forward(a)
        return self.output.forward(h)

    def backward(self, upstream: Array) -> None:
        """From dE/dy_hat, fill ``grads`` (dE/dx of the data is not needed)."""
        g = self.output.backward(upstream)
        g = self.sigma.backward(g)
        self.hidden.backward(g)

    def predict(self, raw_x: Array) -> Array:
        """Raw inputs in, raw targets out (the stored standardisation applied)."""
        assert self.x_scale is not None and self.y_scale is not None
        # nan or inf inputs (stdin may carry them) give nan or inf predictions, not
        # numpy's RuntimeWarnings on stderr
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            a = self.x_scale.apply(np.asarray(raw_x, dtype=np.float64)) @ self.W.T + self.b
            h = ACTIVATIONS[self.activation]().forward(a)
            return self.y_scale.invert(h @ self.V.T + self.c)

    def copy_params(self) -> dict[str, Array]:
        return {k: v.copy() for k, v in self.params.items()}

    def set_params(self, values: dict[str, Array]) -> None:
        for k, v in values.items():
            self.params[k][...] = v  # in place: the layers hold these arrays

    # -- the file ---------------------------------------------------------

    def arrays(self, config: dict[str, Any] | None = None) -> dict[str, Array]:
        assert self.x_scale is not None and self.y_scale is not None
        return {
            "format": np.array(FORMAT), "version": np.array(FORMAT_VERSION),
            "W": self.W, "b": self.b, "V": self.V, "c": self.c,
            "activation": np.array(self.activation),
            "x_mean": self.x_scale.mean, "x_std": self.x_scale.std,
            "y_mean": self.y_scale.mean, "y_std": self.y_scale.std,
            "input_names": np.array(self.input_names, dtype=str),
            "target_names": np.array(self.target_names, dtype=str),
            "config": np.array(json.dumps(config or {}, sort_keys=True)),
        }

    def save(self, path: str | os.PathLike[str], config: dict[str, Any] | None = None) -> None:
        save_npz(path, self.arrays(config))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> tuple["Regressor", dict[str, Any]]:
        """The model and the config that made it; any foreign or corrupt file is an InputError."""
        p = Path(path)
        if not p.is_file():
            raise InputError(f"{p}: no such model file")
        try:
            with np.load(p, allow_pickle=False) as z:
                data = {k: z[k] for k in z.files}
        except Exception as exc:  # zipfile, format and pickle refusals alike
            raise InputError(f"{p}: not a backprop model file ({type(exc).__name__}: {exc})") from None
        if str(data.get("format", "")) != FORMAT:
            raise InputError(f"{p}: not a backprop model file (no '{FORMAT}' marker)")
        if int(data.get("version", -1)) != FORMAT_VERSION:
            raise InputError(f"{p}: model format version {data.get('version')} is not supported "
                             f"(this backprop reads version {FORMAT_VERSION})")
        try:
            W, b, V, c = (np.asarray(data[k], dtype=np.float64) for k in "WbVc")
            H, D = W.shape
            K = V.shape[0]
            if b.shape != (H,) or V.shape != (K, H) or c.shape != (K,):
                raise ValueError("the weight shapes do not fit together")
            x_scale = Standardization(data["x_mean"].astype(float), data["x_std"].astype(float))
            y_scale = Standardization(data["y_mean"].astype(float), data["y_std"].astype(float))
            if x_scale.mean.shape != (D,) or y_scale.mean.shape != (K,):
                raise ValueError("the standardisation does not fit the weights")
            config = json.loads(str(data["config"]))
            model = cls(W, b, V, c, str(data["activation"]), x_scale, y_scale,
                        [str(s) for s in data["input_names"]], [str(s) for s in data["target_names"]])
        except (KeyError, ValueError, TypeError) as exc:
            raise InputError(f"{p}: a corrupt backprop model file ({exc})") from None
        return model, config


def save_npz(path: str | os.PathLike[str], arrays: dict[str, Array]) -> None:
    """Write an .npz atomically: a temporary file in the same folder, then a rename.

    The zip entries carry a fixed timestamp, so the same arrays give the same bytes.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(target, durable=True) as f:
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as zf:
            for name, value in arrays.items():
                buf = io.BytesIO()
                np.lib.format.write_array(buf, np.asarray(value), allow_pickle=False)
                info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                zf.writestr(info, buf.getvalue())


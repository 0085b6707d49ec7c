"""Layers with the forward/backward API of the lecture's last slides.

Every array is a batch: rows are examples. ``forward(input)`` computes the
output and caches what ``backward`` needs; ``backward(upstream)`` takes
dE/d(output), returns dE/d(input) and keeps the gradients of the layer's
parameters in ``grads`` (same names as ``params``). The Jacobians are never
built: each backward is a Jacobian-vector product.
"""

from __future__ import annotations

import numpy as np

from backprop.core.ops import PRIMITIVES

Array = np.ndarray


class Layer:
    """A module of the network: parameters (possibly none) and their gradients."""

    def __init__(self) -> None:
        self.params: dict[str, Array] = {}
        self.grads: dict[str, Array] = {}

    def forward(self, input: Array) -> Array:
        raise NotImplementedError

    def backward(self, upstream: Array) -> Array:
        raise NotImplementedError


class Affine(Layer):
    """a = W x + b for each row x of the batch: W is (out, in), b is (out,).

    backward: dE/dW = sum over the batch of outer(dE/da, x) = G^T X,
    dE/db = the sum of G over the batch, dE/dx = G W.
    """

    def __init__(self, W: Array, b: Array, input_grad: bool = True) -> None:
        super().__init__()
        self.W = W
        self.b = b
        # The first layer's input is the data: nobody needs dE/dx there, so
        # skipping it saves one matrix product per batch.
        self.input_grad = input_grad
        self.params = {"W": W, "b": b}
        self.grads = {"W": np.zeros_like(W), "b": np.zeros_like(b)}
        self.x: Array | None = None

    def forward(self, input: Array) -> Array:
        self.x = input
        return input @ self.W.T + self.b

    def backward(self, upstream: Array) -> Array:
        assert self.x is not None, "backward before forward"
        np.matmul(upstream.T, self.x, out=self.grads["W"])
        upstream.sum(axis=0, out=self.grads["b"])
        if not self.input_grad:
            return np.empty(0)
        return upstream @ self.W


class Sigmoid(Layer):
    """h = sigmoid(a), the table's primitive: its forward (the complex one for the complex
    step, train --gradcheck-method complex) and its local derivative, sigmoid(a)*sigmoid(-a)."""

    def forward(self, input: Array) -> Array:
        prim = PRIMITIVES["sigmoid"]
        self.a = input
        self.h = (prim.forward_complex() if np.iscomplexobj(input) else prim.forward)(input)
        return self.h

    def backward(self, upstream: Array) -> Array:
        return upstream * _local("sigmoid", self.h, self.a)


class Tanh(Layer):
    """h = tanh(a), the table's primitive, with its local derivative 1/cosh(a)^2 (which,
    unlike 1 - h^2, keeps its digits in the tails)."""

    def forward(self, input: Array) -> Array:
        self.a = input
        self.h = PRIMITIVES["tanh"].forward(input)
        return self.h

    def backward(self, upstream: Array) -> Array:
        return upstream * _local("tanh", self.h, self.a)


def _local(name: str, h: Array, a: Array) -> Array:
    """The table's local derivative of ``name`` at input ``a`` (output ``h``)."""
    return PRIMITIVES[name].partials[0](h, a)


class ReLU(Layer):
    """h = max(a, 0); dh/da = 1 where a > 0, else 0 (0 at the kink, as PyTorch)."""

    def forward(self, input: Array) -> Array:
        self.mask = input > 0
        return input * self.mask

    def backward(self, upstream: Array) -> Array:
        return upstream * self.mask


ACTIVATIONS: dict[str, type[Layer]] = {"sigmoid": Sigmoid, "tanh": Tanh, "relu": ReLU}


class MSELoss:
    """E = mean over the batch (and the outputs) of (y_hat - y)^2, as PyTorch's MSELoss.

    scikit-learn's squared loss is half of this, so its gradients are half ours.
    """

    def forward(self, y_hat: Array, y: Array) -> float:
        self.diff = d = y_hat - y
        flat = d.reshape(-1)
        if np.iscomplexobj(d):  # the complex step: the imaginary part carries the derivative
            return (flat @ flat) / d.size  # type: ignore[return-value]
        return float(flat @ flat) / d.size  # a dot product: np.mean costs more per batch

    def backward(self, upstream: float = 1.0) -> Array:
        """dE/dy_hat = 2 (y_hat - y) / (number of elements), times the upstream dE."""
        return self.diff * (2.0 * upstream / self.diff.size)


class SoftmaxCrossEntropy:
    """The classifier's output layer and loss as one module.

    forward(z, labels): p = softmax(z) row by row, E = mean over the batch of
    -log p[label]. Written with the log-sum-exp trick, log p = z - m - log sum
    exp(z - m) with m = max z, so that no exp overflows and no log sees 0.
    backward: dE/dz = (p - onehot(label)) / N. Fused, because the softmax's
    Jacobian times the log's derivative collapses to this difference; apart,
    the two would divide by p and lose every digit where p underflows.
    """

    def forward(self, logits: Array, labels: Array) -> float:
        m = logits.max(axis=1, keepdims=True)
        shifted = logits - m
        e = np.exp(shifted)
        total = e.sum(axis=1, keepdims=True)
        self.p = e / total
        self.labels = labels
        n = len(labels)
        log_p_label = shifted[np.arange(n), labels] - np.log(total[:, 0])
        if np.iscomplexobj(log_p_label):  # the complex step: keep the imaginary part
            return -log_p_label.sum() / n  # type: ignore[return-value]
        return float(-log_p_label.sum() / n)

    def backward(self, upstream: float = 1.0) -> Array:
        n = len(self.labels)
        g = self.p.copy()
        g[np.arange(n), self.labels] -= 1.0
        g *= upstream / n
        return g


def softmax(logits: Array) -> Array:
    """Row-wise probabilities, by the same log-sum-exp shift."""
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def log_softmax(logits: Array) -> Array:
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))

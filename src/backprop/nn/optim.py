"""Update rules. Each ``step`` changes the parameter arrays in place.

``sgd`` is the lecture's rule, W <- W - tau * dE/dW; ``momentum`` and ``adam``
are the usual refinements (as in PyTorch's SGD(momentum=...) and Adam).
"""

from __future__ import annotations

import math

import numpy as np

from backprop.nn.layers import Array


class Optimizer:
    def __init__(self, params: dict[str, Array], tau: float) -> None:
        self.params = params
        self.tau = tau

    def step(self, grads: dict[str, Array]) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """W <- W - tau * dE/dW."""

    def step(self, grads: dict[str, Array]) -> None:
        tau = self.tau
        for name, p in self.params.items():
            p -= tau * grads[name]


class Momentum(Optimizer):
    """v <- beta v + dE/dW; W <- W - tau v (PyTorch's convention)."""

    def __init__(self, params: dict[str, Array], tau: float, beta: float = 0.9) -> None:
        super().__init__(params, tau)
        self.beta = beta
        self.velocity = {k: np.zeros_like(p) for k, p in params.items()}

    def step(self, grads: dict[str, Array]) -> None:
        for name, p in self.params.items():
            v = self.velocity[name]
            v *= self.beta
            v += grads[name]
            p -= self.tau * v


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with bias correction."""

    def __init__(self, params: dict[str, Array], tau: float, beta1: float = 0.9,
                 beta2: float = 0.999, eps: float = 1e-8) -> None:
        super().__init__(params, tau)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.m = {k: np.zeros_like(p) for k, p in params.items()}
        self.v = {k: np.zeros_like(p) for k, p in params.items()}
        self.t = 0

    def step(self, grads: dict[str, Array]) -> None:
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        rate = self.tau * math.sqrt(1.0 - b2 ** self.t) / (1.0 - b1 ** self.t)
        for name, p in self.params.items():
            g = grads[name]
            m, v = self.m[name], self.v[name]
            m *= b1
            m += (1.0 - b1) * g
            v *= b2
            v += (1.0 - b2) * g * g
            p -= rate * m / (np.sqrt(v) + self.eps)


def make_optimizer(name: str, params: dict[str, Array], tau: float, momentum: float = 0.9) -> Optimizer:
    if name == "sgd":
        return SGD(params, tau)
    if name == "momentum":
        return Momentum(params, tau, momentum)
    if name == "adam":
        return Adam(params, tau)
    raise ValueError(f"unknown optimizer {name!r} (sgd, momentum or adam)")

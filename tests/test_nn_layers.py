"""The layers' backward passes against central differences and against the expression engine."""

from __future__ import annotations

import numpy as np
import pytest

from backprop import parse
from backprop.nn.layers import Affine, MSELoss, ReLU, Sigmoid, Tanh
from backprop.nn.model import Regressor
from backprop.nn.optim import SGD, Adam, Momentum
from backprop.nn.train import gradcheck

H = 1e-6


def central(f, x: np.ndarray) -> np.ndarray:
    """Numerical gradient of the scalar f() with respect to x, element by element."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        keep = x[i]
        x[i] = keep + H
        up = f()
        x[i] = keep - H
        down = f()
        x[i] = keep
        g[i] = (up - down) / (2 * H)
    return g


def close(analytic: np.ndarray, numeric: np.ndarray) -> None:
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


def test_affine_backward(rng: np.random.Generator) -> None:
    W, b, x = rng.normal(size=(4, 3)), rng.normal(size=4), rng.normal(size=(5, 3))
    R = rng.normal(size=(5, 4))
    layer = Affine(W, b)
    np.testing.assert_allclose(layer.forward(x), np.array([W @ row + b for row in x]))
    dx = layer.backward(R)
    dW, db = layer.grads["W"].copy(), layer.grads["b"].copy()

    def s() -> float:
        return float(np.sum(layer.forward(x) * R))

    close(dW, central(s, W))
    close(db, central(s, b))
    close(dx, central(s, x))
    # The seed's form: the sum over the batch of outer(dE/da, x).
    close(dW, sum(np.outer(R[n], x[n]) for n in range(5)))


def test_affine_without_input_gradient_keeps_parameter_gradients(rng: np.random.Generator) -> None:
    W, b, x, R = rng.normal(size=(2, 3)), rng.normal(size=2), rng.normal(size=(4, 3)), rng.normal(size=(4, 2))
    layer = Affine(W, b, input_grad=False)
    layer.forward(x)
    assert layer.backward(R).size == 0
    close(layer.grads["W"], R.T @ x)


@pytest.mark.parametrize("cls,fn", [(Sigmoid, lambda a: 1 / (1 + np.exp(-a))), (Tanh, np.tanh),
                                    (ReLU, lambda a: np.maximum(a, 0))])
def test_activation_backward(cls, fn, rng: np.random.Generator) -> None:
    a = rng.normal(size=(6, 5)) * 3
    a[np.abs(a) < 1e-3] = 0.5  # keep away from ReLU's kink, where differences are meaningless
    R = rng.normal(size=a.shape)
    layer = cls()
    np.testing.assert_allclose(layer.forward(a), fn(a))
    da = layer.backward(R)
    close(da, central(lambda: float(np.sum(cls().forward(a) * R)), a))


def test_sigmoid_is_finite_for_large_inputs() -> None:
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        h = Sigmoid().forward(np.array([[-800.0, 0.0, 800.0]]))
    np.testing.assert_allclose(h, [[0.0, 0.5, 1.0]])


def test_mse_loss(rng: np.random.Generator) -> None:
    y_hat, y = rng.normal(size=(5, 2)), rng.normal(size=(5, 2))
    loss = MSELoss()
    E = loss.forward(y_hat, y)
    assert E == pytest.approx(sum((y_hat.ravel() - y.ravel()) ** 2) / 10)
    close(loss.backward(), central(lambda: MSELoss().forward(y_hat, y), y_hat))


def _network_expression(x: np.ndarray, y: np.ndarray, D: int, Hn: int, act: str) -> str:
    """E = mean over the batch of (V sigma(W x + b) + c - y)^2, one variable per parameter."""
    terms = []
    for n in range(len(x)):
        units = []
        for j in range(Hn):
            a = " + ".join(f"W{j}_{i}*({float(x[n, i])!r})" for i in range(D)) + f" + b{j}"
            units.append(f"V{j}*{act}({a})")
        terms.append(f"({' + '.join(units)} + c - ({float(y[n, 0])!r}))^2")
    return f"({' + '.join(terms)})/{len(x)}"


@pytest.mark.parametrize("act", ["tanh", "sigmoid", "relu"])
def test_network_gradient_matches_expression_engine(act: str, rng: np.random.Generator) -> None:
    D, Hn, N = 2, 3, 4
    model = Regressor.init(D, Hn, 1, act, rng)
    model.b[:] = rng.normal(size=Hn)  # non-zero biases, so that b's gradient is exercised
    x, y = rng.normal(size=(N, D)), rng.normal(size=(N, 1))
    f = parse(_network_expression(x, y, D, Hn, act))
    values = {f"W{j}_{i}": model.W[j, i] for j in range(Hn) for i in range(D)}
    values |= {f"b{j}": model.b[j] for j in range(Hn)} | {f"V{j}": model.V[0, j] for j in range(Hn)}
    values["c"] = model.c[0]
    E_engine, g = f.value_and_grad(**values)

    loss = MSELoss()
    E = loss.forward(model.forward(x), y)
    model.backward(loss.backward())
    assert E == pytest.approx(E_engine, rel=1e-12)
    grads = model.grads
    for j in range(Hn):
        assert grads["b"][j] == pytest.approx(g[f"b{j}"], rel=1e-10, abs=1e-14)
        assert grads["V"][0, j] == pytest.approx(g[f"V{j}"], rel=1e-10, abs=1e-14)
        for i in range(D):
            assert grads["W"][j, i] == pytest.approx(g[f"W{j}_{i}"], rel=1e-10, abs=1e-14)
    assert grads["c"][0] == pytest.approx(g["c"], rel=1e-10)


def test_gradcheck_passes_and_catches_a_wrong_backward(rng: np.random.Generator,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    model = Regressor.init(3, 5, 2, "tanh", rng)
    x, y = rng.normal(size=(6, 3)), rng.normal(size=(6, 2))
    before = model.copy_params()
    errors = gradcheck(model, x, y, rng)
    assert max(errors.values()) < 1e-6
    for k, v in before.items():
        np.testing.assert_array_equal(model.params[k], v)  # weights untouched
    # A backward that forgets the derivative of tanh: caught.
    monkeypatch.setattr(Tanh, "backward", lambda self, up: up)
    errors = gradcheck(model, x, y, rng)
    assert errors["tanh: d/dinput"] > 1e-3


def test_optimizers_follow_their_rules(rng: np.random.Generator) -> None:
    W = rng.normal(size=(2, 2))
    g = {"W": rng.normal(size=(2, 2))}
    start = W.copy()
    SGD({"W": W}, 0.1).step(g)
    np.testing.assert_allclose(W, start - 0.1 * g["W"])  # the seed's rule

    W = start.copy()
    opt = Momentum({"W": W}, 0.1, beta=0.5)
    opt.step(g)
    opt.step(g)  # v = g, then v = 0.5 g + g
    np.testing.assert_allclose(W, start - 0.1 * g["W"] - 0.1 * 1.5 * g["W"])

    W = start.copy()
    Adam({"W": W}, 0.01).step(g)  # the first Adam step moves each weight by tau against the sign
    np.testing.assert_allclose(W, start - 0.01 * np.sign(g["W"]), rtol=1e-6)

"""train --gradcheck-method: central differences, Richardson extrapolation and the complex step
on the network's layers, loss and whole gradient."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from backprop.cli import main
from backprop.nn import train as training
from backprop.nn.layers import Tanh
from backprop.nn.model import Classifier, Regressor

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_each_method_on_a_correct_backward(activation: str) -> None:
    rng = np.random.default_rng(5)
    model = Regressor.init(3, [5, 4], 2, activation, rng)
    x, y = rng.normal(size=(8, 3)), rng.normal(size=(8, 2))
    before = model.copy_params()
    arrays = [model.layers[0].W, model.output.b]
    worst = {m: max(training.gradcheck(model, x, y, np.random.default_rng(1), method=m).values())
             for m in training.GRADCHECK_METHODS}
    # central differences err by ~1e-9 here; Richardson by ~1e-12; the complex step by a few
    # roundings: what each can promise, well inside its tolerance
    assert worst["central"] < 1e-7
    assert worst["richardson"] < 1e-10
    assert worst["complex"] < 1e-14
    for m, tol in training.GRADCHECK_TOLERANCES.items():
        assert worst[m] < tol
    # the weights, and the arrays the layers read, are the ones they were
    for k, v in before.items():
        np.testing.assert_array_equal(model.params[k], v)
    assert model.layers[0].W is arrays[0] and model.output.b is arrays[1]
    assert model.layers[0].W.dtype == np.float64


def test_the_complex_step_on_a_classifier() -> None:
    rng = np.random.default_rng(6)
    model = Classifier.init(3, [5], 3, "tanh", rng, classes=["a", "b", "c"])
    x, labels = rng.normal(size=(8, 3)), rng.integers(0, 3, 8)
    errors = training.gradcheck(model, x, labels, np.random.default_rng(1), method="complex")
    assert max(errors.values()) < 1e-14
    assert any(k.startswith("softmax cross-entropy") for k in errors)


def test_a_backward_wrong_by_one_part_in_a_million_is_caught_only_by_the_sharp_methods(
        monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(7)
    model = Regressor.init(3, 5, 1, "tanh", rng)
    x, y = rng.normal(size=(8, 3)), rng.normal(size=(8, 1))
    right = Tanh.backward
    monkeypatch.setattr(Tanh, "backward", lambda self, up: right(self, up) * (1 + 1e-7))
    errors = {m: training.gradcheck(model, x, y, np.random.default_rng(1), method=m)["tanh: d/dinput"]
              for m in training.GRADCHECK_METHODS}
    assert errors["central"] < training.GRADCHECK_TOLERANCES["central"]  # passes: too blunt
    assert errors["richardson"] > training.GRADCHECK_TOLERANCES["richardson"]
    assert errors["complex"] > training.GRADCHECK_TOLERANCES["complex"]
    assert errors["complex"] == pytest.approx(1e-7, rel=1e-3)


def test_relu_networks_are_checked_by_richardson_instead_of_the_complex_step() -> None:
    model = Regressor.init(2, 4, 1, "relu", np.random.default_rng(8))
    method, note = training.gradcheck_method(model, "complex")
    assert method == "richardson" and note is not None and "relu has a kink" in note
    assert training.gradcheck_method(model, "central") == ("central", None)


def test_the_command_line_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copytree(CONFIGS, tmp_path / "configs")
    config = tmp_path / "configs" / "sine.yaml"
    out_file = str(tmp_path / "m.npz")
    code = main(["train", str(config), "--quiet", "--epochs", "1", "--out", out_file,
                 "--gradcheck-method", "complex", "--format", "json"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "gradcheck (complex): largest relative error" in err and "tolerance 1e-12" in err
    relu = config.read_text().replace("activation: tanh", "activation: relu")
    (tmp_path / "configs" / "relu.yaml").write_text(relu)
    code = main(["train", str(tmp_path / "configs" / "relu.yaml"), "--quiet", "--epochs", "1",
                 "--out", out_file, "--gradcheck-method", "complex", "--format", "json"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "relu has a kink" in err and "gradcheck (richardson)" in err
    code = main(["train", str(config), "--gradcheck-method", "exact"])
    assert code == 2 and "Traceback" not in capsys.readouterr().err

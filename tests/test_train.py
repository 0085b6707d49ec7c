"""backprop train: learning, determinism, config and CSV errors, atomic saves, signals."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from backprop.cli import main
from backprop.nn import config as settings
from backprop.nn import train as training
from backprop.nn.model import Regressor
from clikit import run_cli

ROOT = Path(__file__).resolve().parent.parent


def sine_config(tmp_path: Path, **training_keys: object) -> dict:
    return {
        "data": {"synthetic": {"expr": "sin(3*x)", "ranges": {"x": [-1, 1]}, "n": 600,
                               "noise": 0.05}, "validation_split": 0.2},
        "model": {"hidden": 16, "activation": "tanh"},
        "training": {"learning_rate": 0.1, "epochs": 40, "batch_size": 16, "seed": 3,
                     **training_keys},
        "output": {"model": str(tmp_path / "model.npz")},
    }


def write(tmp_path: Path, cfg: dict, name: str = "c.yaml") -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(cfg))
    return p




def test_training_lowers_the_loss_on_sine(tmp_path: Path) -> None:
    run = training.prepare(settings.validate(sine_config(tmp_path)), tmp_path)
    X, Y = run.scaled(run.train_rows)
    before = training.mse(run.model, X, Y)
    fit = training.execute(run)
    assert fit.stopped == "completed" and len(fit.history) == 40
    # sin(3x) on [-1, 1] has variance about 0.5 (0.0025 of it is noise): the
    # trained model must explain at least 98% of it, in the target's units.
    assert run.raw_mse(run.val_rows) < 0.01
    assert fit.history[-1].train_loss < before / 10


def test_same_seed_same_losses_and_same_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = sine_config(tmp_path, epochs=5)
    path = write(tmp_path, cfg)
    runs, files = [], []
    for _ in range(2):
        code, out, _ = run_cli(["train", str(path), "--quiet", "--format", "json"], capsys)
        assert code == 0
        summary = json.loads(out)
        summary.pop("seconds")
        summary.pop("loop_seconds")
        runs.append(summary)
        files.append((tmp_path / "model.npz").read_bytes())
    assert runs[0] == runs[1]
    assert files[0] == files[1]  # the same bytes: no timestamps in the file
    code, out, _ = run_cli(["train", str(path), "--quiet", "--format", "json", "--seed", "4",
                            "--out", str(tmp_path / "c.npz")], capsys)
    assert json.loads(out)["final_train_mse"] != runs[0]["final_train_mse"]


def test_no_progress_output_off_a_terminal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # stderr is not a terminal here: no progress bar, not even without --quiet.
    code, out, err = run_cli(["train", str(write(tmp_path, sine_config(tmp_path, epochs=3)))], capsys)
    assert code == 0 and err == ""
    assert "Training summary (MSE on standardised targets" in out and "model file" in out


def test_early_stopping_stops_and_keeps_the_best_epoch(tmp_path: Path) -> None:
    # A learning rate so large that the validation loss soon stops improving.
    cfg = sine_config(tmp_path, epochs=300, learning_rate=0.5, early_stopping={"patience": 3})
    run = training.prepare(settings.validate(cfg), tmp_path)
    fit = training.execute(run)
    assert fit.stopped == "early stopping"
    vals = [e.val_loss for e in fit.history]
    assert len(vals) < 300 and fit.best_epoch == 1 + int(np.argmin(vals))
    assert len(vals) - fit.best_epoch == 3
    Xv, Yv = run.scaled(run.val_rows)
    assert training.mse(run.model, Xv, Yv) == pytest.approx(min(vals), rel=1e-12)


@pytest.mark.parametrize("mutate,expected", [
    (lambda c: c["training"].update(learning_rate=-1), "training.learning_rate"),
    (lambda c: c["training"].update(epochs="many"), "training.epochs"),
    (lambda c: c["training"].update(epochs=0), "training.epochs"),
    (lambda c: c["training"].update(learnin_rate=0.1), "training.learnin_rate: unknown key"),
    (lambda c: c.update(trainer={}), "trainer: unknown key"),
    (lambda c: c["model"].update(activation="elu"), "model.activation"),
    (lambda c: c["data"].update(validation_split=1.5), "data.validation_split"),
    (lambda c: c["data"].update(csv="x.csv"), "exactly one data source"),
    (lambda c: c["data"].pop("synthetic"), "exactly one data source"),
    (lambda c: c["data"]["synthetic"]["ranges"].update(z=[0, 1]), "data.synthetic.ranges"),
    (lambda c: c["data"]["synthetic"].update(ranges={"x": [1, -1]}), "data.synthetic.ranges"),
    (lambda c: c["data"]["synthetic"].update(expr="sin(3*"), "data.synthetic.expr"),
    (lambda c: c["data"]["synthetic"].update(expr="log(x)"), "data.synthetic.expr: not finite"),
    (lambda c: c.pop("data"), "data: missing"),
])
def test_config_errors_name_the_key(mutate, expected: str, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    cfg = sine_config(tmp_path)
    mutate(cfg)
    code, _, err = run_cli(["train", str(write(tmp_path, cfg)), "--quiet"], capsys)
    assert code == 2
    assert err.startswith("backprop: error: ") and expected in err
    assert not (tmp_path / "model.npz").exists()


def test_config_file_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["train", str(tmp_path / "none.yaml")], capsys)
    assert code == 2 and "no such config file" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("data:\n  csv: [unclosed\n")
    code, _, err = run_cli(["train", str(bad)], capsys)
    assert code == 2 and "bad.yaml line" in err and "not valid YAML" in err
    bad.write_text("- a list\n")
    code, _, err = run_cli(["train", str(bad)], capsys)
    assert code == 2 and "top level must be a mapping" in err
    code, _, err = run_cli(["train", str(write(tmp_path, sine_config(tmp_path))), "--epochs", "-3"], capsys)
    assert code == 2 and err.startswith("backprop: error: --epochs: ")  # the option typed, not the key


CSV_CASES = [
    ("a,b,y\n1,2,3\n4,,6\n", "line 3, column b: empty cell"),
    ("a,b,y\n1,2,3\n4,five,6\n", "line 3, column b: 'five' is not a number"),
    ("a,b,y\n1,2,3\n4,5,6\n7,8\n", "line 4: expected 3 cells, found 2"),
    ("a,b,y\n1,2,3\n4,5,nan\n", "line 3, column y"),
    ("a,b,z\n1,2,3\n4,5,6\n", "data.target"),
    ("", "empty file"),
]


@pytest.mark.parametrize("text,expected", CSV_CASES)
def test_csv_errors_name_row_and_column(text: str, expected: str, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "d.csv").write_text(text)
    cfg = {"data": {"csv": "d.csv", "target": "y"}, "output": {"model": str(tmp_path / "m.npz")}}
    code, _, err = run_cli(["train", str(write(tmp_path, cfg)), "--quiet"], capsys)
    assert code == 2 and expected in err
    assert not (tmp_path / "m.npz").exists()


def test_csv_paths_are_relative_to_the_config(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "d.csv").write_text("a,y\n" + "".join(f"{i},{2 * i}\n" for i in range(20)))
    cfg = {"data": {"csv": "d.csv", "validation_split": 0}, "training": {"epochs": 3},
           "output": {"model": "out/m.npz"}}
    write(tmp_path / "cfg", cfg)
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli(["train", "cfg/c.yaml", "--quiet", "--format", "json"], capsys)
    assert code == 0
    assert json.loads(out)["model"] == "out/m.npz" and (tmp_path / "out" / "m.npz").is_file()


def test_missing_csv_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = {"data": {"csv": "absent.csv"}}
    code, _, err = run_cli(["train", str(write(tmp_path, cfg))], capsys)
    assert code == 2 and "data.csv: no such file" in err and "absent.csv" in err


def test_divergence_exits_1_and_suggests_a_smaller_rate(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    cfg = sine_config(tmp_path, learning_rate=1e4, epochs=20)
    code, _, err = run_cli(["train", str(write(tmp_path, cfg)), "--quiet"], capsys)
    assert code == 1
    assert "diverged" in err and "smaller learning rate" in err


def test_gradcheck_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = sine_config(tmp_path, epochs=1)
    code, out, err = run_cli(["train", str(write(tmp_path, cfg)), "--quiet", "--gradcheck",
                              "--format", "json"], capsys)
    assert code == 0 and "gradcheck: largest relative error" in err
    assert json.loads(out)["gradcheck_max_rel_error"] < 1e-6


def test_a_failed_save_leaves_the_old_model(tmp_path: Path) -> None:
    """A process killed in the middle of writing the model: the old file is intact."""
    cfg = sine_config(tmp_path, epochs=2)
    path = write(tmp_path, cfg)
    assert main(["train", str(path), "--quiet"]) == 0
    model = tmp_path / "model.npz"
    old = model.read_bytes()
    script = (
        "import os, sys, numpy as np\n"
        "from backprop.cli import main\n"
        "real = np.lib.format.write_array\n"
        "count = [0]\n"
        "def dying(f, a, **k):\n"
        "    real(f, a, **k)\n"
        "    count[0] += 1\n"
        "    if count[0] == 3:\n"
        "        os._exit(9)\n"  # killed mid-save: no cleanup, no exception handlers
        "np.lib.format.write_array = dying\n"
        f"sys.exit(main(['train', {str(path)!r}, '--quiet', '--seed', '5']))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 9
    assert model.read_bytes() == old
    Regressor.load(model)


def _start(path: Path, extra: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "backprop", "train", str(path), "--gradcheck",
                             "--quiet", "--format", "json", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_saves_the_best_model_and_exits_130(signum: int, tmp_path: Path) -> None:
    cfg = sine_config(tmp_path, epochs=100_000)
    cfg["data"]["synthetic"]["n"] = 2000
    proc = _start(write(tmp_path, cfg), [])
    assert proc.stderr is not None
    line = proc.stderr.readline()  # gradcheck's line: training starts right after it
    assert "gradcheck" in line, line
    time.sleep(1.0)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err
    summary = json.loads(out)
    assert summary["stopped"] == "interrupted" and summary["epochs_run"] < 100_000
    model, config = Regressor.load(tmp_path / "model.npz")
    assert config["training"]["epochs"] == 100_000
    assert summary["best_epoch"] is not None


def test_a_model_worse_than_before_training_is_not_saved_and_the_cause_is_named(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # targets in the thousands, standardize off: the first steps overshoot, the loss grows
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 100, (200, 2))
    y = 30 * x[:, 0] + 5 * x[:, 1] + 2000
    (tmp_path / "d.csv").write_text("a,b,y\n" + "".join(
        f"{a!r},{b!r},{t!r}\n" for (a, b), t in zip(x.tolist(), y.tolist())))
    cfg = {"data": {"csv": "d.csv", "standardize": False}, "training": {"epochs": 30},
           "output": {"model": str(tmp_path / "m.npz")}}
    code, out, err = run_cli(["train", str(write(tmp_path, cfg)), "--quiet", "--format", "json"],
                             capsys)
    assert code == 1 and not (tmp_path / "m.npz").exists()
    assert "no model was saved" in err and "turn standardize on" in err
    summary = json.loads(out)
    assert summary["model"] is None and not [k for k in summary if k.startswith("saved_")]
    # the same data standardised trains, and the model is saved
    cfg["data"]["standardize"] = True
    code, _, err = run_cli(["train", str(write(tmp_path, cfg)), "--quiet"], capsys)
    assert code == 0 and (tmp_path / "m.npz").exists(), err


def test_fit_is_improved_only_when_finite_and_no_worse_than_before() -> None:
    assert training.Fit(initial_loss=1.0, best_loss=0.5).improved
    assert training.Fit(initial_loss=1.0, best_loss=1.0).improved
    assert not training.Fit(initial_loss=1.0, best_loss=1.5).improved
    assert not training.Fit(initial_loss=1.0, best_loss=float("nan")).improved
    assert not training.Fit(initial_loss=1.0, best_loss=None).improved

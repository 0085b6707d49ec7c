"""`backprop train` against scikit-learn's MLPRegressor, both as whole processes.

Same CSV (a 2-D surface, y = sin(3 x1) + x2^2 / 2 + noise), same two tanh
hidden layers [64, 32], batch size, epochs, plain SGD (no momentum, no weight
decay), the same standardisation (training rows' mean and standard deviation,
inputs and target), and the same initial weights: for each seed, the weights
`backprop train` starts from are handed to scikit-learn (its private set-up,
then our arrays), so the test MSEs differ only by the order of the batches.

The learning rate: backprop minimises E = mean (y_hat - y)^2 and steps
W <- W - tau dE/dW. scikit-learn minimises half of that, so the same step
needs learning_rate_init = 2 tau.

Timed: the wall time of each process, start to exit: `backprop train
CONFIG --quiet` (import, read, standardise, train, save) and `python -c
SCRIPT` (import scikit-learn, read, standardise, fit, save). The two run one
after the other for each seed, the first alternating; the figure is the median
over seeds, and the ratio is that of the medians. Test MSE: on 1,000 held-out
rows, in the target's units, averaged over the seeds.

    python bench/bench_train.py [--seeds 5] [--epochs 30] [--n 5000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_common import (SKLEARN_SCRIPT, backprop_command, initial_weights,  # noqa: E402
                          load_average, sklearn_regression, timed, write_csv)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--hidden", type=int, nargs="+", default=[64, 32])
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--tau", type=float, default=0.05)
    ap.add_argument("--n", type=int, default=5000)
    args = ap.parse_args()
    import sklearn

    from backprop.nn.model import load_model

    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (args.n, 2))
    y = np.sin(3 * X[:, 0]) + 0.5 * X[:, 1] ** 2 + 0.05 * rng.standard_normal(args.n)
    n_test = args.n // 5
    times: dict[str, list[float]] = {"backprop": [], "scikit-learn": []}
    mses: dict[str, list[float]] = {"backprop": [], "scikit-learn": []}
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        write_csv(d / "train.csv", ["x1", "x2", "y"],
                  np.column_stack([X[n_test:], y[n_test:]]).tolist())
        Xte, yte = X[:n_test], y[:n_test]
        for seed in range(args.seeds):
            cfg = {"data": {"csv": "train.csv", "target": "y", "validation_split": 0},
                   "model": {"hidden": args.hidden, "activation": "tanh"},
                   "training": {"learning_rate": args.tau, "epochs": args.epochs,
                                "batch_size": args.batch_size, "optimizer": "sgd", "seed": seed},
                   "output": {"model": str(d / f"bp{seed}.npz")}}
            config = d / f"c{seed}.yaml"
            config.write_text(yaml.safe_dump(cfg))
            initial_weights(config, d / f"init{seed}.npz")
            runs = {
                "backprop": backprop_command() + ["train", str(config), "--quiet", "--format", "json"],
                "scikit-learn": [sys.executable, "-c", SKLEARN_SCRIPT, str(d / "train.csv"),
                                 str(d / f"init{seed}.npz"), str(d / f"sk{seed}.npz"), "regression",
                                 "y", str(2 * args.tau), str(args.epochs), str(args.batch_size),
                                 str(seed)],
            }
            order = list(runs) if seed % 2 == 0 else list(runs)[::-1]
            for name in order:
                times[name].append(timed(runs[name]))
            ours = load_model(d / f"bp{seed}.npz")[0].predict(Xte)[:, 0]
            theirs = sklearn_regression(d / f"sk{seed}.npz", Xte)
            mses["backprop"].append(float(np.mean((ours - yte) ** 2)))
            mses["scikit-learn"].append(float(np.mean((theirs - yte) ** 2)))
    med = {k: statistics.median(v) for k, v in times.items()}
    mean_mse = {k: statistics.fmean(v) for k, v in mses.items()}
    print(f"data: 2-D surface, {args.n - n_test} train / {n_test} test rows; hidden {args.hidden} tanh; "
          f"batch {args.batch_size}; {args.epochs} epochs; tau {args.tau} (scikit-learn "
          f"learning_rate_init {2 * args.tau}); {args.seeds} seeds, same initial weights per seed; "
          f"scikit-learn {sklearn.__version__}, numpy {np.__version__}; load average {load_average()}")
    print(f"{'':14}{'median s':>10}{'min s':>9}{'max s':>9}{'mean test MSE':>15}")
    for k in times:
        print(f"{k:14}{med[k]:10.3f}{min(times[k]):9.3f}{max(times[k]):9.3f}{mean_mse[k]:15.6f}")
    print("per seed test MSE: backprop " + ", ".join(f"{v:.5f}" for v in mses["backprop"])
          + "; scikit-learn " + ", ".join(f"{v:.5f}" for v in mses["scikit-learn"]))
    print(f"whole process, backprop / scikit-learn: {med['backprop'] / med['scikit-learn']:.2f}x "
          "(target <= 0.5x)")
    print(f"mean test MSE, backprop / scikit-learn: {mean_mse['backprop'] / mean_mse['scikit-learn']:.3f} "
          "(target <= 1.05)")
    same_start(X[n_test:], y[n_test:], Xte, yte, args)


def same_start(X: np.ndarray, y: np.ndarray, Xte: np.ndarray, yte: np.ndarray, args: argparse.Namespace) -> None:
    """In one process, the same initial weights and no shuffling: the two trajectories coincide.

    This checks the learning-rate conversion (learning_rate_init = 2 tau) and
    that the arithmetic is the same: what is left between the processes above
    is the order of the batches.
    """
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPRegressor
    from sklearn.utils import check_random_state

    from backprop.nn.model import Regressor, Standardization
    from backprop.nn.train import fit

    x_scale, y_scale = Standardization.fit(X), Standardization.fit(y[:, None])
    model = Regressor.init(2, args.hidden, 1, "tanh", np.random.default_rng(99), x_scale=x_scale,
                           y_scale=y_scale)
    start = model.copy_params()
    layers = [(W, b) for W, b in model.hidden_weights] + [(model.V, model.c)]
    coefs = [W.T.copy() for W, _ in layers]
    intercepts = [b.copy() for _, b in layers]
    fit(model, x_scale.apply(X), y_scale.apply(y[:, None]), learning_rate=args.tau,
        epochs=args.epochs, batch_size=args.batch_size, rng=np.random.default_rng(0), shuffle=False)
    ours = float(np.mean((model.predict(Xte)[:, 0] - yte) ** 2))
    model.set_params(start)

    def sklearn_mse(lr: float) -> float:
        mlp = MLPRegressor(hidden_layer_sizes=tuple(args.hidden), activation="tanh", solver="sgd",
                           alpha=0.0, batch_size=args.batch_size, learning_rate="constant",
                           learning_rate_init=lr, momentum=0.0, nesterovs_momentum=False,
                           max_iter=args.epochs, shuffle=False, random_state=0, tol=0.0,
                           n_iter_no_change=args.epochs + 1, warm_start=True)
        Xs, ys = x_scale.apply(X), y_scale.apply(y[:, None])[:, 0]
        mlp._random_state = check_random_state(0)  # private API: its set-up, then our weights
        mlp._initialize(ys.reshape(-1, 1), [2, *args.hidden, 1], Xs.dtype)
        mlp.n_features_in_ = 2
        mlp.coefs_ = [c.copy() for c in coefs]
        mlp.intercepts_ = [b.copy() for b in intercepts]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            mlp.fit(Xs, ys)
        pred = y_scale.invert(mlp.predict(x_scale.apply(Xte))[:, None])[:, 0]
        return float(np.mean((pred - yte) ** 2))

    try:
        theirs, half = sklearn_mse(2 * args.tau), sklearn_mse(args.tau)
    except Exception as exc:  # a private API: may change between scikit-learn releases
        print(f"same-start check skipped ({type(exc).__name__}: {exc})")
        return
    print(f"same start, no shuffling, one process: test MSE backprop {ours:.8g}, scikit-learn "
          f"{theirs:.8g} (relative difference {abs(ours - theirs) / theirs:.1e}); with "
          f"learning_rate_init = tau instead of 2 tau: {half:.8g}")


if __name__ == "__main__":
    main()

"""`backprop train` on the shipped wine data against scikit-learn's MLPClassifier, as whole processes.

configs/data/wine_train.csv and wine_test.csv together (178 wines, 13 measurements, three cultivars). For each
seed, a new random split (not stratified): 80% of the rows train, 20% test.
Both sides: two tanh hidden layers [16, 8], a softmax output with the mean
cross-entropy (the same loss in both, so scikit-learn's learning_rate_init =
tau), batch 16, 200 epochs, plain SGD (no momentum, no weight decay), the
inputs standardised by the training rows, and the same initial weights (the
ones `backprop train` starts from, handed to scikit-learn's private set-up).

Timed: the wall time of each whole process (import, read, standardise, train,
save), one after the other for each seed, the first alternating; the figure is
the median over seeds. Test accuracy: averaged over the seeds.

    python bench/bench_classify.py [--seeds 5] [--epochs 200]
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_common import (SKLEARN_SCRIPT, backprop_command, initial_weights,  # noqa: E402
                          load_average, sklearn_labels, timed, write_csv)

DATA = Path(__file__).resolve().parent.parent / "configs" / "data"
WINE = [DATA / "wine_train.csv", DATA / "wine_test.csv"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--hidden", type=int, nargs="+", default=[16, 8])
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--tau", type=float, default=0.05)
    args = ap.parse_args()
    import sklearn

    from backprop.nn.model import load_model

    rows = []
    for path in WINE:  # the whole data set, split anew for each seed
        with path.open(newline="") as f:
            header, *part = list(csv.reader(f))
            rows += part
    target = header[-1]
    times: dict[str, list[float]] = {"backprop": [], "scikit-learn": []}
    acc: dict[str, list[float]] = {"backprop": [], "scikit-learn": []}
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        for seed in range(args.seeds):
            order = np.random.default_rng(100 + seed).permutation(len(rows))
            n_test = len(rows) // 5
            test = [rows[i] for i in order[:n_test]]
            write_csv(d / f"train{seed}.csv", header, [rows[i] for i in order[n_test:]])
            Xte = np.array([r[:-1] for r in test], dtype=float)
            yte = np.array([r[-1] for r in test])
            cfg = {"task": "classification",
                   "data": {"csv": f"train{seed}.csv", "target": target, "validation_split": 0},
                   "model": {"hidden": args.hidden, "activation": "tanh"},
                   "training": {"learning_rate": args.tau, "epochs": args.epochs,
                                "batch_size": args.batch_size, "optimizer": "sgd", "seed": seed},
                   "output": {"model": str(d / f"bp{seed}.npz")}}
            config = d / f"c{seed}.yaml"
            config.write_text(yaml.safe_dump(cfg))
            initial_weights(config, d / f"init{seed}.npz")
            runs = {
                "backprop": backprop_command() + ["train", str(config), "--quiet", "--format", "json"],
                "scikit-learn": [sys.executable, "-c", SKLEARN_SCRIPT, str(d / f"train{seed}.csv"),
                                 str(d / f"init{seed}.npz"), str(d / f"sk{seed}.npz"),
                                 "classification", target, str(args.tau), str(args.epochs),
                                 str(args.batch_size), str(seed)],
            }
            first = list(runs) if seed % 2 == 0 else list(runs)[::-1]
            for name in first:
                times[name].append(timed(runs[name]))
            ours = load_model(d / f"bp{seed}.npz")[0].predict(Xte).astype(str)
            theirs = sklearn_labels(d / f"sk{seed}.npz", Xte)
            acc["backprop"].append(float(np.mean(ours == yte)))
            acc["scikit-learn"].append(float(np.mean(theirs == yte)))
    med = {k: statistics.median(v) for k, v in times.items()}
    mean_acc = {k: statistics.fmean(v) for k, v in acc.items()}
    print(f"data: wine (both files), {len(rows) - len(rows) // 5} train / {len(rows) // 5} test rows "
          f"(a new split per seed); hidden {args.hidden} tanh; batch {args.batch_size}; "
          f"{args.epochs} epochs; tau {args.tau} (scikit-learn learning_rate_init {args.tau}); "
          f"{args.seeds} seeds, same initial weights per seed; scikit-learn {sklearn.__version__}, "
          f"numpy {np.__version__}; load average {load_average()}")
    print(f"{'':14}{'median s':>10}{'min s':>9}{'max s':>9}{'mean test accuracy':>20}")
    for k in times:
        print(f"{k:14}{med[k]:10.3f}{min(times[k]):9.3f}{max(times[k]):9.3f}{100 * mean_acc[k]:19.2f}%")
    print("per seed accuracy: backprop " + ", ".join(f"{100 * v:.1f}" for v in acc["backprop"])
          + "; scikit-learn " + ", ".join(f"{100 * v:.1f}" for v in acc["scikit-learn"]))
    print(f"whole process, backprop / scikit-learn: {med['backprop'] / med['scikit-learn']:.2f}x "
          "(target <= 0.5x)")
    print(f"mean test accuracy, backprop - scikit-learn: "
          f"{100 * (mean_acc['backprop'] - mean_acc['scikit-learn']):+.2f} points (target >= -1)")


if __name__ == "__main__":
    main()

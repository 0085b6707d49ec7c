"""Drawing a training run: the loss curves and, for one input, the fitted function (``plot`` extra).

Left: the training and validation loss per epoch on a log scale, the best epoch
(the weights that were saved) marked. Right, when the data has one input
column: the data points (training and validation rows in their raw units) and
the model's prediction over the input's range, through the same ``predict``
that ``backprop predict`` uses. matplotlib is imported only when a plot is
asked for.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from backprop.errors import BackpropError
from backprop.views.plots.common import check_plot_path, require_matplotlib, save_figure

if TYPE_CHECKING:
    from backprop.nn.model import Model
    from backprop.nn.train import Run

__all__ = ["check_plot_path", "plot_training"]

MAX_POINTS = 4000  # at most this many data points are drawn (a random subset beyond)


def plot_training(run: Run, file: str | os.PathLike[str], model: Model | None = None,
                  title: str | None = None) -> None:
    """Draw ``run``'s loss history (and its fit, for one input) and write it to ``file`` atomically.

    ``model`` is the model to draw the fit of (default ``run.model``: after
    training it holds the best epoch's weights, those saved).
    """
    import numpy as np

    plt = require_matplotlib()
    fit = run.fit
    if fit is None or not fit.history:
        raise BackpropError("nothing to plot: no epoch finished")
    model = run.model if model is None else model
    # the fitted function is drawn for a regression on one input
    one_input = run.data.X.shape[1] == 1 and not run.classification
    fig, axes = plt.subplots(1, 2 if one_input else 1, figsize=(12, 4.8) if one_input else (7, 4.8),
                             dpi=110, squeeze=False)
    try:
        ax = axes[0][0]
        epochs = [e.epoch for e in fit.history]
        ax.plot(epochs, [e.train_loss for e in fit.history], "-", color="tab:blue", lw=1.4,
                label="training loss (mean over the epoch's batches)")
        val = [(e.epoch, e.val_loss) for e in fit.history if e.val_loss is not None]
        if val:
            ax.plot([e for e, _ in val], [v for _, v in val], "-", color="tab:orange", lw=1.4,
                    label="validation loss (after the epoch)")
        if fit.best_epoch is not None:
            ax.axvline(fit.best_epoch, color="0.4", lw=0.9, ls="--",
                       label=f"best epoch {fit.best_epoch} (saved)")
        losses = [e.train_loss for e in fit.history] + [v for _, v in val]
        if all(v > 0 for v in losses):
            ax.set_yscale("log")
        scale = "standardised" if run.config.data.standardize else "raw"
        ax.set_xlabel("epoch")
        ax.set_ylabel("cross-entropy" if run.classification else f"MSE ({scale} targets)")
        ax.set_title(f"loss per epoch ({fit.stopped}, {len(fit.history)} epochs)", fontsize=10)
        ax.grid(True, which="major", color="0.9", lw=0.6)
        ax.legend(loc="upper right", fontsize=8)

        if one_input:
            ax = axes[0][1]
            X, Y = run.data.X, run.data.Y
            rng = np.random.default_rng(0)
            for rows, color, label in ((run.train_rows, "tab:blue", "training rows"),
                                       (run.val_rows, "tab:orange", "validation rows")):
                if len(rows) == 0:
                    continue
                shown = rows if len(rows) <= MAX_POINTS else rng.choice(rows, MAX_POINTS, replace=False)
                for k in range(Y.shape[1]):
                    ax.plot(X[shown, 0], Y[shown, k], ".", color=color, ms=2.5, alpha=0.45,
                            label=label if k == 0 else None)
            lo, hi = float(np.min(X[:, 0])), float(np.max(X[:, 0]))
            grid = np.linspace(lo, hi, 500)
            y_hat = model.predict(grid[:, None])
            for k, name in enumerate(run.data.target_names):
                ax.plot(grid, y_hat[:, k], "-", color="black" if k == 0 else None, lw=2,
                        label=f"model: predicted {name}")
            ax.set_xlabel(run.data.input_names[0])
            ax.set_ylabel(", ".join(run.data.target_names))
            ax.set_title("the fitted function over the data (raw units)", fontsize=10)
            ax.legend(loc="best", fontsize=8, markerscale=3)
        cfg = run.config
        units = " x ".join(map(str, cfg.model.sizes))
        fig.suptitle(title or f"training a {units}-unit {cfg.model.activation} network "
                     f"(tau = {cfg.training.learning_rate:g}, {cfg.training.optimizer})",
                     fontsize=11)
        fig.tight_layout()
        save_figure(fig, Path(file))
    finally:
        plt.close(fig)

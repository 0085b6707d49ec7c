"""Drawing a descent with matplotlib (the optional ``plot`` extra).

One variable: the function and the iterates on it. Two: the contour map and
the path. More: the value against the step. matplotlib is imported only here,
and only when a plot is asked for.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from backprop.errors import BackpropError
from backprop.views.plots.common import require_matplotlib, save_figure

if TYPE_CHECKING:
    from backprop.methods.descend import Step
    from backprop.core.function import Function


def _limits(values: Sequence[float], margin: float = 0.25) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    span = hi - lo
    pad = margin * span if span > 0 else max(1.0, abs(lo) * 0.5)
    return lo - pad, hi + pad


def plot_descent(f: Function, path: Sequence[Step], file: str | os.PathLike[str],
                 title: str | None = None) -> None:
    """Draw the iterates of a descent and write the picture to ``file`` (atomically)."""
    import numpy as np

    plt = require_matplotlib()
    steps = [s for s in path if s.finite]
    if not steps:
        raise BackpropError("nothing to plot: no step has a finite value")
    names = list(f.variables)
    fig, ax = plt.subplots(figsize=(7, 5.5), dpi=110)
    try:
        if len(names) == 1:
            (v,) = names
            xs = [s.point[v] for s in steps]
            lo, hi = _limits(xs)
            grid = np.linspace(lo, hi, 400)
            with np.errstate(all="ignore"):
                ys = np.broadcast_to(np.asarray(f(**{v: grid}), dtype=float), grid.shape)
            ax.plot(grid, np.where(np.isfinite(ys), ys, np.nan), color="0.35", lw=1.5,
                    label="f")
            ax.plot(xs, [s.value for s in steps], "-o", color="tab:red", ms=3, lw=1,
                    label="iterates")
            ax.plot(xs[0], steps[0].value, "o", color="tab:green", ms=7, label="start")
            ax.set_xlabel(v)
            ax.set_ylabel("f")
        elif len(names) == 2:
            vx, vy = names
            xs = [s.point[vx] for s in steps]
            ys = [s.point[vy] for s in steps]
            x_lo, x_hi = _limits(xs)
            y_lo, y_hi = _limits(ys)
            gx, gy = np.meshgrid(np.linspace(x_lo, x_hi, 200), np.linspace(y_lo, y_hi, 200))
            with np.errstate(all="ignore"):
                z = np.broadcast_to(np.asarray(f(**{vx: gx, vy: gy}), dtype=float), gx.shape)
            finite = z[np.isfinite(z)]
            if finite.size:
                # Levels at quantiles follow the surface's shape (a narrow valley
                # such as Rosenbrock's gets contours where the path runs).
                levels = np.unique(np.quantile(finite, np.linspace(0.0, 1.0, 25)))
                if levels.size >= 2:
                    cs = ax.contour(gx, gy, np.ma.masked_invalid(z), levels=levels,
                                    cmap="viridis", linewidths=0.8)
                    fig.colorbar(cs, ax=ax, label="f")
            ax.plot(xs, ys, "-o", color="tab:red", ms=2.5, lw=1, label="iterates")
            ax.plot(xs[0], ys[0], "o", color="tab:green", ms=7, label="start")
            ax.plot(xs[-1], ys[-1], "*", color="black", ms=11, label=f"step {steps[-1].step}")
            ax.set_xlabel(vx)
            ax.set_ylabel(vy)
        else:
            values = [s.value for s in steps]
            ax.plot([s.step for s in steps], values, "-", color="tab:red", lw=1.2)
            if all(val > 0 for val in values) and max(values) / min(values) > 100:
                ax.set_yscale("log")
            ax.set_xlabel("step")
            ax.set_ylabel("f")
        ax.set_title(title or f"gradient descent on f = {f.text.strip()}", fontsize=10)
        if len(names) <= 2:
            ax.legend(loc="best", fontsize=8)
        fig.tight_layout()
        save_figure(fig, Path(file))
    finally:
        plt.close(fig)

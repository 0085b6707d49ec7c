"""Drawing the finite-difference sweep: the classic V on log-log axes (the ``plot`` extra).

Error against the step h for forward and central differences: on the right the
truncation error falls with h (slope 1 forward, 2 central), on the left the
rounding error grows as machine eps * |f| / h; the default steps sit near the
bottom of each V. The complex step, where the sweep has it, falls as h^2 and
then stays flat: no subtraction, no rounding arm. matplotlib is imported only when a plot is asked for.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from backprop.errors import BackpropError
from backprop.views.plots.common import require_matplotlib, save_figure

_COLORS = {"forward": "tab:blue", "central": "tab:orange", "complex_step": "tab:green"}
_LABELS = {"forward": "forward difference", "central": "central difference",
           "complex_step": "complex step (no subtraction: no rounding arm)"}


def plot_sweep(result: dict[str, Any], file: str | os.PathLike[str], title: str | None = None) -> None:
    """Draw :func:`backprop.studies.compare.sweep`'s rows and write the picture to ``file`` (atomically).

    One panel per variable; the error is relative where the exact partial is
    not zero, absolute where it is.
    """
    plt = require_matplotlib()
    rows = result["rows"]
    names = list(dict.fromkeys(r["variable"] for r in rows))
    if not names:
        raise BackpropError("nothing to plot: the sweep has no rows")
    fig, axes = plt.subplots(1, len(names), figsize=(7 * len(names) ** 0.5 + 1.0 * (len(names) - 1),
                                                     5.2), dpi=110, squeeze=False)
    try:
        for ax, v in zip(axes[0], names):
            exact = result["exact"][v]
            key, what = ("rel_error", "relative error") if exact != 0 else ("abs_error",
                                                                            "absolute error")
            # An error of exactly 0 has no place on a log axis: drawn hollow at a floor a
            # decade below every error of the panel.
            positive = [r[key] for r in rows if r["variable"] == v and 0 < r[key] < float("inf")]
            floor = 10.0 ** math.floor(math.log10(min(positive)) - 1) if positive else 1e-17
            for method in ("forward", "central", "complex_step"):
                mine = [r for r in rows if r["variable"] == v and r["method"] == method]
                if not mine:
                    continue  # no complex step at a kink
                sweep = [r for r in mine if not r["default"]]
                errs = [r[key] for r in sweep]
                ax.loglog([r["h_taken"] for r in sweep], [e if e > 0 else math.nan for e in errs],
                          "-o", color=_COLORS[method], ms=3.5, lw=1.3, label=_LABELS[method])
                zeros = [r["h_taken"] for r in sweep if r[key] == 0]
                if zeros:
                    ax.loglog(zeros, [floor] * len(zeros), "o", mfc="none", color=_COLORS[method],
                              ms=5, label=f"{method.replace('_', ' ')}: error exactly 0 (drawn at {floor:.0e})")
                for r in mine:
                    if r["default"] and method == "complex_step":
                        # h = 1e-100 is far off the axis: its error, flat, as a line across
                        y = r[key] if r[key] > 0 else floor
                        ax.axhline(y, color=_COLORS[method], lw=1.0, ls="--",
                                   label=f"complex step at its default h = {r['h_taken']:.0e}"
                                         f"{'' if r[key] > 0 else ' (error 0)'}")
                    elif r["default"]:
                        y = r[key] if r[key] > 0 else floor
                        ax.loglog([r["h_taken"]], [y], "*", color=_COLORS[method], ms=15,
                                  mec="black", mew=0.6,
                                  label=f"default {method} step h = {r['h_taken']:.2g}")
                        ax.axvline(r["h_taken"], color=_COLORS[method], lw=0.8, ls=":")
            ax.set_xlabel("step h")
            ax.set_ylabel(f"{what} of df/d{v}")
            ax.grid(True, which="major", color="0.9", lw=0.6)
            # h grows to the right: rounding error rules the left arm, truncation the right.
            # Written under the axis, where no curve can run through them.
            ax.text(0.0, -0.15, "← rounding error ~ ε|f| / h", transform=ax.transAxes,
                    va="top", ha="left", fontsize=8, color="0.3")
            ax.text(1.0, -0.15, "truncation error ~ h (forward), h² (central) →",
                    transform=ax.transAxes, va="top", ha="right", fontsize=8, color="0.3")
            ax.legend(loc="best", fontsize=7.5, framealpha=0.9)
            if len(names) > 1:
                ax.set_title(f"d/d{v}", fontsize=9)
        at = ", ".join(f"{k} = {x!r}" for k, x in result["at"].items())
        fig.suptitle(title or f"finite differences of f = {result['expression']} at {at}",
                     fontsize=10)
        fig.tight_layout()
        save_figure(fig, Path(file))
    finally:
        plt.close(fig)

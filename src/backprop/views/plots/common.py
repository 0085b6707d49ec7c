"""What the plotting commands share: matplotlib (the optional ``plot`` extra),
checked before any work, and pictures written by the rule every output follows
(:mod:`backprop.files`: a regular file replaced atomically, a device or FIFO
written directly).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from backprop.errors import BackpropError, InputError
from backprop.files import check_output, is_written_directly, open_output

INSTALL_HINT = "pip install 'backprop-cli[plot]'"


def require_matplotlib() -> Any:
    """matplotlib.pyplot on the non-interactive Agg backend, or a clear error (exit 1)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise BackpropError(f"--plot needs matplotlib, which is not installed; install it with: "
                            f"{INSTALL_HINT}") from None
    return plt


def check_plot_path(path: str) -> Path:
    """The output file, checked before any work: matplotlib knows its type, and it can be
    written (its folder exists and takes a file, or it is a device or FIFO)."""
    plt = require_matplotlib()
    p = Path(path)
    suffix = p.suffix.lower().lstrip(".")
    fig = plt.figure()
    try:
        supported = fig.canvas.get_supported_filetypes()
    finally:
        plt.close(fig)
    if not suffix and is_written_directly(path):
        return check_output(path, "--plot")  # /dev/null, a FIFO: a PNG, as save_figure makes
    if suffix not in supported:
        raise InputError(f"--plot {path}: give a file name ending in one of "
                         f"{', '.join('.' + s for s in sorted(supported))} (e.g. path.png)")
    return check_output(path, "--plot")


def save_figure(fig: Any, file: Path) -> None:
    """Save a matplotlib figure; the format follows the file's extension."""
    fmt = file.suffix.lower().lstrip(".") or "png"
    with open_output(file) as fh:
        fig.savefig(fh, format=fmt)

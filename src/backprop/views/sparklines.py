"""One-line charts of a series (sparklines), for a terminal or plain ASCII: the loss
curves under ``backprop train``'s summary. The writing of results (tables, JSON Lines,
CSV) lives in :mod:`backprop.views.writers`."""

from __future__ import annotations

import math
import sys
from typing import Any, Sequence

SPARK_BLOCKS = "▁▂▃▄▅▆▇█"
SPARK_ASCII = "_.-~=+*#"  # the same eight levels where the blocks cannot be encoded


def can_encode(text: str, stream: Any = None) -> bool:
    """Whether ``stream`` (default stdout) can write ``text`` in its encoding."""
    stream = sys.stdout if stream is None else stream
    encoding = getattr(stream, "encoding", None) or "ascii"
    try:
        text.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def sparkline(values: Sequence[float], width: int = 40, *, log: bool = True,
              limits: tuple[float, float] | None = None, ascii: bool = False) -> str:
    """A one-line chart of ``values``: one character per value, eight heights.

    More values than ``width`` are averaged in ``width`` consecutive groups
    (geometric mean on the log scale), so the line is ``min(len(values),
    width)`` characters long. ``limits`` (low, high) shares one scale between
    lines (train and validation loss); by default the line's own range. On a
    log scale a value <= 0 is drawn at the bottom; a non-finite value is a space.
    """
    levels = SPARK_ASCII if ascii else SPARK_BLOCKS
    if width < 1:
        raise ValueError("width must be 1 or more")

    def scaled(v: float) -> float:
        if not math.isfinite(v):
            return math.nan
        if log:
            return math.log10(v) if v > 0 else -math.inf
        return v

    ys = [scaled(float(v)) for v in values]
    if len(ys) > width:
        groups = []
        for k in range(width):
            part = ys[k * len(ys) // width:(k + 1) * len(ys) // width]
            finite = [y for y in part if math.isfinite(y)]
            groups.append(sum(finite) / len(finite) if finite else
                          (-math.inf if any(y == -math.inf for y in part) else math.nan))
        ys = groups
    if limits is not None:
        lo, hi = scaled(limits[0]), scaled(limits[1])
    else:
        finite = [y for y in ys if math.isfinite(y)]
        lo, hi = (min(finite), max(finite)) if finite else (0.0, 0.0)
    out = []
    top = len(levels) - 1
    for y in ys:
        if math.isnan(y):
            out.append(" ")
        elif y == -math.inf or not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
            out.append(levels[0])  # zero on a log scale, or nothing to scale against: flat
        else:
            k = round((y - lo) / (hi - lo) * top)
            out.append(levels[min(top, max(0, k))])
    return "".join(out)

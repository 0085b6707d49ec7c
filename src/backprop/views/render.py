"""Rendering results: rich tables on a terminal, strict JSON (Lines), CSV.

Nothing here computes; it only turns numbers into text. Numbers are written
with ``repr`` (shortest round-trip). JSON has no NaN or Infinity: a non-finite
number is written as ``null`` and the caller warns about it on stderr.
"""

from __future__ import annotations

import json
import math
import os
import sys
from typing import Any, Iterable, Sequence

FORMATS = ("table", "json", "csv")


def fmt(v: Any) -> str:
    """A number as the shortest text that reads back to the same float."""
    if isinstance(v, float):
        return repr(v)
    try:
        return repr(float(v))
    except (TypeError, ValueError):
        return str(v)


def finite_or_none(v: Any) -> Any:
    """For JSON: floats stay, nan and inf become None; containers are walked."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {k: finite_or_none(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [finite_or_none(x) for x in v]
    if hasattr(v, "item"):  # numpy scalar
        return finite_or_none(v.item())
    return v


def has_non_finite(v: Any) -> bool:
    if isinstance(v, float):
        return not math.isfinite(v)
    if isinstance(v, dict):
        return any(has_non_finite(x) for x in v.values())
    if isinstance(v, (list, tuple)):
        return any(has_non_finite(x) for x in v)
    return False


def json_line(obj: Any) -> str:
    """One strict JSON object on one line (jq-parseable)."""
    return json.dumps(finite_or_none(obj), allow_nan=False, separators=(", ", ": "))


def csv_line(cells: Iterable[Any]) -> str:
    out = []
    for c in cells:
        s = fmt(c) if isinstance(c, float) or hasattr(c, "item") else str(c)
        if any(ch in s for ch in ',"\n'):
            s = '"' + s.replace('"', '""') + '"'
        out.append(s)
    return ",".join(out)


def use_color(stream: Any = None) -> bool:
    stream = sys.stdout if stream is None else stream
    if os.environ.get("NO_COLOR"):
        return False
    return bool(getattr(stream, "isatty", lambda: False)())


def console(stderr: bool = False) -> Any:
    """A rich Console that colours only a terminal and respects NO_COLOR."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    color = use_color(stream)
    # Off a terminal, tables keep their natural width instead of being cut at 80.
    width = None if getattr(stream, "isatty", lambda: False)() else 100_000
    return Console(file=stream, no_color=not color, highlight=False, width=width,
                   force_terminal=color if color else None)


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]],
          right_align_from: int = 0, caption: str | None = None) -> Any:
    """A rich Table; numbers are formatted with :func:`fmt`."""
    from rich import box
    from rich.table import Table

    t = Table(caption=caption, box=box.SIMPLE_HEAD, caption_justify="left")
    for k, c in enumerate(columns):
        t.add_column(c, justify="right" if k >= right_align_from else "left", no_wrap=True)
    for r in rows:
        t.add_row(*[fmt(c) if isinstance(c, float) else str(c) for c in r])
    if title is None:
        return t
    # The title on a line of its own: a table's own title would wrap at the table's width.
    from rich.console import Group
    from rich.text import Text

    return Group(Text(title, style="bold"), t)


class ColumnWriter:
    """Right-aligned columns written as the rows arrive.

    For streams of points, where a rich table (a fraction of a millisecond a
    row, and nothing shown before a whole chunk is laid out) would be too slow.
    The widths are those of the header and the first rows.
    """

    def __init__(self, columns: Sequence[str], first_rows: Sequence[Sequence[Any]], out: Any) -> None:
        self.out = out
        sample = first_rows[:1000]
        self.widths = [max([len(c), *(len(fmt(r[k])) for r in sample)]) for k, c in enumerate(columns)]
        out.write(self._line(columns) + "\n")
        out.write("  ".join("-" * w for w in self.widths) + "\n")

    def _line(self, cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) for c, w in zip(cells, self.widths))

    def write(self, rows: Iterable[Sequence[Any]]) -> None:
        self.out.write("".join(self._line([fmt(v) for v in r]) + "\n" for r in rows))


def print_table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]],
                right_align_from: int = 0, caption: str | None = None) -> None:
    console().print(table(title, columns, rows, right_align_from, caption))


def warn(message: str) -> None:
    """A warning on stderr (yellow on a terminal)."""
    prefix = "\x1b[33mwarning:\x1b[0m" if use_color(sys.stderr) else "warning:"
    sys.stderr.write(f"{prefix} {message}\n")
    sys.stderr.flush()


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

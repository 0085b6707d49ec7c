"""Tables that fit the terminal without losing a column or cutting a number.

Every table of the commands is laid out here (``writers.table`` calls :func:`fit`).
The rule: a table never drops a column and never cuts a number or a column's
header. When the natural layout is wider than the terminal, the next layout
that fits is taken, in this order:

1. the table as it is;
2. long text (an expression) wrapped inside its column;
3. fewer significant digits in the float cells (12, 10, 8, 6), one table;
4. the columns split into several tables that repeat the key columns (6 digits);
5. 5 and 4 significant digits, one table, then split;
6. a block per row: one line per column, header then value.

A table that must keep every digit (``full_precision``: ``grad``'s values) skips
steps 3 and 5. When digits are shortened a line under the table says so: JSON
and CSV always carry every digit. Nothing here is measured by rich's own
shrinking (which cuts cells with an ellipsis): the widths are computed, then
given to rich, which only draws.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

MIN_DIGITS = 4  # a table never shows fewer significant digits than this
_WRAP_MIN = 16  # a text column is never wrapped narrower than this (or its header)
_DIGIT_STEPS = (12, 10, 8, 6)
_LAST_STEPS = (5, 4)


def table_width(widths: Sequence[int]) -> int:
    """The width rich draws a SIMPLE_HEAD table at, with these column widths."""
    return sum(widths) + 3 * len(widths) + 1


def _is_float(v: Any) -> bool:
    return isinstance(v, float)


def cell_text(v: Any, digits: int | None) -> str:
    """A cell: a float as its shortest round-trip text, or with ``digits`` significant
    digits where that is shorter; anything else as ``str``."""
    if isinstance(v, float):
        full = repr(float(v))
        if digits is None:
            return full
        short = f"{float(v):.{digits}g}"
        # 1.0 stays 1.0: only a number that loses digits is shown shorter
        return full if float(short) == float(v) or len(short) >= len(full) else short
    return str(v)


def _wrappable(text: str) -> bool:
    # text with spaces (an expression, a sentence) may wrap; a number or a name may not
    return " " in text.strip() and len(text) > _WRAP_MIN


@dataclass
class Layout:
    """What :func:`fit` decided: the renderables, and the digits shown (None: all)."""

    parts: list[Any]
    digits: int | None
    shortened: bool
    kind: str  # "table", "wrapped", "split" or "records"


class _Cells:
    """The cells of a table as text at a number of significant digits, and their widths."""

    def __init__(self, columns: Sequence[str], rows: Sequence[Sequence[Any]], digits: int | None):
        self.columns = list(columns)
        self.text = [[cell_text(v, digits) for v in r] for r in rows]
        self.shortened = digits is not None and any(
            _is_float(v) and cell_text(v, digits) != cell_text(v, None) for r in rows for v in r)
        n = len(self.columns)
        self.natural = [len(c) for c in self.columns]
        self.least = [len(c) for c in self.columns]
        self.wraps = [False] * n
        for r in self.text:
            for k, s in enumerate(r[:n]):
                self.natural[k] = max(self.natural[k], len(s))
                if _wrappable(s):
                    self.wraps[k] = True
                    self.least[k] = max(self.least[k], _WRAP_MIN)
                else:
                    self.least[k] = max(self.least[k], len(s))

    def widths(self, keep: Sequence[int], width: int, wrap: bool) -> list[int] | None:
        """Column widths for the columns ``keep`` within ``width``, or None if they cannot fit."""
        natural = [self.natural[k] for k in keep]
        if table_width(natural) <= width:
            return natural
        if not wrap:
            return None
        least = [self.least[k] for k in keep]
        spare = width - table_width(least)
        if spare < 0:
            return None
        # the room left goes to the wrapped columns, in proportion to what they miss
        missing = [nat - lo for nat, lo in zip(natural, least)]
        total = sum(missing)
        out = list(least)
        for i, m in enumerate(missing):
            if m and total:
                out[i] += min(m, spare * m // total)
        return out


def _draw(cells: _Cells, keep: Sequence[int], widths: Sequence[int], right_align_from: int) -> Any:
    from rich import box
    from rich.table import Table

    t = Table(box=box.SIMPLE_HEAD)
    for k, w in zip(keep, widths):
        justify = "right" if k >= right_align_from else "left"
        if cells.wraps[k] and w < cells.natural[k]:
            t.add_column(cells.columns[k], justify=justify, width=w, overflow="fold")
        else:
            t.add_column(cells.columns[k], justify=justify, no_wrap=True, min_width=w)
    for r in cells.text:
        t.add_row(*[r[k] for k in keep])
    return t


def _split(cells: _Cells, keys: list[int], width: int) -> list[list[int]] | None:
    """The columns in groups that each fit with the key columns, or None; groups whose
    text need not wrap where there are such."""
    return _groups(cells, keys, width, wrap=False) or _groups(cells, keys, width, wrap=True)


def _groups(cells: _Cells, keys: list[int], width: int, wrap: bool) -> list[list[int]] | None:
    groups: list[list[int]] = []
    current: list[int] = []
    for k in range(len(cells.columns)):
        if k in keys:
            continue
        trial = keys + current + [k]
        if cells.widths(trial, width, wrap=wrap) is not None:
            current.append(k)
            continue
        if not current or cells.widths(keys + [k], width, wrap=wrap) is None:
            return None
        groups.append(keys + current)
        current = [k]
    if current or not groups:
        groups.append(keys + current)
    return groups


def _records(cells: _Cells, width: int) -> list[Any]:
    """A block per row: each column's header, then its value (wrapped where it is text);
    the value on a line of its own when header and value do not fit on one."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    label = max(len(c) for c in cells.columns)
    longest = max((len(s) for r in cells.text for s in r if not _wrappable(s)), default=0)
    parts: list[Any] = []
    for r in cells.text:
        if label + 2 + longest <= width:
            t = Table(box=box.SIMPLE, show_header=False, show_edge=False, pad_edge=False)
            t.add_column(justify="left", no_wrap=True, min_width=label)
            t.add_column(justify="right", overflow="fold", max_width=width - label - 2)
            for k, c in enumerate(cells.columns):
                t.add_row(c, r[k] if k < len(r) else "")
            parts.append(t)
        else:
            lines = []
            for k, c in enumerate(cells.columns):
                lines += [c, "  " + (r[k] if k < len(r) else "")]
            parts.append(Text("\n".join(lines) + "\n", overflow="fold"))
    return parts


def fit(columns: Sequence[str], rows: Sequence[Sequence[Any]], width: int,
        right_align_from: int = 0, caption: str | None = None,
        full_precision: bool = False) -> Layout:
    """The layout of a table that fits ``width`` columns (see the module's docstring)."""
    keys = list(range(max(1, right_align_from))) if columns else []
    keys = keys[:max(0, len(columns) - 1)]
    steps: list[tuple[int | None, str]] = [(None, "table"), (None, "wrapped")]
    if not full_precision:
        steps += [(d, "wrapped") for d in _DIGIT_STEPS]
        steps += [(_DIGIT_STEPS[-1], "split")]
        for d in _LAST_STEPS:
            steps += [(d, "wrapped"), (d, "split")]
    else:
        steps += [(None, "split")]
    by_digits: dict[int | None, _Cells] = {}
    everything = list(range(len(columns)))
    for digits, kind in steps:
        cells = by_digits.get(digits)
        if cells is None:
            cells = by_digits[digits] = _Cells(columns, rows, digits)
        if digits is not None and not cells.shortened and kind != "split":
            continue  # no float was shortened: the same table as the one already tried
        if kind == "split":
            groups = _split(cells, keys, width)
            if groups is None or len(groups) < 2:
                continue
            parts = []
            for g in groups:
                w = cells.widths(g, width, wrap=True)
                assert w is not None
                parts.append(_draw(cells, g, w, right_align_from))
            return Layout(parts + _caption(caption), digits, cells.shortened, "split")
        widths = cells.widths(everything, width, wrap=kind == "wrapped")
        if widths is not None:
            return Layout([_draw(cells, everything, widths, right_align_from),
                           *_caption(caption)], digits, cells.shortened, kind)
    digits = None if full_precision else MIN_DIGITS
    cells = by_digits.get(digits) or _Cells(columns, rows, digits)
    return Layout(_records(cells, width) + _caption(caption), digits, cells.shortened, "records")


def _caption(caption: str | None) -> list[Any]:
    # under the table, wrapped at the terminal's width (not at the table's, which may be narrow)
    if not caption:
        return []
    from rich.text import Text

    return [Text(caption)]


def shortened_note(digits: int, width: int) -> str:
    """The line under a table whose floats were shortened to fit."""
    return f"{digits} significant digits shown to fit {width} columns (all in --format json, csv)"

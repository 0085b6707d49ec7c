"""What a study's result hands the output layer: tables of cells, and how times read.

A result object knows its rows; :class:`Table` carries them with their title,
columns and caption, and the command line's writer draws it. Numbers that a
person reads are shortened here (4-6 significant digits, times in µs/ms/s);
JSON keeps full precision.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Sequence


@dataclass
class Table:
    title: str
    columns: Sequence[str]
    rows: list[Sequence[Any]]
    caption: str | None = None
    right_align_from: int = 0
    notes: list[str] = field(default_factory=list)  # lines printed under the table


def fmt(v: Any) -> str:
    """A number as the shortest text that reads back to the same float."""
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):  # text passed through from the input stays as it was ("007")
        return v
    try:
        return repr(float(v))
    except (TypeError, ValueError):
        return str(v)


def seconds(v: float | None) -> str:
    if v is None:
        return "-"
    if v < 1e-3:
        return f"{v * 1e6:,.1f} µs"
    return f"{v * 1e3:,.2f} ms" if v < 1 else f"{v:,.2f} s"


def number(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def ratio(v: float | None) -> str:
    return "-" if v is None else (f"{v:.3g}" if v < 100 else f"{v:,.0f}")


def load_average() -> float | None:
    """The machine's one-minute load average (where the system reports it)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None

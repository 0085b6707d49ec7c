"""POINT strings (``-4.499``, ``x=1,y=2``) and streams of points (CSV on stdin).

Streams are read in chunks of rows, so ten million lines never sit in memory
at once; every malformed line is reported by its line number.
"""

from __future__ import annotations

from itertools import islice
from typing import IO, Iterator, Sequence

import numpy as np

from backprop.errors import InputError

CHUNK_ROWS = 65_536


def _number(text: str, what: str) -> float:
    t = text.strip()
    try:
        return float(t)
    except ValueError:
        raise InputError(f"{what}: {text.strip()!r} is not a number") from None


def not_a_variable(names: Sequence[str], variables: Sequence[str]) -> str:
    """The one wording for names the expression does not have (callers prefix the context)."""
    known = ", ".join(variables) or "none"
    return f"{', '.join(names)} is not a variable of the expression (its variables: {known})"


def check_variables(names: Sequence[str], variables: Sequence[str], prefix: str = "") -> None:
    """Raise InputError naming every one of ``names`` that is not in ``variables``."""
    known = set(variables)  # a set: a thousand names are not a million comparisons
    bad = [n for n in names if n not in known]
    if bad:
        raise InputError(prefix + not_a_variable(bad, variables))


def parse_point_or_empty(text: str, variables: Sequence[str], what: str = "--at") -> dict[str, float]:
    """:func:`parse_point`, where an expression without variables also takes ``""`` or ``","``."""
    if not variables and text.strip() in ("", ","):
        return {}
    return parse_point(text, variables, what)


def parse_point(text: str, variables: Sequence[str], what: str = "--at") -> dict[str, float]:
    """``"-4.499"`` (one variable) or ``"x=1,y=2"``: a value for every variable."""
    text = text.strip()
    if not text:
        raise InputError(f"{what} is empty: give a number or name=value pairs such as x=1,y=2")
    if "=" not in text:
        if len(variables) != 1:
            if not variables:
                raise InputError(f"{what}: the expression has no variables, so give no point values "
                                 f"(use '{what} ,' or leave the pairs out)")
            raise InputError(f"{what}: a bare number needs an expression of one variable; "
                             f"this one has {len(variables)} ({', '.join(variables)}): write "
                             + ",".join(f"{v}=..." for v in variables))
        return {variables[0]: _number(text, what)}
    point: dict[str, float] = {}
    for pair in text.split(","):
        if not pair.strip():
            continue
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise InputError(f"{what}: {pair.strip()!r} is not a name=value pair")
        if not value.strip():
            raise InputError(f"{what}: {name}= has no value")
        if name in point:
            raise InputError(f"{what}: {name} is given twice")
        check_variables([name], variables, f"{what}: ")
        point[name] = _number(value, f"{what} {name}")
    missing = [v for v in variables if v not in point]
    if missing:
        raise InputError(f"{what}: no value for {', '.join(missing)}")
    return point


def _header(line: str, variables: Sequence[str]) -> list[str] | None:
    """The column names if ``line`` is a header, else None (a row of bare numbers)."""
    cells = [c.strip() for c in line.split(",")]
    try:
        [float(c) for c in cells]
        return None
    except ValueError:
        pass
    if any(not c for c in cells):
        raise InputError("stdin line 1: the header has an empty column name")
    dup = {c for c in cells if cells.count(c) > 1}
    if dup:
        raise InputError(f"stdin line 1: the header names {', '.join(sorted(dup))} twice")
    return cells


class _utf8_lines:
    """The stream's lines, with bytes that are not UTF-8 reported as bad input.

    A strict decoder (PYTHONIOENCODING=utf-8, a UTF-8 locale) raises
    UnicodeDecodeError mid-read; the line count is where reading stopped.
    """

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._lines = 0

    def _fail(self, exc: UnicodeDecodeError) -> InputError:
        return InputError(f"stdin near line {self._lines + 1}: the bytes are not UTF-8 text "
                          f"({exc.reason} at byte 0x{exc.object[exc.start]:02x})")

    def readline(self) -> str:
        try:
            line = self._stream.readline()
        except UnicodeDecodeError as exc:
            raise self._fail(exc) from None
        self._lines += 1
        return line

    def take(self, n: int) -> list[str]:
        """Up to ``n`` lines at once (read by the stream in C, not line by line here)."""
        lines: list[str] = []
        try:
            lines.extend(islice(self._stream, n))  # keeps what was read before an error
        except UnicodeDecodeError as exc:
            self._lines += len(lines)
            raise self._fail(exc) from None
        self._lines += len(lines)
        return lines

    def __iter__(self) -> Iterator[str]:
        try:
            for line in self._stream:  # the stream's own fast iteration
                self._lines += 1
                yield line
        except UnicodeDecodeError as exc:
            raise self._fail(exc) from None


def read_points(
    stream: IO[str], variables: Sequence[str], chunk_rows: int = CHUNK_ROWS
) -> Iterator[dict[str, np.ndarray]]:
    """Chunks of points from a text stream, as arrays per variable.

    The first line is a CSV header naming the variables (extra columns are
    ignored); with one variable it may be left out and every line is a number.
    Blank lines and a byte-order mark are tolerated; anything else malformed
    stops with the line number.
    """
    stream = _utf8_lines(stream)
    first = stream.readline()
    lineno = 1
    if first.startswith("\ufeff"):
        first = first[1:]
    while first and not first.strip():
        first = stream.readline()
        lineno += 1
    if not first:
        return
    header = _header(first, variables)
    pending: list[str] = []
    if header is None:
        if len(variables) != 1:
            raise InputError(f"stdin line {lineno}: expected a CSV header naming the variables "
                             f"({','.join(variables)}); a bare number needs an expression of one variable")
        columns = [variables[0]]
        pending.append(first)
    else:
        missing = [v for v in variables if v not in header]
        if missing:
            raise InputError(f"stdin line {lineno}: the header ({first.strip()}) has no column for "
                             f"{', '.join(missing)}")
        columns = header
    index = [columns.index(v) for v in variables]
    width = len(columns)
    lineno += 1  # the number of the next line read

    def convert(numbered: list[tuple[int, str]]) -> dict[str, np.ndarray]:
        lines = [ln for _, ln in numbered]
        try:
            if width == 1:
                data = np.array(lines, dtype=np.float64).reshape(len(lines), 1)
            else:
                data = np.array([ln.split(",") for ln in lines], dtype=np.float64)
        except ValueError:
            _raise_bad_line(numbered, width)
        if data.ndim != 2 or data.shape[1] != width:  # every row short (or long) alike
            _raise_bad_line(numbered, width)
        return {v: data[:, k] for v, k in zip(variables, index)}

    # Whole blocks of lines: numpy converts a block of one column at once; a block
    # with a blank or bad line (or of several columns) is read line by line, numbered.
    start = lineno - 1 if header is None else lineno  # the number of lines[0]
    lines = [first] if header is None else []
    while True:
        lines += stream.take(chunk_rows - len(lines))
        if not lines:
            return
        data = None
        if width == 1:
            try:
                data = np.array(lines, dtype=np.float64)
            except ValueError:
                pass
        if data is not None:
            yield {v: data for v in variables}
        else:
            numbered = [(start + k, ln) for k, ln in enumerate(lines) if ln.strip()]
            if numbered:
                yield convert(numbered)
        start += len(lines)
        lines = []


def _raise_bad_line(numbered: list[tuple[int, str]], width: int) -> None:
    for n, line in numbered:
        cells = line.split(",")
        if len(cells) != width:
            raise InputError(f"stdin line {n}: expected {width} column(s), found {len(cells)}")
        for c in cells:
            try:
                float(c)
            except ValueError:
                raise InputError(f"stdin line {n}: {c.strip()!r} is not a number") from None
    raise InputError("stdin: malformed input")

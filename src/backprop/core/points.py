"""POINT strings (``-4.499``, ``x=1,y=2``) and streams of points: the one reader
of points for every command.

A stream (stdin with ``--at -``, a file with ``--at @points.csv``) is CSV, or
JSON Lines when its first non-blank character is ``{``:

* CSV: a header naming the variables (with one variable it may be left out and
  every line is a number). Columns that are not variables (an id, a label) pass
  through to the output as text, in their order.
* JSON Lines: each object's ``"at"`` member (or the object itself when it has
  no ``"at"``) gives the point; every other member passes through as it is
  (numbers, text, nested objects). So every JSON output of ``backprop`` is
  input to the next command. ``null`` (how the writers spell nan and inf)
  reads back as nan.

Streams are read in chunks of rows, so ten million lines never sit in memory
at once; every malformed line is reported by its source and line number.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import sys
from itertools import chain, repeat
from operator import add
from typing import IO, TYPE_CHECKING, Any, Iterable, Iterator, NamedTuple, NoReturn, Sequence

from backprop.core.arrival import ArrivingLines
from backprop.errors import InputError
from backprop.lazy import numpy_on_first_use
from backprop.lines import Lines, csv_error, csv_reader, listed, shown, take

if TYPE_CHECKING:
    import numpy as np
else:
    np = numpy_on_first_use(globals())  # points typed on the command line need no arrays

CHUNK_ROWS = 65_536


def _number(text: str, what: str) -> float:
    """A number, or a constant expression (pi/4, 2^-10) evaluated by the parser and engine."""
    from backprop.core.constant import constant

    return constant(text, what)


def _pairs(text: str) -> list[str]:
    """``text`` split at the commas outside parentheses (``x=atan2(1,2),y=1``)."""
    out, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(text[start:i])
            start = i + 1
    out.append(text[start:])
    return out


def not_a_variable(names: Sequence[str], variables: Sequence[str]) -> str:
    """The one wording for names the expression does not have (callers prefix the context)."""
    known = ", ".join(variables) or "none"
    # a typo guard (y for x); a variable the text does not use is asked for with --vars
    declare = ",".join(dict.fromkeys([*variables, *names]))
    return (f"{', '.join(names)} is not a variable of the expression (its variables: {known}); "
            f"to take it as one (its partial derivative is then 0), declare it: --vars {declare}")


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
        if not _is_number(text) and os.path.isfile(text):  # a file named without its '@'
            raise InputError(f"{what} {text}: did you mean {what} @{text}? (points are read "
                             "from a file named with '@')")
        if len(variables) != 1:
            if not variables:
                raise InputError(f"{what}: the expression has no variables, so there is nothing "
                                 f"to give the value {text} to: write {what} '' (an empty point)")
            raise InputError(f"{what}: a bare number needs an expression of one variable; "
                             f"this one has {len(variables)} ({', '.join(variables)}): write "
                             + ",".join(f"{v}=..." for v in variables))
        return {variables[0]: _number(text, what)}
    point: dict[str, float] = {}
    for pair in _pairs(text):
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


# ---- streams of points ------------------------------------------------------------------

class PointChunk(dict):  # type: ignore[type-arg]
    """One chunk of points: each variable mapped to a 1-d array, one entry per row.

    ``rows`` is the number of points (also when the expression has no
    variables). ``passed`` holds, per row, the members that pass through to
    the output (name -> value: text from CSV, any JSON value from JSON Lines),
    or is None when nothing passes through; ``names`` lists the pass-through
    columns every row has (the CSV header's or the first JSON object's).
    """

    rows: int = 0
    names: tuple[str, ...] = ()
    passed: list[dict[str, Any]] | None = None


def _chunk(values: dict[str, np.ndarray], rows: int, names: Sequence[str] = (),
           passed: list[dict[str, Any]] | None = None) -> PointChunk:
    chunk = PointChunk(values)
    chunk.rows = rows
    chunk.names = tuple(names)
    chunk.passed = passed
    return chunk


class PointStream:
    """The points of ``--at`` (one or several POINTs, ``-`` for stdin, ``@FILE``).

    Iterating gives :class:`PointChunk` objects. ``names`` are the pass-through
    columns (known before the first chunk, so a CSV header can be written);
    ``single`` is the point when exactly one POINT was given on the command
    line; ``given`` every POINT given there (None for a stream); ``streaming``
    is true for stdin and files.
    """

    def __init__(self, chunks: Iterable[PointChunk], names: Sequence[str] = (),
                 single: dict[str, float] | None = None, streaming: bool = False,
                 given: list[dict[str, float]] | None = None) -> None:
        self._chunks = chunks
        self.names = list(names)
        self.single = single
        self.streaming = streaming
        self.given = given

    def __iter__(self) -> Iterator[PointChunk]:
        return iter(self._chunks)


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _repeated(names: Sequence[str]) -> set[str]:
    """The names that occur more than once (one pass: a header may have 100,000)."""
    seen: set[str] = set()
    return {n for n in names if n in seen or seen.add(n)}  # type: ignore[func-returns-value]


def _header(cells: list[str], source: str, lineno: int) -> list[str] | None:
    """The column names if ``cells`` are a header, else None (a row of bare numbers)."""
    cells = [c.strip() for c in cells]
    if all(_is_number(c) for c in cells):
        return None
    if any(not c for c in cells):
        raise InputError(f"{source} line {lineno}: the header has an empty column name")
    dup = _repeated(cells)
    if dup:
        raise InputError(f"{source} line {lineno}: the header names {listed(sorted(dup))} twice")
    return cells


class Numbered(NamedTuple):
    """A chunk's non-blank lines and their line numbers (for messages)."""

    texts: list[str]
    numbers: Sequence[int]

    def pairs(self) -> list[tuple[int, str]]:
        return list(zip(self.numbers, self.texts))


def _numbered(lines: Iterable[str], first: int, chunk_rows: int) -> Iterator[Numbered]:
    """The non-blank lines, ``chunk_rows`` lines at a time, with their line numbers."""
    it = iter(lines)
    lineno = first
    while True:
        batch = take(it, chunk_rows)  # in C batches: no Python step per line
        if not batch:
            return
        if all(map(str.strip, batch)):  # no blank line: the usual case
            yield Numbered(batch, range(lineno, lineno + len(batch)))
        else:
            kept = [(lineno + i, ln) for i, ln in enumerate(batch) if ln.strip()]
            if kept:
                yield Numbered([ln for _, ln in kept], [n for n, _ in kept])
        lineno += len(batch)


def _numbered_lines(pending: list[str], lines: Iterable[str], first: int,
                    chunk_rows: int) -> Iterator[Numbered]:
    """:func:`_numbered` over ``pending`` then ``lines``; lines that arrive from a pipe come
    in the batches they arrived in (each answered before the next is waited for)."""
    if not isinstance(lines, ArrivingLines):
        yield from _numbered(chain(pending, lines), first, chunk_rows)
        return
    lines.unread(pending)  # answered with the lines that follow, or alone if none come soon
    lineno = first
    for batch in lines.batches():
        yield from _numbered(batch, lineno, len(batch))
        lineno += len(batch)


def read_points(stream: IO[str], variables: Sequence[str], chunk_rows: int = CHUNK_ROWS,
                source: str = "stdin") -> PointStream:
    """The points of a text stream (CSV or JSON Lines), in chunks of arrays per variable.

    The first non-blank line is read at once (it says the format and the
    pass-through columns); the rest as the chunks are taken. Blank lines and a
    byte-order mark are tolerated; anything else malformed stops with
    ``source`` and the line number.
    """
    # a pipe is read as its lines arrive (core/arrival.py); a file, or a test's buffer, as text
    lines: Lines | ArrivingLines = (ArrivingLines.of(stream, chunk_rows, source)
                                          or Lines(stream, source))
    if isinstance(lines, ArrivingLines) and not lines.ready():
        np.float64  # numpy imported while the producer is still silent, not at its first line
    first = lines.readline()
    lineno = 1
    if first.startswith("\ufeff"):
        first = first[1:]
    while first and not first.strip():
        first = lines.readline()
        lineno += 1
    if not first:
        return PointStream([], streaming=True)
    if first.lstrip().startswith("{"):
        return _json_lines(first, lineno, lines, variables, chunk_rows, source)
    return _csv(first, lineno, lines, variables, chunk_rows, source)


def _csv(first: str, lineno: int, lines: Iterable[str], variables: Sequence[str],
         chunk_rows: int, source: str) -> PointStream:
    try:
        header = _header(next(csv_reader([first])), source, lineno)
    except csv.Error as exc:
        raise csv_error(source, lineno, exc) from None
    if header is None:
        if len(variables) != 1:
            raise InputError(f"{source} line {lineno}: expected a CSV header naming the variables "
                             f"({','.join(variables)}); a bare number needs an expression of one "
                             "variable")
        columns = [variables[0]]
    else:
        present = set(header)
        missing = [v for v in variables if v not in present]
        if missing:
            head = first.strip()
            head = head if len(head) <= 200 else f"{head[:200]}... ({len(header):,} columns)"
            raise InputError(f"{source} line {lineno}: the header ({head}) has no column "
                             f"for {', '.join(missing)}")
        columns = header
    position = {c: k for k, c in enumerate(columns)}  # not columns.index: linear, not quadratic
    index = [position[v] for v in variables]
    known = set(variables)
    extra = [c for c in columns if c not in known]
    extra_index = [position[c] for c in extra]
    width = len(columns)

    def fast(numbered: Numbered) -> PointChunk:
        # every column a number: numpy converts the split lines in one call
        text = numbered.texts
        try:
            if width == 1:
                data = np.array(text, dtype=np.float64).reshape(len(text), 1)
            else:
                data = np.array([ln.split(",") for ln in text], dtype=np.float64)
        except ValueError:
            _raise_bad_line([(n, ln.split(",")) for n, ln in numbered.pairs()], width,
                            range(width), source)
        if data.ndim != 2 or data.shape[1] != width:  # every row short (or long) alike
            _raise_bad_line([(n, ln.split(",")) for n, ln in numbered.pairs()], width,
                            range(width), source)
        return _chunk({v: data[:, k] for v, k in zip(variables, index)}, len(text))

    def with_text(numbered: Numbered) -> PointChunk:
        # text columns pass through: the csv module splits (quoted cells may hold commas)
        try:
            rows = list(csv_reader(numbered.texts))
        except csv.Error as exc:
            _raise_csv_error(numbered, source, exc)
        try:
            data = np.array([[r[k] for k in index] for r in rows], dtype=np.float64)
            if any(len(r) != width for r in rows):
                raise ValueError
        except (ValueError, IndexError):
            _raise_bad_line(list(zip(numbered.numbers, rows)), width, index, source)
        data = data.reshape(len(rows), len(index))
        passed = [dict(zip(extra, [r[k] for k in extra_index])) for r in rows]
        return _chunk({v: data[:, j] for j, v in enumerate(variables)}, len(rows), extra, passed)

    convert = with_text if extra else fast

    def chunks() -> Iterator[PointChunk]:
        pending = [first] if header is None else []
        start = lineno if header is None else lineno + 1
        for numbered in _numbered_lines(pending, lines, start, chunk_rows):
            yield convert(numbered)

    return PointStream(chunks(), extra, streaming=True)


def _raise_csv_error(numbered: Numbered, source: str, exc: csv.Error) -> NoReturn:
    """The csv module's error (a stray carriage return, a cell over the limit) at its line."""
    for n, text in numbered.pairs():
        try:
            list(csv_reader([text]))
        except csv.Error as line_exc:
            raise csv_error(source, n, line_exc) from None
    raise csv_error(source, numbered.numbers[0], exc) from None


def _raise_bad_line(numbered: list[tuple[int, list[str]]], width: int, numeric: Iterable[int],
                    source: str) -> None:
    numeric = list(numeric)
    for n, cells in numbered:
        if len(cells) != width:
            raise InputError(f"{source} line {n}: expected {width} column(s), found {len(cells)}")
        for k in numeric:
            if not _is_number(cells[k]):
                raise InputError(f"{source} line {n}: {shown(cells[k].strip())} is not a number")
    raise InputError(f"{source}: malformed input")


MAX_JSON_DEPTH = 100  # arrays and objects inside each other in one line of JSON


def _nested_too_deep(text: str) -> bool:
    """More than MAX_JSON_DEPTH arrays and objects open at once (outside strings)?

    The writers walk a passed-through value recursively, as json does: a
    value nested near Python's recursion limit would be read, then fail there.
    """
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return False  # the usual case, decided in C
    depth = deepest = 0
    for bracket in _BRACKETS.findall(_JSON_STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
    return deepest > MAX_JSON_DEPTH


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKETS = re.compile(r"[\[\]{}]")


def _check_depth(texts: Sequence[str], numbers: Sequence[int], source: str) -> None:
    """An InputError at the first line of ``texts`` nested more than MAX_JSON_DEPTH deep."""
    counts = map(add, map(str.count, texts, repeat("[")), map(str.count, texts, repeat("{")))
    if max(counts, default=0) <= MAX_JSON_DEPTH:  # in C, a whole chunk at once
        return
    for n, text in zip(numbers, texts):
        if _nested_too_deep(text):
            raise _too_deep(f"{source} line {n}")


def _too_deep(where: str) -> InputError:
    return InputError(f"{where}: JSON nested more than {MAX_JSON_DEPTH} levels deep (the limit)")


def json_value(text: str, where: str) -> Any:
    """One line of JSON, or an InputError naming ``where`` (never a RecursionError or the like)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
    except RecursionError:
        raise _too_deep(where) from None
    except ValueError:  # an integer of more digits than int() converts
        raise InputError(f"{where}: a number has more than {sys.get_int_max_str_digits():,} "
                         "digits (the limit for a number)") from None
    if _nested_too_deep(text):
        raise _too_deep(where)
    return value


def _json_number(v: Any, where: str) -> float:
    if v is None:  # the writers' spelling of nan and inf
        return float("nan")
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise InputError(f"{where} is {json.dumps(v)}, not a number")
    try:
        x = float(v)
    except OverflowError:
        x = math.inf
    if not math.isfinite(x):
        # 1e999 (or NaN, Infinity: not strict JSON) would be taken as inf or nan silently
        raise InputError(f"{where} is {json.dumps(v) if isinstance(v, float) else 'a huge integer'}"
                         ", not a finite float64 (the writers' null stands for nan and inf)")
    return x


def _json_point(obj: Any, variables: Sequence[str], where: str) -> tuple[list[float], dict[str, Any]]:
    """The point's values (in the order of ``variables``) and the members that pass through."""
    if not isinstance(obj, dict):
        raise InputError(f"{where}: expected a JSON object such as {{\"x\": 1}}, "
                         f"found {type(obj).__name__ if obj is not None else 'null'}")
    if "at" in obj:
        at = obj["at"]
        rest = {k: v for k, v in obj.items() if k != "at"}
        if not isinstance(at, dict):
            if len(variables) == 1 and (at is None or isinstance(at, (int, float))):
                at = {variables[0]: at}
            else:
                raise InputError(f"{where}: \"at\" must be an object naming the variables, such "
                                 "as {\"at\": {" + ", ".join(f'"{v}": 1' for v in variables) + "}}")
        # members of "at" that are not variables (from an expression with more of them)
        # pass through too, under their own names
        extra_at = {k: v for k, v in at.items() if k not in variables}
        clash = sorted(set(extra_at) & set(rest))
        if clash:
            raise InputError(f"{where}: {', '.join(clash)} is both in \"at\" and beside it")
        passed = {**extra_at, **rest} if extra_at else rest
        point = at
    else:
        point = obj
        passed = {k: v for k, v in obj.items() if k not in variables}
    missing = [v for v in variables if v not in point]
    if missing:
        raise InputError(f"{where}: no value for {', '.join(missing)}")
    return [_json_number(point[v], f"{where}: {v}") for v in variables], passed


# an integer literal orjson may read as a float (beyond 64 bits: from 19 digits on, below
# -2**63), where json keeps an int; a float's repr has at most 17 digits in a row
_LONG_DIGITS = re.compile(r"\d{19}")


def _loads_array(text: str) -> list[Any]:
    """``json.loads(text)`` of a JSON array, by orjson (about twice the speed) where it reads
    the same objects; json's own errors otherwise (orjson refuses what json takes and then
    rejects here: NaN, 1e400, lone surrogates)."""
    if _LONG_DIGITS.search(text) is None:
        try:
            import orjson

            return orjson.loads(text)  # type: ignore[no-any-return]
        except (ImportError, ValueError):
            pass
    return json.loads(text)  # type: ignore[no-any-return]


def _json_columns(objs: list[Any], variables: Sequence[str]
                  ) -> tuple[list[np.ndarray], list[dict[str, Any]] | None] | None:
    """The variables' columns and the pass-through members of a chunk of JSON objects, a
    column at a time, where every object is plain: no "at" (or an "at" of exactly the
    variables) and a finite number for each variable. None for anything else, which
    :func:`_json_point` then takes object by object (and reports). The members are None
    where no object has any."""
    if not objs or set(map(type, objs)) != {dict}:
        return None
    with_at = ["at" in o for o in objs]
    if any(with_at):
        if not all(with_at):
            return None
        points = [o["at"] for o in objs]
        if set(map(type, points)) != {dict} or set(map(len, points)) != {len(variables)}:
            return None
    else:
        points = objs
    arrays = []
    for v in variables:
        try:
            values = [p[v] for p in points]
        except KeyError:
            return None
        if not set(map(type, values)) <= {int, float}:  # null, true, text: one by one
            return None
        try:
            column = np.array(values, dtype=np.float64)
        except (OverflowError, ValueError):
            return None
        if not np.isfinite(column).all():
            return None
        arrays.append(column)
    if points is not objs:
        rest = [{k: x for k, x in o.items() if k != "at"} for o in objs]
    elif set(map(len, objs)) == {len(variables)}:
        return arrays, None  # the variables, and nothing else
    else:
        known = set(variables)
        rest = [{k: x for k, x in o.items() if k not in known} for o in objs]
    return arrays, rest


def _json_lines(first: str, lineno: int, lines: Iterable[str], variables: Sequence[str],
                chunk_rows: int, source: str) -> PointStream:
    def parse(numbered: list[tuple[int, str]]) -> list[Any]:
        # one call of the C parser per chunk; line by line only to find a bad line
        try:
            objs = _loads_array("[" + ",".join(ln for _, ln in numbered) + "]")
            if len(objs) == len(numbered):
                _check_depth([ln for _, ln in numbered], [n for n, _ in numbered], source)
                return objs  # type: ignore[no-any-return]
        except (ValueError, RecursionError):
            pass
        # columns counted on the line
        return [json_value(ln.rstrip("\r\n"), f"{source} line {n}") for n, ln in numbered]

    first_obj = parse([(lineno, first)])[0]
    _, first_passed = _json_point(first_obj, variables, f"{source} line {lineno}")
    names = list(first_passed)

    def convert(chunk: Numbered) -> PointChunk:
        numbered = chunk.pairs()
        objs = parse(numbered)
        columns = _json_columns(objs, variables)
        if columns is not None:  # the usual objects, taken a column at a time
            arrays, keep = columns
            if keep is None:
                keep = [{} for _ in objs] if names else None
            elif not names and not any(keep):
                keep = None
            return _chunk(dict(zip(variables, arrays)), len(objs), names, keep)
        values: list[list[float]] = []
        passed: list[dict[str, Any]] = []
        for (n, _), obj in zip(numbered, objs):
            point, rest = _json_point(obj, variables, f"{source} line {n}")
            values.append(point)
            passed.append(rest)
        data = np.array(values, dtype=np.float64).reshape(len(values), len(variables))
        keep = passed if names or any(passed) else None
        return _chunk({v: data[:, k] for k, v in enumerate(variables)}, len(values), names, keep)

    def chunks() -> Iterator[PointChunk]:
        for numbered in _numbered_lines([first], lines, lineno, chunk_rows):
            yield convert(numbered)

    return PointStream(chunks(), names, streaming=True)


def open_points(texts: Sequence[str], variables: Sequence[str], stdin: IO[str],
                chunk_rows: int = CHUNK_ROWS, what: str = "--at",
                parse: Any = None) -> PointStream:
    """The points of a repeatable POINT option: ``-`` (stdin), ``@FILE``, or POINTs.

    Several POINTs give one row each, in order. ``-`` and ``@FILE`` read a
    whole stream (CSV or JSON Lines, see the module's docstring) and must be
    the option's only value. ``parse`` turns one POINT into a dict (default
    :func:`parse_point_or_empty`).
    """
    texts = [t.strip() for t in texts]
    streams = [t for t in texts if t == "-" or t.startswith("@")]
    if streams:
        if len(texts) > 1:
            raise InputError(f"{what} {streams[0]} reads every point from "
                             f"{'stdin' if streams[0] == '-' else 'the file'}: give it as the only "
                             f"{what}")
        if texts[0] == "-":
            return read_points(stdin, variables, chunk_rows, "stdin")
        return _read_file(texts[0][1:], variables, chunk_rows, what)
    if parse is None:
        def parse(text: str) -> dict[str, float]:
            return parse_point_or_empty(text, variables, what)
    points = [parse(t) for t in texts]

    def chunks() -> Iterator[PointChunk]:  # arrays only for a caller that iterates
        yield _chunk({v: np.array([p[v] for p in points], dtype=np.float64) for v in variables},
                     len(points))

    return PointStream(chunks(), single=points[0] if len(points) == 1 else None, given=points)


def _read_file(path: str, variables: Sequence[str], chunk_rows: int, what: str) -> PointStream:
    if not path:
        raise InputError(f"{what} @: name a file after the @, e.g. {what} @points.csv")
    from backprop.core.parquet import is_parquet, parquet_points

    if is_parquet(path):  # columns of numbers, read a batch of rows at a time (pyarrow)
        extra, batches = parquet_points(path, variables, chunk_rows, what)
        return PointStream((_chunk(values, rows, extra, passed) for values, rows, passed in batches),
                           extra, streaming=True)
    try:
        handle = open(path, encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{what} @{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{what} @{path}: is a directory, not a file of points") from None
    except OSError as exc:
        raise InputError(f"{what} @{path}: cannot be read ({exc.strerror})") from None
    try:
        inner = read_points(handle, variables, chunk_rows, path)
    except BaseException:
        handle.close()
        raise

    def chunks() -> Iterator[PointChunk]:
        with handle:
            yield from inner

    return PointStream(chunks(), inner.names, streaming=True)


# ---- JSON Lines for readers of CSV rows ----------------------------------------------------

def _csv_text(v: Any, in_at: bool) -> str:
    if v is None:
        return "nan" if in_at else ""  # null is how the writers spell nan and inf
    if isinstance(v, bool) or isinstance(v, (dict, list)):
        return json.dumps(v, separators=(",", ":"))
    if isinstance(v, float):
        return repr(v)
    return str(v)


def _flatten(obj: Any, where: str) -> dict[str, tuple[Any, bool]]:
    """An object's members in order, ``"at"``'s members in its place: name -> (value, in_at)."""
    if not isinstance(obj, dict):
        raise InputError(f"{where}: expected a JSON object such as {{\"x\": 1}}, "
                         f"found {type(obj).__name__ if obj is not None else 'null'}")
    out: dict[str, tuple[Any, bool]] = {}
    for k, v in obj.items():
        if k == "at" and isinstance(v, dict):
            for name, x in v.items():
                if name in obj and name != "at":
                    raise InputError(f"{where}: {name} is both in \"at\" and beside it")
                out[name] = (x, True)
        else:
            out[k] = (v, False)
    return out


def csv_lines(stream: IO[str], source: str = "stdin", delimiter: str = ",") -> Iterator[str]:
    """The stream's lines as CSV text, for readers of rows of cells (``predict``, ``evaluate``).

    A CSV stream comes back as it is. A JSON Lines stream (first non-blank
    character ``{``) becomes a header (the first object's members, those of
    ``"at"`` in its place) and one CSV line per object, nested values as JSON
    text: one line out per line in, so line numbers stay right. Members that
    only later objects have cannot become columns: a warning names them.
    """
    lead: list[str] = []
    while True:
        line = stream.readline()
        lead.append(line)
        if not line or line.strip():
            break
    first = lead[-1]
    if not first.lstrip("\ufeff").lstrip().startswith("{"):
        return chain(lead, stream)
    return _json_as_csv(lead, stream, source, delimiter)


def _json_as_csv(lead: list[str], rest: Iterable[str], source: str,
                 delimiter: str) -> Iterator[str]:
    import io

    def line_of(cells: list[str]) -> str:
        buf = io.StringIO()
        csv.writer(buf, delimiter=delimiter, lineterminator="\n").writerow(cells)
        return buf.getvalue()

    def parse(line: str, n: int) -> dict[str, tuple[Any, bool]]:
        where = f"{source} line {n}"
        return _flatten(json_value(line.lstrip("\ufeff").rstrip("\r\n"), where), where)

    lineno = len(lead)
    first = parse(lead[-1], lineno)
    names = list(first)
    yield from ("\n" for _ in lead[:-1])
    yield line_of(names)
    yield line_of([_csv_text(v, a) for v, a in first.values()])
    left_out: dict[str, None] = {}
    for line in rest:
        lineno += 1
        if not line.strip():
            yield "\n"
            continue
        row = parse(line, lineno)
        new = [k for k in row if k not in first and k not in left_out]
        if new:
            left_out.update(dict.fromkeys(new))
            sys.stderr.write(f"warning: {source} line {lineno}: {', '.join(new)} not in the first "
                             "line, so not a column: left out\n")
        yield line_of([_csv_text(*row[k]) if k in row else "" for k in names])

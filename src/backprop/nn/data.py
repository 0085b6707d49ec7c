"""The data: a CSV file (or stdin) or a synthetic function, split and standardised.

A CSV is read by the standard ``csv`` module (quoting, a chosen delimiter);
only the columns the model uses are parsed, so other columns may hold
anything. Those columns must be complete: a missing, empty or non-numeric
cell stops with the file, the line and the column; no row is ever dropped
silently. Class labels are text, kept as written (stripped).
"""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterator, Sequence

import numpy as np

from backprop.core.arrival import ArrivingLines
from backprop.errors import InputError
from backprop.nn.config import DataConfig, SyntheticConfig
from backprop.nn.layers import Array

CHUNK_ROWS = 65_536  # rows parsed at a time when a file is streamed (predict)


@dataclass
class Dataset:
    X: Array  # (N, D) raw inputs
    Y: Array  # (N, K) raw targets: floats, or label strings (K = 1) for classification
    input_names: list[str]
    target_names: list[str]
    source: str


class CsvSource:
    """A CSV file (or ``-``: stdin) opened for reading, with its name for messages."""

    def __init__(self, path: str | Path, delimiter: str = ",", key: str = "data.csv") -> None:
        self.name = "stdin" if str(path) == "-" else str(path)
        self.delimiter = delimiter
        # a pipe's rows are answered as they arrive (core/arrival.py): set by stream_rows
        self._arriving: ArrivingLines | None = None
        if str(path) == "-":
            self._file: IO[str] | None = None
            self.stream: IO[str] = sys.stdin
            return
        p = Path(path)
        try:
            self._file = p.open(newline="", encoding="utf-8-sig")
        except FileNotFoundError:
            raise InputError(f"{key}: no such file: {p}") from None
        except IsADirectoryError:
            raise InputError(f"{key}: {p} is a folder, not a CSV file") from None
        except OSError as exc:
            raise InputError(f"{key}: cannot read {p} ({exc.strerror})") from None
        self.stream = self._file

    def arriving(self, chunk_rows: int = CHUNK_ROWS) -> None:
        """Read stdin from a pipe as its lines arrive: :meth:`chunks` then ends a chunk where
        the producer paused, so each row is answered without waiting for a full chunk.
        Before :meth:`header`."""
        if self._file is None:
            lines = ArrivingLines.of(self.stream, chunk_rows, self.name)
            if lines is not None:
                self._arriving = lines
                self.stream = lines  # type: ignore[assignment]

    def __enter__(self) -> "CsvSource":
        return self

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            self._file.close()

    def _fail(self, line: int, exc: Exception) -> InputError:
        if isinstance(exc, UnicodeDecodeError):
            return InputError(f"{self.name} near line {line}: the bytes are not UTF-8 text "
                              f"({exc.reason})")
        return InputError(f"{self.name} line {line}: not a readable CSV ({exc})")

    def header(self, allow_empty: bool = False) -> list[str]:
        """The column names (``[]`` for an empty stream when ``allow_empty``)."""
        from backprop.core.points import csv_lines

        try:
            # JSON Lines (backprop's own --format json) become CSV rows, line for line
            self.stream = csv_lines(self.stream, self.name, self.delimiter)  # type: ignore[assignment]
        except UnicodeDecodeError as exc:
            raise self._fail(1, exc) from None
        self.reader = csv.reader(self.stream, delimiter=self.delimiter)
        try:
            first = next(self.reader, None)
            while first is not None and not any(c.strip() for c in first):
                first = next(self.reader, None)  # blank lines before the header
        except (csv.Error, UnicodeDecodeError) as exc:
            raise self._fail(self.reader.line_num + 1, exc) from None
        if not first:
            if allow_empty:
                self.columns = []
                return []
            raise InputError(f"{self.name}: empty file; expected a header line naming the columns")
        names = [h.strip().lstrip("\ufeff") for h in first]
        line = self.reader.line_num
        if any(not h for h in names):
            raise InputError(f"{self.name} line {line}: the header has an empty column name")
        dup = sorted({h for h in names if names.count(h) > 1})
        if dup:
            raise InputError(f"{self.name} line {line}: the header names {', '.join(dup)} "
                             "more than once")
        self.columns = names
        return names

    def chunks(self, chunk_rows: int = CHUNK_ROWS) -> Iterator[tuple[list[list[str]], list[int]]]:
        """The rows after the header, a chunk at a time, with each row's line number."""
        width = len(self.columns)
        rows: list[list[str]] = []
        lines: list[int] = []
        reader = self.reader
        arriving = self._arriving
        try:
            for row in reader:
                if len(row) != width:
                    if not row or (len(row) == 1 and not row[0].strip()):
                        if rows and arriving is not None and arriving.cut:
                            yield rows, lines  # the producer paused after a blank line
                            rows, lines = [], []
                        continue  # a blank line is not a row
                    raise InputError(f"{self.name} line {reader.line_num}: expected {width} "
                                     f"cells, found {len(row)}")
                rows.append(row)
                lines.append(reader.line_num)
                if len(rows) >= chunk_rows or (arriving is not None and arriving.cut):
                    yield rows, lines
                    rows, lines = [], []
        except (csv.Error, UnicodeDecodeError) as exc:
            raise self._fail(reader.line_num + 1, exc) from None
        if rows:
            yield rows, lines


def open_rows(path: str | Path, delimiter: str = ",", key: str = "data.csv") -> CsvSource:
    """The rows of a CSV file (or ``-``: stdin), or of a Parquet file (``.parquet``: the
    extra ``parquet``), as text cells."""
    from backprop.core.parquet import ParquetRows, is_parquet

    if str(path) != "-" and is_parquet(path):
        return ParquetRows(path, key)  # type: ignore[return-value]
    return CsvSource(path, delimiter, key)


def numbers(source: str, rows: list[list[str]], lines: list[int], columns: Sequence[str],
            index: Sequence[int], hint: str = "", finite: bool = True) -> Array:
    """(N, len(index)) floats from the named cells; the first bad cell stops with its line.

    ``finite=False`` lets nan and inf through (predict: their prediction is nan).
    """
    out = np.empty((len(rows), len(index)))
    for k, (name, j) in enumerate(zip(columns, index)):
        texts = [r[j] for r in rows]
        try:
            col = np.array(texts, dtype=np.float64)
        except ValueError:
            col = None
        if col is None or (finite and not np.all(np.isfinite(col))):
            for line, text in zip(lines, texts):
                t = text.strip()
                if not t:
                    raise InputError(f"{source} line {line}, column {name}: empty cell")
                try:
                    v = float(t)
                except ValueError:
                    raise InputError(f"{source} line {line}, column {name}: {t!r} is not a "
                                     f"number{hint}") from None
                if not np.isfinite(v):
                    raise InputError(f"{source} line {line}, column {name}: {t!r} is missing or "
                                     "infinite; every cell must be a finite number")
        out[:, k] = col
    return out


def labels(source: str, rows: list[list[str]], lines: list[int], name: str, j: int) -> Array:
    """(N, 1) label strings from one column; an empty cell stops with its line."""
    texts = [r[j].strip() for r in rows]
    for line, t in zip(lines, texts):
        if not t:
            raise InputError(f"{source} line {line}, column {name}: empty cell (no class label)")
    return np.array(texts, dtype=object)[:, None]


def find_columns(source: str, header: Sequence[str], wanted: Sequence[str], key: str) -> list[int]:
    missing = [c for c in wanted if c not in header]
    if missing:
        raise InputError(f"{key}: {source} has no column {', '.join(missing)} "
                         f"(its columns: {', '.join(header)})")
    return [list(header).index(c) for c in wanted]


def load_csv(path: str | Path, targets: Sequence[str], inputs: Sequence[str] | None = None,
             key: str = "data", delimiter: str = ",", classification: bool = False,
             min_rows: int = 2, hint: str = "") -> Dataset:
    """Every row of a CSV with a header (``-``: stdin); ``inputs`` default to every non-target column.

    Only the input and target columns are parsed.
    """
    with open_rows(path, delimiter, f"{key}.csv") as src:
        header = src.header()
        name = src.name
        t_index = find_columns(name, header, targets, f"{key}.target")
        if inputs is None:
            inputs = [h for h in header if h not in targets]
        else:
            both = [c for c in inputs if c in targets]
            if both:
                raise InputError(f"{key}.inputs: {', '.join(both)} is also a target")
        if not inputs:
            raise InputError(f"{key}: {name} has no input columns besides the target")
        x_index = find_columns(name, header, inputs, f"{key}.inputs")
        xs, ys = [], []
        for rows, lines in src.chunks():
            xs.append(numbers(name, rows, lines, inputs, x_index))
            ys.append(labels(name, rows, lines, targets[0], t_index[0]) if classification
                      else numbers(name, rows, lines, targets, t_index, hint))
    n = sum(len(x) for x in xs)
    if n < min_rows:
        raise InputError(f"{name}: {n} data row(s); {'training' if min_rows > 1 else 'this'} "
                         f"needs at least {min_rows}")
    X = np.concatenate(xs) if xs else np.empty((0, len(inputs)))
    Y = np.concatenate(ys) if ys else np.empty((0, len(targets)))
    return Dataset(X, Y, list(inputs), list(targets), name)


def synthetic(cfg: SyntheticConfig, seed: int, target: str = "y", key: str = "data.synthetic") -> Dataset:
    """n points uniform in the ranges, y = expr(x) + noise * N(0, 1)."""
    from backprop.errors import ExpressionError
    from backprop.core.function import parse

    try:
        f = parse(cfg.expr)
    except ExpressionError as exc:
        raise InputError(f"{key}.expr: {exc}") from None
    names = list(f.variables)
    if target in names:
        raise InputError(f"data.target: {target} is also an input (a variable of the expression "
                         f"{cfg.expr!r}); give the target another name")
    if not names:
        raise InputError(f"{key}.expr: {cfg.expr!r} has no variables; a regression needs inputs")
    missing = [v for v in names if v not in cfg.ranges]
    if missing:
        raise InputError(f"{key}.ranges: no range for {', '.join(missing)} "
                         f"(give one per variable of the expression: {', '.join(names)})")
    extra = [v for v in cfg.ranges if v not in names]
    if extra:
        raise InputError(f"{key}.ranges: {', '.join(extra)} is not a variable of the expression "
                         f"(its variables: {', '.join(names)})")
    rng = np.random.default_rng(cfg.seed if cfg.seed is not None else seed)
    columns = {v: rng.uniform(*cfg.ranges[v], size=cfg.n) for v in names}
    with np.errstate(all="ignore"):
        y = np.broadcast_to(np.asarray(f(**columns), dtype=np.float64), (cfg.n,)).copy()
    bad = ~np.isfinite(y)
    if bad.any():
        i = int(np.argmax(bad))
        at = ", ".join(f"{v}={float(columns[v][i])!r}" for v in names)
        raise InputError(f"{key}.expr: not finite at {at} ({int(bad.sum())} of {cfg.n} points); "
                         "narrow the ranges to the expression's domain")
    with np.errstate(over="ignore"):  # checked just below
        y += cfg.noise * rng.standard_normal(cfg.n)
    if not np.all(np.isfinite(y)):
        raise InputError(f"{key}.noise: {cfg.noise!r} is so large that the targets overflow")
    X = np.column_stack([columns[v] for v in names])
    return Dataset(X, y[:, None], names, [target], f"synthetic: {cfg.expr}")


def load(cfg: DataConfig, base: Path, seed: int, classification: bool = False) -> Dataset:
    """The data a config names; a relative csv path is relative to ``base`` (the config's folder)."""
    if cfg.csv is not None:
        path = Path(cfg.csv)
        return load_csv(path if path.is_absolute() else base / path, cfg.targets, cfg.inputs,
                        delimiter=cfg.delimiter, classification=classification,
                        hint="" if classification else " (for class labels, set task: classification)")
    assert cfg.synthetic is not None
    if len(cfg.targets) != 1:
        raise InputError("data.target: synthetic data has one target; give one name")
    return synthetic(cfg.synthetic, seed, cfg.targets[0])


def split(n: int, validation_split: float, rng: np.random.Generator) -> tuple[Array, Array]:
    """Shuffled row indices for training and validation."""
    order = rng.permutation(n)
    n_val = int(round(validation_split * n))
    if validation_split > 0:
        n_val = max(n_val, 1)
    if n - n_val < 1:
        raise InputError(f"data.validation_split: {validation_split} leaves no rows to train on "
                         f"({n} rows)")
    return np.sort(order[n_val:]), np.sort(order[:n_val])

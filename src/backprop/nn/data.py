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
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import IO, Iterator, Sequence

import numpy as np

from backprop.core.arrival import ArrivingLines
from backprop.errors import BackpropError, InputError
from backprop.lines import CHUNK_CHARS, Lines, csv_error, csv_reader, listed, shown
from backprop.nn.config import DataConfig, SyntheticConfig
from backprop.nn.encoding import Encoding
from backprop.nn.layers import Array

CHUNK_ROWS = 65_536  # rows parsed at a time when a file is streamed (predict)


@dataclass
class Dataset:
    X: Array  # (N, D) raw inputs
    Y: Array  # (N, K) raw targets: floats, or label strings (K = 1) for classification
    input_names: list[str]
    target_names: list[str]
    source: str
    encoding: Encoding | None = None  # set when a column is one-hot encoded
    notes: list[str] = field(default_factory=list)  # for stderr: columns chosen, delimiter found


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

    def _fail(self, exc: csv.Error) -> InputError:
        # line_num is the line the reader was on when it failed (a too-long cell, a stray \r)
        return csv_error(self.name, self.reader.line_num, exc)

    def header(self, allow_empty: bool = False) -> list[str]:
        """The column names (``[]`` for an empty stream when ``allow_empty``)."""
        from backprop.core.points import csv_lines

        # every line at most MAX_LINE characters: /dev/zero is an error, not all the memory;
        # JSON Lines (backprop's own --format json) become CSV rows, line for line
        # (a pipe read as it arrives holds its lines to the same limit: core/arrival.py)
        lines = self.stream if self._arriving is not None else Lines(self.stream, self.name)
        self.stream = csv_lines(lines, self.name, self.delimiter)  # type: ignore[arg-type,assignment]
        self.reader = csv_reader(self.stream, delimiter=self.delimiter)
        try:
            first = next(self.reader, None)
            while first is not None and not any(c.strip() for c in first):
                first = next(self.reader, None)  # blank lines before the header
        except csv.Error as exc:
            raise self._fail(exc) from None
        if not first:
            if allow_empty:
                self.columns = []
                return []
            raise InputError(f"{self.name}: empty file; expected a header line naming the columns")
        names = [h.strip().lstrip("\ufeff") for h in first]
        line = self.reader.line_num
        if any(not h for h in names):
            raise InputError(f"{self.name} line {line}: the header has an empty column name")
        seen: set[str] = set()
        dup = sorted({h for h in names if h in seen or seen.add(h)})  # type: ignore[func-returns-value]
        if dup:
            raise InputError(f"{self.name} line {line}: the header names {listed(dup)} "
                             "more than once")
        self.columns = names
        return names

    def chunks(self, chunk_rows: int = CHUNK_ROWS) -> Iterator[tuple[list[list[str]], list[int]]]:
        """The rows after the header, a chunk at a time, with each row's line number.

        A chunk ends after ``chunk_rows`` rows, or once its cells hold CHUNK_CHARS
        characters (rows of a megabyte each must not make a chunk of gigabytes).
        """
        width = len(self.columns)
        rows: list[list[str]] = []
        lines: list[int] = []
        size = 0
        reader = self.reader
        arriving = self._arriving
        try:
            for row in reader:
                if len(row) != width:
                    if not row or (len(row) == 1 and not row[0].strip()):
                        if rows and arriving is not None and arriving.cut:
                            yield rows, lines  # the producer paused after a blank line
                            rows, lines, size = [], [], 0
                        continue  # a blank line is not a row
                    raise InputError(f"{self.name} line {reader.line_num}: expected {width} "
                                     f"cells, found {len(row)}")
                rows.append(row)
                lines.append(reader.line_num)
                size += sum(map(len, row))
                if (len(rows) >= chunk_rows or size >= CHUNK_CHARS
                        or (arriving is not None and arriving.cut)):
                    yield rows, lines
                    rows, lines, size = [], [], 0
        except csv.Error as exc:
            raise self._fail(exc) from None
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
    if rows and index:
        # the usual case, every cell a number: one conversion for the chunk (one per column
        # costs a numpy call per column, seconds for 100,000 columns)
        pick = itemgetter(*index)
        try:
            block = np.array([pick(r) for r in rows], dtype=np.float64).reshape(len(rows), len(index))
        except ValueError:
            block = None
        if block is not None and (not finite or np.isfinite(block).all()):
            return block
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
                    raise InputError(f"{source} line {line}, column {name}: {shown(t)} is not a "
                                     f"number{hint}") from None
                if not np.isfinite(v):
                    raise InputError(f"{source} line {line}, column {name}: {shown(t)} is missing or "
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
    position: dict[str, int] = {}
    for k, c in enumerate(header):  # a dict, not header.index: 100,000 columns stay linear
        position.setdefault(c, k)
    missing = [c for c in wanted if c not in position]
    if missing:
        raise InputError(f"{key}: {source} has no column {listed(missing)} "
                         f"(its columns: {listed(header)}){delimiter_hint(header, key)}")
    return [position[c] for c in wanted]


OTHER_DELIMITERS = (";", "\t", "|")


def delimiter_hint(header: Sequence[str], key: str) -> str:
    """For a header read as one column that another delimiter would split: how to say so."""
    if len(header) != 1:
        return ""
    for d in OTHER_DELIMITERS:
        if d in header[0]:
            spelled = "\\t" if d == "\t" else d
            how = (f'set data.delimiter: "{spelled}"' if key.startswith("data")
                   else f"give --delimiter '{spelled}'")
            return f"; the header is one column: is the file separated by {d!r}? {how}"
    return ""


def detect_delimiter(path: str | Path) -> str | None:
    """The delimiter of a file whose header has no comma: ``;``, tab or ``|`` (csv.Sniffer).

    None when the header has a comma, the file cannot be read, or no
    delimiter is found: the reader then goes on with the comma (and its
    messages say how to name another).
    """
    if str(path) == "-":
        return None
    try:
        with Path(path).open(newline="", encoding="utf-8-sig") as fh:
            sample = fh.read(65_536)
    except (OSError, UnicodeDecodeError):
        return None
    lines = [ln for ln in sample.splitlines() if ln.strip()]
    if not lines or "," in lines[0]:
        return None
    if len(lines) > 1 and len(sample) == 65_536:
        lines = lines[:-1]  # the last line of a cut sample may be cut too
    try:
        found = csv.Sniffer().sniff("\n".join(lines[:50]), delimiters="".join(OTHER_DELIMITERS))
    except csv.Error:
        return None
    return found.delimiter if found.delimiter in lines[0] else None


def _text_cells(rows: list[list[str]], lines: list[int], j: int) -> tuple[tuple[int, str] | None,
                                                                         int, int]:
    """Column ``j``'s first text cell (line, cell) or None, and its counts of text and number cells."""
    texts = [r[j] for r in rows]
    try:
        np.array(texts, dtype=np.float64)
        return None, 0, len(texts)
    except ValueError:
        pass
    first, text, number = None, 0, 0
    for line, t in zip(lines, texts):
        t = t.strip()
        if not t:
            continue
        try:
            float(t)
            number += 1
        except ValueError:
            text += 1
            if first is None:
                first = (line, t)
    return first, text, number


def _looks_like_id(col: Array) -> bool:
    """Over 20 rows or more, distinct whole numbers that fill most of their span (1, 2, 3, ...
    with few gaps): a row number or an id, rather than a measurement."""
    if len(col) < 20 or not bool(np.all(col == np.round(col))):
        return False
    return len(np.unique(col)) == len(col) and float(col.max() - col.min()) < 2 * len(col)


def _listed(names: Sequence[str]) -> str:
    return ", ".join(names)


def load_csv(path: str | Path, targets: Sequence[str], inputs: Sequence[str] | None = None,
             key: str = "data", delimiter: str = ",", classification: bool = False,
             min_rows: int = 2, hint: str = "", exclude: Sequence[str] = (),
             categorical: Sequence[str] = (), encoding: Encoding | None = None,
             unknown: dict[str, dict[str, int]] | None = None) -> Dataset:
    """Every row of a CSV with a header (``-``: stdin).

    ``inputs`` default to every column but the targets and ``exclude`` that
    holds numbers: the columns of text are left out, and a note says which
    (and which columns were used). ``categorical`` columns are one-hot
    encoded (categories learnt from these rows); ``encoding`` applies a
    model's encoding instead, counting unknown categories in ``unknown``.
    Only the input and target columns are parsed.
    """
    with open_rows(path, delimiter, f"{key}.csv") as src:
        header = src.header()
        name = src.name
        t_index = find_columns(name, header, targets, f"{key}.target")
        find_columns(name, header, exclude, f"{key}.exclude")
        find_columns(name, header, categorical, f"{key}.categorical")
        if encoding is not None:
            inputs = encoding.columns
            categorical = list(encoding.categories)
        auto = inputs is None
        inputs = _choose_inputs(name, header, targets, inputs, exclude, categorical, key)
        x_index = find_columns(name, header, inputs, f"{key}.inputs")
        read = _ReadColumns(inputs, categorical)
        read.read(src, name, x_index, targets, t_index, auto, classification, hint, key)
    n = sum(len(y) for y in read.ys)
    if n < min_rows:
        raise InputError(f"{name}: {n} data row(s); {'training' if min_rows > 1 else 'this'} "
                         f"needs at least {min_rows}")
    used = read.numeric_columns(name, key)
    if encoding is None and read.texts:
        encoding = Encoding.learn(used, {c: read.texts[c] for c in used if c in read.texts})
    X = read.input_matrix(used, encoding, unknown)
    Y = np.concatenate(read.ys) if read.ys else np.empty((0, len(targets)))
    notes = read.notes(used, auto, key)
    names = encoding.names if encoding is not None else used
    if encoding is not None and not encoding.categories:
        encoding = None
    return Dataset(X, Y, list(names), list(targets), name, encoding, notes)


def _choose_inputs(name: str, header: Sequence[str], targets: Sequence[str],
                   inputs: Sequence[str] | None, exclude: Sequence[str],
                   categorical: Sequence[str], key: str) -> Sequence[str]:
    """The input columns: those given (checked against the targets and the categorical
    ones), else every column but the targets and the excluded ones."""
    if inputs is None:
        left_out = set(targets) | set(exclude)
        inputs = [h for h in header if h not in left_out]
    else:
        both = [c for c in inputs if c in targets]
        if both:
            raise InputError(f"{key}.inputs: {', '.join(both)} is also a target")
        missing = [c for c in categorical if c not in inputs]
        if missing:
            raise InputError(f"{key}.categorical: {', '.join(missing)} is not among "
                             f"{key}.inputs; a categorical column is an input")
    if not inputs:
        raise InputError(f"{key}: {name} has no input columns besides the target"
                         + (" and the excluded ones" if exclude else ""))
    return inputs


class _ReadColumns:
    """The input and target columns of a CSV as they are read, chunk by chunk: numbers,
    the text of categorical columns, and (when the inputs were not named) which columns
    turned out to hold text."""

    def __init__(self, inputs: Sequence[str], categorical: Sequence[str]) -> None:
        self.inputs = inputs
        self.numeric: dict[str, list[Array]] = {c: [] for c in inputs if c not in categorical}
        self.texts: dict[str, list[str]] = {c: [] for c in inputs if c in categorical}
        self.text_columns: dict[str, tuple[int, str]] = {}  # the first text cell's line and cell
        self.counts: dict[str, list[int]] = {}  # cells of text and of numbers, by column
        self.ys: list[Array] = []

    def read(self, src: CsvSource, name: str, x_index: Sequence[int], targets: Sequence[str],
             t_index: Sequence[int], auto: bool, classification: bool, hint: str,
             key: str) -> None:
        try:
            for rows, lines in src.chunks():
                for c, j in zip(self.inputs, x_index):
                    self._read_input(name, rows, lines, c, j, auto, key)
                self.ys.append(labels(name, rows, lines, targets[0], t_index[0]) if classification
                               else numbers(name, rows, lines, targets, t_index, hint))
        except MemoryError:
            # the rows are held whole (training shuffles them): an endless or huge stream
            # ends here, with what was read, rather than as a crash
            read = sum(len(y) for y in self.ys)
            self.numeric.clear()
            self.texts.clear()
            self.ys.clear()
            raise BackpropError(f"{name}: the data does not fit in memory (out of memory after "
                                f"{read:,} rows of {len(self.inputs) + len(targets)} columns)"
                                ) from None

    def _read_input(self, name: str, rows: list[list[str]], lines: list[int], c: str, j: int,
                    auto: bool, key: str) -> None:
        if c in self.texts:
            self.texts[c].extend(r[j].strip() for r in rows)
            return
        if auto:
            found, text, number = _text_cells(rows, lines, j)
            if found is not None and c not in self.text_columns:
                self.text_columns[c] = found
            seen = self.counts.setdefault(c, [0, 0])
            seen[0] += text
            seen[1] += number
        if c in self.text_columns:
            return
        try:
            self.numeric[c].append(numbers(name, rows, lines, [c], [j])[:, 0])
        except InputError as exc:
            if not auto:
                raise
            raise InputError(f"{exc} (or leave the column out: {key}.exclude: "
                             f"[{c}])") from None

    def numeric_columns(self, name: str, key: str) -> list[str]:
        """The inputs used: all but the columns of text (one mostly of numbers is an error
        to mend, not a column to leave out)."""
        for c, (line, cell) in self.text_columns.items():
            text, number = self.counts[c]
            if number >= text:  # mostly numbers: a cell to mend, not a column of text
                raise InputError(f"{name} line {line}, column {c}: {cell!r} is not a number (the "
                                 f"column holds {number} numbers and {text} other cell"
                                 f"{'s' if text != 1 else ''}; mend the cell, or leave the column "
                                 f"out: {key}.exclude: [{c}])")
        used = [c for c in self.inputs if c not in self.text_columns]
        if not used:
            raise InputError(f"{key}: {name} has no column of numbers besides the target (text: "
                             f"{_listed(list(self.text_columns))}); one-hot encode text with "
                             f"{key}.categorical: [...]")
        return used

    def input_matrix(self, used: Sequence[str], encoding: Encoding | None,
                     unknown: dict[str, dict[str, int]] | None) -> Array:
        parts: list[Array] = []
        for c in used:
            if c in self.texts:
                assert encoding is not None
                parts.append(encoding.one_hot(c, self.texts[c], unknown))
            else:
                parts.append((np.concatenate(self.numeric[c]) if self.numeric[c]
                              else np.empty(0))[:, None])
        return np.concatenate(parts, axis=1)

    def notes(self, used: Sequence[str], auto: bool, key: str) -> list[str]:
        """What the user should know: the columns left out as text, a column that looks
        like an id."""
        notes = []
        if self.text_columns:
            left = ", ".join(f"{c} (line {line}: {cell[:20]!r})" for c, (line, cell)
                             in self.text_columns.items())
            cats = [c for c in used if c in self.texts]
            coded = f"; {_listed(cats)} one-hot encoded" if cats else ""
            notes.append(f"{key}: inputs: {_listed(used)} ({len(used)} columns{coded}). Left "
                         f"out, as text: {left}. To one-hot encode a text column: "
                         f"{key}.categorical: [name]; to leave out more: {key}.exclude: [name]")
        if auto:
            ids = [c for c in used if c not in self.texts and self.numeric[c]
                   and _looks_like_id(np.concatenate(self.numeric[c]))]
            if ids:
                notes.append(f"{key}: {_listed(ids)} looks like a row number or an id (distinct "
                             f"whole numbers) and is used as an input; if it is an id: "
                             f"{key}.exclude: [{', '.join(ids)}]")
        return notes


def synthetic(cfg: SyntheticConfig, seed: int, target: str = "y", key: str = "data.synthetic") -> Dataset:
    """n points uniform in the ranges, y = expr(x) + noise * N(0, 1)."""
    from backprop.errors import ExpressionError
    from backprop.core.function import parse

    try:
        f = parse(cfg.expr, warn=False)
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
        if cfg.csv.strip() == "-":
            path = Path("-")  # "-" is stdin wherever the config is
        elif not path.is_absolute():
            path = base / path
        delimiter, found = cfg.delimiter, None
        if "delimiter" not in cfg.model_fields_set:
            found = detect_delimiter(path)
            delimiter = found or delimiter
        data = load_csv(path, cfg.targets, cfg.inputs, delimiter=delimiter,
                        classification=classification, exclude=cfg.exclude,
                        categorical=cfg.categorical,
                        hint="" if classification else " (for class labels, set task: classification)")
        if found is not None:
            spelled = "\\t" if found == "\t" else found
            data.notes.insert(0, f"data: {data.source} is separated by {found!r}, not commas "
                              f'(found by csv.Sniffer); data.delimiter: "{spelled}" says so')
        return data
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


def encode_rows(encoding: Encoding, source: str, rows: list[list[str]], lines: list[int],
                index: Sequence[int], unknown: dict[str, dict[str, int]] | None = None,
                finite: bool = True) -> Array:
    """(N, inputs) floats from the cells of ``rows``, as ``encoding`` says: numbers as they
    are, categories one-hot (unknown ones all zeros, counted in ``unknown``)."""
    parts = []
    for name, j in zip(encoding.columns, index):
        if name in encoding.categories:
            parts.append(encoding.one_hot(name, [r[j].strip() for r in rows], unknown))
        else:
            parts.append(numbers(source, rows, lines, [name], [j], finite=finite))
    return np.concatenate(parts, axis=1) if parts else np.empty((len(rows), 0))

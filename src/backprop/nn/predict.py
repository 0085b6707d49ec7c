"""Predictions for rows of data, keeping the rows: what ``backprop predict`` prints.

The rows are streamed a chunk at a time (ten million lines never sit in
memory at once). Each output row is every cell of the input row, in order,
then one ``<target>_pred`` column per target (a label for a classifier) and,
on request, one ``<target>_proba_<class>`` column per class. Inputs outside
the range the model was trained on are counted, per column, for one warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from backprop.errors import InputError
from backprop.nn.data import CHUNK_ROWS, CsvSource, encode_rows, find_columns, numbers, open_rows
from backprop.nn.layers import Array
from backprop.nn.model import Classifier, Model


# Inputs past the training range by more than this share of its width are counted: a
# test split always has a few rows just past the edges, where the network is still sound.
EXTRAPOLATION_MARGIN = 0.05


@dataclass
class Extrapolation:
    """How many rows had an input well outside the training range, and the worst column.

    Also the categories training never saw, by column (``unknown``).
    """

    rows: int = 0
    outside: int = 0
    by_column: dict[str, int] = field(default_factory=dict)
    worst: dict[str, float] = field(default_factory=dict)  # the largest excess, by column
    unknown: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, model: Model, X: Array) -> None:
        excess = model.range_excess(X)
        out = excess > EXTRAPOLATION_MARGIN
        self.rows += len(X)
        self.outside += int(np.count_nonzero(out.any(axis=1)))
        for name, n, e in zip(model.input_names, np.count_nonzero(out, axis=0),
                              excess.max(axis=0, initial=0.0)):
            if n:
                self.by_column[name] = self.by_column.get(name, 0) + int(n)
                self.worst[name] = max(self.worst.get(name, 0.0), float(e))

    def message(self) -> str | None:
        if not self.outside:
            return None
        name = max(self.worst, key=self.worst.__getitem__)
        others = len(self.by_column) - 1
        more = f", and {others} other column{'s' if others != 1 else ''}" if others else ""
        return (f"extrapolating: {self.outside} of {self.rows} rows have an input more than "
                f"{EXTRAPOLATION_MARGIN:.0%} of its training range outside it; farthest out: column "
                f"{name} ({self.by_column[name]} row{'s' if self.by_column[name] != 1 else ''}, up "
                f"to {self.worst[name]:.3g} times the range beyond){more}; predictions there are "
                "guesses")

    def messages(self) -> list[str]:
        """Every warning: extrapolation, then unknown categories."""
        from backprop.nn.encoding import unknown_message

        return [m for m in (self.message(), unknown_message(self.unknown)) if m]


def prediction_columns(model: Model, proba: bool = False) -> list[str]:
    cols = [f"{t}_pred" for t in model.target_names]
    if proba and isinstance(model, Classifier):
        cols += [f"{model.target_names[0]}_proba_{k}" for k in model.classes]
    return cols


# Rows of a block of predictions when a chunk is cut into blocks. BLAS multiplies the rows at
# the edge of a matrix with other kernels, which add in another order, and splits a product
# over its own threads by rows: where a row falls changes its last bit. So a large chunk is
# always cut at the same rows, and every block multiplied on one BLAS thread, whatever the
# number of threads: the predictions do not depend on it (tests/test_blocked.py).
PREDICT_BLOCK_ROWS = 8192

_blas: Any = None  # threadpoolctl's controller, found once (it scans the loaded libraries)


def predictions(model: Model, X: Array, proba: bool = False,
                threads: int | None = None) -> list[Array]:
    """One array per prediction column (floats, or label strings).

    A chunk of two blocks or more is cut into blocks of :data:`PREDICT_BLOCK_ROWS`
    rows, spread over ``threads`` threads (default: BACKPROP_THREADS, else the
    cores), with BLAS held to one thread meanwhile: one thread per core, never two
    pools competing. A smaller chunk is one product, on BLAS's own threads.
    """
    from backprop.threads import block_bounds, default_threads, run_blocks

    n = len(X)
    if n < 2 * PREDICT_BLOCK_ROWS:
        return _predictions(model, X, proba)
    threads = default_threads() if threads is None else threads
    global _blas
    if _blas is None:
        from threadpoolctl import ThreadpoolController

        _blas = ThreadpoolController()
    # the same blocks for any number of threads (threads=1 here), so the same bits
    bounds = block_bounds(n, PREDICT_BLOCK_ROWS, 1, PREDICT_BLOCK_ROWS)
    parts: dict[int, list[Array]] = {}

    def run(start: int, stop: int) -> None:
        parts[start] = _predictions(model, X[start:stop], proba)

    with _blas.limit(limits=1, user_api="blas"):
        run_blocks(run, bounds, threads)
    return [np.concatenate(cols) for cols in zip(*(parts[s] for s, _ in bounds))]


def _predictions(model: Model, X: Array, proba: bool) -> list[Array]:
    if isinstance(model, Classifier):
        p = model.predict_proba(X)
        labels = np.array(model.classes, dtype=object)[np.argmax(np.nan_to_num(p, nan=-1.0), axis=1)]
        return [labels, *(p.T if proba else [])]
    return list(model.predict(X).T)


@dataclass
class Chunk:
    """A block of rows and their predictions: a result the writers of ``views.writers`` read."""

    cells: list[list[str]]  # the input rows as read
    X: Array  # the model's inputs, parsed
    index: list[int]  # where the model's inputs are among the cells
    predicted: list[Array]  # one array per prediction column
    columns: list[str]  # the output columns
    only: bool = False  # the prediction columns alone
    digits: int | None = None  # for a person: numbers to this many significant digits

    def _typed(self) -> list[list[Any]]:
        """Every cell (the model's inputs as numbers), then the predictions."""
        preds = list(zip(*(p.tolist() for p in self.predicted)))
        if self.only:
            return [list(extra) for extra in preds]
        out = []
        for row, x, extra in zip(self.cells, self.X.tolist(), preds):
            cells: list[Any] = list(row)
            for j, v in zip(self.index, x):
                cells[j] = v
            out.append([*cells, *extra])
        return out

    def typed_rows(self) -> list[list[Any]]:
        """The rows with the model's inputs as numbers (for a typed output: Parquet)."""
        return self._typed()

    def rows(self) -> list[list[Any]]:
        """The cells as they were read (CSV keeps them byte for byte), then the predictions."""
        if self.digits is not None:
            d = self.digits
            return [[float(f"{v:.{d}g}") if isinstance(v, float) else v for v in r]
                    for r in self._typed()]
        if self.only:
            return self._typed()
        preds = list(zip(*(p.tolist() for p in self.predicted)))
        return [[*row, *extra] for row, extra in zip(self.cells, preds)]

    def __len__(self) -> int:
        return len(self.cells)

    def cells_and_block(self) -> tuple[list[list[str]], Array] | None:
        """The rows as the text cells they begin with and a float64 array of the numbers
        that follow (``rows()`` is the two side by side), for fast writers; None where
        ``rows()`` must be read (rounded numbers, class labels)."""
        if self.digits is not None or any(p.dtype != np.float64 for p in self.predicted):
            return None
        block = np.column_stack(self.predicted) if self.predicted else np.empty((len(self), 0))
        return ([[]] * len(self.cells) if self.only else self.cells), block

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, r)) for r in self._typed()]

    def diagnosis(self) -> None:
        return None  # a nan prediction says so itself (and JSON writes null)


@dataclass
class Stream:
    columns: list[str]  # every input column (unless only predictions), then the predictions
    input_columns: list[str]
    chunks: Iterator[Chunk]
    extrapolation: Extrapolation


def predict_csv(model: Model, path: str | Path, proba: bool = False, delimiter: str = ",",
                only: bool = False, digits: int | None = None,
                chunk_rows: int = CHUNK_ROWS, threads: int | None = None) -> Stream:
    """Predictions for every row of a CSV (``-``: stdin) with a header naming the model's inputs.

    The header is read (and checked) now, so a missing column fails before any
    output; the rows are read as the chunks are consumed. For a one-input model
    the header may be left out: every line is then one number. ``threads``: see
    :func:`predictions`.
    """
    if proba and not isinstance(model, Classifier):
        raise InputError("--proba: the model is a regressor; probabilities are for classifiers")
    src = open_rows(path, delimiter, "DATA")
    src.arriving(chunk_rows)
    header = src.header(allow_empty=True)
    if not header:  # an empty pipe is not an error: no rows, the model's columns
        src.__exit__()
        empty = prediction_columns(model, proba)
        return Stream(empty if only else [*model.columns, *empty], list(model.columns),
                      iter(()), Extrapolation())
    names = model.columns
    headerless = False
    if len(names) == 1 and len(header) == 1 and header[0] not in names \
            and isinstance(src, CsvSource):  # a header of one number: CSV without one
        try:
            float(header[0])
            headerless = True
        except ValueError:
            pass
    if headerless:
        first = [[header[0]]]
        src.columns = header = list(names)
    else:
        first = []
        find_columns(src.name, header, names, f"{src.name}: the header")
    position = {c: k for k, c in reversed(list(enumerate(header)))}  # linear, not header.index
    index = [position[n] for n in names]
    extra = Extrapolation()
    for name in prediction_columns(model, proba):
        if name in header:
            raise InputError(f"{src.name} line 1: the data already has a column {name}; rename it "
                             "(predict adds that column)")

    pred_columns = prediction_columns(model, proba)
    columns = pred_columns if only else [*header, *pred_columns]

    encoding = model.encoding
    shown_cells, shown_inputs = (encoding.numeric_index(index) if encoding is not None
                                 else (index, list(range(len(index)))))

    def one(rows: list[list[str]], lines: list[int]) -> Chunk:
        if encoding is not None:
            X = encode_rows(encoding, src.name, rows, lines, index, extra.unknown, finite=False)
        else:
            X = numbers(src.name, rows, lines, names, index, finite=False)
        extra.add(model, X)
        return Chunk(rows, X[:, shown_inputs], shown_cells, predictions(model, X, proba, threads),
                     columns, only, digits)

    def chunks() -> Iterator[Chunk]:
        with src:
            if first:
                yield one(first, [src.reader.line_num])
            for rows, lines in src.chunks(chunk_rows):
                yield one(rows, lines)

    return Stream(columns, list(header), chunks(), extra)


def predict_point(model: Model, point: dict[str, float], proba: bool = False, only: bool = False,
                  digits: int | None = None) -> Stream:
    """Predictions at one point of raw inputs (``--at``)."""
    if proba and not isinstance(model, Classifier):
        raise InputError("--proba: the model is a regressor; probabilities are for classifiers")
    if model.encoding is not None:
        raise InputError("--at: the model one-hot encodes "
                         f"{', '.join(model.encoding.categories)}; give the rows as a CSV")
    names = model.input_names
    X = np.array([[point[n] for n in names]], dtype=np.float64)
    extra = Extrapolation()
    extra.add(model, X)
    pred_columns = prediction_columns(model, proba)
    columns = pred_columns if only else [*names, *pred_columns]
    # the cells as text, as a CSV's would be: repr of a Python float ("0.25"), not of
    # numpy's scalar ("np.float64(0.25)")
    chunk = Chunk([[repr(v) for v in X[0].tolist()]], X, list(range(len(names))),
                  predictions(model, X, proba), columns, only, digits)
    return Stream(columns, list(names), iter([chunk]), extra)



"""Points and rows from Parquet files (the optional extra ``parquet``: pyarrow).

A Parquet file is read a record batch at a time (at most a chunk of rows, from
one row group), so a file larger than memory streams as CSV does. The
expression's variables (or a model's inputs) must be numeric columns without
nulls; every other column passes through, with its type kept for a Parquet
output, and as text (or JSON values) for CSV and JSON Lines.

pyarrow is imported only here, and only when a Parquet file is met.
"""

from __future__ import annotations

import datetime
import decimal
from collections.abc import Sequence as SequenceABC
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from backprop.errors import InputError

if TYPE_CHECKING:
    import numpy as np

PARQUET_EXTRA = "pip install 'backprop-cli[parquet]'"
SUFFIXES = (".parquet", ".pq")


def is_parquet(path: str | Path) -> bool:
    return str(path).lower().endswith(SUFFIXES)


def pyarrow_modules(what: str) -> tuple[Any, Any]:
    """``(pyarrow, pyarrow.parquet)``, or an InputError that names the extra to install."""
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise InputError(f"{what}: Parquet needs pyarrow, which is not installed: "
                         f"{PARQUET_EXTRA}") from None
    return pyarrow, pyarrow.parquet


def open_parquet(path: str | Path, what: str) -> Any:
    """A ``pyarrow.parquet.ParquetFile`` (its schema read, no rows yet)."""
    _, pq = pyarrow_modules(what)
    p = Path(path)
    if not p.exists():
        raise InputError(f"{what} {path}: no such file")
    if p.is_dir():
        raise InputError(f"{what} {path}: is a directory, not a Parquet file")
    try:
        return pq.ParquetFile(str(p))
    except OSError as exc:
        raise InputError(f"{what} {path}: cannot be read as Parquet ({exc})") from None
    except Exception as exc:  # pyarrow's own errors (ArrowInvalid: not Parquet)
        raise InputError(f"{what} {path}: not a Parquet file ({exc})") from None


def _numeric(pa: Any, field: Any) -> bool:
    t = field.type
    return bool(pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t))


def _plain(v: Any) -> Any:
    """A pass-through value as CSV and JSON take it: dates and times as ISO text, decimals
    and other objects as text, bytes as UTF-8 text where they are."""
    if v is None or isinstance(v, (str, bool, int, float, list, dict)):
        if isinstance(v, list):
            return [_plain(x) for x in v]
        if isinstance(v, dict):
            return {str(k): _plain(x) for k, x in v.items()}
        return v
    if isinstance(v, (datetime.datetime, datetime.date, datetime.time)):
        return v.isoformat()
    if isinstance(v, bytes):
        return v.decode("utf-8", "backslashreplace")
    if isinstance(v, decimal.Decimal):
        return str(v)
    return str(v)


class ArrowRows(SequenceABC):  # type: ignore[type-arg]
    """The pass-through columns of a batch: for the text writers a list of dicts (made on
    first use), for the Parquet writer the Arrow columns themselves (``batch``)."""

    def __init__(self, batch: Any) -> None:
        self.batch = batch
        self._rows: list[dict[str, Any]] | None = None

    def _list(self) -> list[dict[str, Any]]:
        if self._rows is None:
            names = self.batch.schema.names
            columns = [[_plain(v) for v in c.to_pylist()] for c in self.batch.columns]
            self._rows = [dict(zip(names, r)) for r in zip(*columns)] if columns else \
                [{} for _ in range(self.batch.num_rows)]
        return self._rows

    def __len__(self) -> int:
        return int(self.batch.num_rows)

    def __getitem__(self, i: Any) -> Any:
        return self._list()[i]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self._list())


def _float_column(pa: Any, column: Any, name: str, source: str, first_row: int) -> np.ndarray:
    import numpy as np
    import pyarrow.compute as pc

    if column.null_count:
        k = int(pc.index(pc.is_null(column), True).as_py())
        raise InputError(f"{source} row {first_row + k}, column {name}: null (missing); every "
                         "value of a variable must be a number")
    values = column.cast(pa.float64()) if column.type != pa.float64() else column
    return np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float64)


def parquet_points(path: str, variables: Sequence[str], chunk_rows: int,
                   what: str) -> tuple[list[str], Iterator[tuple[dict[str, Any], int, Any]]]:
    """The points of a Parquet file, a record batch at a time: the pass-through column names,
    and for each batch the variables' arrays, its row count and its pass-through rows (which
    :func:`backprop.core.points.read_parquet_points` makes into a stream of points)."""
    pa, _ = pyarrow_modules(f"{what} @{path}")
    pf = open_parquet(path, f"{what} @")
    schema = pf.schema_arrow
    names = list(schema.names)
    missing = [v for v in variables if v not in names]
    if missing:
        raise InputError(f"{what} @{path}: no column for {', '.join(missing)} "
                         f"(its columns: {', '.join(names) or 'none'})")
    for v in variables:
        field = schema.field(v)
        if not _numeric(pa, field):
            raise InputError(f"{what} @{path}: column {v} holds {field.type}, not numbers")
    known = set(variables)
    extra = [c for c in names if c not in known]

    def batches() -> Iterator[tuple[dict[str, Any], int, Any]]:
        row = 1
        try:
            for batch in pf.iter_batches(batch_size=max(1, chunk_rows)):
                values = {v: _float_column(pa, batch.column(v), v, path, row) for v in variables}
                passed = ArrowRows(batch.select(extra)) if extra else None
                yield values, batch.num_rows, passed
                row += batch.num_rows
        except InputError:
            raise
        except (OSError, ValueError) as exc:  # a damaged file, found as it is read
            raise InputError(f"{what} @{path}: cannot be read as Parquet ({exc})") from None
        finally:
            pf.close()

    return extra, batches()


class ParquetRows:
    """A Parquet file as rows of text cells, as :class:`backprop.nn.data.CsvSource` gives
    them (``header()``, ``chunks()``; numbers as ``repr``, nulls as empty cells), for the
    readers of rows (``predict``, ``evaluate``). Row numbers count from 1."""

    def __init__(self, path: str | Path, key: str) -> None:
        self.name = str(path)
        self._pf = open_parquet(path, key)
        self.columns: list[str] = []

    def __enter__(self) -> ParquetRows:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pf.close()

    def arriving(self, chunk_rows: int = 0) -> None:
        """A file is never a pipe (see CsvSource.arriving)."""

    def header(self, allow_empty: bool = False) -> list[str]:
        self.columns = list(self._pf.schema_arrow.names)
        if not self.columns and not allow_empty:
            raise InputError(f"{self.name}: no columns")
        return self.columns

    def chunks(self, chunk_rows: int = 65_536) -> Iterator[tuple[list[list[str]], list[int]]]:
        row = 1
        try:
            for batch in self._pf.iter_batches(batch_size=max(1, chunk_rows)):
                columns = [[_text(v) for v in c.to_pylist()] for c in batch.columns]
                rows = [list(r) for r in zip(*columns)]
                yield rows, list(range(row, row + len(rows)))
                row += len(rows)
        except (OSError, ValueError) as exc:
            raise InputError(f"{self.name}: cannot be read as Parquet ({exc})") from None


def _text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, (list, dict, bool)):
        import json

        return json.dumps(_plain(v), separators=(",", ":"))
    return str(_plain(v))

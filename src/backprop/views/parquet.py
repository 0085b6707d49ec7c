"""Results as a Parquet file (``--format parquet -o FILE``; the optional extra ``parquet``).

The columns are the CSV output's: the pass-through columns first (with the
types they had in a Parquet input; text from CSV; JSON Lines values as Arrow
infers them), then ``f``, ``df/dx``, ... as float64 (nan and inf kept, as
Parquet has them). Each block of results is one row group. The file is written
to a temporary name beside the target and renamed when complete, so a failed
run leaves no half-written file.
"""

from __future__ import annotations

from typing import Any, Sequence

from backprop.core.parquet import pyarrow_modules
from backprop.errors import InputError
from backprop.views.writers import Writer


def refuse_terminal(out: Any) -> None:
    """Parquet is binary: to a file (-o) only."""
    raise InputError("--format parquet writes a binary file: name it with -o FILE.parquet "
                     "(it never goes to the terminal or stdout)")


class ParquetWriter(Writer):
    """A Parquet file of the results, a row group per block (see the module)."""

    def __init__(self, columns: Sequence[str], out: Any) -> None:
        super().__init__(columns, out)
        self.pa, self.pq = pyarrow_modules("--format parquet")
        self._file: Any = None
        self._schema: Any = None

    def _table(self, result: Any) -> Any:
        pa = self.pa
        arrays: list[Any] = []
        names = list(self.columns)
        passed = getattr(result, "passed", None)
        inner = getattr(result, "result", result)
        block = getattr(inner, "number_block", None)
        if block is not None:
            numbers = block()
            count = numbers.shape[1]
            lead = len(names) - count
            if passed is not None:
                arrays += self._passed_columns(passed, result.names)
            elif lead:
                return self._from_rows(result)
            arrays += [pa.array(numbers[:, k], type=pa.float64()) for k in range(count)]
            return pa.Table.from_arrays(arrays, names=names)
        return self._from_rows(result)

    def _passed_columns(self, passed: Any, names: Sequence[str]) -> list[Any]:
        batch = getattr(passed, "batch", None)  # from a Parquet input: its own columns
        if batch is not None and list(batch.schema.names) == list(names):
            return list(batch.columns)
        return [self.pa.array([p.get(k) for p in passed]) for k in names]

    def _from_rows(self, result: Any) -> Any:
        rows = getattr(result, "typed_rows", result.rows)()  # numbers as numbers where known
        columns = list(zip(*rows)) if rows else [() for _ in self.columns]
        return self.pa.Table.from_arrays([self.pa.array(list(c)) for c in columns],
                                         names=list(self.columns))

    def write(self, result: Any) -> None:
        table = self._table(result)
        if self._file is None:
            self._schema = _settled(self.pa, table.schema)
            self._file = self.pq.ParquetWriter(self.out, self._schema)
        try:
            table = table.cast(self._schema)
        except (self.pa.ArrowInvalid, self.pa.ArrowTypeError, self.pa.ArrowNotImplementedError):
            raise InputError(f"--format parquet: the values of a later block do not fit the "
                             f"columns' types set by the first ({self._schema}); write CSV or "
                             "JSON Lines instead") from None
        self._file.write_table(table)

    def close(self) -> None:
        if self._file is None:  # no rows: the columns alone
            import numpy as np

            empty = {c: self.pa.array(np.empty(0)) for c in self.columns}
            self._file = self.pq.ParquetWriter(self.out, self.pa.table(empty).schema)
        self._file.close()


def _settled(pa: Any, schema: Any) -> Any:
    """The first block's schema, a column of nulls only taken as text (later blocks may
    fill it)."""
    fields = [pa.field(f.name, pa.string()) if pa.types.is_null(f.type) else f for f in schema]
    return pa.schema(fields)

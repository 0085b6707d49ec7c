"""What the façade returns: small typed results that know their rows and JSON form.

Each result offers the same three views, so one writer per output format
(:mod:`backprop.views.writers`) serves every command:

* ``columns``: the column names of a table or CSV,
* ``rows()``: the rows, numbers as Python floats (written with ``repr``),
* ``records()``: one JSON object per row (non-finite numbers are the writer's
  business: strict JSON writes them as ``null``).

``non_finite_fields()`` names the columns holding nan or inf, and
``diagnosis()`` says which module produced them first.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

from backprop.lazy import numpy_on_first_use

if TYPE_CHECKING:
    import numpy as np
else:
    np = numpy_on_first_use(globals())  # rows of Python floats (one point) need no numpy


@dataclass(frozen=True)
class NonFinite:
    """Where a nan or inf first appeared, found by re-reading the forward pass's cache.

    ``what``: "value" or "gradient" (which part of the result is not finite).
    ``value_node``: the first module (in evaluation order) whose value is nan or
    inf although its inputs are finite (as text, shortened), or None.
    ``local_node``: the first module whose local derivative is nan or inf where
    its value is finite, or None.
    """

    what: str
    value_node: str | None = None
    local_node: str | None = None

    def message(self) -> str:
        """One sentence for a warning about a batch of points ("at some point")."""
        if self.value_node is not None:
            return (f"the {self.what} is not finite: {self.value_node} is nan or infinite "
                    "at some point (outside its domain, or overflow)")
        if self.local_node is not None:
            return (f"the gradient is not finite: the local derivative of {self.local_node} "
                    "is nan or infinite at some point")
        return f"the {self.what} is not finite at some point"


@dataclass
class JsonParts:
    """A block's records as data for a fast writer: each record is ``keys`` (with the row's
    ``cells``) then ``layout``, a nested dict like the record whose leaves are column
    indices into ``block`` (a float64 array, one row per record)."""

    keys: list[str]
    cells: list[list[Any]]
    layout: dict[str, Any]
    block: np.ndarray


@dataclass
class Gradients:
    """The value and the gradient at a block of points, one row per point.

    ``data`` holds the columns side by side: the variables (the point), the
    value f, then df/dv for each v in ``wrt``; an array, or a list of rows of
    Python floats (points typed one by one, computed without numpy).
    """

    variables: tuple[str, ...]
    wrt: tuple[str, ...]
    data: np.ndarray | list[list[float]]  # (points, len(variables) + 1 + len(wrt))
    RECORD_KEYS = ("at", "value", "grad")  # the members of records(), for pass-through names
    _diagnose: Callable[[str], NonFinite] | None = field(default=None, repr=False)

    @property
    def columns(self) -> list[str]:
        return self.columns_of(self.variables, self.wrt)

    @staticmethod
    def columns_of(variables: Sequence[str], wrt: Sequence[str]) -> list[str]:
        """The columns of a block: the point, f, then df/dv (known before any block is)."""
        return [*variables, "f", *(f"df/d{v}" for v in wrt)]

    def __len__(self) -> int:
        return len(self.data)

    @property
    def _array(self) -> np.ndarray:
        data = self.data
        if isinstance(data, list):
            width = len(self.variables) + 1 + len(self.wrt)
            return np.array(data, dtype=np.float64).reshape(len(data), width)
        return data

    @property
    def value(self) -> np.ndarray:
        return self._array[:, len(self.variables)]

    @property
    def points(self) -> dict[str, np.ndarray]:
        data = self._array
        return {v: data[:, k] for k, v in enumerate(self.variables)}

    @property
    def grad(self) -> dict[str, np.ndarray]:
        data, k = self._array, len(self.variables) + 1
        return {v: data[:, k + m] for m, v in enumerate(self.wrt)}

    def rows(self) -> list[list[float]]:
        data = self.data
        return data if isinstance(data, list) else data.tolist()  # type: ignore[no-any-return]

    def number_block(self) -> np.ndarray:
        """The rows as one float64 array (``rows()`` is its ``tolist()``), for fast writers."""
        return self._array

    def json_parts(self) -> JsonParts:
        """``records()`` as a layout over ``number_block()``'s columns, for fast writers."""
        k = len(self.variables)
        layout = {"at": {v: i for i, v in enumerate(self.variables)}, "value": k,
                  "grad": {v: k + 1 + m for m, v in enumerate(self.wrt)}}
        return JsonParts([], [], layout, self._array)

    def records(self) -> list[dict[str, Any]]:
        k, names, wrt = len(self.variables), self.variables, self.wrt
        return [{"at": dict(zip(names, r[:k])), "value": r[k], "grad": dict(zip(wrt, r[k + 1:]))}
                for r in self.rows()]

    def finite(self) -> bool:
        data = self.data
        if isinstance(data, list):
            return all(math.isfinite(v) for row in data for v in row)
        return bool(np.all(np.isfinite(data)))

    def non_finite_fields(self) -> list[str]:
        bad = ~np.all(np.isfinite(self._array), axis=0)
        return [c for c, b in zip(self.columns, bad.tolist()) if b]

    def diagnosis(self) -> NonFinite | None:
        """Which module first made the block non-finite (None when all is finite)."""
        if self.finite():
            return None
        what = "value" if not np.all(np.isfinite(self.value)) else "gradient"
        return self._diagnose(what) if self._diagnose is not None else NonFinite(what)


# ---- second order and several outputs -----------------------------------------------------

@dataclass(frozen=True)
class SecondOrderNonFinite:
    """Where a Hessian's nan or inf comes from: the module whose second derivative it is."""

    node: str | None = None

    def message(self) -> str:
        if self.node is not None:
            return (f"the Hessian is not finite: the second derivative of {self.node} is nan or "
                    "infinite at some point (outside its domain, or overflow)")
        return "the Hessian is not finite at some point"


def second_partial_name(u: str, v: str) -> str:
    """d2f/dx2 on the diagonal, d2f/dxdy off it (the CSV's column names)."""
    return f"d2f/d{u}2" if u == v else f"d2f/d{u}d{v}"


@dataclass
class Hessians:
    """The value, the gradient and the Hessian at a block of points, one row per point.

    ``hessian`` has shape (points, n, n), rows and columns in ``wrt``'s order.
    Rows and CSV columns list each second partial once (the matrix is symmetric):
    d2f/dx2, d2f/dxdy, d2f/dy2, ...; JSON has the whole matrix.
    """

    variables: tuple[str, ...]
    wrt: tuple[str, ...]
    points: np.ndarray  # (points, len(variables))
    value: np.ndarray  # (points,)
    grad: np.ndarray  # (points, n)
    hessian: np.ndarray  # (points, n, n)
    RECORD_KEYS = ("at", "value", "grad", "hessian")  # the members of records()
    _diagnose: Callable[[str], Any] | None = field(default=None, repr=False)

    def _pairs(self) -> list[tuple[int, int]]:
        n = len(self.wrt)
        return [(i, j) for i in range(n) for j in range(i, n)]

    @property
    def columns(self) -> list[str]:
        return self.columns_of(self.variables, self.wrt)

    @staticmethod
    def columns_of(variables: Sequence[str], wrt: Sequence[str]) -> list[str]:
        """The point, f, the gradient, then each second partial once (upper triangle, by rows)."""
        n = len(wrt)
        return [*variables, "f", *(f"df/d{v}" for v in wrt),
                *(second_partial_name(wrt[i], wrt[j]) for i in range(n) for j in range(i, n))]

    def __len__(self) -> int:
        return len(self.value)

    def _data(self) -> np.ndarray:
        pairs = self._pairs()
        upper = (self.hessian[:, [i for i, _ in pairs], [j for _, j in pairs]]
                 if pairs else np.empty((len(self.value), 0)))
        return np.column_stack([self.points, self.value, self.grad, upper])

    def rows(self) -> list[list[float]]:
        return self._data().tolist()  # type: ignore[no-any-return]

    def number_block(self) -> np.ndarray:
        """The rows as one float64 array (``rows()`` is its ``tolist()``), for fast writers."""
        return self._data()

    def json_parts(self) -> JsonParts:
        """``records()`` as a layout over ``number_block()``'s columns (the whole matrix, each
        entry from the upper triangle's column), for fast writers."""
        k, n = len(self.variables), len(self.wrt)
        upper = {pair: k + 1 + n + m for m, pair in enumerate(self._pairs())}
        layout = {"at": {v: i for i, v in enumerate(self.variables)}, "value": k,
                  "grad": {v: k + 1 + i for i, v in enumerate(self.wrt)},
                  "hessian": {u: {v: upper[(min(i, j), max(i, j))] for j, v in enumerate(self.wrt)}
                              for i, u in enumerate(self.wrt)}}
        return JsonParts([], [], layout, self._data())

    def records(self) -> list[dict[str, Any]]:
        names, wrt = self.variables, self.wrt
        out = []
        for p, v, g, h in zip(self.points.tolist(), self.value.tolist(), self.grad.tolist(),
                              self.hessian.tolist()):
            out.append({"at": dict(zip(names, p)), "value": v, "grad": dict(zip(wrt, g)),
                        "hessian": {u: dict(zip(wrt, row)) for u, row in zip(wrt, h)}})
        return out

    def finite(self) -> bool:
        return bool(np.all(np.isfinite(self.value)) and np.all(np.isfinite(self.grad))
                    and np.all(np.isfinite(self.hessian)))

    def diagnosis(self) -> Any:
        """Which module first made the block non-finite (None when all is finite)."""
        if self.finite():
            return None
        if not np.all(np.isfinite(self.value)):
            what = "value"
        elif not np.all(np.isfinite(self.grad)):
            what = "gradient"
        else:
            what = "Hessian"
        if self._diagnose is not None:
            return self._diagnose(what)
        return SecondOrderNonFinite() if what == "Hessian" else NonFinite(what)


@dataclass
class Jacobians:
    """The values and gradients of several outputs (a Jacobian) at a block of points.

    ``values`` has shape (points, m); ``jacobian`` (points, m, n): row k is
    output k's gradient, columns in ``wrt``'s order. ``mode`` says how it was
    computed ("reverse": one backward pass per output; "forward": one tangent
    pass per variable).
    """

    variables: tuple[str, ...]
    wrt: tuple[str, ...]
    outputs: tuple[str, ...]  # each output's expression, as written
    points: np.ndarray  # (points, len(variables))
    values: np.ndarray  # (points, m)
    jacobian: np.ndarray  # (points, m, n)
    mode: str
    _diagnose: Callable[[str], Any] | None = field(default=None, repr=False)

    @property
    def columns(self) -> list[str]:
        return self.columns_of(self.variables, self.wrt, len(self.outputs))

    @staticmethod
    def columns_of(variables: Sequence[str], wrt: Sequence[str], outputs: int) -> list[str]:
        """The point, each output's value f1, f2, ..., then df1/dx, df1/dy, ..., df2/dx, ..."""
        return [*variables, *(f"f{k + 1}" for k in range(outputs)),
                *(f"df{k + 1}/d{v}" for k in range(outputs) for v in wrt)]

    def __len__(self) -> int:
        return len(self.values)

    def rows(self) -> list[list[float]]:
        p = len(self.values)
        return np.column_stack([self.points, self.values,
                                self.jacobian.reshape(p, -1)]).tolist()  # type: ignore[no-any-return]

    def records(self) -> list[dict[str, Any]]:
        names, wrt = self.variables, self.wrt
        return [{"at": dict(zip(names, p)), "value": v,
                 "grad": [dict(zip(wrt, row)) for row in j]}
                for p, v, j in zip(self.points.tolist(), self.values.tolist(),
                                   self.jacobian.tolist())]

    def output_rows(self, point: int = 0) -> list[list[Any]]:
        """One row per output at one point: the expression, its value, its gradient."""
        return [[text, float(self.values[point, k]), *self.jacobian[point, k].tolist()]
                for k, text in enumerate(self.outputs)]

    def finite(self) -> bool:
        return bool(np.all(np.isfinite(self.values)) and np.all(np.isfinite(self.jacobian)))

    def diagnosis(self) -> Any:
        if self.finite():
            return None
        what = "value" if not np.all(np.isfinite(self.values)) else "gradient"
        return self._diagnose(what) if self._diagnose is not None else NonFinite(what)


# ---- members of the input that pass through ----------------------------------------------

PASS_PREFIX = "in_"


def pass_names(names: Iterable[str], taken: Iterable[str]) -> dict[str, str]:
    """Each pass-through name mapped to its name in the output.

    A name the command writes itself (``f``, ``value``, ``grad``, ...) gets
    ``in_`` in front (again, until it is free), so the input's ``value`` and the
    new ``value`` are both kept: ``grad ... | grad ...`` loses nothing.
    """
    used = set(taken)
    out: dict[str, str] = {}
    for n in names:
        m = n
        while m in used:
            m = PASS_PREFIX + m
        used.add(m)
        out[n] = m
    return out


def _cell(v: Any) -> Any:
    """A passed-through value as a CSV or table cell: nested values as JSON text."""
    if v is None:
        return ""
    if isinstance(v, (dict, list, bool)):
        return json.dumps(v, separators=(",", ":"))
    return v


@dataclass
class PassedThrough:
    """A result with the input's other members (an id, a label, a step) in front of its own.

    ``names``: the columns every row has (the CSV header's, or the first JSON
    object's members), in their order; ``passed``: per row, the members. In
    rows (CSV, tables) nested values are JSON text and a missing member is
    empty; in records (JSON) every member is kept as it was, also one that only
    some rows have (``unlisted`` names those, for a warning in CSV and tables).
    """

    result: Any
    names: tuple[str, ...]
    passed: list[dict[str, Any]]

    @staticmethod
    def columns_of(names: Sequence[str], columns: Sequence[str],
                   record_keys: Sequence[str] = ()) -> list[str]:
        """The columns: the pass-through names (renamed where they clash), then the result's."""
        renamed = pass_names(names, [*columns, *record_keys])
        return [*renamed.values(), *columns]

    def _taken(self) -> list[str]:
        return [*self.result.columns, *getattr(self.result, "RECORD_KEYS", ())]

    @property
    def columns(self) -> list[str]:
        return self.columns_of(self.names, self.result.columns,
                               getattr(self.result, "RECORD_KEYS", ()))

    def __len__(self) -> int:
        return len(self.result)

    def rows(self) -> list[list[Any]]:
        names = self.names
        return [[_cell(p.get(n)) for n in names] + r
                for p, r in zip(self.passed, self.result.rows())]

    def records(self) -> list[dict[str, Any]]:
        taken = self._taken()
        fixed = pass_names(self.names, taken)
        out = []
        for p, rec in zip(self.passed, self.result.records()):
            if p.keys() - fixed.keys():
                renamed = pass_names([*self.names, *(k for k in p if k not in fixed)], taken)
            else:
                renamed = fixed
            out.append({**{renamed[k]: v for k, v in p.items()}, **rec})
        return out

    def cells_and_block(self) -> tuple[list[list[str]], np.ndarray] | None:
        """The pass-through cells (text, as CSV input gives them) and the result's numbers as
        one float64 array (``rows()`` is the two side by side), for fast writers; None where
        a cell is not text (JSON input's numbers, nested values, a missing member)."""
        block = getattr(self.result, "number_block", None)
        if block is None:
            return None
        names = self.names
        cells = [[p.get(n) for n in names] for p in self.passed]
        if any(type(c) is not str for row in cells for c in row):
            return None
        return cells, block()  # type: ignore[return-value]

    def json_parts(self) -> JsonParts | None:
        """The pass-through members (renamed as in ``records()``) and their values per row,
        before the result's layout, where every row has exactly ``names`` in that order; else
        None (``records()`` keeps each row's own members)."""
        parts = getattr(self.result, "json_parts", None)
        if parts is None:
            return None
        names = self.names
        if any(tuple(p) != names for p in self.passed):
            return None
        inner = parts()
        if inner is None or inner.keys:
            return None
        renamed = pass_names(names, self._taken())
        return JsonParts([renamed[n] for n in names], [list(p.values()) for p in self.passed],
                         inner.layout, inner.block)

    def unlisted(self) -> list[str]:
        """Members some row has that are not columns (kept in JSON, not in CSV or tables)."""
        seen: dict[str, None] = {}
        listed = set(self.names)
        for p in self.passed:
            for k in p:
                if k not in listed:
                    seen[k] = None
        return list(seen)

    def __getattr__(self, name: str) -> Any:
        # finite(), diagnosis(), value, grad, ...: the result's own; not its number_block,
        # whose rows lack the pass-through cells (a fast writer would drop them)
        if name in ("result", "number_block"):
            raise AttributeError(name)
        return getattr(self.result, name)


def passing_through(result: Any, chunk: Any) -> Any:
    """``result`` with the pass-through members of the chunk of points it was computed at."""
    passed = getattr(chunk, "passed", None)
    if passed is None:
        return result
    return PassedThrough(result, tuple(getattr(chunk, "names", ())), passed)

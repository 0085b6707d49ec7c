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

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np


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
class Gradients:
    """The value and the gradient at a block of points, one row per point.

    ``data`` holds the columns side by side: the variables (the point), the
    value f, then df/dv for each v in ``wrt``.
    """

    variables: tuple[str, ...]
    wrt: tuple[str, ...]
    data: np.ndarray  # shape (points, len(variables) + 1 + len(wrt))
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
    def value(self) -> np.ndarray:
        return self.data[:, len(self.variables)]

    @property
    def points(self) -> dict[str, np.ndarray]:
        return {v: self.data[:, k] for k, v in enumerate(self.variables)}

    @property
    def grad(self) -> dict[str, np.ndarray]:
        k = len(self.variables) + 1
        return {v: self.data[:, k + m] for m, v in enumerate(self.wrt)}

    def rows(self) -> list[list[float]]:
        return self.data.tolist()  # type: ignore[no-any-return]

    def records(self) -> list[dict[str, Any]]:
        k, names, wrt = len(self.variables), self.variables, self.wrt
        return [{"at": dict(zip(names, r[:k])), "value": r[k], "grad": dict(zip(wrt, r[k + 1:]))}
                for r in self.data.tolist()]

    def finite(self) -> bool:
        return bool(np.all(np.isfinite(self.data)))

    def non_finite_fields(self) -> list[str]:
        bad = ~np.all(np.isfinite(self.data), axis=0)
        return [c for c, b in zip(self.columns, bad.tolist()) if b]

    def diagnosis(self) -> NonFinite | None:
        """Which module first made the block non-finite (None when all is finite)."""
        if self.finite():
            return None
        what = "value" if not np.all(np.isfinite(self.value)) else "gradient"
        return self._diagnose(what) if self._diagnose is not None else NonFinite(what)

"""The finite-difference step sweep: each partial's error as the step h shrinks.

On log-log axes the errors draw a V: truncation error (~h forward, ~h^2
central) on the right, rounding error (~eps |f| / h) on the left, the default
steps of :mod:`backprop.methods.numeric` near the bottom. Beside the V, the complex
step Im f(x + ih)/h at the same steps: no subtraction, so no rounding arm: its
error falls as h^2 and stays flat at the function's own rounding once h is
small (its default step, 1e-100, is on that flat line).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from backprop.methods import numeric
from backprop.errors import NotAnalyticError
from backprop.studies.tables import Table, fmt, number
from backprop.symbolic import DEFAULT_MAX_SIZE, SizeCapError, derivative

SWEEP_LARGEST, SWEEP_SMALLEST, SWEEP_PER_DECADE = 1e-1, 1e-15, 2


# The most variables x graph nodes a sweep takes on: every variable costs about 124 passes
# over the graph (29 steps, two differences, the complex step), all in Python's loop; 200
# variables of an 800-node sum (160,000) took 101 s on 2 busy cores.
SWEEP_LIMIT = 100_000


def sweep_steps(largest: float = SWEEP_LARGEST, smallest: float = SWEEP_SMALLEST,
                per_decade: int = SWEEP_PER_DECADE) -> list[float]:
    """Steps from ``largest`` down to ``smallest``, ``per_decade`` to a decade (29 by default)."""
    top, bottom = math.log10(largest), math.log10(smallest)
    n = round((top - bottom) * per_decade)
    return [10.0 ** (top - k / per_decade) for k in range(n + 1)]


def exact_gradient(f: Any, point: Mapping[str, float], names: Sequence[str],
                   max_size: int = DEFAULT_MAX_SIZE) -> tuple[dict[str, float], str]:
    """The reference gradient: the symbolic derivative evaluated in float64, or reverse mode
    when the symbolic derivative hits its size cap. Returns (gradient, reference)."""
    from backprop.core.function import Function

    values = {k: float(v) for k, v in point.items()}
    try:
        grad = {}
        for v in names:
            g = Function(derivative(f.graph, v, 1, max_size).as_graph())
            grad[v] = float(g(**{k: values[k] for k in g.variables}))
        return grad, "symbolic"
    except SizeCapError:
        _, rev = f.value_and_grad(list(names), **values)
        return {v: float(rev[v]) for v in names}, "reverse_mode"


@dataclass
class Sweep:
    """:func:`sweep`'s result: one row per step per method per variable."""

    expression: str
    at: dict[str, float]
    value: float
    reference: str
    exact: dict[str, float]
    rows: list[dict[str, Any]]
    complex_step_error: str | None = None  # why there are no complex-step rows (a kink)

    def to_json(self) -> dict[str, Any]:
        return {"expression": self.expression, "at": self.at, "value": self.value,
                "reference": self.reference, "exact": self.exact,
                "machine_eps": numeric.MACHINE_EPS, "rows": self.rows,
                "complex_step_error": self.complex_step_error}

    def json_lines(self) -> list[dict[str, Any]]:
        return self.rows

    def tables(self) -> list[Table]:

        at = ", ".join(f"{k} = {v!r}" for k, v in self.at.items())
        ref = "the symbolic derivative" if self.reference == "symbolic" else "reverse mode"
        out = []
        for v, exact in self.exact.items():
            best: dict[str, dict[str, Any]] = {}
            for method in (numeric.FORWARD, numeric.CENTRAL):
                swept = [x for x in self.rows if x["variable"] == v and x["method"] == method
                         and not x["default"]]  # the complex step's smallest is its flat line
                if swept:
                    best[method] = min(swept, key=lambda x: x["abs_error"])
            by_h: dict[float, dict[str, dict[str, Any]]] = {}
            for x in self.rows:
                if x["variable"] == v:
                    by_h.setdefault(x["h_taken"] if x["default"] else x["h"], {})[x["method"]] = x
            rows = []
            complex_rows = any(x["method"] == numeric.COMPLEX_STEP for x in self.rows)
            methods = (numeric.FORWARD, numeric.CENTRAL) + ((numeric.COMPLEX_STEP,)
                                                           if complex_rows else ())
            for h in sorted(by_h, reverse=True):
                cells = by_h[h]
                row: list[Any] = [f"{h:.3g}"]
                notes = []
                for method in methods:
                    x = cells.get(method)
                    row += ([fmt(x["estimate"]), number(x["rel_error"] if exact != 0 else x["abs_error"])]
                            if x else ["", ""])
                    name = "complex" if method == numeric.COMPLEX_STEP else method
                    if x is not None and x["default"]:
                        notes.append(f"default {name} step")
                    elif x is not None and best.get(method) is x:
                        notes.append(f"smallest {name} error")
                rows.append([*row, ", ".join(notes)])
            what = "rel error" if exact != 0 else "abs error"
            columns = ["h", "forward difference", what, "central difference", what]
            if complex_rows:
                columns += ["complex step", what]
            caption = (f"exact df/d{v} = {exact!r} ({ref} in float64); truncation error shrinks "
                       "with h (forward ~ h, central ~ h^2) until rounding error (~ eps*|f|/h) "
                       "takes over")
            if complex_rows:
                caption += ("; the complex step subtracts nothing: no rounding arm, its error "
                            "stays flat")
            elif self.complex_step_error:
                caption += f"; complex step: {self.complex_step_error}"
            out.append(Table(
                f"Finite differences of df/d{v} against the step h: f = {self.expression} at {at}",
                [*columns, ""], rows, caption=caption))
        return out


def sweep(f: Any, point: Mapping[str, float], wrt: Sequence[str] | None = None,
          steps: Sequence[float] | None = None, max_size: int = DEFAULT_MAX_SIZE) -> Sweep:
    """Forward and central differences, and the complex step, of each partial at ``point``
    as the step h shrinks.

    Each step is absolute and rounded as :func:`numeric.step` rounds it (so that
    x + h - x == h); the default steps (relative to max(1, |x|)) are measured
    too, in rows with ``"default": True``. Every row holds the estimate and its
    absolute and relative error against the exact partial.
    """
    import numpy as np

    names = list(f.variables) if wrt is None else list(wrt)
    values = {k: float(v) for k, v in point.items()}
    hs = list(sweep_steps() if steps is None else steps)
    for h in hs:
        numeric.check_eps(h)
    work = len(names) * f.size
    if work > SWEEP_LIMIT:
        from backprop.errors import InputError

        raise InputError(f"--sweep evaluates the expression about {4 * len(hs) + 8} times for each "
                         f"variable: {len(names):,} variables of a graph of {f.size:,} nodes "
                         f"({work:,} variable-nodes) is past its limit of {SWEEP_LIMIT:,}; "
                         "choose the variables with --wrt")
    exact, reference = exact_gradient(f, values, names, max_size)
    with np.errstate(all="ignore"):
        value = float(f(**values))
    rows: list[dict[str, Any]] = []
    for v in names:
        for method in (numeric.FORWARD, numeric.CENTRAL):
            cells = [(h, False) for h in hs] + [(None, True)]
            for h, default in sorted(cells, key=lambda c: -(c[0] if c[0] is not None
                                                            else numeric.step(values[v], method))):
                estimate, taken = numeric.partial(f, values, v, method, h)
                e = exact[v]
                abs_err = abs(estimate - e)
                rel_err = abs_err / abs(e) if e != 0 else (0.0 if abs_err == 0 else math.inf)
                rows.append({"variable": v, "method": method, "h": taken if default else h,
                             "h_taken": taken, "default": default, "estimate": estimate,
                             "exact": e, "abs_error": abs_err, "rel_error": rel_err})
    complex_error = None
    try:
        rows += _complex_rows(f, values, names, hs, exact)
    except NotAnalyticError as exc:  # a kink at the point: the differences alone
        complex_error = str(exc)
    return Sweep(f.text.strip() or str(f), values, value, reference, exact, rows, complex_error)


def _complex_rows(f: Any, values: dict[str, float], names: Sequence[str], hs: Sequence[float],
                  exact: Mapping[str, float]) -> list[dict[str, Any]]:
    """The complex step at each step of the sweep and at its default step (1e-100)."""
    from backprop.core.complex_step import STEP

    rows = []
    for v in names:
        for h, default in [(h, False) for h in hs] + [(STEP, True)]:
            estimate = numeric.complex_step(f, values, [v], h).grad[v]
            e = exact[v]
            abs_err = abs(estimate - e)
            rel_err = abs_err / abs(e) if e != 0 else (0.0 if abs_err == 0 else math.inf)
            rows.append({"variable": v, "method": numeric.COMPLEX_STEP, "h": h, "h_taken": h,
                         "default": default, "estimate": estimate, "exact": e,
                         "abs_error": abs_err, "rel_error": rel_err})
    return rows

"""The ways to a gradient at one point, side by side, with their errors and costs.

:func:`compare` differentiates one expression at one point by reverse mode
(backpropagation), forward mode, symbolic differentiation, forward and central
differences, and numeric differentiation at its best: Richardson extrapolation
(with its own error estimate) and the complex step. Every method is timed the same way (the one harness of
:mod:`backprop.studies.timing`: warm, repeated, interleaved, medians), beside
one forward pass, so that each method's cost also reads in forward passes.
Symbolic differentiation is timed apart from the evaluation of its result: the
first is paid once per expression, the second at every point.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from backprop.methods import numeric
from backprop.studies.tables import Table, fmt, load_average, number, seconds
from backprop.studies.timing import CLOCK, Timing, time_interleaved
from backprop.symbolic import DEFAULT_MAX_SIZE, SizeCapError, derivative

METHODS = ("reverse_mode", "forward_mode", "symbolic", "forward_difference", "central_difference",
           "richardson", "complex_step")
LABELS = {
    "reverse_mode": "reverse mode (backprop)",
    "forward_mode": "forward mode (tangents)",
    "symbolic": "symbolic (evaluation)",
    "forward_difference": "forward difference",
    "central_difference": "central difference",
    "richardson": "Richardson extrapolation",
    "complex_step": "complex step",
}


def check_methods(methods: Sequence[str] | None) -> list[str]:
    """The methods asked for (``--methods``), in the table's order; all by default."""
    from backprop.errors import InputError

    if methods is None:
        return list(METHODS)
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise InputError(f"--methods: unknown method {', '.join(unknown) or '(none given)'} "
                         f"(the methods: {','.join(METHODS)})")
    return [m for m in METHODS if m in methods]
MANY = 6  # more variables than this: one table row per method, the partials in JSON


def relative_errors(grad: Mapping[str, float] | None,
                    exact: Mapping[str, float]) -> tuple[dict[str, float], dict[str, float]]:
    """Absolute and relative error of each partial against the exact one."""
    if grad is None:
        return {}, {}
    abs_err: dict[str, float] = {}
    rel_err: dict[str, float] = {}
    for v, e in exact.items():
        d = abs(float(grad[v]) - float(e))
        abs_err[v] = d
        rel_err[v] = d / abs(e) if e != 0 else (0.0 if d == 0 else math.inf)
    return abs_err, rel_err


@dataclass
class Method:
    """One way to the gradient: its partials, what it counts and what it cost."""

    key: str
    grad: dict[str, float] | None
    passes: dict[str, int]  # counted: forward, backward, tangent or derivative passes
    timing: Timing | None  # per gradient
    forward_passes: float | None = None  # measured: time per gradient over one forward pass
    error_estimate: dict[str, float] | None = None  # the method's own (absolute), if it has one
    abs_error: dict[str, float] = field(default_factory=dict)
    rel_error: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def passes_text(self) -> str:
        return " + ".join(f"{n:,} {kind.replace('_', ' ')}" for kind, n in self.passes.items())

    def to_json(self) -> dict[str, Any]:
        return {"grad": self.grad, "abs_error": self.abs_error, "rel_error": self.rel_error,
                "passes": self.passes, "seconds": self.timing.median if self.timing else None,
                "forward_passes": self.forward_passes,
                "declared_passes": declared_total(self.passes), "error_estimate": self.error_estimate,
                "timing": self.timing.to_json() if self.timing else None, **self.extra}


@dataclass
class Comparison:
    """:func:`compare`'s result: it knows its table and its JSON."""

    expression: str
    at: dict[str, float]
    value: float
    graph_nodes: int
    reference: str  # "symbolic", or "reverse_mode" when the symbolic derivative is over the cap
    forward: Timing  # one forward pass (the value alone)
    methods: dict[str, Method]
    differentiation: Timing | None  # symbolic differentiation, once per expression
    load: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"expression": self.expression, "at": self.at, "value": self.value,
                "graph_nodes": self.graph_nodes, "reference": self.reference,
                "methods": {k: m.to_json() for k, m in self.methods.items()},
                "forward_pass": {"seconds": self.forward.median, "timing": self.forward.to_json()},
                "load_average": self.load}

    COLUMNS = ("method", "variable", "partial_derivative", "abs_error", "rel_error", "estimate",
               "passes", "seconds", "forward_passes")

    @property
    def columns(self) -> list[str]:
        return list(self.COLUMNS)

    def rows(self) -> list[list[Any]]:
        """CSV: the forward pass, then one row per method per variable."""
        out: list[list[Any]] = [["forward_pass", "", self.value, "", "", "", "1 forward",
                                 self.forward.median, 1.0]]
        for key in METHODS:
            m = self.methods.get(key)
            if m is None:
                continue
            cost = [m.passes_text(), m.timing.median if m.timing else "",
                    "" if m.forward_passes is None else m.forward_passes]
            if m.grad is None:
                out.append([key, "", "", "", "", "", *cost])
                continue
            own = m.error_estimate or {}
            for v, g in m.grad.items():
                out.append([key, v, float(g), m.abs_error.get(v, ""), m.rel_error.get(v, ""),
                            own.get(v, ""), *cost])
        return out

    def diagnosis(self) -> None:
        return None  # non-finite values are warned about by the command

    def _at_text(self) -> str:
        return _point_text(self.at)

    def tables(self) -> list[Table]:

        many = len(self.at) > MANY
        rows: list[list[str]] = [["forward pass (the value only)", "", fmt(self.value), "", "", "",
                                  "1 forward", _time(self.forward.median, 1.0)]]
        for key in METHODS:
            if key not in self.methods:
                continue
            m = self.methods[key]
            label = LABELS[key]
            cost = [m.passes_text(), _time(m.timing.median if m.timing else None,
                                           m.forward_passes)]
            own = m.error_estimate
            if m.grad is None:
                rows.append([label, "-", "-", "-", "-", "-", *cost])
            elif many:
                rows.append([label, f"all {len(m.grad):,}", "(in --format json)",
                             number(max(m.abs_error.values(), default=None)),
                             number(max(m.rel_error.values(), default=None)),
                             number(max(own.values(), default=None)) if own else "", *cost])
            else:
                for v, g in m.grad.items():
                    rows.append([label, v, fmt(g), number(m.abs_error.get(v)),
                                 number(m.rel_error.get(v)), number(own.get(v)) if own else "",
                                 *cost])
        ref = "the symbolic derivative" if self.reference == "symbolic" else "reverse mode"
        caption = (f"errors against {ref} evaluated in float64"
                   f"{' (the largest over the variables)' if many else ''}; time per gradient: the "
                   "median CPU time of interleaved samples after a warm call (their spread in "
                   "--format json); × forward: that time over the forward pass's, to read "
                   "beside the passes each method declares")
        caption += "; estimate: the method's own estimate of its absolute error"
        notes = [f"graph nodes: {self.graph_nodes:,} (each shared subexpression once)"]
        sym = self.methods.get("symbolic")
        if sym is None:
            pass
        elif sym.grad is not None:
            notes.append(f"symbolic derivative: {sym.extra['size']:,} tree nodes, differentiated in "
                         f"{seconds(self.differentiation.median if self.differentiation else None)} "
                         "(once per expression, not counted above)")
            constant = len(sym.extra["sizes"]) - sym.extra["evaluations"]
            if constant:
                notes.append(_constants_note(constant, len(sym.extra["sizes"]),
                                             "partial derivatives"))
            if not many:
                notes += [f"  df/d{v} = {t}" for v, t in sym.extra["derivative"].items()]
        else:
            notes.append(f"symbolic: no result: {sym.extra['error']}")
        if not many:
            for key in ("forward_difference", "central_difference"):
                if key in self.methods:
                    steps = ", ".join(f"h_{v} = {h:.3g}"
                                      for v, h in self.methods[key].extra["steps"].items())
                    notes.append(f"{LABELS[key]} steps: {steps}")
            if "richardson" in self.methods and self.methods["richardson"].grad is not None:
                steps = ", ".join(f"h_{v} = {h:.3g}"
                                  for v, h in self.methods["richardson"].extra["steps"].items())
                notes.append(f"Richardson extrapolation: central differences at "
                             f"{numeric.RICHARDSON_STEPS} halving steps from "
                             f"max(1,|x|)/{1 / numeric.RICHARDSON_FIRST_STEP:g}, "
                             f"{numeric.RICHARDSON_LEVELS} levels; the estimate kept combines "
                             f"steps down to {steps}")
        cs = self.methods.get("complex_step")
        if cs is not None:
            notes.append(f"complex step: h = {cs.extra['h']:g}" if cs.grad is not None
                         else f"complex step: no result: {cs.extra['error']}")
        return [Table(f"Gradient of f = {_shortened(self.expression)} at {self._at_text()}  (f = {self.value!r})",
                      ["method", "variable", "partial derivative", "abs error", "rel error",
                       "estimate", "passes", "time per gradient (× forward)"],
                      rows, caption, right_align_from=2, notes=notes)]


def _time(median: float | None, forward_passes: float | None) -> str:
    """A time, and in parentheses that time in forward passes (3 significant digits)."""
    if forward_passes is None:
        return seconds(median)
    return f"{seconds(median)} ({forward_passes:,.0f}×)" if forward_passes >= 100 \
        else f"{seconds(median)} ({forward_passes:.3g}×)"


def _point_text(at: Mapping[str, float]) -> str:
    """The point for a title: with many variables, the first two and the last."""
    items: list[tuple[str, float | None]] = list(at.items())
    if len(items) > MANY:
        items = items[:2] + [("...", None)] + items[-1:]
    return ", ".join(k if v is None else f"{k} = {v!r}" for k, v in items)


def _shortened(expression: str) -> str:
    """A long expression cut for a title (the whole text is in the JSON), at a term if it has one."""
    if len(expression) <= 80:
        return expression
    head, tail = expression[:40], expression[-30:]
    head = head[:head.rfind(" + ")] if " + " in head else head
    tail = tail[tail.find(" + ") + 3:] if " + " in tail else tail
    return f"{head} + ... + {tail}"


def _value_at(f: Any) -> Callable[[Mapping[str, float]], float]:
    """The façade's one-point forward pass, without per-call input checks, where it has one."""
    fast = getattr(f, "_value_at", None)
    return fast if fast is not None else (lambda at: float(f(**at)))


def _value_and_grad_at(f: Any, names: list[str]) -> Callable[[Mapping[str, float]], Any]:
    """The façade's one-point forward and backward passes, without per-call input checks."""
    fast = getattr(f, "_value_and_grad_at", None)
    if fast is not None:
        return lambda at: fast(at, names)
    wanted = None if names == list(f.variables) else names
    return lambda at: f.value_and_grad(wanted, **at)


def _symbolic(f: Any, names: Sequence[str], values: Mapping[str, float], max_size: int
              ) -> tuple[dict[str, Any], Callable[[], dict[str, float]] | None, Callable[[], Any] | None]:
    """The symbolic derivatives (or the cap's error), and the two things to time."""
    from backprop.core.function import Function

    try:
        derivatives = {v: derivative(f.graph, v, 1, max_size) for v in names}
    except SizeCapError as exc:
        return {"error": str(exc), "size_reached": exc.size}, None, None
    evaluators, constants, evaluated = [], {}, {}
    for v, d in derivatives.items():
        g = Function(d.as_graph())
        if not g.variables:  # a constant derivative is a number: no pass to run
            constants[v] = _value_at(g)({})
            continue
        evaluated[v] = g.size  # an evaluation walks the derivative's graph, shared nodes once
        evaluators.append((v, _value_at(g), {k: values[k] for k in g.variables}))

    def evaluate() -> dict[str, float]:
        found = dict(constants)
        for v, value_at, at in evaluators:
            found[v] = value_at(at)
        return found

    def differentiate() -> Any:
        return [derivative(f.graph, v, 1, max_size) for v in names]

    info = {"derivative": {v: d.text() for v, d in derivatives.items()},
            "size": sum(d.size for d in derivatives.values()),
            "sizes": {v: d.size for v, d in derivatives.items()},
            "evaluations": len(evaluators), "evaluated_graph_nodes": evaluated}
    return info, evaluate, differentiate


def _constants_note(constant: int, total: int, what: str) -> str:
    """The note that says how many symbolic derivatives are constants (not evaluated)."""
    are = "is a constant: a number" if constant == 1 else "are constants: numbers"
    return f"{constant:,} of the {total:,} {what} {are}, not evaluated"


def _first_order_runs(f: Any, values: dict[str, float], names: list[str], eps: float | None,
                      chosen: Sequence[str]) -> dict[str, Callable[[], Any]]:
    """What each chosen method runs for one gradient, everything it can bind bound once.

    Every method runs on the same interpreter for the same kind of point: the float passes
    of core/scalar.py at one point of Python floats (the finite differences and Richardson
    one float forward pass per evaluation, steps chosen once; the complex step its forward
    pass on Python complex numbers), so that no method pays per-call checks or array
    conversions the others skip, and each one's time in forward passes reads as its passes.
    """
    value_at, value_and_grad_at = _value_at(f), _value_and_grad_at(f, names)
    wanted = None if names == list(f.variables) else names
    makers: dict[str, Callable[[], Callable[[], Any]]] = {
        "reverse_mode": lambda: lambda: value_and_grad_at(values),
        "forward_mode": lambda: lambda: f.forward_mode_grad(wanted, **values),
        "forward_difference": lambda: numeric.PointDifferences(f, values, numeric.FORWARD, eps,
                                                               names),
        "central_difference": lambda: numeric.PointDifferences(f, values, numeric.CENTRAL, eps,
                                                               names),
        "richardson": lambda: numeric.PointRichardson(f, values, names),
        "complex_step": lambda: numeric.PointComplexStep(f, values, names),
    }
    runs: dict[str, Callable[[], Any]] = {"forward_pass": lambda: value_at(values)}
    runs.update((k, makers[k]()) for k in chosen if k in makers)
    return runs


def _first_results(runs: dict[str, Callable[[], Any]], chosen: list[str]
                   ) -> tuple[dict[str, Any], str | None]:
    """Each method's untimed first call (the warm one): its result, by key; and the complex
    step's error at a kink (raised when it is the only method asked for)."""
    from backprop.errors import NotAnalyticError

    results: dict[str, Any] = {}
    error = None
    for key in chosen:
        try:
            results[key] = runs[key]()
        except NotAnalyticError as exc:
            if chosen == ["complex_step"]:
                raise  # nothing else to show: the error itself (exit 2)
            results[key], error = None, str(exc)
    return results, error


def declared_total(passes: Mapping[str, int]) -> int:
    """The passes a method declares, added up (a tangent pass carries one direction)."""
    return sum(n for kind, n in passes.items() if kind != "directions")


def _first_order_methods(runs: dict[str, Callable[[], Any]], results: dict[str, Any],
                         names: list[str], timings: Mapping[str, Timing],
                         cs_error: str | None, sym_info: dict[str, Any]) -> dict[str, Method]:
    """The rows: each method's partials, the passes it declares, and its time."""
    n, t_forward = len(names), timings["forward_pass"].median

    def method(key: str, grad: Sequence[float] | None, passes: dict[str, int],
               **extra: Any) -> Method:
        t = timings.get(key)
        return Method(key, None if grad is None else dict(zip(names, map(float, grad))), passes,
                      t, t.median / t_forward if t and t_forward > 0 else None, extra=extra)

    made: dict[str, Callable[[Any], Method]] = {
        "reverse_mode": lambda r: method("reverse_mode", r[1], {"forward": 1, "backward": 1}),
        "forward_mode": lambda r: method("forward_mode", [r[v] for v in names],
                                         {"forward": 1, "tangent": n}),
        "symbolic": lambda r: method("symbolic", None if r is None else [r[v] for v in names],
                                     {"derivative_evaluation": sym_info.get("evaluations", n)},
                                     **sym_info,
                                     differentiation_seconds=(timings["differentiation"].median
                                                              if "differentiation" in timings
                                                              else None)),
        "richardson": lambda r: method("richardson", [e.estimate for e in r],
                                       {"forward": sum(e.evals for e in r)},
                                       steps={v: e.step for v, e in zip(names, r)},
                                       evals=sum(e.evals for e in r)),
        # one real forward pass, shared, then one complex forward pass per variable
        "complex_step": lambda r: (method("complex_step", r, {"forward": 1, "complex_forward": n},
                                          h=runs["complex_step"].h) if r is not None else
                                   method("complex_step", None, {"complex_forward": n},
                                          h=None, error=cs_error)),
    }
    for key in ("forward_difference", "central_difference"):
        made[key] = lambda r, key=key: method(
            key, r, {"forward": runs[key].evals}, eps=runs[key].eps,
            steps=dict(zip(names, runs[key].steps)), evals=runs[key].evals)
    methods = {k: made[k](results.get(k)) for k in results if k in made}
    if "richardson" in methods:
        methods["richardson"].error_estimate = {
            v: e.error_estimate for v, e in zip(names, results["richardson"])}
    return methods


# The most work a comparison takes on, checked before it starts: variables x graph nodes
# (the numeric methods' repeated passes and the timing's rounds grow with it), and for
# --order 2 variables^2 x nodes (every second partial is a pass over the graph).
COMPARE_LIMIT = 1_000_000
COMPARE_HESSIAN_LIMIT = 10_000_000


def check_work(work: int, limit: int, what: str, why: str) -> None:
    """An InputError (exit 2) naming --wrt when ``work`` is past ``limit``."""
    if work > limit:
        from backprop.errors import InputError

        raise InputError(f"{what} = {work:,}, past the limit of {limit:,} for compare ({why}): "
                         "choose the variables with --wrt")


def compare(f: Any, point: Mapping[str, float], eps: float | None = None,
            max_size: int = DEFAULT_MAX_SIZE, wrt: Sequence[str] | None = None,
            min_total: float = 0.05, methods: Sequence[str] | None = None) -> Comparison:
    """Every method's gradient of the Function ``f`` at ``point``, with errors, costs and sizes.

    The exact reference is the symbolic derivative evaluated in float64; when
    symbolic differentiation hits its size cap, reverse mode stands in (and
    ``reference`` says so). Each method runs for at least ``min_total`` seconds.
    ``methods`` (keys of :data:`METHODS`) chooses the ones run and timed.
    """
    import numpy as np

    chosen = check_methods(methods)
    numeric.check_eps(eps)
    names = list(f.variables) if wrt is None else list(wrt)
    check_work(len(names) * f.size, COMPARE_LIMIT,
               f"{len(names):,} variables x {f.size:,} graph nodes",
               "the numeric methods make up to 15 passes over the graph for each variable")
    values = {k: float(v) for k, v in point.items()}
    sym_info, sym_eval, sym_diff = _symbolic(f, names, values, max_size)
    with np.errstate(all="ignore"):
        value, rev = f.value_and_grad(None if names == list(f.variables) else names,
                                      **values)  # checked once: names, values
        runs = _first_order_runs(f, values, names, eps, chosen)
        if sym_eval is not None and sym_diff is not None:
            runs.update(symbolic=sym_eval, differentiation=sym_diff)
        results, cs_error = _first_results(runs, [k for k in chosen if k in runs])
        if "symbolic" in chosen and "symbolic" not in results:
            results["symbolic"] = None
        timed = {"forward_pass", *results, *(["differentiation"] if "symbolic" in runs else [])}
        timed -= {k for k, r in results.items() if r is None}
        timings = time_interleaved({k: fn for k, fn in runs.items() if k in timed},
                                   min_total=min_total)
    found = _first_order_methods(runs, results, names, timings, cs_error, sym_info)
    sym_grad = found["symbolic"].grad if "symbolic" in found else (
        {v: float(x) for v, x in sym_eval().items()} if sym_eval else None)
    if sym_grad is not None:
        exact, reference = sym_grad, "symbolic"
    else:
        exact, reference = {v: float(rev[v]) for v in names}, "reverse_mode"
    for m in found.values():
        m.abs_error, m.rel_error = relative_errors(m.grad, exact)  # type: ignore[arg-type]
    return Comparison(f.text.strip() or str(f), values, float(value), f.size, reference,
                      timings["forward_pass"], found, timings.get("differentiation"),
                      load_average())


# ---- second order: the Hessian three ways -----------------------------------------------------

HESSIAN_METHODS = ("forward_over_reverse", "symbolic", "central_difference")
# symbolic second partials that take this long (CPU seconds) are timed once, not in rounds
SLOW_DIFFERENTIATION = 0.5
HESSIAN_LABELS = {
    "forward_over_reverse": "forward over reverse",
    "symbolic": "symbolic (evaluation)",
    "central_difference": "central diff. of the gradient",
}


def _pairs(names: Sequence[str]) -> list[tuple[int, int]]:
    """Each second partial once (the matrix is symmetric): the upper triangle, by rows."""
    n = len(names)
    return [(i, j) for i in range(n) for j in range(i, n)]


@dataclass
class HessianMethod:
    """One way to the Hessian: the matrix, what it runs and what it cost."""

    key: str
    hessian: Any  # (n, n) float array, or None (no result)
    passes: dict[str, int]  # counted, as first order's
    passes_text: str
    timing: Timing | None  # per Hessian
    forward_passes: float | None = None  # time per Hessian over one forward pass
    abs_error: Any = None  # (n, n), against the reference
    rel_error: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self, names: Sequence[str]) -> dict[str, Any]:
        def matrix(m: Any) -> Any:
            if m is None:
                return None
            return {u: {v: float(m[i, j]) for j, v in enumerate(names)} for i, u in enumerate(names)}

        return {"hessian": matrix(self.hessian), "abs_error": matrix(self.abs_error),
                "rel_error": matrix(self.rel_error), "passes": self.passes,
                "seconds": self.timing.median if self.timing else None,
                "forward_passes": self.forward_passes,
                "declared_passes": declared_total(self.passes),
                "timing": self.timing.to_json() if self.timing else None, **self.extra}


@dataclass
class HessianComparison:
    """:func:`compare_hessian`'s result: it knows its table, its JSON and its CSV rows."""

    expression: str
    at: dict[str, float]
    value: float
    wrt: list[str]
    graph_nodes: int
    gradient_graph_nodes: int  # the original's modules and the backward pass's, shared
    reference: str  # "symbolic", or "forward_over_reverse" when the symbolic route is over the cap
    forward: Timing
    methods: dict[str, HessianMethod]
    build: Timing | None  # building the backward pass as a graph, once per expression
    differentiation: Timing | None  # the symbolic second partials, once per expression
    load: float | None = None
    non_finite: str | None = None  # which module made the value, gradient or Hessian nan or inf

    COLUMNS = ("method", "partial", "value", "abs_error", "rel_error", "passes", "seconds",
               "forward_passes")

    def to_json(self) -> dict[str, Any]:
        return {"expression": self.expression, "at": self.at, "value": self.value, "order": 2,
                "wrt": self.wrt, "graph_nodes": self.graph_nodes,
                "gradient_graph_nodes": self.gradient_graph_nodes, "reference": self.reference,
                "methods": {k: m.to_json(self.wrt) for k, m in self.methods.items()},
                "forward_pass": {"seconds": self.forward.median, "timing": self.forward.to_json()},
                "build_seconds": self.build.median if self.build else None,
                "differentiation_seconds": (self.differentiation.median if self.differentiation
                                            else None),
                "load_average": self.load}

    @property
    def columns(self) -> list[str]:
        return list(self.COLUMNS)

    def rows(self) -> list[list[Any]]:
        """CSV: the forward pass, then one row per method per second partial (each once)."""
        from backprop.symbolic import partial_label

        out: list[list[Any]] = [["forward_pass", "f", self.value, "", "", "1 forward",
                                 self.forward.median, 1.0]]
        for key in HESSIAN_METHODS:
            m = self.methods.get(key)
            if m is None:
                continue
            cost = [m.passes_text, m.timing.median if m.timing else "",
                    "" if m.forward_passes is None else m.forward_passes]
            if m.hessian is None:
                out.append([key, "", "", "", "", *cost])
                continue
            for i, j in _pairs(self.wrt):
                out.append([key, partial_label([self.wrt[i], self.wrt[j]]), float(m.hessian[i, j]),
                            float(m.abs_error[i, j]), float(m.rel_error[i, j]), *cost])
        return out

    def diagnosis(self) -> None:
        return None  # non-finite values are warned about by the command, as first order's

    def _timed_once(self) -> bool:
        return self.differentiation is not None and self.differentiation.repeats == 1

    def tables(self) -> list[Table]:
        from backprop.symbolic import partial_label

        many = len(self.wrt) > MANY
        rows: list[list[str]] = [["forward pass (the value only)", "", fmt(self.value), "", "",
                                  "1 forward", _time(self.forward.median, 1.0)]]
        for key in HESSIAN_METHODS:
            m = self.methods.get(key)
            if m is None:
                continue
            cost = [m.passes_text, _time(m.timing.median if m.timing else None,
                                         m.forward_passes)]
            label = HESSIAN_LABELS[key]
            if m.hessian is None:
                rows.append([label, "-", "-", "-", "-", *cost])
            elif many:
                k = len(self.wrt)
                rows.append([label, f"all {k * (k + 1) // 2:,}", "(in --format json)",
                             number(float(m.abs_error.max())), number(float(m.rel_error.max())),
                             *cost])
            else:
                for i, j in _pairs(self.wrt):
                    rows.append([label, partial_label([self.wrt[i], self.wrt[j]]),
                                 fmt(float(m.hessian[i, j])), number(float(m.abs_error[i, j])),
                                 number(float(m.rel_error[i, j])), *cost])
        ref = ("the symbolic second partials" if self.reference == "symbolic"
               else "forward over reverse")
        caption = (f"errors against {ref} evaluated in float64"
                   f"{' (the largest over the entries)' if many else ''}; each second partial "
                   "once (the matrix is symmetric); time per Hessian: the median CPU time of "
                   "interleaved samples after a warm call (their spread in --format json); × "
                   "forward: that time over the forward pass's, to read beside the passes each "
                   "method declares")
        notes = [f"graph nodes: {self.graph_nodes:,}; the backward pass built as a graph of the "
                 f"same modules: {self.gradient_graph_nodes:,} nodes, built in "
                 f"{seconds(self.build.median if self.build else None)} (once per expression, "
                 "not counted above)"]
        sym = self.methods.get("symbolic")
        if sym is not None and sym.hessian is not None:
            notes.append(f"symbolic second partials: {sym.extra['size']:,} tree nodes, "
                         f"differentiated in "
                         f"{seconds(self.differentiation.median if self.differentiation else None)}"
                         " (once per expression, not counted above"
                         f"{'; one call, too slow to repeat' if self._timed_once() else ''})")
            constant = len(sym.extra["sizes"]) - sym.extra["evaluations"]
            if constant:
                notes.append(_constants_note(constant, len(sym.extra["sizes"]), "second partials"))
            if not many:
                notes += [f"  {k} = {t}" for k, t in sym.extra["derivative"].items()]
        elif sym is not None:
            notes.append(f"symbolic: no result: {sym.extra['error']}")
        cd = self.methods.get("central_difference")
        if cd is not None and not many:
            steps = ", ".join(f"h_{v} = {h:.3g}" for v, h in cd.extra["steps"].items())
            notes.append(f"central differences of the reverse-mode gradient, steps: {steps}")
        return [Table(f"Hessian of f = {_shortened(self.expression)} at {_point_text(self.at)}  (f = {self.value!r})",
                      ["method", "partial", "second derivative", "abs error", "rel error",
                       "passes", "time per Hessian (× forward)"], rows, caption, right_align_from=2,
                      notes=notes)]


def _entry_errors(h: Any, exact: Any) -> tuple[Any, Any]:
    """Absolute and relative error of each entry (relative: 0 where both are 0, inf where only
    the exact one is)."""
    import numpy as np

    with np.errstate(all="ignore"):
        d = np.abs(h - exact)
        rel = np.where(exact != 0, d / np.abs(exact), np.where(d == 0, 0.0, np.inf))
    return d, rel


class _SymbolicSecond:
    """The symbolic route to the Hessian: each second partial once (as ``diff --hessian``
    takes them), differentiated at construction (timed: its CPU seconds), and evaluated
    at the point by a call."""

    def __init__(self, f: Any, names: list[str], values: Mapping[str, float],
                 max_size: int) -> None:
        from backprop.core.function import Function
        from backprop.symbolic import partial_label

        self.f, self.names, self.max_size = f, names, max_size
        self.pairs = _pairs(names)
        self.constants: list[tuple[int, int, float]] = []
        self.evaluators: list[tuple[int, int, Callable[[Mapping[str, float]], float],
                                    dict[str, float]]] = []
        started = CLOCK()
        try:
            second = self.differentiate()
        except SizeCapError as exc:
            self.seconds, self.info = None, {"error": str(exc), "size_reached": exc.size}
            return
        self.seconds = CLOCK() - started
        labels = [partial_label([names[i], names[j]]) for i, j in self.pairs]
        evaluated = {}
        for (i, j), d, label in zip(self.pairs, second, labels):
            g = Function(d.as_graph())
            if not g.variables:  # a constant second partial is a number: no pass to run
                self.constants.append((i, j, _value_at(g)({})))
                continue
            evaluated[label] = g.size  # an evaluation walks its graph, shared nodes once
            self.evaluators.append((i, j, _value_at(g), {k: values[k] for k in g.variables}))
        self.info = {"derivative": {k: d.text() for k, d in zip(labels, second)},
                     "size": sum(d.size for d in second),
                     "sizes": {k: d.size for k, d in zip(labels, second)},
                     "evaluations": len(self.evaluators), "evaluated_graph_nodes": evaluated}

    def differentiate(self) -> list[Any]:
        from backprop.symbolic import second_partials

        entries = second_partials(self.f.graph, self.names, self.max_size)
        return [entries[(self.names[i], self.names[j])] for i, j in self.pairs]

    def __call__(self) -> Any:
        import numpy as np

        n = len(self.names)
        h = np.empty((n, n))
        for i, j, value in self.constants:
            h[i, j] = h[j, i] = value
        for i, j, value_at, at in self.evaluators:
            h[i, j] = h[j, i] = value_at(at)
        return h


def _hessian_runs(f: Any, values: dict[str, float], names: list[str], eps: float | None,
                  sym: _SymbolicSecond) -> dict[str, Callable[[], Any]]:
    """What each way to the Hessian runs, bound once at the point (as first order's): forward
    over reverse and the gradients central differences take on the float passes."""
    from backprop.core.gradient_graph import SecondOrderPlan

    hessian_at, grad_at, value_at = f._value_grad_hessian_at, _value_and_grad_at(f, names), \
        _value_at(f)
    runs: dict[str, Callable[[], Any]] = {
        "forward_pass": lambda: value_at(values),
        "forward_over_reverse": lambda: hessian_at(values, names),
        "central_difference": numeric.GradientDifferences(lambda at: grad_at(at)[1], values,
                                                          names, eps),
        "build": lambda: SecondOrderPlan.of(f.graph, names),
    }
    if sym.seconds is not None:  # differentiated (not stopped at the size cap)
        runs["symbolic"] = sym
        if sym.seconds is not None and sym.seconds < SLOW_DIFFERENTIATION:
            runs["differentiation"] = sym.differentiate
    return runs


def _hessian_methods(runs: dict[str, Callable[[], Any]], results: dict[str, Any],
                     n: int, timings: Mapping[str, Timing], eps: float | None,
                     sym: _SymbolicSecond) -> dict[str, HessianMethod]:
    """The rows: each way's Hessian, the passes it declares, and its time."""
    t_forward = timings["forward_pass"].median
    cd, evaluations = runs["central_difference"], len(sym.evaluators)

    def method(key: str, passes: dict[str, int], text: str, **extra: Any) -> HessianMethod:
        t = timings.get(key)
        return HessianMethod(key, results.get(key), passes, text, t,
                             t.median / t_forward if t and t_forward > 0 else None, extra=extra)

    differentiation = timings.get("differentiation")
    return {
        # the backward pass built as a graph: its forward pass is the original's forward and
        # backward passes, and its tangent pass carries the n directions through both: the
        # work of 2n tangent passes
        "forward_over_reverse": method(
            "forward_over_reverse", {"forward": 1, "backward": 1, "tangent": 2 * n,
                                     "directions": n},
            f"1 forward + 1 backward + {2 * n:,} tangent"),
        "symbolic": method("symbolic", {"derivative_evaluation": evaluations},
                           f"{evaluations:,} derivative evaluation{'s' if evaluations != 1 else ''}",
                           **sym.info, differentiation_seconds=(
                               differentiation.median if differentiation else None)),
        "central_difference": method(
            "central_difference", {"forward": cd.evals, "backward": cd.evals},
            f"{cd.evals:,} forward + {cd.evals:,} backward",
            eps=eps if eps is not None else numeric.CENTRAL_EPS,
            steps=dict(zip(sym.names, cd.steps)), evals=cd.evals),
    }


def compare_hessian(f: Any, point: Mapping[str, float], eps: float | None = None,
                    max_size: int = DEFAULT_MAX_SIZE, wrt: Sequence[str] | None = None,
                    min_total: float = 0.05) -> HessianComparison:
    """The Hessian of the Function ``f`` at ``point`` three ways, with errors and costs.

    Forward over reverse (:meth:`Function.hessian`: the backward pass built as a
    graph, one forward pass over it and one tangent pass carrying every
    direction); the symbolic route (each second partial by the symbolic
    differentiator, as ``backprop diff --hessian`` prints it, evaluated); central
    differences of the reverse-mode gradient
    (:class:`backprop.methods.numeric.GradientDifferences`, steps by
    :func:`backprop.methods.numeric.step`: two gradients per variable). As at first order,
    the reference is the symbolic route evaluated in float64, or forward over reverse
    when the symbolic second partials are over the size cap; every method is
    timed by :func:`~backprop.studies.timing.time_interleaved` beside one forward pass.
    """
    import numpy as np

    from backprop.core.gradient_graph import SecondOrderPlan
    from backprop.errors import InputError

    numeric.check_eps(eps)
    names = list(f.variables) if wrt is None else list(wrt)
    if not names:
        raise InputError("the expression has no variables: there is no Hessian to compare")
    check_work(len(names) ** 2 * f.size, COMPARE_HESSIAN_LIMIT,
               f"{len(names):,}^2 variables x {f.size:,} graph nodes",
               "the symbolic route takes every second partial, each a pass over the graph")
    values = {k: float(v) for k, v in point.items()}
    n = len(names)
    value, _, _ = f.hessian(names, **values)  # checked once: names, values
    sym = _SymbolicSecond(f, names, values, max_size)
    runs = _hessian_runs(f, values, names, eps, sym)
    with np.errstate(all="ignore"):
        results = {k: runs[k]() for k in HESSIAN_METHODS if k in runs}
        timings = time_interleaved(runs, min_total=min_total)
    results["forward_over_reverse"] = np.asarray(results["forward_over_reverse"][2],
                                                 dtype=np.float64).reshape(n, n)
    if "differentiation" not in runs and sym.seconds is not None:
        # n(n+1)/2 symbolic partials of a large expression: seconds a call; the first
        # call's CPU time is the measurement (one sample), not repeated rounds of it
        timings["differentiation"] = Timing.of([sym.seconds], 1)
    methods = _hessian_methods(runs, results, n, timings, eps, sym)
    exact = results.get("symbolic")
    reference = "symbolic" if exact is not None else "forward_over_reverse"
    if exact is None:
        exact = results["forward_over_reverse"]
    for m in methods.values():
        if m.hessian is not None:
            m.abs_error, m.rel_error = _entry_errors(m.hessian, exact)
    found = f.hessians(values, names).diagnosis()
    return HessianComparison(f.text.strip() or str(f), values, float(value), names, f.size,
                             SecondOrderPlan.of(f.graph, names).gg.size, reference,
                             timings["forward_pass"], methods, timings.get("build"),
                             timings.get("differentiation"), load_average(),
                             None if found is None else found.message())

"""The four ways to a gradient, side by side, and the seed's cost claims measured.

:func:`compare` differentiates one expression at one point by reverse mode
(backpropagation), forward mode, symbolic differentiation and forward and
central differences, and reports each method's partials, errors, cost and the
sizes involved. :func:`scaling` measures how the costs grow: numeric gradient
against backpropagation as a network's parameter count grows, the symbolic
derivative's size against the graph's as an expression deepens, and the cost of
a gradient over one forward pass. Both return plain dicts and lists (the JSON
the command line prints).
"""

from __future__ import annotations

import contextlib
import gc
import math
import time
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np

from backprop import numeric
from backprop.symbolic import DEFAULT_MAX_SIZE, SizeCapError, derivative

SEED_EXPRESSION = "2/sin(exp(-x))"
SEED_POINT = -4.499

METHODS = ("reverse_mode", "forward_mode", "symbolic", "forward_difference", "central_difference")


def _errors(grad: Mapping[str, float] | None, exact: Mapping[str, float]) -> tuple[dict, dict]:
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


def _evaluate(d: Any, values: Mapping[str, float]) -> float:
    """A symbolic derivative's value at a point, in float64 (a forward pass over its tree)."""
    from backprop.core import engine

    g = d.as_graph()
    vals = engine.forward(g, engine.Plan.of(g), values)
    return float(np.asarray(vals[d.root], dtype=np.float64))


def compare(f: Any, point: Mapping[str, float], eps: float | None = None,
            max_size: int = DEFAULT_MAX_SIZE, wrt: Sequence[str] | None = None) -> dict[str, Any]:
    """Every method's gradient of the Function ``f`` at ``point``, with errors, costs and sizes.

    The exact reference is the symbolic derivative evaluated in float64; when
    symbolic differentiation hits its size cap, reverse mode stands in (and
    ``"reference"`` says so).
    """
    numeric.check_eps(eps)
    names = list(f.variables) if wrt is None else list(wrt)
    values = {k: float(v) for k, v in point.items()}
    methods: dict[str, dict[str, Any]] = {}

    t0 = time.perf_counter()
    value, grad = f.value_and_grad(names, **values)
    methods["reverse_mode"] = {"grad": {v: float(grad[v]) for v in names}, "evals": 1,
                               "seconds": time.perf_counter() - t0}

    t0 = time.perf_counter()
    tangents = f.forward_mode_grad(names, **values)
    methods["forward_mode"] = {"grad": {v: float(tangents[v]) for v in names}, "evals": len(names),
                               "seconds": time.perf_counter() - t0}

    t0 = time.perf_counter()
    try:
        derivatives = {v: derivative(f.graph, v, 1, max_size) for v in names}
        sym_grad = {v: _evaluate(d, values) for v, d in derivatives.items()}
        texts = {v: d.text() for v, d in derivatives.items()}
        sizes = {v: d.size for v, d in derivatives.items()}
        methods["symbolic"] = {"grad": sym_grad, "derivative": texts, "size": sum(sizes.values()),
                               "sizes": sizes, "evals": len(names),
                               "seconds": time.perf_counter() - t0}
        exact, reference = sym_grad, "symbolic"
    except SizeCapError as exc:
        methods["symbolic"] = {"grad": None, "derivative": None, "size": None,
                               "error": str(exc), "size_reached": exc.size,
                               "seconds": time.perf_counter() - t0}
        exact, reference = methods["reverse_mode"]["grad"], "reverse_mode"

    for key, method in (("forward_difference", numeric.FORWARD), ("central_difference", numeric.CENTRAL)):
        t0 = time.perf_counter()
        ng = numeric.gradient(f, values, method, eps, names)
        methods[key] = {"grad": ng.grad, "eps": ng.eps, "steps": ng.steps, "evals": ng.evals,
                        "seconds": time.perf_counter() - t0}

    for m in methods.values():
        m["abs_error"], m["rel_error"] = _errors(m["grad"], exact)

    return {"expression": f.text.strip() or str(f), "at": values, "value": float(value),
            "graph_nodes": f.size, "reference": reference,
            "methods": {k: methods[k] for k in METHODS}}


# ---- scaling ---------------------------------------------------------------------


def _median_time(fn: Callable[[], Any], min_total: float = 0.02, max_repeats: int = 50) -> float:
    """Median wall time of ``fn`` over repeats totalling at least ``min_total`` seconds."""
    times: list[float] = []
    total = 0.0
    collecting = gc.isenabled()
    gc.disable()  # as timeit does: a collection mid-run is noise, not the method's cost
    try:
        while len(times) < 3 or (total < min_total and len(times) < max_repeats):
            t0 = time.perf_counter()
            fn()
            dt = time.perf_counter() - t0
            times.append(dt)
            total += dt
    finally:
        if collecting:
            gc.enable()
    return float(np.median(times))


@contextlib.contextmanager
def single_threaded() -> Iterator[None]:
    """BLAS on one thread while timing: on a small shared machine its threads only
    contend, and a matrix product's time then says nothing about its size."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional: without it the timings are noisier, not wrong
        yield
        return
    with threadpool_limits(limits=1):
        yield


def fit_exponent(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Slope of log y against log x (least squares): y ~ x^slope."""
    pts = [(math.log(x), math.log(y)) for x, y in zip(xs, ys) if x > 0 and y is not None and y > 0]
    if len(pts) < 2:
        return None
    lx = np.array([p[0] for p in pts])
    ly = np.array([p[1] for p in pts])
    if np.ptp(lx) == 0:
        return None
    return float(np.polyfit(lx, ly, 1)[0])


def _upper(rows: list[dict], key: str, keep: int = 3) -> tuple[list[float], list[float]]:
    """(params, times) of the largest ``keep`` sizes that have ``key``: the asymptotic range."""
    pts = [(r["params"], r[key]) for r in rows if r.get(key) is not None]
    pts = pts[-keep:]
    return [p for p, _ in pts], [t for _, t in pts]


SAMPLES = 64  # enough that the arithmetic, not Python's overhead, sets the time at large |W|


class Network:
    """A one-hidden-layer regression network in numpy, with its loss as a flat-vector function.

    a = X W + b, h = tanh(a), y_hat = h V + c, E = mean((y_hat - y)^2) / 2.
    """

    def __init__(self, inputs: int, hidden: int, samples: int = SAMPLES, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.d, self.H = inputs, hidden
        self.X = rng.standard_normal((samples, inputs))
        self.y = rng.standard_normal(samples)
        self.shapes = [(inputs, hidden), (hidden,), (hidden,), ()]  # W, b, V, c
        self.sizes = [int(np.prod(s)) for s in self.shapes]
        self.params = sum(self.sizes)
        self.w = rng.standard_normal(self.params) / math.sqrt(max(inputs, 1))
        # the gradient is written into one preallocated vector: a fresh 800 kB
        # array per call costs page faults that have nothing to do with backprop
        self._grad = np.empty(self.params)
        self._grad_views = self.unpack(self._grad)

    def unpack(self, w: np.ndarray) -> list[np.ndarray]:
        out, k = [], 0
        for s, n in zip(self.shapes, self.sizes):
            out.append(w[k:k + n].reshape(s))
            k += n
        return out

    def loss(self, w: np.ndarray) -> float:
        """The forward pass only: the numeric gradient calls this once per evaluation."""
        W, b, V, c = self.unpack(w)
        h = np.tanh(self.X @ W + b)
        y_hat = h @ V + c
        r = y_hat - self.y
        return 0.5 * float(r @ r) / len(r)

    def loss_and_grad(self, w: np.ndarray) -> tuple[float, np.ndarray]:
        """Forward pass, then backpropagation through the two affine layers and tanh."""
        W, b, V, c = self.unpack(w)
        h = np.tanh(self.X @ W + b)
        y_hat = h @ V + c
        r = y_hat - self.y
        n = len(r)
        d_W, d_b, d_V, d_c = self._grad_views
        d_y_hat = r / n
        np.matmul(h.T, d_y_hat, out=d_V)
        d_c[...] = d_y_hat.sum()
        d_a = np.outer(d_y_hat, V)
        d_a *= 1.0 - h * h
        np.matmul(self.X.T, d_a, out=d_W)
        np.sum(d_a, axis=0, out=d_b)
        return 0.5 * float(r @ r) / n, self._grad


NETWORK_TARGETS = (10, 30, 100, 300, 1_000, 3_000, 10_000, 20_000, 30_000, 50_000, 100_000)


def network_scaling(deadline: float, targets: Sequence[int] = NETWORK_TARGETS,
                    progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Numeric gradient against backpropagation as the parameter count |W| grows.

    The numeric gradient of a size is skipped when its predicted time (|W| + 1
    forward passes) would overrun ``deadline``; backpropagation is measured at
    every size.
    """
    rows: list[dict[str, Any]] = []
    per_param = 0.0  # seconds the last size's timings took, per parameter
    for target in targets:
        # stop before a size whose timings alone (predicted from the last size,
        # with a margin for a shared machine) would overrun the deadline
        if time.perf_counter() + 2.0 * per_param * target >= deadline:
            break
        hidden = max(1, round(math.sqrt(target)) - 1)  # d = H: (H + 1)^2 parameters
        net = Network(hidden, hidden)
        w = net.w
        t_start = time.perf_counter()
        t_forward = _median_time(lambda: net.loss(w))
        t_backprop = _median_time(lambda: net.loss_and_grad(w))
        per_param = (time.perf_counter() - t_start) / net.params
        row: dict[str, Any] = {"params": net.params, "forward_seconds": t_forward,
                               "backprop_seconds": t_backprop,
                               "backprop_over_forward": t_backprop / t_forward,
                               "numeric_seconds": None, "numeric_evals": None, "max_difference": None}
        predicted = (net.params + 1) * t_forward * 1.5  # margin: the machine is shared
        if time.perf_counter() + predicted < deadline:
            if progress:
                progress(f"network |W| = {net.params:,}: numeric gradient, about {predicted:.1f} s")
            t0 = time.perf_counter()
            g_num, evals = numeric.gradient_vector(net.loss, w, numeric.FORWARD)
            row["numeric_seconds"] = time.perf_counter() - t0
            row["numeric_evals"] = evals
            g_bp = net.loss_and_grad(w)[1].copy()
            row["max_difference"] = float(np.max(np.abs(g_num - g_bp)))
            row["numeric_over_backprop"] = row["numeric_seconds"] / t_backprop
        else:
            row["numeric_skipped"] = f"predicted {predicted:.1f} s would overrun the time budget"
        rows.append(row)
    xs_n, ys_n = _upper(rows, "numeric_seconds")
    xs_b, ys_b = _upper(rows, "backprop_seconds")
    # Fixed costs (Python, numpy calls) weigh on both methods alike, so their ratio
    # shows the growth cleanly over the whole range: expected near |W|^1.
    xs_r, ys_r = _upper(rows, "numeric_over_backprop", keep=len(rows))
    return {
        "network": "a = X W + b, h = tanh(a), y_hat = h V + c, E = mean((y_hat - y)^2)/2; "
                   f"inputs = hidden units, {SAMPLES} samples",
        "rows": rows,
        "numeric_exponent": fit_exponent(xs_n, ys_n),
        "numeric_fit_params": [xs_n[0], xs_n[-1]] if xs_n else None,
        "backprop_exponent": fit_exponent(xs_b, ys_b),
        "backprop_fit_params": [xs_b[0], xs_b[-1]] if xs_b else None,
        "ratio_exponent": fit_exponent(xs_r, ys_r),
    }


def nested_graph(depth: int) -> Any:
    """f_0 = x, f_{k+1} = f_k * sin(f_k): a graph of 2*depth + 1 nodes."""
    from backprop.core.graph import GraphBuilder

    b = GraphBuilder()
    f = b.var("x")
    for _ in range(depth):
        f = b.apply("mul", f, b.apply("sin", f))
    return b.finish(f)


def depth_scaling(deadline: float, max_depth: int = 40, max_size: int = DEFAULT_MAX_SIZE,
                  progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The symbolic derivative's tree size against the graph's node count, as depth grows."""
    rows: list[dict[str, Any]] = []
    last_seconds = 0.0
    capped = None
    derivative(nested_graph(1), "x")  # parse the templates now, not inside the first timing
    for k in range(1, max_depth + 1):
        now = time.perf_counter()
        if now >= deadline or now + 3.0 * last_seconds > deadline:
            break
        g = nested_graph(k)
        t0 = time.perf_counter()
        try:
            size: int | None = derivative(g, "x", 1, max_size).size
        except SizeCapError as exc:
            size, capped = None, str(exc)
        last_seconds = time.perf_counter() - t0
        rows.append({"depth": k, "graph_nodes": len(g), "symbolic_size": size,
                     "symbolic_seconds": last_seconds})
        if size is None:
            break
    sized = [r for r in rows if r["symbolic_size"] is not None]
    tail = sized[-4:]
    factor = None
    if len(tail) >= 2:
        slope = np.polyfit([r["depth"] for r in tail], [math.log(r["symbolic_size"]) for r in tail], 1)[0]
        factor = float(math.exp(slope))
    return {
        "expression": "f_0 = x, f_{k+1} = f_k * sin(f_k)",
        "rows": rows,
        "graph_nodes_exponent": fit_exponent([r["depth"] for r in rows], [r["graph_nodes"] for r in rows]),
        "graph_nodes_per_level": (float(np.polyfit([r["depth"] for r in rows],
                                                   [r["graph_nodes"] for r in rows], 1)[0])
                                  if len(rows) >= 2 else None),
        "symbolic_growth_factor_per_level": factor,
        "capped": capped,
    }


def sum_of_products_graph(n: int) -> Any:
    """E = sum_i sin(w_i) * w_{i+1} (cyclic): n parameters, about 4n nodes."""
    from backprop.core.graph import GraphBuilder

    b = GraphBuilder()
    ws = [b.var(f"w{i}") for i in range(n)]
    total = b.apply("mul", b.apply("sin", ws[0]), ws[1 % n])
    for i in range(1, n):
        total = b.apply("add", total, b.apply("mul", b.apply("sin", ws[i]), ws[(i + 1) % n]))
    return b.finish(total)


def gradient_cost(n: int, min_total: float = 0.05) -> dict[str, Any]:
    """Time of one forward pass and of forward + backward (the gradient) in the engine."""
    from backprop.core import engine

    g = sum_of_products_graph(n)
    plan = engine.Plan.of(g)
    rng = np.random.default_rng(n)
    inputs = {f"w{i}": float(v) for i, v in enumerate(rng.standard_normal(n))}
    names = list(inputs)
    t_forward = _median_time(lambda: engine.forward(g, plan, inputs), min_total)
    t_grad = _median_time(
        lambda: engine.backward(g, plan, engine.forward(g, plan, inputs), names), min_total)
    return {"params": n, "graph_nodes": len(plan.order), "forward_seconds": t_forward,
            "gradient_seconds": t_grad, "ratio": t_grad / t_forward}


def cost_scaling(deadline: float, sizes: Sequence[int] = (10, 100, 1_000, 10_000, 100_000),
                 progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The gradient's cost over one forward pass, in the engine, as the parameter count grows."""
    rows: list[dict[str, Any]] = []
    per_node = 0.0
    for n in sizes:
        # predicted: build + 3 forward + 3 gradient passes, from the last size's cost per node
        predicted = per_node * 4 * n * 12
        if time.perf_counter() + predicted > deadline:
            break
        if progress:
            progress(f"engine gradient cost, n = {n:,}")
        t0 = time.perf_counter()
        row = gradient_cost(n, min_total=0.02)
        per_node = (time.perf_counter() - t0) / (4 * n * 12)
        rows.append(row)
    ratios = [r["ratio"] for r in rows]
    return {"function": "E = sum_i sin(w_i) * w_{i+1}", "rows": rows,
            "max_ratio": max(ratios) if ratios else None}


def scaling(max_seconds: float = 60.0, max_size: int = DEFAULT_MAX_SIZE,
            progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """All three measurements within ``max_seconds`` of wall time."""
    start = time.perf_counter()
    end = start + max_seconds
    # The budget is shared out: the numeric gradient needs the most.
    with single_threaded():
        network = network_scaling(start + 0.55 * max_seconds, progress=progress)
        depth = depth_scaling(min(end, time.perf_counter() + 0.15 * max_seconds), max_size=max_size,
                              progress=progress)
        cost = cost_scaling(start + 0.9 * max_seconds, progress=progress)
    return {"max_seconds": max_seconds, "seconds": time.perf_counter() - start,
            "network": network, "depth": depth, "gradient_over_forward": cost}


# ---- the finite-difference sweep ------------------------------------------------

SWEEP_LARGEST, SWEEP_SMALLEST, SWEEP_PER_DECADE = 1e-1, 1e-15, 2


def sweep_steps(largest: float = SWEEP_LARGEST, smallest: float = SWEEP_SMALLEST,
                per_decade: int = SWEEP_PER_DECADE) -> list[float]:
    """Steps from ``largest`` down to ``smallest``, ``per_decade`` to a decade (29 by default)."""
    top, bottom = math.log10(largest), math.log10(smallest)
    n = round((top - bottom) * per_decade)
    return [10.0 ** (top - k / per_decade) for k in range(n + 1)]


def exact_gradient(f: Any, point: Mapping[str, float], names: Sequence[str],
                   max_size: int = DEFAULT_MAX_SIZE) -> tuple[dict[str, float], str]:
    """The reference gradient as :func:`compare` takes it: the symbolic derivative in float64,
    reverse mode when the symbolic derivative hits its size cap. Returns (gradient, reference)."""
    values = {k: float(v) for k, v in point.items()}
    try:
        return {v: _evaluate(derivative(f.graph, v, 1, max_size), values) for v in names}, "symbolic"
    except SizeCapError:
        _, grad = f.value_and_grad(list(names), **values)
        return {v: float(grad[v]) for v in names}, "reverse_mode"


def sweep(f: Any, point: Mapping[str, float], wrt: Sequence[str] | None = None,
          steps: Sequence[float] | None = None,
          max_size: int = DEFAULT_MAX_SIZE) -> dict[str, Any]:
    """Forward and central differences of each partial at ``point`` as the step h shrinks.

    Each step is absolute and rounded as :func:`numeric.step` rounds it (so that
    x + h - x == h); the default steps of :mod:`numeric` (relative to max(1, |x|))
    are measured too, in rows with ``"default": True``. Every row holds the
    estimate and its absolute and relative error against the exact partial: on
    log-log axes they draw a V, truncation error (~h forward, ~h^2 central) on
    the right, rounding error (~eps |f| / h) on the left.
    """
    names = list(f.variables) if wrt is None else list(wrt)
    values = {k: float(v) for k, v in point.items()}
    hs = list(sweep_steps() if steps is None else steps)
    for h in hs:
        numeric.check_eps(h)
    exact, reference = exact_gradient(f, values, names, max_size)
    with np.errstate(all="ignore"):
        value = float(f(**values))
    rows: list[dict[str, Any]] = []
    for v in names:
        x = values[v]
        wanted = [(h, False) for h in hs]
        for method in (numeric.FORWARD, numeric.CENTRAL):
            cells = wanted + [(numeric.step(x, method), True)]
            for h, default in sorted(cells, key=lambda c: -c[0]):
                taken = h if default else numeric.step(x, method, h)
                estimate = _difference(f, values, v, taken, method)
                e = exact[v]
                abs_err = abs(estimate - e)
                rel_err = abs_err / abs(e) if e != 0 else (0.0 if abs_err == 0 else math.inf)
                rows.append({"variable": v, "method": method, "h": h, "h_taken": taken,
                             "default": default, "estimate": estimate, "exact": e,
                             "abs_error": abs_err, "rel_error": rel_err})
    return {"expression": f.text.strip() or str(f), "at": values, "value": value,
            "reference": reference, "exact": exact, "machine_eps": numeric.MACHINE_EPS,
            "rows": rows}


def _difference(f: Any, values: dict[str, float], v: str, h: float, method: str) -> float:
    """One finite difference of the partial in ``v`` with the (already rounded) step ``h``."""
    x = values[v]
    at = dict(values)
    with np.errstate(all="ignore"):
        at[v] = x + h
        up = float(f(**at))
        if method == numeric.FORWARD:
            return (up - float(f(**values))) / h
        at[v] = x - h
        return (up - float(f(**at))) / (2.0 * h)

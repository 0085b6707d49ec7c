"""The lecture's cost argument, measured within a time budget (``compare --scaling``).

Three studies, each timed with :mod:`backprop.studies.timing`:

* :func:`network_scaling`: the numeric gradient of the one-hidden-layer network
  of :mod:`backprop.nn` (Affine, tanh, Affine, MSE loss, and their backward
  passes) against backpropagation, as the parameter count |W| grows;
* :func:`depth_scaling`: the symbolic derivative of f_{k+1} = f_k·sin(f_k)
  against the graph, as the depth k grows, its evaluation timed on the tree it
  counts (the shared form beside it);
* :func:`gradient_over_forward`: THE definition of a gradient's cost over one
  forward pass, used here, by bench/bench_reverse_cost.py and by the README.

The budget holds: nothing starts that its prediction (from the last size's
cost, with a margin) says would overrun; the numeric gradient of a size that
would overrun is measured on a sample of its perturbations and extrapolated
(and marked so); BLAS runs on one thread.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from backprop.methods import numeric
from backprop.studies.fixtures import NESTED, SUM_OF_SINES, expand_tree, nested_graph, sines_graph
from backprop.studies.tables import Table, load_average, number, ratio, seconds
from backprop.studies.timing import CLOCK, blas_threads, gc_paused, limit_threads, median_ratio, time_interleaved
from backprop.symbolic import DEFAULT_MAX_SIZE, SizeCapError, derivative

Progress = Callable[[str], None] | None
SAFETY = 2.0  # predictions from the last size are multiplied by this: the machine is shared
SAMPLE_SECONDS = 0.01  # each timed sample lasts this long at least: several of the scheduler's slices
# The largest derivative evaluated as a tree: the tree and its plan take about 340 bytes a
# node (9.9 million nodes held 3.4 GB); past this only the differentiation is timed.
TREE_LIMIT = 3_000_000


def fit_exponent(xs: Sequence[float], ys: Sequence[float | None]) -> float | None:
    """Slope of log y against log x (least squares): y ~ x^slope."""
    pts = [(math.log(x), math.log(y)) for x, y in zip(xs, ys) if x > 0 and y is not None and y > 0]
    if len(pts) < 2:
        return None
    lx = np.array([p[0] for p in pts])
    if np.ptp(lx) == 0:
        return None
    return float(np.polyfit(lx, np.array([p[1] for p in pts]), 1)[0])


# ---- the network ---------------------------------------------------------------

SAMPLES = 64  # enough that the arithmetic, not Python's overhead, sets the time at large |W|
NETWORK_TARGETS = (10, 30, 100, 300, 1_000, 3_000, 10_000, 30_000, 100_000)
NETWORK = (f"the nn regressor: a = W x + b, h = tanh(a), y_hat = V h + c, E = mean((y_hat - y)^2); "
           f"inputs = hidden units, {SAMPLES} samples")


class NetworkLoss:
    """The :mod:`backprop.nn` regressor and its loss, its parameters one flat vector.

    W, b, V and c are views into ``w``: the numeric gradient perturbs ``w`` in
    place and the network sees it; backpropagation is the network's own backward.
    """

    def __init__(self, hidden: int, samples: int = SAMPLES, seed: int = 0) -> None:
        from backprop.nn.layers import MSELoss
        from backprop.nn.model import Regressor

        rng = np.random.default_rng(seed)
        D = H = hidden
        shapes = [(H, D), (H,), (1, H), (1,)]
        sizes = [int(np.prod(s)) for s in shapes]
        self.w = rng.uniform(-1.0, 1.0, sum(sizes)) / math.sqrt(D)
        views, k = [], 0
        for s, n in zip(shapes, sizes):
            views.append(self.w[k:k + n].reshape(s))
            k += n
        W, b, V, c = views
        self.model = Regressor([(W, b)], V, c, activation="tanh")
        self.loss = MSELoss()
        self.X = rng.standard_normal((samples, D))
        self.Y = rng.standard_normal((samples, 1))
        self.params = self.w.size

    def forward(self) -> float:
        """The forward pass only: the numeric gradient calls this once per evaluation."""
        return self.loss.forward(self.model.forward(self.X), self.Y)

    def backprop(self) -> None:
        """Forward pass, then the backward pass of the loss and of every layer."""
        self.loss.forward(self.model.forward(self.X), self.Y)
        self.model.backward(self.loss.backward())

    def gradient(self) -> np.ndarray:
        self.backprop()
        return np.concatenate([g.reshape(-1) for g in self.model.grads.values()])


def network_scaling(deadline: float, targets: Sequence[int] = NETWORK_TARGETS,
                    progress: Progress = None) -> dict[str, Any]:
    """Numeric gradient (forward differences) against backpropagation as |W| grows.

    Every size gets an equal share of the time left; a numeric gradient that
    would overrun its share is measured on a random sample of its perturbations
    and extrapolated to all of them.
    """
    rows: list[dict[str, Any]] = []
    per_param = 0.0  # seconds of one forward and one backprop call, per parameter, at the last size
    stopped = None
    for k, target in enumerate(targets):
        hidden = max(1, round(math.sqrt(target)) - 1)  # (H + 1)^2 parameters
        params = (hidden + 1) ** 2
        # the least the harness needs: a warm call and one round of each
        if time.perf_counter() + SAFETY * 2 * max(per_param * params, SAMPLE_SECONDS) >= deadline:
            stopped = f"|W| = {params:,} and larger: not started, the time budget would be overrun"
            break
        net = NetworkLoss(hidden)
        t = time_interleaved({"forward": net.forward, "backprop": net.backprop},
                             min_total=0.02, min_repeats=5, sample_seconds=SAMPLE_SECONDS,
                             deadline=deadline)
        per_param = (t["forward"].median + t["backprop"].median) / params
        t_forward, t_backprop = t["forward"].median, t["backprop"].median
        row: dict[str, Any] = {
            "params": params, "forward_seconds": t_forward, "backprop_seconds": t_backprop,
            "backprop_over_forward": median_ratio(t["backprop"], t["forward"]),
            "forward_timing": t["forward"].to_json(), "backprop_timing": t["backprop"].to_json(),
            "numeric_seconds": None, "numeric_evals": params + 1, "numeric_measured": None,
            "numeric_over_backprop": None, "max_difference": None}
        share = (deadline - time.perf_counter()) / (len(targets) - k)
        predicted = (params + 1) * t_forward
        if progress:
            progress(f"network |W| = {params:,}: numeric gradient, about {predicted:.2g} s "
                     f"(share {share:.2g} s)")
        g_bp = net.gradient()
        if SAFETY * 20 * t_forward > share:  # not even 20 perturbations fit: no estimate worth giving
            row["numeric_measured"] = "skipped: the time budget would be overrun"
            rows.append(row)
            continue
        if SAFETY * 4 * predicted < share:  # room for repeats: timed as the others are
            done, g_num = _numeric_timed(net, row, share)
        else:
            found = _numeric_sampled(net, row, params, share)
            if found is None:
                row["numeric_measured"] = "skipped: the time budget would be overrun"
                rows.append(row)
                continue
            done, g_num = found
        row["numeric_over_backprop"] = row["numeric_seconds"] / t_backprop
        row["max_difference"] = float(np.max(np.abs(g_num - g_bp[done]))) if done.size else None
        rows.append(row)
    return _network_summary(rows, stopped)


def _numeric_timed(net: NetworkLoss, row: dict[str, Any], share: float
                   ) -> tuple[np.ndarray, np.ndarray]:
    """The numeric gradient timed with repeats, as the passes are; the indices done and
    the gradient."""
    nt = time_interleaved({"numeric": lambda: numeric.differences(net.forward, net.w)},
                          min_total=0.05, min_repeats=3, sample_seconds=SAMPLE_SECONDS,
                          deadline=time.perf_counter() + share)
    d = numeric.differences(net.forward, net.w)
    row["numeric_seconds"] = nt["numeric"].median
    row["numeric_timing"] = nt["numeric"].to_json()
    reps = nt["numeric"].repeats
    row["numeric_measured"] = (f"median of {reps}" if reps else
                               "one call (the budget allowed no repeats)")
    return d.indices, d.grad


def _numeric_sampled(net: NetworkLoss, row: dict[str, Any], params: int, share: float
                     ) -> tuple[np.ndarray, np.ndarray] | None:
    """One run over a random order of the parameters, cut off at the share's end and
    extrapolated to all of them; None when fewer than 20 perturbations fit."""
    order = np.random.default_rng(params).permutation(params)
    wall0, t0 = time.perf_counter(), CLOCK()  # CPU time, as the harness times
    f0 = net.forward()
    t_f0 = CLOCK() - t0
    d = numeric.differences(net.forward, net.w, f0=f0, indices=order, deadline=wall0 + share)
    elapsed = CLOCK() - t0
    done = d.indices
    if done.size < 20:
        return None
    if d.complete:
        row["numeric_seconds"] = elapsed
        row["numeric_measured"] = "one run"
    else:
        row["numeric_seconds"] = t_f0 + (elapsed - t_f0) / done.size * params
        row["numeric_measured"] = f"extrapolated from {done.size:,} of {params:,} perturbations"
    return done, d.grad


def _network_summary(rows: list[dict[str, Any]], stopped: str | None) -> dict[str, Any]:
    """The rows, and the growth exponents fitted to the largest sizes."""
    ps = [r["params"] for r in rows]
    upper = rows[-3:]
    return {
        "network": NETWORK, "rows": rows, "stopped": stopped,
        "numeric_exponent": fit_exponent([r["params"] for r in upper], [r["numeric_seconds"] for r in upper]),
        "backprop_exponent": fit_exponent([r["params"] for r in upper], [r["backprop_seconds"] for r in upper]),
        "fit_params": [upper[0]["params"], upper[-1]["params"]] if len(upper) >= 2 else None,
        # fixed costs (Python, numpy calls) weigh on both alike: the ratio shows the growth
        # over the whole range, expected near |W|^1
        "ratio_exponent": fit_exponent(ps, [r["numeric_over_backprop"] for r in rows]),
    }


# ---- the symbolic swell --------------------------------------------------------

DEPTH_X = 1.5  # f_k stays near pi/2 (where sin f = 1): the values neither vanish nor blow up


def depth_scaling(deadline: float, max_depth: int = 40, max_size: int = DEFAULT_MAX_SIZE,
                  progress: Progress = None) -> dict[str, Any]:
    """The symbolic derivative's tree size against the graph's node count as depth grows,
    and the time of evaluating it as that tree (and as the shared DAG the builder keeps)."""
    from backprop.core.function import Function

    rows: list[dict[str, Any]] = []
    capped = stopped = None
    per_node = 0.0  # seconds per tree node of the last depth's expansion and plan
    per_eval = 0.0  # seconds per tree node of the last depth's evaluation
    last_diff = 0.0
    derivative(nested_graph(1), "x")  # the derivative templates parsed now, not in a timing
    for k in range(1, max_depth + 1):
        if time.perf_counter() + SAFETY * 3 * last_diff >= deadline:
            stopped = f"depth {k} and deeper: not started, the time budget would be overrun"
            break
        g = nested_graph(k)
        t0 = time.perf_counter()
        try:
            d = derivative(g, "x", 1, max_size)
        except SizeCapError as exc:
            capped = str(exc)
            rows.append({"depth": k, "graph_nodes": len(g), "symbolic_size": None,
                         "differentiation_seconds": time.perf_counter() - t0,
                         "tree_seconds": None, "shared_seconds": None, "shared_nodes": None})
            break
        last_diff = time.perf_counter() - t0
        row: dict[str, Any] = {"depth": k, "graph_nodes": len(g), "symbolic_size": d.size,
                               "differentiation_seconds": last_diff, "tree_seconds": None,
                               "shared_seconds": None, "shared_nodes": None}
        rows.append(row)
        # predicted: building the tree and its plan, then three evaluations of it
        predicted = 1.2 * (per_node * d.size + 3 * per_eval * d.size)  # linear in the size
        if time.perf_counter() + predicted >= deadline:
            row["tree_skipped"] = "the time budget would be overrun"
            continue
        if d.size > TREE_LIMIT:
            row["tree_skipped"] = (f"a tree of more than {TREE_LIMIT:,} nodes is not built "
                                   "(about 340 bytes a node)")
            continue
        if progress:
            progress(f"depth {k}: evaluating a derivative tree of {d.size:,} nodes")
        t0 = time.perf_counter()
        with gc_paused():
            tree = Function(expand_tree(d.graph, d.root))
            shared = Function(d.as_graph())
        per_node = (time.perf_counter() - t0) / d.size
        t = time_interleaved({"tree": lambda: tree(x=DEPTH_X), "shared": lambda: shared(x=DEPTH_X)},
                             min_total=0.02, min_repeats=3, sample_seconds=SAMPLE_SECONDS,
                             deadline=deadline)
        per_eval = t["tree"].median / d.size
        row.update(tree_seconds=t["tree"].median, shared_seconds=t["shared"].median,
                   tree_nodes=tree.size, shared_nodes=shared.size,
                   tree_timing=t["tree"].to_json(), shared_timing=t["shared"].to_json())
        del tree, shared
    sized = [r for r in rows if r["symbolic_size"] is not None]
    tail = sized[-4:]
    factor = None
    if len(tail) >= 2:
        slope = np.polyfit([r["depth"] for r in tail], [math.log(r["symbolic_size"]) for r in tail], 1)[0]
        factor = float(math.exp(slope))
    depths = [r["depth"] for r in rows]
    nodes = [r["graph_nodes"] for r in rows]
    return {
        "expression": NESTED, "at": {"x": DEPTH_X}, "rows": rows,
        "graph_nodes_exponent": fit_exponent(depths, nodes),
        "graph_nodes_per_level": float(np.polyfit(depths, nodes, 1)[0]) if len(rows) >= 2 else None,
        "symbolic_growth_factor_per_level": factor, "capped": capped, "stopped": stopped,
    }


# ---- the gradient's cost over one forward pass ---------------------------------

COST_SIZES = (10, 100, 1_000, 10_000, 100_000)
GRADIENT_OVER_FORWARD = (
    f"gradient over forward: for {SUM_OF_SINES} with n parameters, the time of one forward pass "
    "and one backward pass (every partial) over the time of one forward pass, on the same graph "
    "and inputs, timed interleaved by the studies' harness (warm, CPU time, samples of at least 10 ms); the "
    "median over rounds of each round's ratio")


@dataclass
class GradientCost:
    params: int
    graph_nodes: int
    forward_seconds: float
    gradient_seconds: float
    ratio: float  # the median of the per-round ratios (GRADIENT_OVER_FORWARD)
    repeats: int
    setup_seconds: float = 0.0  # building the graph and its plan (not timed in the ratio)

    def to_json(self) -> dict[str, Any]:
        return {"params": self.params, "graph_nodes": self.graph_nodes,
                "forward_seconds": self.forward_seconds, "gradient_seconds": self.gradient_seconds,
                "ratio": self.ratio, "repeats": self.repeats}


def gradient_over_forward(n: int, min_total: float = 0.1, min_repeats: int = 7,
                          deadline: float | None = None) -> GradientCost:
    """The gradient's cost over one forward pass at n parameters (:data:`GRADIENT_OVER_FORWARD`).

    The passes are bound once through the façade (:meth:`Function._bound_passes`):
    per-call input checks would be timed too, and they are not what the lecture's
    claim is about.
    """
    from backprop.core.function import Function

    t0 = time.perf_counter()
    with gc_paused():
        f = Function(sines_graph(n))
    setup = time.perf_counter() - t0
    rng = np.random.default_rng(n)
    inputs = {v: np.float64(x) for v, x in zip(f.variables, rng.standard_normal(n))}
    forward, gradient = f._bound_passes(inputs, list(inputs))

    t = time_interleaved({"forward": forward, "gradient": gradient}, min_total=min_total,
                         min_repeats=min_repeats, sample_seconds=SAMPLE_SECONDS, deadline=deadline)
    return GradientCost(n, f.size, t["forward"].median, t["gradient"].median,
                        median_ratio(t["gradient"], t["forward"]),
                        min(t["forward"].repeats, t["gradient"].repeats), setup)


def cost_scaling(deadline: float, sizes: Sequence[int] = COST_SIZES,
                 progress: Progress = None) -> dict[str, Any]:
    """:func:`gradient_over_forward` at each size that fits before ``deadline``."""
    rows: list[GradientCost] = []
    per_node = 0.0  # seconds per node of the last size: building the graph and its plan,
    # then a warm call and one round of the forward pass and the gradient
    stopped = None
    for n in sizes:
        if time.perf_counter() + SAFETY * per_node * 4 * n >= deadline:
            stopped = f"n = {n:,} and larger: not started, the time budget would be overrun"
            break
        if progress:
            progress(f"gradient over forward, n = {n:,}")
        row = gradient_over_forward(n, deadline=deadline)
        per_node = (row.setup_seconds + 2 * (row.forward_seconds + row.gradient_seconds)) / row.graph_nodes
        rows.append(row)
    return {"function": SUM_OF_SINES, "definition": GRADIENT_OVER_FORWARD,
            "rows": [r.to_json() for r in rows], "stopped": stopped,
            "max_ratio": max((r.ratio for r in rows), default=None)}


# ---- all three within the budget -----------------------------------------------

MARGIN = 2.0  # seconds: the whole command (start-up, printing) ends within S + MARGIN
RESERVE = 1.0  # seconds kept back: start-up before the clock starts, the output, a late prediction


@dataclass
class Scaling:
    """:func:`scaling`'s result: three tables and their JSON."""

    max_seconds: float
    seconds: float
    network: dict[str, Any]
    depth: dict[str, Any]
    cost: dict[str, Any]
    load: tuple[float | None, float | None] = (None, None)  # load average at the start and end
    threads: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"max_seconds": self.max_seconds, "seconds": self.seconds,
                "margin_seconds": MARGIN, "load_average": list(self.load),
                "blas_threads": self.threads, "network": self.network, "depth": self.depth,
                "gradient_over_forward": self.cost}

    def tables(self) -> list[Table]:
        net, dep, cost = self.network, self.depth, self.cost
        net_rows = [[number(x["params"]), seconds(x["forward_seconds"]), seconds(x["backprop_seconds"]),
                     f"{x['backprop_over_forward']:.2f}",
                     "skipped (budget)" if x["numeric_seconds"] is None else
                     seconds(x["numeric_seconds"]) + ("*" if "extrapolated" in x["numeric_measured"] else ""),
                     number(x["numeric_evals"]), ratio(x["numeric_over_backprop"]),
                     number(x["max_difference"])] for x in net["rows"]]
        extrapolated = [x for x in net["rows"] if "extrapolated" in (x["numeric_measured"] or "")]
        net_caption = (f"{net['network']}\n"
                       f"growth in |W| (time ~ |W|^k, fitted on the largest three sizes): numeric "
                       f"k = {_exp(net['numeric_exponent'])} (expected near 2), backprop k = "
                       f"{_exp(net['backprop_exponent'])} (expected near 1); numeric / backprop k = "
                       f"{_exp(net['ratio_exponent'])} over all sizes (expected near 1)")
        if extrapolated:
            net_caption += ("\n* extrapolated: " + "; ".join(
                f"|W| = {x['params']:,} from {x['numeric_measured'].split('from ')[1]}"
                for x in extrapolated) + " (max difference over those)")
        if net.get("stopped"):
            net_caption += f"\n{net['stopped']}"
        dep_rows = [[x["depth"], number(x["graph_nodes"]),
                     number(x["symbolic_size"]) if x["symbolic_size"] is not None else "over the size cap",
                     seconds(x["differentiation_seconds"]),
                     seconds(x["tree_seconds"]) if x["tree_seconds"] is not None else
                     ("-" if x["symbolic_size"] is None else "skipped (budget)"),
                     seconds(x["shared_seconds"]), number(x.get("shared_nodes"))] for x in dep["rows"]]
        dep_caption = (f"graph: {number(dep['graph_nodes_per_level'])} more nodes per level (linear); "
                       f"symbolic derivative: x{number(dep['symbolic_growth_factor_per_level'])} per "
                       "level (exponential). The tree is the formula as printed (its size is the "
                       "derivative's size); the shared form keeps each repeated subexpression once, "
                       "as a graph does")
        if dep.get("stopped"):
            dep_caption += f"\n{dep['stopped']}"
        cost_rows = [[number(x["params"]), number(x["graph_nodes"]), seconds(x["forward_seconds"]),
                      seconds(x["gradient_seconds"]), f"{x['ratio']:.2f}"] for x in cost["rows"]]
        cost_caption = (f"largest ratio {ratio(cost['max_ratio'])}: a small constant, whatever the "
                        f"number of parameters\n{cost['definition']}")
        if cost.get("stopped"):
            cost_caption += f"\n{cost['stopped']}"
        start, end = self.load
        load = f"load average {start:.2f} at the start, {end:.2f} at the end" if start is not None else ""
        return [
            Table("Numeric gradient against backpropagation, one-hidden-layer network",
                  ["|W|", "forward pass", "backprop", "backprop / forward", "numeric (forward diff.)",
                   "evals", "numeric / backprop", "max |numeric - backprop|"], net_rows, net_caption),
            Table(f"Symbolic derivative against the graph, {dep['expression']}, evaluated at x = {DEPTH_X}",
                  ["depth k", "graph nodes", "derivative (tree nodes)", "differentiation",
                   "evaluation as a tree", "evaluation, shared", "shared nodes"], dep_rows, dep_caption),
            Table(f"Cost of the gradient over one forward pass, {cost['function']}",
                  ["parameters", "graph nodes", "forward pass", "gradient (forward + backward)", "ratio"],
                  cost_rows, cost_caption,
                  notes=[f"measured in {self.seconds:.1f} s of a {self.max_seconds:g} s budget "
                         f"({self.threads}; times are medians of CPU time{'; ' + load if load else ''})"]),
        ]


def _exp(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def scaling(max_seconds: float = 60.0, max_size: int = DEFAULT_MAX_SIZE, progress: Progress = None,
            start: float | None = None) -> Scaling:
    """All three studies within ``max_seconds`` of wall time from ``start`` (default: now)."""
    start = time.perf_counter() if start is None else start
    end = start + max(max_seconds - RESERVE, 0.5 * max_seconds)
    budget = end - time.perf_counter()
    load0 = load_average()
    with limit_threads():
        threads = blas_threads()
        # shares of the budget: the symbolic swell first, since it needs a fixed amount (the tree at
        # depth 12 alone has 217,088 nodes to build and evaluate); the numeric gradient then cuts
        # itself to what is left of its share; the gradient's cost gets the rest
        depth = depth_scaling(time.perf_counter() + 0.5 * budget, max_size=max_size, progress=progress)
        network = network_scaling(end - 0.3 * budget, progress=progress)
        cost = cost_scaling(end, progress=progress)
    return Scaling(max_seconds, time.perf_counter() - start, network, depth, cost,
                   (load0, load_average()), threads)

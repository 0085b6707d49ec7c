"""Benchmark: the cost of a reverse-mode gradient over the cost of one forward pass.

The seed's "efficient": backpropagation gets all n partial derivatives for a
small constant times the cost of evaluating the function once, whatever n. For
n = 10 .. 100,000 parameters, in the engine (``engine.forward`` and
``engine.backward``), timed side by side with interleaved repeats, garbage
collection off while timing (as timeit does), medians:

* forward: one forward pass,
* gradient: forward pass + backward pass (everything needed for the gradient),
* ratio = gradient / forward; target at most 3.

Two functions: E = sum_i sin(w_i) * w_{i+1} and the one-hidden-layer network's
loss written out as an expression (one variable per parameter).

    python bench/bench_reverse_cost.py [--repeats 7] [--max-n 100000]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from typing import Any, Callable

import numpy as np

from backprop.core import engine
from backprop.studies.compare import sum_of_products_graph
from backprop.core.graph import Graph, GraphBuilder


def network_graph(n_params: int, samples: int = 4, seed: int = 0) -> Graph:
    """E = sum_s (sum_j V_j tanh(sum_i X_si W_ij + b_j) + c - y_s)^2 with d = H inputs."""
    rng = np.random.default_rng(seed)
    hidden = max(1, round(n_params ** 0.5) - 1)
    d = hidden
    X = rng.standard_normal((samples, d))
    y = rng.standard_normal(samples)
    b = GraphBuilder()
    W = [[b.var(f"W{i}_{j}") for j in range(hidden)] for i in range(d)]
    bias = [b.var(f"b{j}") for j in range(hidden)]
    V = [b.var(f"V{j}") for j in range(hidden)]
    c = b.var("c")
    loss = None
    for s in range(samples):
        y_hat = c
        for j in range(hidden):
            a = bias[j]
            for i in range(d):
                a = b.apply("add", a, b.apply("mul", b.const(X[s, i]), W[i][j]))
            y_hat = b.apply("add", y_hat, b.apply("mul", V[j], b.apply("tanh", a)))
        r = b.apply("sub", y_hat, b.const(y[s]))
        sq = b.apply("mul", r, r)
        loss = sq if loss is None else b.apply("add", loss, sq)
    return b.finish(loss)


def measure(g: Graph, repeats: int) -> tuple[float, float, float, int]:
    plan = engine.Plan.of(g)
    rng = np.random.default_rng(1)
    inputs = {name: float(v) for name, v in zip(plan.var_nodes, rng.standard_normal(len(plan.var_nodes)))}
    names = list(inputs)

    def fwd() -> Any:
        return engine.forward(g, plan, inputs)

    def grad() -> Any:
        return engine.backward(g, plan, engine.forward(g, plan, inputs), names)

    vals = fwd()

    def bwd() -> Any:
        return engine.backward(g, plan, vals, names)

    fns: list[Callable[[], Any]] = [fwd, grad, bwd]
    times: list[list[float]] = [[], [], []]
    # enough calls per sample that each sample lasts about 20 ms
    t0 = time.perf_counter()
    grad()
    calls = max(1, int(0.02 / max(time.perf_counter() - t0, 1e-7)))
    gc.collect()
    gc.disable()
    try:
        for _ in range(repeats):
            for k, fn in enumerate(fns):  # interleaved: the machine's noise hits all three alike
                t0 = time.perf_counter()
                for _ in range(calls):
                    fn()
                times[k].append((time.perf_counter() - t0) / calls)
    finally:
        gc.enable()
    f, gr, bw = (statistics.median(t) for t in times)
    return f, gr, bw, len(plan.order)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--max-n", type=int, default=100_000)
    a = ap.parse_args()
    sizes = [n for n in (10, 100, 1_000, 10_000, 100_000) if n <= a.max_n]
    for title, build in (("E = sum_i sin(w_i) * w_{i+1}", sum_of_products_graph),
                         ("one-hidden-layer network loss (4 samples), as an expression", network_graph)):
        print(title)
        print(f"  {'params':>8}  {'nodes':>9}  {'forward':>10}  {'gradient':>10}  "
              f"{'backward':>10}  {'gradient/forward':>16}  {'backward/forward':>16}")
        worst = 0.0
        for n in sizes:
            g = build(n)
            params = len(g.variables)
            f, gr, bw, nodes = measure(g, a.repeats)
            worst = max(worst, gr / f)
            print(f"  {params:>8,}  {nodes:>9,}  {f * 1e3:>8.3f}ms  {gr * 1e3:>8.3f}ms  "
                  f"{bw * 1e3:>8.3f}ms  {gr / f:>16.2f}  {bw / f:>16.2f}")
        print(f"  largest gradient/forward: {worst:.2f}   target <= 3: {'met' if worst <= 3 else 'NOT met'}\n")


if __name__ == "__main__":
    main()

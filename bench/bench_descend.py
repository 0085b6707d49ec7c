"""Benchmark: gradient descent steps per second on a ~100-node expression.

One step is one forward and one backward pass over the graph. The issue's
target: 10,000 steps on a 100-node expression in under a second. Printed side
by side in one run (medians of several repeats): the whole descent, the
forward and backward passes alone (the engine's share), and the loop's own
overhead (the descent around the passes).

    python bench/bench_descend.py [--steps 10000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

from backprop import autodiff
from backprop.descend import descend
from backprop.expr.function import parse


def expression(terms: int = 13) -> str:
    """A smooth bowl plus small ripples; every term distinct, so no node is shared."""
    ripples = " + ".join(f"sin({1 + i / 10}*x + {2 + i / 7}*y)" for i in range(terms))
    return f"(x - 1)^2 + (y + 2)^2 + 0.001*({ripples})"


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    f = parse(expression())
    n = args.steps
    start = {"x": 0.0, "y": 0.0}

    def run_descent() -> None:
        # tol=0 so that every one of the n steps is taken (no early stop).
        out = descend(f, start, tau=1e-3, max_steps=n, tol=0.0).run()
        assert out.steps == n, out

    g, plan = f.graph, f.plan
    inputs = {"x": 0.3, "y": -0.2}

    def passes_only() -> None:
        for _ in range(n):
            vals = autodiff.forward(g, plan, inputs)
            autodiff.backward(g, plan, vals, ["x", "y"])

    def forward_only() -> None:
        for _ in range(n):
            autodiff.forward(g, plan, inputs)

    t_descent = median_time(run_descent, args.repeats)
    t_passes = median_time(passes_only, args.repeats)
    t_forward = median_time(forward_only, args.repeats)
    print(f"expression: {f.size} nodes, {n} steps, median of {args.repeats} runs")
    print(f"  descent (forward + backward + update): {t_descent:.3f} s  "
          f"({t_descent / n * 1e6:.1f} us/step)  target < 1 s: "
          f"{'met' if t_descent < 1.0 else f'missed by x{t_descent:.2f}'}")
    print(f"  forward + backward passes alone:       {t_passes:.3f} s  "
          f"({t_passes / n * 1e6:.1f} us/step)")
    print(f"    of which forward:                    {t_forward:.3f} s  "
          f"({t_forward / n * 1e6:.1f} us/step)")
    print(f"  descent loop overhead / passes:        x{t_descent / t_passes:.3f}")
    print(f"  per node per step (passes):            {t_passes / n / f.size * 1e9:.0f} ns")


if __name__ == "__main__":
    main()

"""Benchmark: the cost of a reverse-mode gradient over the cost of one forward pass.

The lecture's "efficient": backpropagation gets all n partial derivatives for a
small constant times the cost of evaluating the function once, whatever n.
This script measures exactly what ``backprop compare --scaling`` shows in its
last table and what the README quotes: ``gradient_over_forward`` of
backprop.studies.scaling (E = Σ sin(w_i)·w_{i+1}, forward + backward pass over
one forward pass, interleaved CPU-time samples of at least 10 ms, the median of
the per-round ratios), at n = 10 ... 100,000, in ``--runs`` separate runs.

Goal: at most 3. No test holds it: timings stay out of the tests (a busy machine moves
them by a quarter or more); this script is where the ratio is measured.

    python bench/bench_reverse_cost.py [--runs 2] [--max-n 100000]
"""

from __future__ import annotations

import argparse

from backprop.studies.scaling import COST_SIZES, GRADIENT_OVER_FORWARD, gradient_over_forward
from backprop.studies.tables import load_average
from backprop.studies.timing import blas_threads, limit_threads


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--max-n", type=int, default=100_000)
    a = ap.parse_args()
    sizes = [n for n in COST_SIZES if n <= a.max_n]
    print(GRADIENT_OVER_FORWARD)
    worst = []
    with limit_threads():
        print(f"({blas_threads()}; load average {load_average()})")
        for run in range(1, a.runs + 1):
            print(f"run {run}:")
            print(f"  {'params':>8}  {'nodes':>9}  {'forward':>10}  {'gradient':>10}  {'ratio':>6}  {'rounds':>6}")
            ratios = []
            for n in sizes:
                r = gradient_over_forward(n)
                ratios.append(r.ratio)
                print(f"  {r.params:>8,}  {r.graph_nodes:>9,}  {r.forward_seconds * 1e3:>8.3f}ms  "
                      f"{r.gradient_seconds * 1e3:>8.3f}ms  {r.ratio:>6.2f}  {r.repeats:>6}")
            worst.append(max(ratios))
            print(f"  largest ratio {max(ratios):.2f} (smallest {min(ratios):.2f})")
    print(f"largest ratio per run: {', '.join(f'{w:.2f}' for w in worst)}; goal <= 3: "
          f"{'met' if max(worst) <= 3 else 'NOT met'}; load average now {load_average()}")


if __name__ == "__main__":
    main()

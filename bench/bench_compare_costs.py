"""`backprop compare`'s fairness: each method's time in forward passes over the passes it declares.

For 1 variable (the lecture's 2/sin(exp(-x)) at -4.499) and 8 (E = Σ sin(w_i)·w_{i+1},
`--example sines --n 8`), at the first order and `--order 2`: the library's compare()
and compare_hessian() are run --runs times (each times its methods interleaved, warm,
CPU time, medians); the figure per method is the median over runs of

    (its time per gradient or Hessian / the forward pass's) / (the passes it declares)

where the declared passes are added up (a forward, backward, tangent or complex forward
pass counts 1; a symbolic derivative's evaluation, a forward pass over the derivative's
own graph, counts 1, or its nodes over f's where that graph is the larger; a constant
derivative is a number, not evaluated). The target of issue 26: every ratio within
0.4-2.5. The load average is printed beside the figures.

    python bench/bench_compare_costs.py [--runs 5] [--min-total 0.05]
"""

from __future__ import annotations

import argparse
import os
import statistics

from backprop.core.function import parse
from backprop.studies.compare import compare, compare_hessian, declared_total
from backprop.studies.fixtures import example

LOW, HIGH = 0.4, 2.5


def ratios(order: int, expr: str, point: dict[str, float], min_total: float) -> dict[str, float]:
    f = parse(expr)
    result = (compare(f, point, min_total=min_total) if order == 1
              else compare_hessian(f, point, min_total=min_total))
    return {k: m.forward_passes / declared(m, result.graph_nodes)
            for k, m in result.methods.items() if m.forward_passes is not None}


def declared(method: object, graph_nodes: int) -> float:
    """The passes a method declares, in forward passes of f. A symbolic derivative's
    evaluation is a forward pass over the derivative's own graph: it counts as one, or as
    its nodes over f's where its graph is the larger."""
    nodes = getattr(method, "extra", {}).get("evaluated_graph_nodes")
    if method.key == "symbolic" and nodes is not None:  # type: ignore[attr-defined]
        return sum(max(1.0, size / graph_nodes) for size in nodes.values())
    return declared_total(method.passes)  # type: ignore[attr-defined]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--min-total", type=float, default=0.05)
    args = ap.parse_args()
    cases = {"1 variable": example("lecture"), "8 variables": example("sines", 8)}
    print(f"load average at the start: {os.getloadavg()[0]:.2f}")
    outside = 0
    for order in (1, 2):
        for label, (expr, point) in cases.items():
            runs = [ratios(order, expr, point, args.min_total) for _ in range(args.runs)]
            print(f"\norder {order}, {label}: time in forward passes / declared passes "
                  f"(median of {args.runs} runs; min-max)")
            for key in runs[0]:
                seen = [r[key] for r in runs]
                median = statistics.median(seen)
                ok = LOW <= median <= HIGH
                outside += not ok
                print(f"  {key:22s} {median:6.2f}   ({min(seen):.2f}-{max(seen):.2f})"
                      f"{'' if ok else '   OUTSIDE ' + str(LOW) + '-' + str(HIGH)}")
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}; "
          f"{outside} median(s) outside {LOW}-{HIGH}")


if __name__ == "__main__":
    main()

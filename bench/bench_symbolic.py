"""Benchmark: symbolic differentiation and its simplifier.

* ``diff`` of a 2,000-term sum, end to end (parse, differentiate, simplify,
  print): the target is under a second.
* The simplifier alone on unsimplified inputs of n, 2n, 4n, ... nodes: its
  cost should grow about linearly, so the fitted exponent of time against size
  should be near 1.

Medians of several repeats, sizes measured side by side in one run.

    python bench/bench_symbolic.py [--repeats 5] [--terms 2000]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import numpy as np

from backprop.core.graph import Graph
from backprop.core.parser import parse_graph
from backprop.symbolic import derivative, diff_text, simplify


def sum_text(terms: int) -> str:
    """sum_k k*sin(k*x) + x^k/k: every term distinct."""
    return " + ".join(f"{k}*sin({k}*x) + x^{k % 7 + 2}/{k}" for k in range(1, terms // 2 + 1))


def unsimplified(n_terms: int) -> Graph:
    """A sum of terms full of 0s, 1s, double negations, x - x and constant factors.

    Built as a tree on purpose (no hash-consing), the way a derivative arrives.
    """
    g = Graph()

    def node(op: str, *args: int, leaf: float | str | None = None) -> int:
        g.ops.append(op)
        g.args.append(tuple(args))
        g.leaf.append(leaf)
        return len(g.ops) - 1

    total = -1
    for k in range(n_terms):
        x = node("var", leaf="x")
        one = node("const", leaf=1.0)
        zero = node("const", leaf=0.0)
        two = node("const", leaf=2.0)
        three = node("const", leaf=float(k % 5 + 1))
        kx = node("mul", node("const", leaf=float(k + 1)), node("mul", one, x))
        s = node("sin", kx)                                 # sin(k*(1*x))
        t = node("neg", node("neg", s))                     # --sin(x)
        u = node("add", node("mul", two, node("mul", three, t)), zero)  # 2*(3*t) + 0
        v = node("sub", node("var", leaf="y"), node("var", leaf="y"))   # y - y
        term = node("add", u, node("mul", v, x))            # ... + 0*x
        total = term if total < 0 else node("add", total, term)
    g.output = total
    return g


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--terms", type=int, default=2000)
    a = ap.parse_args()

    text = sum_text(a.terms)
    n_terms = text.count(" + ") + 1
    t_parse = median_time(lambda: parse_graph(text), a.repeats)
    g = parse_graph(text)
    t_diff = median_time(lambda: derivative(g, "x"), a.repeats)
    d = derivative(g, "x")
    t_print = median_time(d.text, a.repeats)
    t_total = median_time(lambda: diff_text(text), a.repeats)
    print(f"diff of a {n_terms:,}-term sum ({len(text):,} characters, {len(g):,} graph nodes, "
          f"derivative {d.size:,} tree nodes)")
    print(f"  parse {t_parse:.3f} s, differentiate + simplify {t_diff:.3f} s, print {t_print:.3f} s")
    print(f"  end to end (diff_text): {t_total:.3f} s   target < 1 s: "
          f"{'met' if t_total < 1.0 else 'NOT met'}")

    print("\nsimplifier alone on unsimplified trees (one bottom-up pass):")
    print(f"  {'input nodes':>12}  {'output nodes':>12}  {'seconds':>9}  {'µs per node':>11}")
    sizes, times = [], []
    for n in (1_000, 2_000, 4_000, 8_000, 16_000, 32_000):
        ug = unsimplified(n)
        t = median_time(lambda: simplify(ug), a.repeats)
        out = simplify(ug)
        sizes.append(len(ug))
        times.append(t)
        print(f"  {len(ug):>12,}  {out.size:>12,}  {t:>9.4f}  {t / len(ug) * 1e6:>11.2f}")
    slope = float(np.polyfit(np.log(sizes), np.log(times), 1)[0])
    print(f"  fitted exponent of time in input size: {slope:.2f} (linear is 1)")
    assert all(math.isfinite(t) for t in times)


if __name__ == "__main__":
    main()

"""Benchmark: symbolic differentiation and its simplifier.

* ``diff`` of a 2,000-term sum, end to end (parse, differentiate, simplify,
  print): the target is under a second.
* The simplifier alone on unsimplified inputs of n, 2n, 4n, ... nodes: its
  cost should grow about linearly, so the fitted exponent of time against size
  should be near 1.

Medians of several repeats, sizes measured side by side in one run.

``--hessian N``: ``diff --hessian`` of sum_i sin(x_i)*x_(i+1) with N variables (every second
partial, the first steps shared) side by side with the same entries taken one by one, each
a partial of its own (as before the first steps were shared).

``--against DIR``: the end-to-end time of the 2,000-term ``diff`` side by side
with another checkout of backprop (e.g. ``git worktree add --detach DIR COMMIT``),
each in its own process, the two alternating round by round.

    python bench/bench_symbolic.py [--repeats 5] [--terms 2000] [--against DIR [--rounds 4]]
    python bench/bench_symbolic.py --hessian 100 [--repeats 3]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import time

import numpy as np

from backprop.core.graph import Graph
from backprop.core.parser import parse_graph
from backprop.symbolic import derivative, diff_expression, diff_text, partial, simplify


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


# one process's end-to-end timing: median wall and CPU seconds of diff_text over the repeats
_TIMING = """
import statistics, sys, time
from backprop.symbolic import diff_text
terms, repeats = int(sys.argv[1]), int(sys.argv[2])
text = " + ".join(f"{k}*sin({k}*x) + x^{k % 7 + 2}/{k}" for k in range(1, terms // 2 + 1))
diff_text(text)
wall, cpu = [], []
for _ in range(repeats):
    t0, c0 = time.perf_counter(), time.process_time()
    diff_text(text)
    wall.append(time.perf_counter() - t0)
    cpu.append(time.process_time() - c0)
print(statistics.median(wall), statistics.median(cpu))
"""


def side_by_side(other: str, terms: int, repeats: int, rounds: int) -> None:
    """The end-to-end time here and in the checkout ``other``, alternating process by process."""
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
    checkouts = [("this checkout", os.path.abspath(here)), (other, os.path.join(other, "src"))]
    if not os.path.isdir(checkouts[1][1]):
        raise SystemExit(f"--against: {other} has no src/ directory")
    times: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in checkouts}
    for _ in range(rounds):
        for name, src in checkouts:
            env = dict(os.environ, PYTHONPATH=src)
            out = subprocess.run([sys.executable, "-c", _TIMING, str(terms), str(repeats)], env=env,
                                 capture_output=True, text=True, check=True).stdout.split()
            times[name].append((float(out[0]), float(out[1])))
    print(f"\ndiff of the {terms:,}-term sum end to end, side by side ({rounds} rounds, "
          f"medians of {repeats} in each):")
    for name, ts in times.items():
        walls = ", ".join(f"{w:.3f}" for w, _ in ts)
        cpus = ", ".join(f"{c:.3f}" for _, c in ts)
        print(f"  {name}: wall {walls} s; CPU {cpus} s")
    mine = statistics.median(c for _, c in times["this checkout"])
    theirs = statistics.median(c for _, c in times[other])
    print(f"  median CPU time: {mine:.3f} s against {theirs:.3f} s: {mine / theirs:.2f}x")


def hessian_side_by_side(n: int, repeats: int) -> None:
    """diff --hessian against its entries taken one by one, interleaved round by round."""
    text = " + ".join(f"sin(x{i})*x{i + 1}" for i in range(n))
    g = parse_graph(text)
    names = list(g.variables)

    def shared() -> object:
        return diff_expression(text, hessian=True)

    def one_by_one() -> object:
        return [partial(g, [names[i], names[j]]) for i in range(len(names))
                for j in range(i, len(names))]

    assert [d.text() for d in shared().derivatives.values()] == \
        [d.text() for d in one_by_one()]  # the same entries, printed alike
    times: dict[str, list[float]] = {"shared first steps": [], "one by one": []}
    for _ in range(repeats):
        for name, fn in (("shared first steps", shared), ("one by one", one_by_one)):
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in times.items()}
    entries = len(names) * (len(names) + 1) // 2
    print(f"diff --hessian of sum sin(x_i)*x_(i+1), {len(names)} variables ({entries:,} second "
          f"partials), medians of {repeats} interleaved runs; load average "
          f"{os.getloadavg()[0]:.1f}")
    for k, v in med.items():
        print(f"  {k:<20} {v:8.3f} s")
    print(f"  ratio: {med['shared first steps'] / med['one by one']:.3f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--terms", type=int, default=2000)
    ap.add_argument("--against", metavar="DIR", help="another checkout to time side by side")
    ap.add_argument("--rounds", type=int, default=4, help="rounds of --against")
    ap.add_argument("--hessian", type=int, metavar="N", help="time diff --hessian, N variables")
    a = ap.parse_args()
    if a.hessian:
        hessian_side_by_side(a.hessian, a.repeats)
        return
    if a.against:
        side_by_side(a.against, a.terms, a.repeats, a.rounds)
        return

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

"""Benchmark: gradient descent steps per second on a ~100-node expression.

One step is one forward and one backward pass over the graph. The target:
10,000 steps on a 100-node expression in under a second. Printed side by side
in one run (interleaved repeats, medians):

* descent: ``backprop.methods.descend`` end to end (passes + update + Step records),
* float passes: ``Function._float_passes`` alone, the forward and backward passes
  on Python floats with the math module (core/scalar.py), which the descent runs,
* of which forward: the float passes with no partial asked for,
* numpy-scalar passes: ``engine.point_passes``, the same passes on numpy scalars
  (where the float passes cannot answer, the descent falls back to these),
* engine passes: ``engine.forward`` + ``engine.backward``, the general passes
  that take arrays too.

    python bench/bench_descend.py [--steps 10000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

from backprop.core import engine
from backprop.methods.descend import descend
from backprop.core.function import parse


def expression(terms: int = 13) -> str:
    """A smooth bowl plus small ripples; every term distinct, so no node is shared."""
    ripples = " + ".join(f"sin({1 + i / 10}*x + {2 + i / 7}*y)" for i in range(terms))
    return f"(x - 1)^2 + (y + 2)^2 + 0.001*({ripples})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    f = parse(expression())
    n = args.steps
    start = {"x": 0.0, "y": 0.0}
    g, plan = f.graph, f._plan
    inputs = {"x": 0.3, "y": -0.2}
    floats, forward_floats = f._float_passes(["x", "y"]), f._float_passes(())
    numpy_scalars = engine.point_passes(g, ["x", "y"])

    # the float passes and numpy's give the same numbers (to rounding)
    v_np, g_np = numpy_scalars(inputs)
    found = floats(inputs)
    assert found is not None
    assert math.isclose(found[0], v_np, rel_tol=1e-12)
    assert all(math.isclose(a, b, rel_tol=1e-12) for a, b in zip(found[1], g_np))

    def run_descent() -> None:
        # tol=0 so that every one of the n steps is taken (no early stop).
        out = descend(f, start, tau=1e-3, max_steps=n, tol=0.0).run()
        assert out.steps == n, out

    def float_passes() -> None:
        for _ in range(n):
            floats(inputs)

    def float_forward() -> None:
        for _ in range(n):
            forward_floats(inputs)

    def numpy_scalar_passes() -> None:
        for _ in range(n):
            numpy_scalars(inputs)

    def engine_passes() -> None:
        for _ in range(n):
            vals = engine.forward(g, plan, inputs)
            engine.backward(g, plan, vals, ["x", "y"])

    variants = {"descent": run_descent, "floats": float_passes, "forward": float_forward,
                "numpy": numpy_scalar_passes, "engine": engine_passes}
    # Interleaved repeats: on a shared, noisy machine each variant sees the same load.
    # CPU time is printed too: with other jobs on the machine, wall time includes
    # the time this process waited for a core.
    times: dict[str, list[float]] = {k: [] for k in variants}
    cpu: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(args.repeats):
        for name, fn in variants.items():
            c0, t0 = time.process_time(), time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
    t = {k: statistics.median(v) for k, v in times.items()}
    c = {k: statistics.median(v) for k, v in cpu.items()}

    def line(label: str, k: str) -> str:
        return (f"  {label:<44}{t[k]:7.3f} s wall  {c[k]:7.3f} s cpu  "
                f"({c[k] / n * 1e6:6.1f} us/step cpu)")

    print(f"expression: {f.size} nodes, {n} steps, median of {args.repeats} interleaved runs")
    print(line("descent (forward + backward + update):", "descent")
          + f"  target < 1 s: {'met' if t['descent'] < 1.0 else 'missed by x%.2f' % t['descent']}"
          f" (wall), {'met' if c['descent'] < 1.0 else 'missed by x%.2f' % c['descent']} (cpu)")
    print(line("float passes alone (forward + backward):", "floats"))
    print(line("  of which forward:", "forward"))
    print(line("numpy-scalar passes (engine.point_passes):", "numpy"))
    print(line("engine passes (engine.forward + backward):", "engine"))
    print(f"  descent / float passes (loop overhead, cpu): x{c['descent'] / c['floats']:.2f}")
    print(f"  numpy-scalar / float passes (cpu):           x{c['numpy'] / c['floats']:.2f}")
    print(f"  per node per step (float passes, cpu):       {c['floats'] / n / f.size * 1e9:.0f} ns")
    print(f"  best descent run:                           {min(times['descent']):.3f} s wall, "
          f"{min(cpu['descent']):.3f} s cpu")


if __name__ == "__main__":
    main()

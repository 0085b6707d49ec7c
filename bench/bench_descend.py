"""Benchmark: gradient descent steps per second on a ~100-node expression.

One step is one forward and one backward pass over the graph. The issue's
target: 10,000 steps on a 100-node expression in under a second. Printed side
by side in one run (interleaved repeats, medians):

* descent: ``backprop.descend`` end to end (passes + update + Step records),
* passes: ``engine.forward`` + ``engine.backward`` alone (the engine's share),
* forward: ``engine.forward`` alone,
* scalar prototype: the same two passes over the same plan with Python floats
  and the ``math`` module instead of numpy scalars. It is NOT part of the
  engine: it measures what the scalar fast path proposed in the report would
  give (it covers only the primitives this expression uses).

    python bench/bench_descend.py [--steps 10000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import math
import operator
import statistics
import time
from typing import Callable

from backprop.core import engine
from backprop.descend import descend
from backprop.core.function import Function, parse
from backprop.core.graph import CONST, VAR


def expression(terms: int = 13) -> str:
    """A smooth bowl plus small ripples; every term distinct, so no node is shared."""
    ripples = " + ".join(f"sin({1 + i / 10}*x + {2 + i / 7}*y)" for i in range(terms))
    return f"(x - 1)^2 + (y + 2)^2 + 0.001*({ripples})"


# ---- prototype of the proposed scalar fast path (measurement only) -----------------------
_FORWARD: dict[str, Callable[..., float]] = {
    "add": operator.add, "sub": operator.sub, "mul": operator.mul, "pow": operator.pow,
    "sin": math.sin,
}
_PARTIALS: dict[str, tuple[Callable[..., float], ...]] = {
    "add": (lambda a, x, y: 1.0, lambda a, x, y: 1.0),
    "sub": (lambda a, x, y: 1.0, lambda a, x, y: -1.0),
    "mul": (lambda a, x, y: y, lambda a, x, y: x),
    "pow": (lambda a, x, y: y * x ** (y - 1.0), lambda a, x, y: a * math.log(x)),
    "sin": (lambda a, x: math.cos(x),),
}


def scalar_step_fn(f: Function, wrt: list[str]) -> Callable[[dict[str, float]], tuple[float, list[float]]]:
    g, plan = f.graph, f.plan
    needs = engine.depends_on(g, plan, [plan.var_nodes[v] for v in wrt])
    n = len(g)
    consts = [(i, float(g.leaf[i])) for i in plan.order if g.ops[i] == CONST]  # type: ignore[arg-type]
    var_nodes = [(i, str(g.leaf[i])) for i in plan.order if g.ops[i] == VAR]
    steps = [(i, _FORWARD[g.ops[i]], g.args[i]) for i in plan.order
             if g.ops[i] not in (CONST, VAR)]
    back = [(i, a, tuple(_PARTIALS[g.ops[i]][k] for k in range(len(a))),
             tuple(needs[j] for j in a)) for i, _, a in reversed(steps) if needs[i]]
    out = g.output
    targets = [plan.var_nodes[v] for v in wrt]

    def step(point: dict[str, float]) -> tuple[float, list[float]]:
        vals = [0.0] * n
        for i, c in consts:
            vals[i] = c
        for i, name in var_nodes:
            vals[i] = point[name]
        for i, fn, a in steps:
            vals[i] = fn(vals[a[0]]) if len(a) == 1 else fn(vals[a[0]], vals[a[1]])
        grads = [0.0] * n
        grads[out] = 1.0
        for i, a, partials, need in back:
            up = grads[i]
            if len(a) == 1:
                grads[a[0]] += up * partials[0](vals[i], vals[a[0]])
            else:
                x, y = vals[a[0]], vals[a[1]]
                if need[0]:
                    grads[a[0]] += up * partials[0](vals[i], x, y)
                if need[1]:
                    grads[a[1]] += up * partials[1](vals[i], x, y)
        return vals[out], [grads[j] for j in targets]

    return step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    f = parse(expression())
    n = args.steps
    start = {"x": 0.0, "y": 0.0}
    g, plan = f.graph, f.plan
    inputs = {"x": 0.3, "y": -0.2}
    scalar = scalar_step_fn(f, ["x", "y"])

    # The prototype must compute the same numbers as the engine.
    v_ref, g_ref = f.value_and_grad(**inputs)
    v_fast, g_fast = scalar(inputs)
    assert math.isclose(v_fast, float(v_ref), rel_tol=1e-12)
    assert all(math.isclose(a, float(g_ref[k]), rel_tol=1e-12) for a, k in zip(g_fast, "xy"))

    def run_descent() -> None:
        # tol=0 so that every one of the n steps is taken (no early stop).
        out = descend(f, start, tau=1e-3, max_steps=n, tol=0.0).run()
        assert out.steps == n, out

    def passes_only() -> None:
        for _ in range(n):
            vals = engine.forward(g, plan, inputs)
            engine.backward(g, plan, vals, ["x", "y"])

    def forward_only() -> None:
        for _ in range(n):
            engine.forward(g, plan, inputs)

    def scalar_prototype() -> None:
        for _ in range(n):
            scalar(inputs)

    variants = {"descent": run_descent, "passes": passes_only, "forward": forward_only,
                "scalar": scalar_prototype}
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
    print(line("forward + backward passes alone:", "passes"))
    print(line("  of which forward:", "forward"))
    print(line("scalar fast-path prototype (both passes):", "scalar"))
    print(f"  descent / passes alone (loop overhead, cpu): x{c['descent'] / c['passes']:.2f}")
    print(f"  passes / scalar prototype (cpu):             x{c['passes'] / c['scalar']:.2f}")
    print(f"  per node per step (engine passes, cpu):      {c['passes'] / n / f.size * 1e9:.0f} ns")
    print(f"  best descent run:                           {min(times['descent']):.3f} s wall, "
          f"{min(cpu['descent']):.3f} s cpu")


if __name__ == "__main__":
    main()

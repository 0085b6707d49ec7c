"""Benchmark: Hessians by forward mode over the backward pass (``Function.hessian``).

Four parts, each timed side by side in one run (interleaved repeats, garbage
collection off while timing, medians):

1. the Hessian of E = sum_i sin(x_i) * x_{i+1}, 100 variables, at one point, in
   process: ``parse(text).hessian(**point)`` (warm: the backward pass is built
   as a graph on the first call and kept; the first call is reported too)
   against ``torch.autograd.functional.hessian`` in its default mode and with
   ``vectorize=True``, when torch is installed; otherwise absolute figures only.
2. value, gradient and Hessian of a 2-variable expression at 1,000,000 points
   against the same three by a hand-derived numpy formula (target <= 2x).
3. the cost of the Hessian over the cost of the gradient (``value_and_grad``)
   for n = 10 .. 1000 variables of part 1's E: it should grow linearly in n
   (the tangent pass carries n directions), so ratio / n stays about constant.

4. value, gradient and Hessian at one point of a few variables, the passes on
   Python floats (math module) against the same passes on numpy scalars.

    python bench/bench_hessian.py [--part 1|2|3|4] [--repeats 7]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import time
from typing import Any, Callable

import numpy as np

from backprop import parse


def sum_sin_text(n: int) -> str:
    return " + ".join(f"sin(x{i})*x{i + 1}" for i in range(n - 1))


def timed(fns: dict[str, Callable[[], Any]], repeats: int, min_s: float = 0.02) -> dict[str, float]:
    """Median seconds per call of each function, the functions' repeats interleaved."""
    calls = {}
    for name, fn in fns.items():
        fn()  # warm
        k, t0 = 1, time.perf_counter()
        fn()
        one = max(time.perf_counter() - t0, 1e-7)
        calls[name] = max(1, int(min_s / one))
    samples: dict[str, list[float]] = {name: [] for name in fns}
    gc.disable()
    try:
        for _ in range(repeats):
            for name, fn in fns.items():
                k = calls[name]
                t0 = time.perf_counter()
                for _ in range(k):
                    fn()
                samples[name].append((time.perf_counter() - t0) / k)
    finally:
        gc.enable()
    return {name: statistics.median(s) for name, s in samples.items()}


def load() -> str:
    try:
        return "load average %.2f, %.2f, %.2f" % os.getloadavg()
    except OSError:
        return "load average unknown"


def part1(repeats: int) -> None:
    n = 100
    text = sum_sin_text(n)
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal(n)
    point = {f"x{i}": float(x0[i]) for i in range(n)}
    t0 = time.perf_counter()
    f = parse(text)
    _, _, h_first = f.hessian(**point)
    first = time.perf_counter() - t0
    fns: dict[str, Callable[[], Any]] = {"backprop": lambda: f.hessian(**point)}
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        torch.set_num_threads(1)
        xt = torch.tensor(x0, dtype=torch.float64)

        def e(x: Any) -> Any:
            return (torch.sin(x[:-1]) * x[1:]).sum()

        h_torch = torch.autograd.functional.hessian(e, xt).numpy()
        err = float(np.max(np.abs(h_first - h_torch)))
        fns["torch"] = lambda: torch.autograd.functional.hessian(e, xt)
        fns["torch_vectorize"] = lambda: torch.autograd.functional.hessian(e, xt, vectorize=True)
    t = timed(fns, repeats)
    print(f"part 1: Hessian of sum sin(x_i)*x_(i+1), n = {n}, one point ({load()})")
    print(f"  backprop  first call (parse + build the gradient graph + passes): {first * 1e3:.2f} ms")
    print(f"  backprop  f.hessian(**point), warm:            {t['backprop'] * 1e3:.3f} ms")
    if torch is not None:
        print(f"  torch {torch.__version__} hessian (default mode):      {t['torch'] * 1e3:.3f} ms  "
              f"-> backprop / torch = {t['backprop'] / t['torch']:.3f}x")
        print(f"  torch hessian(vectorize=True):                  {t['torch_vectorize'] * 1e3:.3f} ms"
              f"  -> backprop / torch vectorize = {t['backprop'] / t['torch_vectorize']:.2f}x")
        print(f"  largest difference from torch's Hessian: {err:.3g}")
    else:
        print("  torch is not installed: no comparison")


TEXT2 = "sin(x*y) + x^2*exp(-y)"


def hand2(x: np.ndarray, y: np.ndarray) -> tuple[Any, ...]:
    """Value, gradient and Hessian of sin(x*y) + x^2*exp(-y), derived by hand."""
    xy = x * y
    s, c, e = np.sin(xy), np.cos(xy), np.exp(-y)
    xe = x * e
    xxe = x * xe
    value = s + xxe
    gx = y * c + 2.0 * xe
    gy = x * c - xxe
    hxx = 2.0 * e - y * y * s
    hxy = c - xy * s - 2.0 * xe
    hyy = xxe - x * x * s
    return value, gx, gy, hxx, hxy, hyy


def part2(repeats: int) -> None:
    m = 1_000_000
    rng = np.random.default_rng(1)
    x, y = rng.uniform(-2, 2, m), rng.uniform(-2, 2, m)
    f = parse(TEXT2)
    value, grad, h = f.hessian(x=x, y=y)
    ref = hand2(x, y)
    err = max(float(np.max(np.abs(a - b))) for a, b in
              zip((value, grad["x"], grad["y"], h[0, 0], h[0, 1], h[1, 1]), ref))
    t = timed({"backprop": lambda: f.hessian(x=x, y=y), "hand": lambda: hand2(x, y)}, repeats)
    print(f"part 2: value, gradient and Hessian of {TEXT2} at {m:,} points ({load()})")
    print(f"  backprop f.hessian(x=xs, y=ys): {t['backprop'] * 1e3:.1f} ms")
    print(f"  hand-derived numpy formula:     {t['hand'] * 1e3:.1f} ms")
    print(f"  ratio {t['backprop'] / t['hand']:.2f}x (target <= 2x); largest difference {err:.3g}")


def part3(repeats: int) -> None:
    print(f"part 3: Hessian cost over gradient cost, E = sum sin(x_i)*x_(i+1) ({load()})")
    print("       n   gradient ms   Hessian ms   ratio   ratio/n")
    rng = np.random.default_rng(2)
    for n in (10, 30, 100, 300, 1000):
        f = parse(sum_sin_text(n))
        point = {f"x{i}": float(v) for i, v in enumerate(rng.standard_normal(n))}
        t = timed({"grad": lambda: f.value_and_grad(**point),
                   "hessian": lambda: f.hessian(**point)}, 2 * repeats + 1, min_s=0.05)
        r = t["hessian"] / t["grad"]
        print(f"  {n:6d}   {t['grad'] * 1e3:11.3f}   {t['hessian'] * 1e3:10.3f}   {r:5.1f}   {r / n:.4f}")


def part4(repeats: int) -> None:
    from backprop.core import gradient_graph

    print(f"part 4: value, gradient and Hessian at one point (Function._value_grad_hessian_at, as "
          f"compare --order 2 and Newton's steps call it): the passes on Python floats against "
          f"numpy's ({load()})")
    print("  expression                                  n   floats us    numpy us   floats/numpy")
    cases = [("x^2*y + sin(y)", 2), ("2/sin(exp(-x))", 1),
             ("exp(-x*y)/(1+x^2) + log(1+y^2)*x^3", 2)] + \
        [(" + ".join(f"sin(w{i})*w{i % n + 1}" for i in range(1, n + 1)), n)
         for n in (4, 8, 16, 20, 30)]
    for text, n in cases:
        f = parse(text)
        names = list(f.variables)
        point = {v: 0.05 * (k + 1) for k, v in enumerate(names)}
        plan = f._second_order_plan(names)  # noqa: SLF001  (the two passes, timed apart)
        t = timed({"floats": lambda: gradient_graph.evaluate_floats(plan, point),
                   "numpy": lambda: gradient_graph.evaluate(plan, point)}, repeats)
        label = text if len(text) <= 40 else f"sum of {n} sin(w_i)*w_(i+1)"
        print(f"  {label:40s} {n:4d}   {t['floats'] * 1e6:9.1f}   {t['numpy'] * 1e6:9.1f}   "
              f"{t['floats'] / t['numpy']:12.2f}")
    print(f"  (_value_grad_hessian_at takes the floats up to "
          f"{gradient_graph.FLOAT_DIRECTIONS} variables)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", type=int, choices=(1, 2, 3, 4))
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    for k, fn in ((1, part1), (2, part2), (3, part3), (4, part4)):
        if args.part in (None, k):
            fn(args.repeats)


if __name__ == "__main__":
    main()

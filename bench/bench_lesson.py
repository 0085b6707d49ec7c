"""Benchmark: how long `backprop graph EXPR --at POINT -o lesson.html` takes.

The issue's target: under 1 s for a 300-node graph. Times the whole command as a
user runs it (a new process each time: start-up, parse, trace, layout, page),
with Graphviz on the PATH (dot's SVG up to drawing.HUGE_GRAPH nodes) and
without it (the layered layout written here), for a wide graph (a sum of terms) and a deep one (a chain of
modules), each of at most 300 nodes, and a 3,000-node graph (the compact
layout) for scale. Interleaved repeats, medians; `python -c "import numpy"`
and the smallest `backprop grad` timed beside them as the floor every command
pays. Then the library call alone
(``lesson.lesson_page`` in this process, warm): the page's own cost, without
the start-up of a new process.

    python bench/bench_lesson.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from backprop.core.function import parse


def wide(limit: int) -> str:
    """sin(k x + y) * exp(-x/(k+1)) summed over k: as many terms as fit in ``limit`` nodes."""
    terms: list[str] = []
    while True:
        k = len(terms) + 1
        trial = terms + [f"sin({k}*x + y)*exp(-x/{k + 1})"]
        if parse(" + ".join(trial)).size > limit:
            return " + ".join(terms)
        terms = trial


def deep(nodes: int) -> str:
    """A chain of alternating sin and exp modules: ``nodes`` nodes, as many ranks."""
    text = "x"
    for k in range(nodes - 1):
        text = f"{'sin' if k % 2 else 'exp'}({text})"
    return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    exe = shutil.which("backprop")
    if exe is None:
        sys.exit("backprop is not installed in this environment")
    have_dot = shutil.which("dot") is not None
    no_dot_path = os.path.dirname(sys.executable)  # python and backprop, no dot
    cases = [("wide", wide(300), "x=0.3,y=0.2"), ("deep", deep(300), "0.1"),
             ("wide, large", wide(3000), "x=0.3,y=0.2")]
    runs: dict[str, list[str]] = {"python -c 'import numpy'": [sys.executable, "-c", "import numpy"]}
    runs["backprop grad x^2 --at 1 (start-up)"] = [exe, "grad", "x^2", "--at", "1"]
    envs: dict[str, dict[str, str]] = {k: dict(os.environ) for k in runs}
    with tempfile.TemporaryDirectory() as tmp:
        for name, expr, at in cases:
            size = parse(expr).size
            for with_dot in ([True] if have_dot else []) + [False]:
                label = f"{name}: {size} nodes, {'dot on PATH' if with_dot else 'no dot'}"
                runs[label] = [exe, "graph", expr, "--at", at, "-o", str(Path(tmp) / "l.html")]
                env = dict(os.environ)
                if not with_dot:
                    env["PATH"] = no_dot_path
                envs[label] = env
        times: dict[str, list[float]] = {k: [] for k in runs}
        for _ in range(args.repeats):
            for label, argv in runs.items():  # interleaved: load drifts hit every case alike
                t0 = time.perf_counter()
                subprocess.run(argv, env=envs[label], check=True, capture_output=True)
                times[label].append(time.perf_counter() - t0)
    from backprop.views import lesson

    inproc: dict[str, list[float]] = {}
    for name, expr, at in cases:
        f = parse(expr)
        point = dict(zip(f.variables, (float(v.split("=")[-1]) for v in at.split(","))))
        for layout in (["graphviz"] if have_dot else []) + ["layered"]:
            label = f"{name}: {f.size} nodes, {layout}"
            lesson.lesson_page(f, point, layout=layout)  # warm
            ts = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                lesson.lesson_page(f, point, layout=layout)
                ts.append(time.perf_counter() - t0)
            inproc[label] = ts
    load = os.getloadavg()[0]
    print(f"backprop graph ... -o lesson.html, whole command, median of {args.repeats} "
          f"interleaved runs (load average {load:.2f}, {os.cpu_count()} cores)")
    width = max(map(len, runs))
    for label, ts in times.items():
        print(f"  {label:<{width}}  {statistics.median(ts):6.3f} s  "
              f"(min {min(ts):.3f}, max {max(ts):.3f})")
    print(f"lesson.lesson_page(..., layout=...) in one process, warm, median of {args.repeats}")
    for label, ts in inproc.items():
        print(f"  {label:<{width}}  {statistics.median(ts):6.3f} s")


if __name__ == "__main__":
    main()

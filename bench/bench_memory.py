"""Peak memory of `backprop grad` and `backprop predict` streaming points from stdin:
it must not grow with the input.

    python bench/bench_memory.py            # 1e6 and 1e7 lines (about a minute or two)
    python bench/bench_memory.py 1e5 1e6    # other sizes
    python bench/bench_memory.py --in-process 1e7   # one batch in process (issue 17)

A generator process writes the lines into a pipe (so no file of 10^7 lines is
stored), `backprop grad "2/sin(exp(-x))" --at - --format csv` reads them and
writes to /dev/null; the peak resident set of the backprop process is read from
os.wait4 (ru_maxrss, the same figure as /usr/bin/time -v). The same for
`backprop predict` with a model trained for one epoch on configs/sine.yaml (its
input column is x, so the same lines, after a header, feed it). Prints one row
per size and command, and the ratio of the largest peak to the smallest.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXPR = "2/sin(exp(-x))"
# Numbers in a range where f is finite (sin(exp(-x)) != 0), spread so every line differs.
GENERATOR = (
    "import sys\n"
    "n = int(float(sys.argv[1]))\n"
    "w = sys.stdout.write\n"
    "step = 1000\n"
    "if len(sys.argv) > 2: w(sys.argv[2] + '\\n')\n"
    "for start in range(0, n, step):\n"
    "    w(''.join('%r\\n' % (-4.0 + (i % 997) * 0.008) for i in range(start, min(n, start + step))))\n"
)


def peak_rss_mb(lines: int, command: list[str], header: str | None = None) -> tuple[float, float, int]:
    """(peak RSS in MB, seconds, exit code) of a backprop command over ``lines`` stdin lines."""
    gen = subprocess.Popen([sys.executable, "-c", GENERATOR, str(lines), *([header] if header else [])],
                           stdout=subprocess.PIPE)
    t0 = time.perf_counter()
    with open(os.devnull, "wb") as null:
        proc = subprocess.Popen([sys.executable, "-m", "backprop", *command], stdin=gen.stdout,
                                stdout=null)
        assert gen.stdout is not None
        gen.stdout.close()  # the child holds the pipe now
        _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    gen.wait()
    return usage.ru_maxrss / 1024.0, seconds, proc.returncode


def _model(folder: str) -> str:
    config = Path(__file__).resolve().parents[1] / "configs" / "sine.yaml"
    out = os.path.join(folder, "model.npz")
    subprocess.run([sys.executable, "-m", "backprop", "train", str(config), "--epochs", "1",
                    "--out", out, "--quiet", "--format", "json"], check=True,
                   stdout=subprocess.DEVNULL)
    return out


IN_PROCESS = (
    "import sys, numpy as np\n"
    "from backprop import parse\n"
    "from backprop.core import engine\n"
    "n = int(float(sys.argv[1]))\n"
    "x = np.linspace(-5.0, -4.0, n)\n"
    "f = parse(sys.argv[3])\n"
    "if sys.argv[2] == 'whole':\n"
    "    vals = engine.forward(f.graph, f._plan, {'x': x})\n"
    "    g = engine.backward(f.graph, f._plan, vals, ['x'])\n"
    "else:\n"
    "    v, g = f.value_and_grad(x=x)\n"
)


def in_process(sizes: list[int]) -> int:
    """Peak RSS of one in-process batch: the whole-array passes of before issue 17 (every
    intermediate of every point cached) against the blocked passes of value_and_grad."""
    print(f"one batch in process, value and gradient of {EXPR}")
    print(f"{'passes':<40} {'points':>12} {'peak RSS MB':>12}")
    for n in sizes:
        peaks = {}
        for how in ("whole", "blocked"):
            proc = subprocess.Popen([sys.executable, "-c", IN_PROCESS, str(n), how, EXPR])
            _, status, usage = os.wait4(proc.pid, 0)
            if os.waitstatus_to_exitcode(status) != 0:
                return 1
            peaks[how] = usage.ru_maxrss / 1024.0
            label = ("whole-array (before issue 17)" if how == "whole"
                     else "blocked (value_and_grad)")
            print(f"{label:<40} {n:>12,} {peaks[how]:>12.1f}", flush=True)
        print(f"blocked / whole-array = {peaks['blocked'] / peaks['whole']:.2f}")
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["--in-process"]:
        return in_process([int(float(a)) for a in argv[1:]] or [10_000_000])
    sizes = [int(float(a)) for a in argv] or [1_000_000, 10_000_000]
    with tempfile.TemporaryDirectory() as folder:
        commands = {
            f"grad {EXPR!r} --at - --format csv": (["grad", EXPR, "--at", "-", "--format", "csv"], None),
            "predict MODEL --format csv": (["predict", _model(folder), "--format", "csv"], "x"),
        }
        print("lines from a generator process, through a pipe")
        print(f"{'command':<42} {'lines':>12} {'peak RSS MB':>12} {'seconds':>9} {'lines/s':>11} exit")
        for name, (command, header) in commands.items():
            peaks = []
            for n in sizes:
                mb, s, code = peak_rss_mb(n, command, header)
                peaks.append(mb)
                print(f"{name:<42} {n:>12,} {mb:>12.1f} {s:>9.1f} {n / s:>11,.0f} {code}", flush=True)
                if code != 0:
                    return 1
            print(f"{name}: peak at {sizes[-1]:,} lines / peak at {sizes[0]:,} lines = "
                  f"{peaks[-1] / peaks[0]:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

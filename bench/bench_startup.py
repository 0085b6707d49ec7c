"""Start-up of the command, against the cost of importing numpy alone (issue 10).

Each round runs every command once, in turn (interleaved, so a burst of load on
this shared machine hits all of them alike); the figures are medians over the
rounds, and the ratios are taken between medians of the same run:

  - `backprop grad "x^2" --at 1 --format csv`   target <= 1.4x (goal 1.2x) `python -c "import numpy"`
  - `backprop grad "x^2" --at 1`                the table (rich is loaded to draw it)
  - `backprop grad "x^2" --at 1 --format json`
  - `backprop --help`                           target < 0.15 s
  - `python -c pass`                            the interpreter alone, for scale
  - `python -c "import numpy, typer, lark"`     the libraries every `grad` loads, alone

The commands are the installed console script, as a user runs them, with the
user's parser cache warm (one untimed warm-up round fills it).

    python bench/bench_startup.py              # 15 rounds
    python bench/bench_startup.py --rounds 31
    python bench/bench_startup.py --before /tmp/old/src   # also an older source tree, side by side

    python bench/bench_startup.py --importtime 10         # where the start goes, by package

With ``--before SRC`` the csv and --help runs are repeated with PYTHONPATH=SRC
(e.g. ``git archive OLD src grammars | tar -x -C /tmp/old``), in the same rounds.
"""

from __future__ import annotations

import argparse
import collections
import re
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

PY = sys.executable
SCRIPT = str(Path(PY).parent / "backprop") if (Path(PY).parent / "backprop").exists() \
    else (shutil.which("backprop") or "backprop")

COMMANDS: dict[str, list[str]] = {
    "python -c pass": [PY, "-c", "pass"],
    "python -c 'import numpy'": [PY, "-c", "import numpy"],
    # the floor while the command line (typer) and the parser (lark) load at each start
    "import numpy, typer, lark": [PY, "-c", "import numpy, typer, lark"],
    "grad --format csv": [SCRIPT, "grad", "x^2", "--at", "1", "--format", "csv"],
    "grad --format json": [SCRIPT, "grad", "x^2", "--at", "1", "--format", "json"],
    "grad (table)": [SCRIPT, "grad", "x^2", "--at", "1"],
    "backprop --help": [SCRIPT, "--help"],
}
BASE = "python -c 'import numpy'"
RATIO_TARGET, RATIO_GOAL = 1.4, 1.2
HELP_TARGET = 0.15  # seconds


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one run of ``argv``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    elapsed = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.decode()[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def import_breakdown(argv: list[str], env: dict[str, str], runs: int) -> dict[str, float]:
    """Milliseconds of import per group of modules: each module's least self time over ``runs``
    (``python -X importtime``), modules that ``import numpy`` also loads counted as numpy's."""

    def least(cmd: list[str]) -> dict[str, int]:
        best: dict[str, int] = {}
        for _ in range(runs):
            err = subprocess.run([PY, "-X", "importtime", *cmd], capture_output=True, text=True,
                                 env=env).stderr
            for m in re.finditer(r"^import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)", err, re.M):
                best[m.group(2)] = min(best.get(m.group(2), 1 << 60), int(m.group(1)))
        return best

    numpy_side = least(["-c", "import numpy"])
    groups: collections.Counter[str] = collections.Counter()
    for name, us in least(argv).items():
        top = name.split(".")[0]
        group = ("numpy, or loaded by numpy too" if name in numpy_side else "backprop" if top == "backprop"
                 else top if top in ("typer", "lark", "rich", "markdown_it", "pygments")
                 else "other (standard library, mostly)")
        groups[group] += us
    return {g: us / 1000 for g, us in groups.most_common()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--before", metavar="SRC", help="an older source tree to time beside")
    ap.add_argument("--importtime", type=int, metavar="RUNS",
                    help="instead: the import time of csv and --help by package (least of RUNS)")
    args = ap.parse_args()
    if args.importtime:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        for name in ("grad --format csv", "backprop --help"):
            argv = [SCRIPT, *COMMANDS[name][1:]]
            sides = {"now": import_breakdown(argv, env, args.importtime)}
            if args.before:
                old = {**env, "PYTHONPATH": str(Path(args.before).resolve())}
                sides["before"] = import_breakdown(argv, old, args.importtime)
            print(f"{name}: ms of import, least of {args.importtime} runs")
            for group in dict.fromkeys(g for side in sides.values() for g in side):
                print(f"  {group:<34}" + "".join(f"  {k} {v.get(group, 0.0):6.1f}" for k, v in sides.items()))
            print(f"  {'total':<34}" + "".join(f"  {k} {sum(v.values()):6.1f}" for k, v in sides.items()))
        return
    commands = {k: (v, {}) for k, v in COMMANDS.items()}
    if args.before:
        old = {"PYTHONPATH": str(Path(args.before).resolve())}
        commands["before: grad --format csv"] = (COMMANDS["grad --format csv"], old)
        commands["before: backprop --help"] = (COMMANDS["backprop --help"], old)
    # a terminal width would not change anything off a terminal; NO_COLOR keeps rich plain
    env = {**os.environ, "NO_COLOR": "1"}
    # A default environment keeps compiled bytecode (__pycache__); without it every
    # module of an editable install is compiled again at each start (~40 ms here).
    if env.pop("PYTHONDONTWRITEBYTECODE", None) is not None:
        print("(PYTHONDONTWRITEBYTECODE is set here: unset for the runs, as in a default environment)")
    for argv, extra in commands.values():  # warm-up: the OS file cache and the parser cache
        run_once(argv, {**env, **extra})
    times: dict[str, list[float]] = {k: [] for k in commands}
    cpu: dict[str, list[float]] = {k: [] for k in commands}
    for _ in range(args.rounds):
        for name, (argv, extra) in commands.items():
            wall, used = run_once(argv, {**env, **extra})
            times[name].append(wall)
            cpu[name].append(used)
    med = {k: statistics.median(v) for k, v in times.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    try:
        load = "load average %.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        load = "load average unknown"
    print(f"start-up, median of {args.rounds} interleaved rounds ({os.cpu_count()} cores, {load})")
    print(f"  script: {SCRIPT}")
    print("  (CPU = user + system time of the process: less disturbed by other load than the wall time)")
    width = max(map(len, commands))
    print(f"  {'':<{width}}  {'wall':>9}  {'range':>11}  {'ratio':>6}  {'CPU':>9}  {'ratio':>6}")
    for name, seconds in med.items():
        lo, hi = min(times[name]), max(times[name])
        print(f"  {name:<{width}}  {seconds * 1000:6.1f} ms  {lo * 1000:4.0f}-{hi * 1000:<4.0f} ms"
              f"  {seconds / med[BASE]:5.2f}x  {med_cpu[name] * 1000:6.1f} ms"
              f"  {med_cpu[name] / med_cpu[BASE]:5.2f}x")
    ratio = med["grad --format csv"] / med[BASE]
    verdict = ("meets the goal" if ratio <= RATIO_GOAL else
               "meets the target" if ratio <= RATIO_TARGET else "MISSES the target")
    print(f"grad --format csv / import numpy: {ratio:.2f}x wall ({verdict}: "
          f"target <= {RATIO_TARGET}x, goal {RATIO_GOAL}x); "
          f"{med_cpu['grad --format csv'] / med_cpu[BASE]:.2f}x CPU")
    help_s = med["backprop --help"]
    print(f"backprop --help: {help_s * 1000:.0f} ms "
          f"({'meets' if help_s < HELP_TARGET else 'MISSES'} the target < {HELP_TARGET * 1000:.0f} ms)")


if __name__ == "__main__":
    main()

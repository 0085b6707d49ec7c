"""Benchmarks of issue 28: streams of points through pipes, JSON Lines, Parquet.

Every part runs its commands side by side (interleaved, medians of several
repeats) and prints the ratio to its base:

  1. 1,000,000 lines of stdin -> CSV of `grad`, stdin a file and stdin a pipe (`cat`),
     this tree's code against another tree's (--before SRC, e.g. an export of the
     commit before the change): reading as lines arrive must cost nothing (<= 1.0x).
  2. the same points written as --format json against --format csv (target <= 2x).
  3. the same points read as JSON Lines against CSV, written as CSV (target <= 2x).
  4. with pyarrow installed: the points read from Parquet and written to Parquet,
     beside CSV in and out.

    python bench/bench_pipes.py                      # all parts, 1,000,000 lines
    python bench/bench_pipes.py --part 2 --small     # one part, 100,000 lines
    python bench/bench_pipes.py --part 1 --before /tmp/before/src
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_grad import PY, SEED, OtherLoad, report, side_by_side  # noqa: E402

HERE = str(Path(__file__).resolve().parent.parent / "src")


def command(args: list[str], stdin: Path | None, out: Path, src: str = HERE,
            pipe: bool = False) -> Callable[[], object]:
    """`python -m backprop ARGS` with ``src`` first on the path, stdin a file or a pipe."""
    env = {**os.environ, "PYTHONPATH": src}
    argv = [PY, "-m", "backprop", *args]

    def go() -> None:
        with open(out, "wb") as o:
            if stdin is None:
                subprocess.run(argv, stdout=o, check=True, env=env)
            elif pipe:
                cat = subprocess.Popen(["cat", str(stdin)], stdout=subprocess.PIPE)
                subprocess.run(argv, stdin=cat.stdout, stdout=o, check=True, env=env)
                assert cat.stdout is not None
                cat.stdout.close()
                cat.wait()
            else:
                with open(stdin, "rb") as i:
                    subprocess.run(argv, stdin=i, stdout=o, check=True, env=env)
    return go


def points(tmp: Path, n: int) -> tuple[Path, Path]:
    rng = np.random.default_rng(1)
    x = rng.uniform(-5.0, -4.0, n).tolist()
    csv_file = tmp / "points.csv"
    csv_file.write_text("x\n" + "".join(f"{v!r}\n" for v in x))
    json_file = tmp / "points.jsonl"
    json_file.write_text("".join(f'{{"x": {v!r}}}\n' for v in x))
    return csv_file, json_file


def part1(tmp: Path, n: int, repeats: int, before: str | None) -> None:
    csv_file, _ = points(tmp, n)
    args = ["grad", SEED, "--at", "-", "--format", "csv"]
    named = {"this tree, stdin a file": command(args, csv_file, tmp / "a.csv"),
             "this tree, stdin a pipe": command(args, csv_file, tmp / "b.csv", pipe=True)}
    if before:
        named["before, stdin a file"] = command(args, csv_file, tmp / "c.csv", before)
        named["before, stdin a pipe"] = command(args, csv_file, tmp / "d.csv", before, pipe=True)
    other = OtherLoad()
    med = side_by_side(named, repeats)
    same = len({(tmp / f).read_bytes() for f in ("a.csv", "b.csv", *(("c.csv", "d.csv")
                                                                      if before else ()))}) == 1
    report(f"1. {n:,} lines of stdin -> CSV of grad {SEED} (outputs "
           f"{'identical' if same else 'DIFFERENT'})", med,
           "before, stdin a pipe" if before else "this tree, stdin a file", 1.0,
           judged=("this tree",))
    print(f"  ({other.text()})")


def part2(tmp: Path, n: int, repeats: int) -> None:
    csv_file, _ = points(tmp, n)
    other = OtherLoad()
    med = side_by_side({
        "--format csv": command(["grad", SEED, "--at", "-", "--format", "csv"], csv_file,
                                tmp / "out.csv"),
        "--format json": command(["grad", SEED, "--at", "-", "--format", "json"], csv_file,
                                 tmp / "out.jsonl"),
    }, repeats)
    report(f"2. {n:,} points of grad {SEED} written as JSON Lines vs CSV", med, "--format csv",
           2.0, judged=("--format json",))
    print(f"  ({other.text()})")


def part3(tmp: Path, n: int, repeats: int) -> None:
    csv_file, json_file = points(tmp, n)
    args = ["grad", SEED, "--at", "-", "--format", "csv"]
    other = OtherLoad()
    med = side_by_side({
        "CSV in": command(args, csv_file, tmp / "a.csv"),
        "JSON Lines in": command(args, json_file, tmp / "b.csv"),
    }, repeats)
    same = (tmp / "a.csv").read_bytes() == (tmp / "b.csv").read_bytes()
    report(f"3. {n:,} points of grad {SEED} read as JSON Lines vs CSV (outputs "
           f"{'identical' if same else 'DIFFERENT'})", med, "CSV in", 2.0,
           judged=("JSON Lines in",))
    print(f"  ({other.text()})")


def part4(tmp: Path, n: int, repeats: int) -> None:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        print("\n4. Parquet: pyarrow is not installed (pip install 'backprop-cli[parquet]')")
        return
    csv_file, _ = points(tmp, n)
    x = np.array(csv_file.read_text().split()[1:], dtype=np.float64)
    pq.write_table(pa.table({"x": x}), tmp / "points.parquet", row_group_size=65_536)
    other = OtherLoad()
    med = side_by_side({
        "CSV in, CSV out": command(["grad", SEED, "--at", f"@{csv_file}", "--format", "csv"],
                                   None, tmp / "a.csv"),
        "Parquet in, CSV out": command(["grad", SEED, "--at", f"@{tmp / 'points.parquet'}",
                                        "--format", "csv"], None, tmp / "b.csv"),
        "Parquet in, Parquet out": command(["grad", SEED, "--at", f"@{tmp / 'points.parquet'}",
                                            "--format", "parquet", "-o",
                                            str(tmp / "out.parquet")], None, tmp / "c.txt"),
    }, repeats)
    same = (tmp / "a.csv").read_bytes() == (tmp / "b.csv").read_bytes()
    report(f"4. {n:,} points of grad {SEED}, Parquet beside CSV (CSV outputs "
           f"{'identical' if same else 'DIFFERENT'})", med, "CSV in, CSV out", None)
    print(f"  ({other.text()})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", choices=["1", "2", "3", "4", "all"], default="all")
    ap.add_argument("--small", action="store_true", help="100,000 lines (a quick look)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--before", help="another tree's src folder, for part 1")
    ap.add_argument("--src", help="the src folder to measure (default: this tree's)")
    a = ap.parse_args()
    global HERE
    if a.src:
        HERE = a.src
    n = 100_000 if a.small else 1_000_000
    load = os.getloadavg()[0]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpu(s), load average {load:.1f} "
          f"at the start; medians of {a.repeats} interleaved runs")
    tmp = Path(tempfile.mkdtemp(prefix="bench_pipes_"))
    try:
        if a.part in ("1", "all"):
            part1(tmp, n, a.repeats, a.before)
        if a.part in ("2", "all"):
            part2(tmp, n, a.repeats)
        if a.part in ("3", "all"):
            part3(tmp, n, a.repeats)
        if a.part in ("4", "all"):
            part4(tmp, n, a.repeats)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Dask's throughput here (issue 28): backprop.dask.gradients over 8 Parquet files on a
LocalCluster of 1 worker process against 2, the two sizes alternated, medians after a
warm-up run each (docs/dask.md quotes it).

    python bench/bench_dask.py             # 4,000,000 points
    python bench/bench_dask.py 2000000
"""
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import dask.dataframe as dd
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from distributed import Client, LocalCluster

sys.path.insert(0, str(Path(__file__).parent))
from bench_grad import OtherLoad  # noqa: E402

from backprop.dask import gradients  # noqa: E402

def main(n=4_000_000, parts=8, repeats=5):
    tmp = Path(tempfile.mkdtemp())
    rng = np.random.default_rng(0)
    for k in range(parts):
        m = n // parts
        pq.write_table(pa.table({"id": np.arange(k * m, (k + 1) * m), "x": rng.uniform(-5, -4, m), "y": rng.standard_normal(m)}), tmp / f"p{k}.parquet")
    print(f"{n:,} points in {parts} Parquet files; load average {os.getloadavg()[0]:.1f} at the start")
    results = {}
    other = OtherLoad()
    for workers in (1, 2, 1, 2):
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, Client(cluster) as client:
            def run():
                out = gradients(dd.read_parquet(str(tmp / "*.parquet")), "2/sin(exp(-x))*y")
                out.to_parquet(str(tmp / f"out{workers}"), write_index=False)
            run()  # warm-up: imports on the workers
            ts = []
            for _ in range(repeats):
                t = time.perf_counter(); run(); ts.append(time.perf_counter() - t)
            results.setdefault(workers, []).extend(ts)
    for w, ts in results.items():
        med = statistics.median(ts)
        print(f"  {w} worker(s): median {med:.2f} s of {len(ts)} runs, {n / med / 1e6:.2f} M points/s")
    print(f"  2 workers / 1 worker: {statistics.median(results[1]) / statistics.median(results[2]):.2f}x the throughput")
    print(f"  ({other.text()})")
    shutil.rmtree(tmp)

if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 4_000_000)

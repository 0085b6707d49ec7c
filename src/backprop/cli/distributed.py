"""``--at @'data/*.parquet' -o out/ [--scheduler local|tcp://HOST:8786]``: a file per partition.

Each input file is a partition: it is read, evaluated and written (one Parquet
file in the output folder, named as the input) by the same code as
``--at @FILE --format parquet -o FILE``, so a bad row gives the same message,
and the numbers the same bits. Without ``--scheduler`` the files are done here,
one after the other; with it, each file is a task on Dask's workers (the extra
``dask``), which must see the same paths (a shared file system).
"""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Any, Optional

from backprop.errors import InputError

def _files(at: list[str]) -> list[str]:
    if len(at) != 1 or not at[0].strip().startswith("@"):
        raise InputError("--scheduler reads files: give --at @'data/*.parquet' (one --at)")
    pattern = at[0].strip()[1:]
    files = sorted(glob.glob(pattern))
    if not files:
        raise InputError(f"--at @{pattern}: no file matches")
    return files


def _targets(files: list[str], output: Optional[str]) -> list[Path]:
    if output is None:
        raise InputError("several input files: name an output folder with -o out/ (one Parquet "
                         "file per input file)")
    folder = Path(output)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"-o {output}: is a file; with several inputs -o names a folder")
    if not folder.parent.is_dir():
        raise InputError(f"-o {output}: no folder {folder.parent}")
    names = [Path(f).stem + ".parquet" for f in files]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InputError(f"--at: several inputs are named {', '.join(twice)}: the outputs in "
                         f"{output} would overwrite each other")
    return [folder / n for n in names]  # the folder is made once the work can start


def one_file(kind: str, f: Any, wrt: list[str], source: str, target: str) -> tuple[int, str | None]:
    """One partition: ``source``'s points through ``kind`` ("gradients" or "hessians") into a
    Parquet file ``target`` (written atomically). The rows written, and the first warning."""
    from backprop.core.points import CHUNK_ROWS, open_points
    from backprop.core.results import Gradients, Hessians, PassedThrough
    from backprop.files import open_output
    from backprop.views.parquet import ParquetWriter

    result_type = Gradients if kind == "gradients" else Hessians
    rows = CHUNK_ROWS if kind == "gradients" else max(1, CHUNK_ROWS // max(1, len(wrt) ** 2))
    points = open_points([f"@{source}"], f.variables, None, rows)  # type: ignore[arg-type]
    columns = PassedThrough.columns_of(points.names, result_type.columns_of(f.variables, wrt),
                                       result_type.RECORD_KEYS)
    blocks = (f.stream(points, wrt, threads=1) if kind == "gradients"
              else f.stream(points, wrt, threads=1, order=2))
    count, warning = 0, None
    with open_output(target, "wb") as fh:
        writer = ParquetWriter(columns, fh)
        for result in blocks:
            if warning is None:
                found = result.diagnosis()
                if found is not None:
                    warning = f"{source}: {found.message()}"
            writer.write(result)
            count += len(result)
        writer.close()
    return count, warning


def run_partitioned(kind: str, f: Any, wrt: list[str], at: list[str], format: str,
                    output: Optional[str], scheduler: Optional[str]) -> None:
    """Every file of ``--at @PATTERN`` to a Parquet file of the folder ``output``."""
    from backprop.core.parquet import pyarrow_modules
    from backprop.views.writers import warn

    if format != "parquet":
        raise InputError("several input files (or --scheduler) write Parquet: add "
                         "--format parquet -o out/")
    pyarrow_modules("--format parquet")
    files = _files(at)
    targets = _targets(files, output)
    jobs = list(zip(files, map(str, targets)))
    if scheduler is None:
        targets[0].parent.mkdir(exist_ok=True)
        outcomes = [one_file(kind, f, wrt, s, t) for s, t in jobs]
    else:
        outcomes = _on_dask(kind, f, wrt, jobs, scheduler)
    for _, warning in outcomes:
        if warning is not None:
            warn(warning)


def _on_dask(kind: str, f: Any, wrt: list[str], jobs: list[tuple[str, str]],
             scheduler: str) -> list[tuple[int, str | None]]:
    from backprop.dask import DASK_EXTRA

    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise InputError(f"--scheduler: Dask's distributed is not installed: {DASK_EXTRA}") from None
    if scheduler == "local":
        cluster: Any = LocalCluster(processes=True, threads_per_worker=1, dashboard_address=":0")
        client = Client(cluster)
    else:
        if not scheduler.startswith(("tcp://", "tls://", "ws://", "wss://", "inproc://")):
            raise InputError(f"--scheduler {scheduler}: 'local', or an address such as "
                             "tcp://HOST:8786")
        cluster = None
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise InputError(f"--scheduler {scheduler}: no Dask scheduler answers there "
                             f"({exc})") from None
    try:
        Path(jobs[0][1]).parent.mkdir(exist_ok=True)
        futures = [client.submit(one_file, kind, f, wrt, s, t, pure=False) for s, t in jobs]
        return list(client.gather(futures))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()

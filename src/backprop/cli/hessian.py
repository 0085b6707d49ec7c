"""``backprop hessian``: the value, the gradient and the Hessian, by forward mode over backprop."""

from __future__ import annotations

import sys
from typing import List, Optional

import typer

from backprop.cli import app
from backprop.cli.common import (ANGLE_HELP, AT_HELP, EXPR_HELP, OUTPUT_OPTION, VARS_HELP, Angle,
                                 StreamFormat, output_stream, parse_expr, split_names,
                                 stream_writer, thread_count, wants_partitions)

Format = StreamFormat  # table, json, csv, and parquet (to a file)


@app.command(
    epilog="Examples:\n\n"
    "  backprop hessian \"x^2*y + sin(y)\" --at x=1,y=2\n\n"
    "  backprop hessian \"x^2*y + sin(y)\" --at x=1,y=2 --format json\n\n"
    "  backprop hessian \"(1-x)^2 + 100*(y-x^2)^2\" --at x=1,y=1 --wrt y\n\n"
    "  backprop hessian \"x^3\" --at 1 --at 2 --format csv\n\n"
    "  printf 'x,y\\n1,2\\n3,4\\n' | backprop hessian \"x^2*y\" --at - --format csv\n\n"
    "  backprop hessian \"x*y\" --at @points.csv   (CSV or JSON Lines; other columns pass through)",
)
def hessian(
    expr: str = typer.Argument(..., help=EXPR_HELP, metavar="EXPR", show_default=False),
    at: List[str] = typer.Option(..., "--at", help=AT_HELP, metavar="POINT", show_default=False),
    wrt: Optional[str] = typer.Option(None, "--wrt", help="Only these variables' rows and columns, "
                                      "e.g. x,y (default: every variable).", metavar="VARS"),
    format: Format = typer.Option(Format.table, "--format", "-f", help="table (the matrix), json "
                                  "(JSON Lines: one object per point, the whole matrix) or csv "
                                  "(one row per point: d2f/dx2, d2f/dxdy, ... each once), or "
                                  "parquet (with -o: the csv's columns)."),
    output: Optional[str] = OUTPUT_OPTION,
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Run on Dask (the extra "
                                            "dask), as for grad: 'local' or tcp://HOST:8786.",
                                            metavar="ADDRESS", show_default=False),
    angle: Angle = typer.Option(Angle.rad, "--angle", help=ANGLE_HELP),
    declared: Optional[str] = typer.Option(None, "--vars", help=VARS_HELP, metavar="VARS"),
    threads: Optional[int] = typer.Option(None, "--threads", help="Threads that share a large "
                                          "batch of points, block by block (default: "
                                          "BACKPROP_THREADS, else one per core; 1: this thread "
                                          "only).", metavar="N", show_default=False),
) -> None:
    """The value of EXPR, its gradient and its Hessian (every second partial) at POINT.

    The backward pass is built as a graph of the same modules, and forward mode
    over it, one direction per variable at once, gives every row of the Hessian:
    exact, with no symbolic derivative and no finite differences. At a kink the
    first-order conventions carry over: relu'' = abs'' = 0, max and min split a tie.
    """
    from backprop.core.points import CHUNK_ROWS, open_points
    from backprop.core.results import Hessians, PassedThrough
    from backprop.errors import InputError
    from backprop.views import writers

    threads = thread_count(threads)  # at most 4 a core, with a warning past that
    f = parse_expr(expr, angle, declared)
    names = split_names(wrt, "--wrt", f.variables)
    wrt_names = list(f.variables) if names is None else names
    # at a terminal: answer each line; in a pipe, chunks of about CHUNK_ROWS numbers of
    # Hessian (n^2 a point), so that memory stays bounded whatever n
    if wants_partitions(at, scheduler):  # a file per partition, here or on Dask
        from backprop.cli.distributed import run_partitioned

        run_partitioned("hessians", f, wrt_names, at, format.value, output, scheduler)
        return
    n = len(wrt_names)
    from backprop.core.function import check_hessian, check_hessian_variables

    check_hessian_variables(n)  # before the n^2 columns are named
    check_hessian(f, wrt_names)  # and the tangent pass's size, before the CSV header
    rows = 1 if sys.stdin.isatty() else max(1, CHUNK_ROWS // max(1, n * n))
    points = open_points(at, f.variables, sys.stdin, rows)
    blocks = f.stream(points, wrt_names, threads, order=2)
    if format is Format.table and not points.streaming:
        if output is not None:
            raise InputError("-o writes csv, json or parquet: add --format csv (or json, parquet)")
        writers.write_results(blocks, writers.HessianTableWriter(f"f = {f.text.strip()}"))
        return
    columns = PassedThrough.columns_of(points.names, Hessians.columns_of(f.variables, wrt_names),
                                       Hessians.RECORD_KEYS)
    with output_stream(output, format) as out:
        writer = stream_writer(format, columns, out, streaming=points.streaming)
        writers.write_results(blocks, writer)

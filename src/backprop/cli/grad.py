"""``backprop grad``: the value and the exact gradient, by backpropagation."""

from __future__ import annotations

import sys
from typing import List, Optional

import typer

from backprop.cli import app
from backprop.cli.common import (ANGLE_HELP, AT_HELP, EXPR_HELP, OUTPUT_OPTION, VARS_HELP, Angle,
                                 StreamFormat, output_stream, parse_expr, split_names,
                                 stream_writer, thread_count, wants_partitions)

Format = StreamFormat  # table, json, csv, and parquet (to a file)

TRACE_TABLE_LIMIT = 1_000  # nodes; the csv and json traces have no limit


@app.command(
    epilog="Examples:\n\n"
    "  backprop grad \"2/sin(exp(-x))\" --at -4.499\n\n"
    "  backprop grad \"x^2*y + sin(y)\" --at x=1,y=2 --format json\n\n"
    "  backprop grad \"2/sin(exp(-x))\" --at -4.499 --trace --angle deg\n\n"
    "  backprop grad \"x^2\" --at 1 --at 2 --at 3 --format csv\n\n"
    "  seq 1 5 | backprop grad \"x^3\" --at - --format csv\n\n"
    "  backprop grad \"x*y\" --at @points.csv   (CSV or JSON Lines; other columns pass through)\n\n"
    "  backprop grad \"x*y; x+y\" --at x=1,y=2          (a Jacobian: one row per expression)",
)
def grad(
    expr: str = typer.Argument(..., help=EXPR_HELP, metavar="EXPR", show_default=False),
    at: List[str] = typer.Option(..., "--at", help=AT_HELP, metavar="POINT", show_default=False),
    wrt: Optional[str] = typer.Option(None, "--wrt", help="Only these partial derivatives, e.g. x,y "
                                      "(default: every variable).", metavar="VARS"),
    format: Format = typer.Option(Format.table, "--format", "-f", help="table, json (JSON Lines: one "
                                  "object per point), csv, or parquet (with -o)."),
    output: Optional[str] = OUTPUT_OPTION,
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Run on Dask (the extra "
                                            "dask): 'local' (a cluster on this machine) or a "
                                            "scheduler's address tcp://HOST:8786; --at @'data/"
                                            "*.parquet' and -o FOLDER, one Parquet file per "
                                            "partition. A glob without --scheduler runs here.",
                                            metavar="ADDRESS", show_default=False),
    trace: bool = typer.Option(False, "--trace", help="Show the forward pass (each module's cached "
                               "value) and the backward pass (each local derivative, upstream "
                               "gradient and sum), step by step."),
    angle: Angle = typer.Option(Angle.rad, "--angle", help=ANGLE_HELP),
    threads: Optional[int] = typer.Option(None, "--threads", help="Threads that share a large "
                                          "batch of points, block by block (default: "
                                          "BACKPROP_THREADS, else one per core; 1: this thread "
                                          "only).", metavar="N", show_default=False),
    declared: Optional[str] = typer.Option(None, "--vars", help=VARS_HELP, metavar="VARS"),
) -> None:
    """The value of EXPR and its exact gradient at POINT, by backpropagation.

    Several expressions separated by ';' give their Jacobian: each one's value and
    gradient, by reverse mode (one backward pass per expression) or forward mode
    (one tangent pass per variable), whichever takes fewer passes (--trace says which).
    """
    _grad(expr, at, wrt, format, trace, angle, threads, declared, output, scheduler)


def _grad(expr: str, at: list[str], wrt: Optional[str], format: Format, trace: bool,
          angle: Angle, threads: Optional[int] = None, declared: Optional[str] = None,
          output: Optional[str] = None, scheduler: Optional[str] = None) -> None:
    from backprop.core.points import CHUNK_ROWS, open_points
    from backprop.core.results import Gradients, PassedThrough
    from backprop.errors import InputError
    from backprop.views import writers

    if format is Format.parquet and (trace or ";" in expr):
        raise InputError("--format parquet writes a row per point: not with --trace or several "
                         "expressions (use csv or json)")
    threads = thread_count(threads)  # at most 4 a core, with a warning past that
    if ";" in expr:
        if output is not None:
            raise InputError("-o: not with several expressions (redirect stdout instead)")
        _jacobian(expr, at, wrt, format, trace, angle, declared)
        return
    f = parse_expr(expr, angle, declared)
    names = split_names(wrt, "--wrt", f.variables)
    wrt_names = list(f.variables) if names is None else names
    if wants_partitions(at, scheduler):  # a file per partition, here or on Dask
        from backprop.cli.distributed import run_partitioned

        run_partitioned("gradients", f, wrt_names, at, format.value, output, scheduler)
        return
    # typed at a terminal: answer each line as it comes, not per chunk
    rows = 1 if sys.stdin.isatty() else CHUNK_ROWS
    points = open_points(at, f.variables, sys.stdin, rows)
    if trace:
        if points.single is None:
            raise InputError("--trace shows one point: give one --at POINT, not a stream "
                             "or several")
        if output is not None:
            raise InputError("-o: not with --trace (redirect stdout instead)")
        if format is Format.table and f.size > TRACE_TABLE_LIMIT:
            # rich renders ~1 ms per row: a 100,000-module table would take minutes
            raise InputError(f"--trace as a table shows at most {TRACE_TABLE_LIMIT:,} nodes; "
                             f"this expression has {f.size:,}: use --format csv or "
                             "--format json")
        traced = f.trace(points.single, wrt_names)
        # the same warning as without --trace, where a value or a partial is not finite
        bad_value = writers.has_non_finite(traced.value)
        if bad_value or writers.has_non_finite(list(traced.grad.values())):
            found = f.diagnose(points.single, "value" if bad_value else "gradient")
            if found is not None:
                writers.warn(found.message())
        writers.write_trace(traced, format.value)
        return
    columns = PassedThrough.columns_of(points.names, Gradients.columns_of(f.variables, wrt_names),
                                       Gradients.RECORD_KEYS)
    # a stream's table is plain aligned columns; points from the command line get a rich table
    with output_stream(output, format) as out:
        writer = stream_writer(format, columns, out, title=f"f = {f.text.strip()}",
                               streaming=points.streaming, full_precision=True)
        writers.write_results(f.stream(points, wrt_names, threads), writer)


def _jacobian(expr: str, at: list[str], wrt: Optional[str], format: Format, trace: bool,
              angle: Angle, declared: Optional[str] = None) -> None:
    """Several expressions separated by ';': every output's value and gradient (the Jacobian),
    by reverse mode (a backward pass per output) or forward mode (a tangent pass per
    variable), whichever takes fewer passes."""
    from backprop.core.results import Jacobians
    from backprop.core.points import CHUNK_ROWS, open_points
    from backprop.errors import InputError
    from backprop.views import writers

    f = parse_expr(expr, angle, declared, several=True)
    names = split_names(wrt, "--wrt", f.variables)
    wrt_names = list(f.variables) if names is None else names
    # typed at a terminal: answer each line as it comes, not per chunk
    rows = 1 if sys.stdin.isatty() else CHUNK_ROWS
    points = open_points(at, f.variables, sys.stdin, rows)
    streaming = points.streaming
    if trace and points.single is None:
        raise InputError("--trace shows one point: give one --at POINT, not a stream or several")
    # the Jacobian's rows carry no pass-through columns (yet): say so rather than drop them
    if points.names:
        writers.warn(f"several expressions: the input's other columns ({', '.join(points.names)}) "
                     "are not passed through")
    blocks = (f.stream(points, wrt_names) if streaming or points.single is None
              else iter([f.jacobians(points.single, wrt_names)]))
    if trace:
        writers.write_mode(f.mode(wrt_names), f.describe_mode(wrt_names), format.value)
    if format is Format.table and not streaming:
        writers.write_results(blocks, writers.JacobianTableWriter(f"f = {expr.strip()}"))
        return
    writer = writers.open_writer(format.value,
                                 Jacobians.columns_of(f.variables, wrt_names, len(f.outputs)),
                                 streaming=streaming)
    writers.write_results(blocks, writer)

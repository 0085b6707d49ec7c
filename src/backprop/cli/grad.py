"""``backprop grad``: the value and the exact gradient, by backpropagation."""

from __future__ import annotations

import sys
from typing import Optional

import typer

from backprop.cli import app
from backprop.cli.common import ANGLE_HELP, AT_HELP, EXPR_HELP, Angle, Format, parse_expr, split_names

TRACE_TABLE_LIMIT = 1_000  # nodes; the csv and json traces have no limit


@app.command(
    epilog="Examples:\n\n"
    "  backprop grad \"2/sin(exp(-x))\" --at -4.499\n\n"
    "  backprop grad \"x^2*y + sin(y)\" --at x=1,y=2 --format json\n\n"
    "  backprop grad \"2/sin(exp(-x))\" --at -4.499 --trace --angle deg\n\n"
    "  seq 1 5 | backprop grad \"x^3\" --at - --format csv\n\n"
    "  backprop grad \"x*y; x+y\" --at x=1,y=2          (a Jacobian: one row per expression)",
)
def grad(
    expr: str = typer.Argument(..., help=EXPR_HELP, metavar="EXPR", show_default=False),
    at: str = typer.Option(..., "--at", help=AT_HELP, metavar="POINT", show_default=False),
    wrt: Optional[str] = typer.Option(None, "--wrt", help="Only these partial derivatives, e.g. x,y "
                                      "(default: every variable).", metavar="VARS"),
    format: Format = typer.Option(Format.table, "--format", "-f", help="table, json (JSON Lines: one "
                                  "object per point) or csv."),
    trace: bool = typer.Option(False, "--trace", help="Show the forward pass (each module's cached "
                               "value) and the backward pass (each local derivative, upstream "
                               "gradient and sum), step by step."),
    angle: Angle = typer.Option(Angle.rad, "--angle", help=ANGLE_HELP),
    threads: Optional[int] = typer.Option(None, "--threads", help="Threads that share a large "
                                          "batch of points, block by block (default: "
                                          "BACKPROP_THREADS, else one per core; 1: this thread "
                                          "only).", metavar="N", show_default=False),
) -> None:
    """The value of EXPR and its exact gradient at POINT, by backpropagation.

    Several expressions separated by ';' give their Jacobian: each one's value and
    gradient, by reverse mode (one backward pass per expression) or forward mode
    (one tangent pass per variable), whichever takes fewer passes (--trace says which).
    """
    _grad(expr, at, wrt, format, trace, angle, threads)


def _grad(expr: str, at: str, wrt: Optional[str], format: Format, trace: bool,
          angle: Angle, threads: Optional[int] = None) -> None:
    from backprop.core.points import CHUNK_ROWS, read_points
    from backprop.core.results import Gradients
    from backprop.errors import InputError
    from backprop.views import writers

    if threads is not None and threads < 1:
        raise InputError(f"--threads must be at least 1, not {threads}")
    if ";" in expr:
        _jacobian(expr, at, wrt, format, trace, angle)
        return
    f = parse_expr(expr, angle)
    names = split_names(wrt, "--wrt", f.variables)
    wrt_names = list(f.variables) if names is None else names
    if at.strip() == "-":
        if trace:
            raise InputError("--trace shows one point: give it with --at, not on stdin")
        # typed at a terminal: answer each line as it comes, not per chunk
        rows = 1 if sys.stdin.isatty() else CHUNK_ROWS
        blocks = f.stream(read_points(sys.stdin, f.variables, rows), wrt_names, threads)
    else:
        point = f.point(at)
        if trace:
            if format is Format.table and f.size > TRACE_TABLE_LIMIT:
                # rich renders ~1 ms per row: a 100,000-module table would take minutes
                raise InputError(f"--trace as a table shows at most {TRACE_TABLE_LIMIT:,} nodes; "
                                 f"this expression has {f.size:,}: use --format csv or "
                                 "--format json")
            writers.write_trace(f.trace(point, wrt_names), format.value)
            return
        blocks = iter([f.gradients(point, wrt_names, threads)])
    # a stream's table is plain aligned columns; a single point gets a rich table
    writer = writers.open_writer(format.value, Gradients.columns_of(f.variables, wrt_names),
                                 title=f"f = {f.text.strip()}",
                                 streaming=at.strip() == "-")
    writers.write_results(blocks, writer)


def _jacobian(expr: str, at: str, wrt: Optional[str], format: Format, trace: bool,
              angle: Angle) -> None:
    """Several expressions separated by ';': every output's value and gradient (the Jacobian),
    by reverse mode (a backward pass per output) or forward mode (a tangent pass per
    variable), whichever takes fewer passes."""
    from backprop.core.jacobian import parse_vector
    from backprop.core.results import Jacobians
    from backprop.core.points import CHUNK_ROWS, read_points
    from backprop.errors import InputError
    from backprop.views import writers

    f = parse_vector(expr, angle.value)
    names = split_names(wrt, "--wrt", f.variables)
    wrt_names = list(f.variables) if names is None else names
    streaming = at.strip() == "-"
    if streaming:
        if trace:
            raise InputError("--trace shows one point: give it with --at, not on stdin")
        rows = 1 if sys.stdin.isatty() else CHUNK_ROWS
        blocks = f.stream(read_points(sys.stdin, f.variables, rows), wrt_names)
    else:
        blocks = iter([f.jacobians(f.point(at), wrt_names)])
    if trace:
        writers.write_mode(f.mode(wrt_names), f.describe_mode(wrt_names), format.value)
    if format is Format.table and not streaming:
        writers.write_results(blocks, writers.JacobianTableWriter(f"f = {expr.strip()}"))
        return
    writer = writers.open_writer(format.value,
                                 Jacobians.columns_of(f.variables, wrt_names, len(f.outputs)),
                                 streaming=streaming)
    writers.write_results(blocks, writer)

"""``backprop grad``: the value and the exact gradient, by backpropagation."""

from __future__ import annotations

import sys
from typing import Any, Optional

import typer

from backprop.cli import app
from backprop.cli.common import ANGLE_HELP, AT_HELP, EXPR_HELP, Angle, Format, parse_expr, split_names

TRACE_TABLE_LIMIT = 1_000  # nodes; the csv and json traces have no limit


@app.command(
    epilog="Examples:\n\n"
    "  backprop grad \"2/sin(exp(-x))\" --at -4.499\n\n"
    "  backprop grad \"x^2*y + sin(y)\" --at x=1,y=2 --format json\n\n"
    "  backprop grad \"2/sin(exp(-x))\" --at -4.499 --trace --angle deg\n\n"
    "  seq 1 5 | backprop grad \"x^3\" --at - --format csv",
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
) -> None:
    """The value of EXPR and its exact gradient at POINT, by backpropagation."""
    _grad(expr, at, wrt, format, trace, angle)


def _grad(expr: str, at: str, wrt: Optional[str], format: Format, trace: bool,
          angle: Angle) -> None:
    from backprop.core.points import CHUNK_ROWS, parse_point, read_points

    f = parse_expr(expr, angle)
    names = split_names(wrt, "--wrt", f.variables)
    wrt_names = list(f.variables) if names is None else names
    if at.strip() == "-":
        if trace:
            from backprop.errors import InputError

            raise InputError("--trace shows one point: give it with --at, not on stdin")
        # typed at a terminal: answer each line as it comes, not per chunk
        rows = 1 if sys.stdin.isatty() else CHUNK_ROWS
        _stream(f, read_points(sys.stdin, f.variables, rows), wrt_names, format, streaming=True)
        return
    point = parse_point(at, f.variables) if f.variables or at.strip() not in ("", ",") else {}
    if trace and format is Format.table and f.size > TRACE_TABLE_LIMIT:
        from backprop.errors import InputError

        # rich renders ~1 ms per row: a 100,000-module table would take minutes
        raise InputError(f"--trace as a table shows at most {TRACE_TABLE_LIMIT:,} nodes; this "
                         f"expression has {f.size:,}: use --format csv or --format json")
    if trace:
        _print_trace(f, point, wrt_names, format)
        return
    import numpy as np

    arrays = {k: np.array([v]) for k, v in point.items()}
    _stream(f, iter([arrays]) if arrays else iter([{}]), wrt_names, format)


def _columns(f: Any, wrt: list[str]) -> list[str]:
    return [*f.variables, "f", *(f"df/d{v}" for v in wrt)]


def _stream(f: Any, chunks: Any, wrt: list[str], format: Format, streaming: bool = False) -> None:
    """Gradient chunk by chunk; each chunk written before the next is read.

    A stream's table is plain aligned columns (see ``render.ColumnWriter``);
    a single point gets a rich table.
    """
    import numpy as np

    from backprop.core import engine
    from backprop.views.render import ColumnWriter, console, csv_line, json_line, table
    from backprop.cli.common import warn_non_finite

    out = sys.stdout
    warned = False
    columns: ColumnWriter | None = None
    if format is Format.csv:
        out.write(csv_line(_columns(f, wrt)) + "\n")
    for chunk in chunks:
        inputs = f._inputs(chunk)
        vals = engine.forward(f.graph, f.plan, inputs)
        grads = engine.backward(f.graph, f.plan, vals, wrt)
        n = len(next(iter(chunk.values()))) if chunk else 1
        cols = [*(chunk[v] for v in f.variables), vals[f.graph.output], *(grads[v] for v in wrt)]
        data = np.empty((n, len(cols)))
        for k, c in enumerate(cols):
            data[:, k] = c
        if not warned and not np.all(np.isfinite(data)):
            warned = True
            warn_non_finite(f, vals, "value" if not np.all(np.isfinite(data[:, len(f.variables)]))
                            else "gradient")
        rows = data.tolist()
        if format is Format.csv:
            out.write("".join([",".join(map(repr, r)) + "\n" for r in rows]))
        elif format is Format.json:
            k = len(f.variables)
            out.write("".join(
                json_line({"at": dict(zip(f.variables, r[:k])), "value": r[k],
                           "grad": dict(zip(wrt, r[k + 1:]))}) + "\n" for r in rows))
        elif streaming:
            if columns is None:
                columns = ColumnWriter(_columns(f, wrt), rows, out)
            columns.write(rows)
        else:
            title = f"f = {f.text.strip()}"
            console().print(table(title, _columns(f, wrt), rows))
        out.flush()


def _print_trace(f: Any, point: dict[str, float], wrt: list[str], format: Format) -> None:
    from backprop.views.render import console, json_line, print_table
    from backprop.core.trace import trace

    t = trace(f, point, wrt)
    if format is Format.json:
        sys.stdout.write(json_line(t.as_dict()) + "\n")
        return
    if format is Format.csv:
        from backprop.views.render import csv_line

        sys.stdout.write(csv_line(["pass", "node", "module", "computes", "value", "input",
                                   "local", "local_value", "upstream", "contribution"]) + "\n")
        for s in t.forward:
            sys.stdout.write(csv_line(["forward", s.node, s.module, s.computes, s.value,
                                       "", "", "", "", ""]) + "\n")
        for b in t.backward:
            sys.stdout.write(csv_line(["backward", b.node, "", "", "", b.input, b.local,
                                       b.local_value, b.upstream, b.contribution]) + "\n")
        return
    at = ", ".join(f"{k} = {v!r}" for k, v in point.items())
    print_table(f"Forward pass of f = {t.expression.strip()} at {at}: compute and cache",
                ["node", "module", "computes", "value"],
                [(s.node, s.module, f"{s.node} = {s.computes}", s.value) for s in t.forward],
                right_align_from=3)
    print_table("Backward pass: upstream gradient x local derivative, summed over paths",
                ["node", "df/dnode (upstream)", "input", "local d(node)/d(input)", "= value",
                 "contribution to df/d(input)"],
                [(b.node, b.upstream, b.input, b.local, b.local_value, b.contribution)
                 for b in t.backward],
                right_align_from=1)
    lines = [f"f = {t.value!r}"] + [f"df/d{k} = {v!r}" for k, v in t.grad.items()]
    console().print("\n".join(lines))

"""``backprop compare``: the ways to a gradient side by side, and their costs measured."""

from __future__ import annotations

import sys
import time
from enum import Enum
from typing import Any, Optional

import typer

from backprop.cli import app
from backprop.cli.common import ANGLE_HELP, EXPR_HELP, VARS_HELP, Angle, parse_expr, split_names

_STARTED = time.perf_counter()  # --max-seconds counts from here, not from the first measurement


class CompareFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


class Example(str, Enum):
    lecture = "lecture"
    sines = "sines"
    nested = "nested"


_EXPR = typer.Argument(
    None, help=EXPR_HELP + " Default: the lecture's "
    "2/sin(exp(-x)).", metavar="[EXPR]", show_default=False)
_AT = typer.Option(
    None, "--at", help="The point: a number for one variable "
    "(-4.499) or name=value pairs (x=1,y=2). Default with no "
    "EXPR: -4.499.", metavar="POINT", show_default=False)
_EXAMPLE = typer.Option(
    None, "--example", help="A built-in example instead "
    "of EXPR: lecture (2/sin(exp(-x)) at -4.499), sines "
    "(E = Σ sin(w_i)·w_{i+1} with n variables at w_i = "
    "i/n) or nested (f_{k+1} = f_k·sin(f_k) at depth n, "
    "at x = 0.5).", show_default=False)
_N = typer.Option(
    None, "--n", min=1, max=100_000, help="The example's size: "
    "variables of sines (default 100), depth of nested (default 6).",
    metavar="N", show_default=False)
_METHODS = typer.Option(
    None, "--methods", help="The rows to run and time, "
    "e.g. central_difference,richardson,complex_step "
    "(default: all of reverse_mode, forward_mode, symbolic, "
    "forward_difference, central_difference, richardson, "
    "complex_step).", metavar="LIST", show_default=False)
_WRT = typer.Option(
    None, "--wrt", help="Only these partial derivatives, e.g. x,y "
    "(default: every variable).", metavar="VARS")
_ORDER = typer.Option(
    1, "--order", min=1, max=2, help="1: the gradient; 2: the Hessian "
    "by forward over reverse, by the symbolic second partials and by "
    "central differences of the reverse-mode gradient.", metavar="N")
_EPS = typer.Option(
    None, "--eps", help="The finite-difference step h for every "
    "variable (default: sqrt(machine eps)*max(1,|x|) forward, "
    "cbrt(machine eps)*max(1,|x|) central).", metavar="E")
_MAX_SIZE = typer.Option(
    1_000_000, "--max-size", min=1, help="Size cap of the symbolic "
    "derivative, in tree nodes (at most 10,000,000).", metavar="NODES")
_SCALING = typer.Option(
    False, "--scaling", help="Measure how the costs grow: numeric "
    "gradient against backprop as a network's |W| grows, the symbolic "
    "derivative's size and evaluation time as an expression deepens, "
    "and a gradient's cost over one forward pass.")
_MAX_SECONDS = typer.Option(
    60.0, "--max-seconds", help="Time budget of --scaling, in "
    "seconds: the command ends within S + 2 s.", metavar="S")
_SWEEP = typer.Option(
    False, "--sweep", help="The error of forward and central "
    "differences against the exact derivative as the step h shrinks "
    "from 1e-1 to 1e-15 (29 steps, half-decades), with the default "
    "steps marked: the V of truncation and rounding error. With "
    "--format json: JSON Lines, one object per step per method per "
    "variable.")
_PLOT = typer.Option(
    None, "--plot", help="With --sweep: draw the V on log-log "
    "axes to FILE.png or .svg (needs matplotlib: pip install "
    "'backprop-cli[plot]').", metavar="FILE")
_FORMAT = typer.Option(
    CompareFormat.table, "--format", "-f",
    help="table, json (one object; with --sweep, one "
    "object per line) or csv (one row per method and "
    "partial derivative).")
_ANGLE = typer.Option(
    Angle.rad, "--angle", help=ANGLE_HELP)
_DECLARED = typer.Option(
    None, "--vars", help=VARS_HELP, metavar="VARS")


@app.command(
    epilog="Examples:\n\n"
    "  backprop compare                              (the lecture's 2/sin(exp(-x)) at -4.499)\n\n"
    "  backprop compare \"x^2*y + sin(y)\" --at x=1,y=2 --format json\n\n"
    "  backprop compare --example sines --n 100      (E = Σ sin(w_i)·w_{i+1}, 100 variables)\n\n"
    "  backprop compare \"exp(x)\" --at 1 --eps 1e-4\n\n"
    "  backprop compare --methods central_difference,richardson,complex_step\n\n"
    "  backprop compare --scaling --max-seconds 20\n\n"
    "  backprop compare \"exp(x)\" --at 1 --sweep --plot sweep.png   (the error's V against the step)\n\n"
    "  backprop compare \"x^2*y + sin(y)\" --at x=1,y=2 --order 2   (the Hessian three ways)",
)
def compare(
    expr: Optional[str] = _EXPR,
    at: Optional[str] = _AT,
    example: Optional[Example] = _EXAMPLE,
    n: Optional[int] = _N,
    methods: Optional[str] = _METHODS,
    wrt: Optional[str] = _WRT,
    order: int = _ORDER,
    eps: Optional[float] = _EPS,
    max_size: int = _MAX_SIZE,
    scaling: bool = _SCALING,
    max_seconds: float = _MAX_SECONDS,
    sweep: bool = _SWEEP,
    plot: Optional[str] = _PLOT,
    format: CompareFormat = _FORMAT,
    angle: Angle = _ANGLE,
    declared: Optional[str] = _DECLARED,
) -> None:
    """Reverse mode, forward mode, symbolic and numeric gradients of EXPR side by side.

    The numeric ones: forward and central differences, Richardson extrapolation
    (with its own error estimate) and the complex step (exact to rounding where
    EXPR is analytic; at a kink of abs, relu, sign, step, max or min it names it).

    For each: the partial derivatives, their errors against the exact value,
    the passes it makes and its time per gradient (warm, repeated, interleaved:
    the median CPU time, and that time in forward passes; the spread with
    --format json); the sizes of the graph and of the symbolic derivative.
    --scaling measures the lecture's cost claims; --sweep the error of finite
    differences against the step. --order 2 compares the
    Hessian three ways: forward over reverse, the symbolic second partials, and
    central differences of the reverse-mode gradient.
    """
    _check_options(plot, sweep, scaling, eps, methods, order, format, n, example, max_size)
    if scaling:
        _scaling(expr, at, example, max_seconds, max_size, format)
        return
    f, names, point = _expression_at(expr, at, example, n, angle, declared, wrt)
    if sweep:
        _sweep(f, point, names, max_size, plot, format)
    elif order == 2:
        _hessian(f, point, eps, max_size, names, format)
    else:
        _gradient(f, point, eps, max_size, names, methods, format)


def _check_options(plot: Optional[str], sweep: bool, scaling: bool, eps: Optional[float],
                   methods: Optional[str], order: int, format: CompareFormat, n: Optional[int],
                   example: Optional[Example], max_size: int) -> None:
    """The combinations of options that mean nothing, refused before any work."""
    from backprop.errors import InputError
    from backprop.symbolic.derivative import check_max_size

    check_max_size(max_size)
    if plot is not None and not sweep:
        raise InputError("--plot draws the sweep: give it with --sweep")
    if sweep and (scaling or eps is not None):
        raise InputError("--sweep tries its own steps: give it without --scaling and --eps")
    if methods is not None and (sweep or scaling):
        raise InputError("--methods chooses the rows of the comparison: give it without --sweep "
                         "and --scaling")
    if order == 2 and (sweep or scaling or methods is not None):
        raise InputError("--order 2 compares the three ways to the Hessian: give it without "
                         "--sweep, --scaling and --methods")
    if format is CompareFormat.csv and (sweep or scaling):
        raise InputError("--format csv writes the comparison's rows: with --sweep or --scaling "
                         "use --format json or table")
    if n is not None and example in (None, Example.lecture):
        raise InputError("--n sizes an example: give it with --example sines or --example nested")


def _scaling(expr: Optional[str], at: Optional[str], example: Optional[Example],
             max_seconds: float, max_size: int, format: CompareFormat) -> None:
    """``--scaling``: the lecture's cost claims measured within the budget."""
    from backprop.errors import InputError

    if expr is not None or at is not None or example is not None:
        raise InputError("--scaling measures its own functions: give no EXPR, --at or --example")
    if not (max_seconds > 0 and max_seconds < float("inf")):
        raise InputError(f"--max-seconds must be a positive number, not {max_seconds!r}")
    from backprop.studies.timing import limit_thread_variables

    limit_thread_variables()  # before numpy loads: BLAS starts on one thread
    from backprop.studies.scaling import scaling as measure

    _write(measure(max_seconds, max_size, progress=_progress, start=_STARTED), format)


def _expression_at(expr: Optional[str], at: Optional[str], example: Optional[Example],
                   n: Optional[int], angle: Angle, declared: Optional[str],
                   wrt: Optional[str]) -> tuple[Any, list[str], dict[str, float]]:
    """The Function (EXPR, an example or the lecture's), the variables asked for, the point."""
    from backprop.core.points import parse_point
    from backprop.errors import InputError
    from backprop.studies import fixtures

    if example is not None:
        if expr is not None or at is not None:
            raise InputError("--example is the expression and its point: give no EXPR and no --at")
        expr, point_values = fixtures.example(example.value, n)
        at = ",".join(f"{k}={v!r}" for k, v in point_values.items())
    elif expr is None:
        expr = fixtures.LECTURE_EXAMPLE
        if at is None:
            at = repr(fixtures.LECTURE_POINT)
    f = parse_expr(expr, angle, declared)
    if at is None:
        raise InputError("--at is required with an EXPR: e.g. --at 1 or --at x=1,y=2")
    if at.strip() == "-":
        raise InputError("compare takes one point: give it with --at, not on stdin")
    names = split_names(wrt, "--wrt", f.variables)
    point = parse_point(at, f.variables) if f.variables or at.strip() not in ("", ",") else {}
    return f, names, point


def _sweep(f: Any, point: dict[str, float], names: list[str], max_size: int,
           plot: Optional[str], format: CompareFormat) -> None:
    """``--sweep``: the finite differences' error against the step (and its plot)."""
    from backprop.errors import InputError

    if not f.variables:
        raise InputError("the expression has no variables: there is no derivative to sweep")
    plot_path = None
    if plot is not None:
        from backprop.views.plots.common import check_plot_path

        plot_path = check_plot_path(plot)  # before any work: the extra and the folder
    from backprop.studies.sweep import sweep as run_sweep

    result = run_sweep(f, point, names, max_size=max_size)
    _warn_non_finite(f, point, result.value, [result.exact])
    if plot_path is not None:
        from backprop.views.plots.sweep import plot_sweep

        plot_sweep(result.to_json(), plot_path)
    _write(result, format, lines=True)


def _hessian(f: Any, point: dict[str, float], eps: Optional[float], max_size: int,
             names: list[str], format: CompareFormat) -> None:
    """``--order 2``: the Hessian three ways."""
    from backprop.studies.compare import compare_hessian

    second = compare_hessian(f, point, eps, max_size, names)
    if second.non_finite is not None:
        from backprop.views.writers import warn

        warn(second.non_finite)
    _write(second, format)


def _gradient(f: Any, point: dict[str, float], eps: Optional[float], max_size: int,
              names: list[str], methods: Optional[str], format: CompareFormat) -> None:
    """The gradient every way (``--methods`` chooses the rows)."""
    from backprop.studies.compare import check_methods
    from backprop.studies.compare import compare as run

    chosen = None
    if methods is not None:
        chosen = check_methods([m.strip() for m in methods.split(",") if m.strip()])
    result = run(f, point, eps, max_size, names, methods=chosen)
    _warn_non_finite(f, point, result.value, [m.grad for m in result.methods.values()])
    _write(result, format)


def _write(result: Any, format: CompareFormat, lines: bool = False) -> None:
    """The result as one JSON object (JSON Lines for the sweep's rows) or as its tables."""
    from backprop.views.writers import json_line

    if format is CompareFormat.json:
        objs = result.json_lines() if lines else [result.to_json()]
        sys.stdout.write("".join(json_line(o) + "\n" for o in objs))
        return
    if format is CompareFormat.csv:
        from backprop.views.writers import open_writer, write_results

        write_results([result], open_writer("csv", result.columns))
        return
    from backprop.views.writers import console, table

    out = console()
    for t in result.tables():
        out.print(table(t.title, t.columns, t.rows, t.right_align_from, t.caption))
        if t.notes:
            out.print("\n".join(t.notes))


def _warn_non_finite(f: Any, point: dict[str, float], value: float, grads: list[Any]) -> None:
    from backprop.views.writers import has_non_finite, warn

    bad_value = has_non_finite(value)
    if bad_value or any(g is not None and has_non_finite(g) for g in grads):
        found = f.diagnose(point, "value" if bad_value else "gradient")
        if found is not None:
            warn(found.message())


def _progress(message: str) -> None:
    if sys.stderr.isatty():
        sys.stderr.write(f"  {message}...\n")
        sys.stderr.flush()

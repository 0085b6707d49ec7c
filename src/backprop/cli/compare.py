"""``backprop compare``: the four ways to a gradient side by side, and their costs measured."""

from __future__ import annotations

import sys
from enum import Enum
from typing import Any, Optional

import typer

from backprop.cli import app
from backprop.cli.common import ANGLE_HELP, EXPR_HELP, Angle, parse_expr, split_names


class CompareFormat(str, Enum):
    table = "table"
    json = "json"


_METHOD_LABELS = {
    "reverse_mode": "reverse mode (backprop)",
    "forward_mode": "forward mode (tangents)",
    "symbolic": "symbolic",
    "forward_difference": "forward difference",
    "central_difference": "central difference",
}


@app.command(
    epilog="Examples:\n\n"
    "  backprop compare                              (the seed's 2/sin(exp(-x)) at -4.499)\n\n"
    "  backprop compare \"x^2*y + sin(y)\" --at x=1,y=2 --format json\n\n"
    "  backprop compare \"exp(x)\" --at 1 --eps 1e-4\n\n"
    "  backprop compare --scaling --max-seconds 20\n\n"
    "  backprop compare \"exp(x)\" --at 1 --sweep --plot sweep.png   (the error's V against the step)",
)
def compare(
    expr: Optional[str] = typer.Argument(None, help=EXPR_HELP + " Default: the seed's "
                                         "2/sin(exp(-x)).", metavar="[EXPR]", show_default=False),
    at: Optional[str] = typer.Option(None, "--at", help="The point: a number for one variable "
                                     "(-4.499) or name=value pairs (x=1,y=2). Default with no "
                                     "EXPR: -4.499.", metavar="POINT", show_default=False),
    wrt: Optional[str] = typer.Option(None, "--wrt", help="Only these partial derivatives, e.g. x,y "
                                      "(default: every variable).", metavar="VARS"),
    eps: Optional[float] = typer.Option(None, "--eps", help="The finite-difference step h for every "
                                        "variable (default: sqrt(machine eps)*max(1,|x|) forward, "
                                        "cbrt(machine eps)*max(1,|x|) central).", metavar="E"),
    max_size: int = typer.Option(1_000_000, "--max-size", min=1, help="Size cap of the symbolic "
                                 "derivative, in tree nodes.", metavar="NODES"),
    scaling: bool = typer.Option(False, "--scaling", help="Measure how the costs grow: numeric "
                                 "gradient against backprop as a network's |W| grows, the symbolic "
                                 "derivative's size as an expression deepens, and a gradient's cost "
                                 "over one forward pass."),
    max_seconds: float = typer.Option(60.0, "--max-seconds", help="Time budget of --scaling, in "
                                      "seconds.", metavar="S"),
    sweep: bool = typer.Option(False, "--sweep", help="The error of forward and central "
                               "differences against the exact derivative as the step h shrinks "
                               "from 1e-1 to 1e-15 (29 steps, half-decades), with the default "
                               "steps marked: the V of truncation and rounding error. With "
                               "--format json: JSON Lines, one object per step per method per "
                               "variable."),
    plot: Optional[str] = typer.Option(None, "--plot", help="With --sweep: draw the V on log-log "
                                       "axes to FILE.png or .svg (needs matplotlib: pip install "
                                       "'backprop[plot]').", metavar="FILE"),
    format: CompareFormat = typer.Option(CompareFormat.table, "--format", "-f",
                                         help="table or json (one object; with --sweep, one "
                                         "object per line)."),
    angle: Angle = typer.Option(Angle.rad, "--angle", help=ANGLE_HELP),
) -> None:
    """Reverse mode, forward mode, symbolic and numeric gradients of EXPR side by side.

    For each: the partial derivatives, their errors against the exact value,
    the number of evaluations or passes, the time, and the sizes of the graph
    and of the symbolic derivative. --scaling measures the lecture's cost
    claims; --sweep the error of finite differences against the step.
    """
    from backprop.errors import InputError
    from backprop.views.render import json_line

    if plot is not None and not sweep:
        raise InputError("--plot draws the sweep: give it with --sweep")
    if sweep and (scaling or eps is not None):
        raise InputError("--sweep tries its own steps: give it without --scaling and --eps")
    if scaling:
        if expr is not None or at is not None:
            raise InputError("--scaling measures its own functions: give no EXPR and no --at")
        if not (max_seconds > 0 and max_seconds < float("inf")):
            raise InputError(f"--max-seconds must be a positive number, not {max_seconds!r}")
        from backprop.studies.compare import scaling as measure

        result = measure(max_seconds, max_size, progress=_progress)
        if format is CompareFormat.json:
            sys.stdout.write(json_line(result) + "\n")
        else:
            _print_scaling(result)
        return

    from backprop.studies.compare import SEED_EXPRESSION, SEED_POINT, compare as run
    from backprop.core.points import parse_point

    if expr is None:
        expr = SEED_EXPRESSION
        if at is None:
            at = repr(SEED_POINT)
    f = parse_expr(expr, angle)
    if at is None:
        raise InputError("--at is required with an EXPR: e.g. --at 1 or --at x=1,y=2")
    if at.strip() == "-":
        raise InputError("compare takes one point: give it with --at, not on stdin")
    names = split_names(wrt, "--wrt", f.variables)
    point = parse_point(at, f.variables) if f.variables or at.strip() not in ("", ",") else {}
    if sweep:
        _sweep(f, point, names, max_size, plot, format)
        return
    result = run(f, point, eps, max_size, names)
    _warn_non_finite(f, point, result)
    if format is CompareFormat.json:
        sys.stdout.write(json_line(result) + "\n")
    else:
        _print_compare(result)


def _sweep(f: Any, point: dict[str, float], names: Optional[list[str]], max_size: int,
           plot: Optional[str], format: CompareFormat) -> None:
    from backprop.studies.compare import sweep as run_sweep
    from backprop.errors import InputError
    from backprop.views.render import has_non_finite, json_line

    if not f.variables:
        raise InputError("the expression has no variables: there is no derivative to sweep")
    plot_path = None
    if plot is not None:
        from backprop.views.plots.common import check_plot_path

        plot_path = check_plot_path(plot)  # before any work: the extra and the folder
    result = run_sweep(f, point, names, max_size=max_size)
    if has_non_finite(result["value"]) or has_non_finite(result["exact"]):
        from backprop.cli.common import warn_non_finite

        warn_non_finite(f, f.forward(**point), "value" if has_non_finite(result["value"])
                        else "gradient")
    if plot_path is not None:
        from backprop.views.plots.sweep import plot_sweep

        plot_sweep(result, plot_path)
    if format is CompareFormat.json:
        sys.stdout.write("".join(json_line(r) + "\n" for r in result["rows"]))
    else:
        _print_sweep(result)


def _print_sweep(r: dict[str, Any]) -> None:
    from backprop.views.render import console, fmt, table

    at = ", ".join(f"{k} = {v!r}" for k, v in r["at"].items())
    ref = "the symbolic derivative" if r["reference"] == "symbolic" else "reverse mode"
    out = console()
    for v, exact in r["exact"].items():
        rows = []
        best: dict[str, dict[str, Any]] = {}
        for method in ("forward", "central"):
            mine = [x for x in r["rows"] if x["variable"] == v and x["method"] == method]
            swept = [x for x in mine if not x["default"]]
            if swept:
                best[method] = min(swept, key=lambda x: x["abs_error"])
        by_h: dict[float, dict[str, dict[str, Any]]] = {}
        for x in r["rows"]:
            if x["variable"] == v:
                by_h.setdefault(x["h_taken"] if x["default"] else x["h"], {})[x["method"]] = x
        for h in sorted(by_h, reverse=True):
            cells = by_h[h]
            row: list[Any] = [f"{h:.3g}"]
            notes = []
            for method in ("forward", "central"):
                x = cells.get(method)
                row += ([fmt(x["estimate"]), _g(x["rel_error"] if exact != 0 else x["abs_error"])]
                        if x else ["", ""])
                if x is not None and x["default"]:
                    notes.append(f"default {method} step")
                elif x is not None and best.get(method) is x:
                    notes.append(f"smallest {method} error")
            rows.append((*row, ", ".join(notes)))
        what = "rel error" if exact != 0 else "abs error"
        out.print(table(f"Finite differences of df/d{v} against the step h: f = {r['expression']} "
                        f"at {at}", ["h", "forward difference", what, "central difference", what,
                                     ""], rows, right_align_from=0,
                        caption=f"exact df/d{v} = {exact!r} ({ref} in float64); truncation error "
                                "shrinks with h (forward ~ h, central ~ h^2) until rounding error "
                                "(~ eps*|f|/h) takes over"))


def _warn_non_finite(f: Any, point: dict[str, float], result: dict[str, Any]) -> None:
    from backprop.views.render import has_non_finite
    from backprop.cli.common import warn_non_finite

    bad_value = has_non_finite(result["value"])
    if bad_value or any(m["grad"] is not None and has_non_finite(m["grad"])
                        for m in result["methods"].values()):
        warn_non_finite(f, f.forward(**point), "value" if bad_value else "gradient")


def _progress(message: str) -> None:
    if sys.stderr.isatty():
        sys.stderr.write(f"  {message}...\n")
        sys.stderr.flush()


def _g(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.6g}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def _seconds(v: Any) -> str:
    if v is None:
        return "-"
    return f"{v * 1e6:,.1f} µs" if v < 1e-3 else (f"{v * 1e3:,.2f} ms" if v < 1 else f"{v:,.2f} s")


def _print_compare(r: dict[str, Any]) -> None:
    from backprop.views.render import console, fmt, table

    at = ", ".join(f"{k} = {v!r}" for k, v in r["at"].items())
    rows = []
    for key, label in _METHOD_LABELS.items():
        m = r["methods"][key]
        if m["grad"] is None:
            rows.append((label, "-", "-", "-", "-", "-", _seconds(m["seconds"])))
            continue
        for v, g in m["grad"].items():
            rows.append((label, v, fmt(g), _g(m["abs_error"].get(v)), _g(m["rel_error"].get(v)),
                         _g(m.get("evals")), _seconds(m["seconds"])))
    ref = "the symbolic derivative" if r["reference"] == "symbolic" else "reverse mode"
    out = console()
    out.print(table(f"Gradient of f = {r['expression']} at {at}  (f = {r['value']!r})",
                    ["method", "variable", "partial derivative", "abs error", "rel error",
                     "evals/passes", "time"], rows, right_align_from=2,
                    caption=f"errors against {ref} evaluated in float64"))
    sym = r["methods"]["symbolic"]
    lines = [f"graph nodes: {r['graph_nodes']:,} (each shared subexpression once)"]
    if sym["grad"] is not None:
        lines.append(f"symbolic derivative: {sym['size']:,} tree nodes")
        lines += [f"  df/d{v} = {t}" for v, t in sym["derivative"].items()]
    else:
        lines.append(f"symbolic: no result: {sym['error']}")
    for key in ("forward_difference", "central_difference"):
        m = r["methods"][key]
        steps = ", ".join(f"h_{v} = {h:.3g}" for v, h in m["steps"].items())
        lines.append(f"{_METHOD_LABELS[key]} steps: {steps}")
    out.print("\n".join(lines), soft_wrap=True)


def _print_scaling(r: dict[str, Any]) -> None:
    from backprop.views.render import console, table

    out = console()
    net = r["network"]
    out.print(table(
        "Numeric gradient against backpropagation, one-hidden-layer network",
        ["|W|", "forward pass", "backprop", "backprop / forward", "numeric (forward diff.)",
         "evals", "numeric / backprop", "max |numeric - backprop|"],
        [(_g(x["params"]), _seconds(x["forward_seconds"]), _seconds(x["backprop_seconds"]),
          f"{x['backprop_over_forward']:.2f}", _seconds(x["numeric_seconds"]) if x["numeric_seconds"]
          is not None else "skipped (budget)", _g(x["numeric_evals"]),
          _g(x.get("numeric_over_backprop")), _g(x["max_difference"]))
         for x in net["rows"]], right_align_from=0,
        caption=f"{net['network']}\ngrowth in |W| (time ~ |W|^k, fitted on the largest sizes): "
                f"numeric k = {_exp(net['numeric_exponent'])} (expected near 2), backprop k = "
                f"{_exp(net['backprop_exponent'])} (expected near 1); numeric / backprop k = "
                f"{_exp(net['ratio_exponent'])} over all sizes (expected near 1)"))
    dep = r["depth"]
    out.print(table(
        f"Symbolic derivative against the graph, {dep['expression']}",
        ["depth k", "graph nodes", "symbolic derivative (tree nodes)", "time"],
        [(x["depth"], _g(x["graph_nodes"]), _g(x["symbolic_size"]) if x["symbolic_size"] is not None
          else "over the size cap", _seconds(x["symbolic_seconds"])) for x in dep["rows"]],
        right_align_from=0,
        caption=f"graph: {_g(dep['graph_nodes_per_level'])} more nodes per level (linear); symbolic "
                f"derivative: x{_g(dep['symbolic_growth_factor_per_level'])} per level (exponential)"))
    cost = r["gradient_over_forward"]
    out.print(table(
        f"Cost of the gradient over one forward pass, in the engine, {cost['function']}",
        ["parameters", "graph nodes", "forward pass", "gradient (forward + backward)", "ratio"],
        [(_g(x["params"]), _g(x["graph_nodes"]), _seconds(x["forward_seconds"]),
          _seconds(x["gradient_seconds"]), f"{x['ratio']:.2f}") for x in cost["rows"]],
        right_align_from=0,
        caption=f"largest ratio {_g(cost['max_ratio'])} (the seed: a small constant, whatever "
                "the number of parameters)"))
    out.print(f"measured in {r['seconds']:.1f} s of a {r['max_seconds']:g} s budget")


def _exp(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"

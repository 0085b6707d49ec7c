"""``backprop diff``: the derivative as an expression, by symbolic differentiation."""

from __future__ import annotations

import sys
from enum import Enum
from typing import List, Optional

import typer

from backprop.cli import app
from backprop.cli.common import ANGLE_HELP, EXPR_HELP, VARS_HELP, Angle, parse_expr


class DiffFormat(str, Enum):
    text = "text"
    latex = "latex"
    json = "json"
    table = "table"
    csv = "csv"


@app.command(
    epilog="Examples:\n\n"
    "  backprop diff \"x^2*sin(x)\"\n\n"
    "  backprop diff \"x^2*y + sin(y)\"            (every first partial: x: ..., y: ...)\n\n"
    "  backprop diff \"x*y\" --wrt y                (df/dy alone, ready for backprop grad)\n\n"
    "  backprop diff \"x^2*y\" --wrt x,y            (the mixed partial d2f/dxdy: 2*x)\n\n"
    "  backprop diff \"x^2*y\" --wrt x --wrt y      (two first partials, one line each)\n\n"
    "  backprop diff \"x^2*y + sin(y)\" --hessian   (d2f/dx2, d2f/dxdy, d2f/dy2)\n\n"
    "  backprop diff \"1/x\" --order 4\n\n"
    "  backprop diff \"log2(x)\" --format latex\n\n"
    "  backprop grad \"$(backprop diff 'x^2*sin(x)')\" --at 1",
)
def diff(
    expr: str = typer.Argument(..., help=EXPR_HELP, metavar="EXPR", show_default=False),
    wrt: Optional[List[str]] = typer.Option(None, "--wrt", help="Differentiate in these variables "
                                            "in turn: x is df/dx, x,y the mixed partial d2f/dxdy "
                                            "(the order is the number of names). Repeat --wrt for "
                                            "several derivatives, one line each (default: every "
                                            "variable's first partial).", metavar="VARS",
                                            show_default=False),
    order: Optional[int] = typer.Option(None, "--order", "-n", min=1, help="Differentiate N times "
                                        "in each variable (default 1; at most 100,000, and "
                                        "past 1,000 only where the derivative becomes 0 by "
                                        "then, as a polynomial's does).", metavar="N",
                                        show_default=False),
    hessian: bool = typer.Option(False, "--hessian", help="Every second partial once (the matrix "
                                 "is symmetric): d2f/dx2, d2f/dxdy, d2f/dy2, ...; --wrt x,y "
                                 "chooses the variables."),
    max_size: int = typer.Option(1_000_000, "--max-size", min=1, help="Stop with exit 1 when the "
                                 "derivative, as a tree, grows past this many nodes (at most "
                                 "10,000,000).",
                                 metavar="NODES"),
    format: DiffFormat = typer.Option(DiffFormat.text, "--format", "-f", help="text (the expression; "
                                      "labelled lines, 'x: ...' or 'd2f/dxdy: ...', for several), "
                                      "latex (for slides), json (text, LaTeX and tree size), "
                                      "table or csv (one row per derivative)."),
    angle: Angle = typer.Option(Angle.rad, "--angle", help=ANGLE_HELP),
    declared: Optional[str] = typer.Option(None, "--vars", help=VARS_HELP, metavar="VARS"),
) -> None:
    """The symbolic derivative of EXPR, printed in the same language.

    Chain, product and quotient rules from the table of primitives, simplified
    as it is built (like terms collected, powers merged, fractions combined);
    the output parses again. A mixed partial (--wrt x,y) differentiates the
    simplified first partial again. Symbolic differentiation shares nothing, so
    its result can grow exponentially: see --max-size.
    """
    from backprop.symbolic import diff_expression

    # parsed here for --vars and the typo warnings (a second, cheap parse below)
    parse_expr(expr, angle, declared)
    names = None if declared is None else [n.strip() for n in declared.split(",") if n.strip()]
    result = diff_expression(expr, wrt or None, order, angle.value, max_size, hessian=hessian,
                             vars=names)
    if format is DiffFormat.json:
        from backprop.views.writers import json_line

        sys.stdout.write(json_line(result.as_json()) + "\n")
    elif format is DiffFormat.table:
        from backprop.views.writers import print_table

        print_table(f"f = {result.expression}", result.columns, result.rows(), right_align_from=2)
    elif format is DiffFormat.csv:
        from backprop.views import writers

        writers.write_results([result], writers.open_writer("csv", result.columns))
    else:
        lines = result.latex_lines() if format is DiffFormat.latex else result.text_lines()
        sys.stdout.write("".join(line + "\n" for line in lines))

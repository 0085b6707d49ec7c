"""``backprop diff``: the derivative as an expression, by symbolic differentiation."""

from __future__ import annotations

import sys
from enum import Enum
from typing import Optional

import typer

from backprop.cli import app
from backprop.cli.common import ANGLE_HELP, EXPR_HELP, VARS_HELP, Angle, parse_expr


class DiffFormat(str, Enum):
    text = "text"
    latex = "latex"
    json = "json"


@app.command(
    epilog="Examples:\n\n"
    "  backprop diff \"x^2*sin(x)\"\n\n"
    "  backprop diff \"x^2*y + sin(y)\"            (one line per variable: x: ..., y: ...)\n\n"
    "  backprop diff \"x*y\" --wrt y            (y: x, labelled: the expression has two variables)\n\n"
    "  backprop diff \"1/x\" --order 4\n\n"
    "  backprop diff \"log2(x)\" --format latex\n\n"
    "  backprop grad \"$(backprop diff 'x^2*sin(x)')\" --at 1",
)
def diff(
    expr: str = typer.Argument(..., help=EXPR_HELP, metavar="EXPR", show_default=False),
    wrt: Optional[str] = typer.Option(None, "--wrt", help="Differentiate with respect to these "
                                      "variables, e.g. x or x,y (default: every variable).",
                                      metavar="VARS"),
    order: int = typer.Option(1, "--order", "-n", min=1, help="Differentiate N times.",
                              metavar="N"),
    max_size: int = typer.Option(1_000_000, "--max-size", min=1, help="Stop with exit 1 when the "
                                 "derivative, as a tree, grows past this many nodes.",
                                 metavar="NODES"),
    format: DiffFormat = typer.Option(DiffFormat.text, "--format", "-f", help="text (the expression; "
                                      "'x: ...' lines for several variables), latex (for slides) "
                                      "or json (text, LaTeX and tree size)."),
    angle: Angle = typer.Option(Angle.rad, "--angle", help=ANGLE_HELP),
    declared: Optional[str] = typer.Option(None, "--vars", help=VARS_HELP, metavar="VARS"),
) -> None:
    """The symbolic derivative of EXPR, printed in the same language.

    Chain, product and quotient rules from the table of primitives, simplified
    as it is built (like terms collected, powers merged, fractions combined);
    the output parses again. Symbolic differentiation shares nothing, so its
    result can grow exponentially: see --max-size.
    """
    from backprop.symbolic import diff_expression

    # parsed here for --vars and the typo warnings (a second, cheap parse below)
    parse_expr(expr, angle, declared)
    result = diff_expression(expr, wrt, order, angle.value, max_size)
    if format is DiffFormat.json:
        from backprop.views.render import json_line

        sys.stdout.write(json_line(result.as_json()) + "\n")
    else:
        lines = result.latex_lines() if format is DiffFormat.latex else result.text_lines()
        sys.stdout.write("".join(line + "\n" for line in lines))

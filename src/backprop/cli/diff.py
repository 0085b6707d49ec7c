"""``backprop diff``: the derivative as an expression, by symbolic differentiation."""

from __future__ import annotations

import sys
from enum import Enum
from typing import Optional

import typer

from backprop.cli import app
from backprop.cli.common import ANGLE_HELP, EXPR_HELP, Angle, parse_expr, split_names


class DiffFormat(str, Enum):
    text = "text"
    json = "json"


@app.command(
    epilog="Examples:\n\n"
    "  backprop diff \"x^2*sin(x)\"\n\n"
    "  backprop diff \"x^2*y + sin(y)\"            (one line per variable: x: ..., y: ...)\n\n"
    "  backprop diff \"sin(x)\" --order 3\n\n"
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
                                      "'x: ...' lines for several variables) or json."),
    angle: Angle = typer.Option(Angle.rad, "--angle", help=ANGLE_HELP),
) -> None:
    """The symbolic derivative of EXPR, printed in the same language.

    Chain, product and quotient rules from the table of primitives, then
    simplified; the output parses again. Symbolic differentiation shares
    nothing, so its result can grow exponentially: see --max-size.
    """
    from backprop.errors import InputError
    from backprop.views.render import json_line
    from backprop.symbolic import derivatives

    f = parse_expr(expr, angle)
    names = split_names(wrt, "--wrt", f.variables)
    if names is None:
        names = list(f.variables)
        if not names:
            raise InputError("the expression has no variables: its derivative is 0 with "
                             "respect to anything (name one with --wrt to see it)")
    results = derivatives(f.graph, names, order, max_size)
    if format is DiffFormat.json:
        sys.stdout.write(json_line({"expression": expr.strip(), "order": order,
                                    "derivative": {v: d.text() for v, d in results.items()},
                                    "size": {v: d.size for v, d in results.items()}}) + "\n")
        return
    if len(results) == 1:
        sys.stdout.write(next(iter(results.values())).text() + "\n")
        return
    sys.stdout.write("".join(f"{v}: {d.text()}\n" for v, d in results.items()))

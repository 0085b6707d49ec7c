"""``backprop descend``: gradient descent on any expression, step by step."""

from __future__ import annotations

from enum import Enum
from typing import Any, Optional

import typer

from backprop.cli import app
from backprop.cli.common import ANGLE_HELP, EXPR_HELP, VARS_HELP, Angle, Format, parse_expr

FROM_HELP = ("The starting point: a number when EXPR has one variable (3), or name=value "
             "pairs (x=-1.2,y=1).")
PLOT_POINTS = 5000  # at most about this many iterates are kept for --plot
DEFAULT_LR = 0.1


class Method(str, Enum):
    gd = "gd"
    newton = "newton"


@app.command(
    epilog="Examples:\n\n"
    "  backprop descend \"(x-3)^2\" --from 0\n\n"
    "  backprop descend \"(1-x)^2 + 100*(y-x^2)^2\" --from x=-1.2,y=1 --lr 0.001 --steps 20000\n\n"
    "  backprop descend \"(1-x)^2 + 100*(y-x^2)^2\" --from x=-1.2,y=1 --method newton\n\n"
    "  backprop descend \"x^2 + 10*y^2\" --from x=5,y=1 --lr 0.05 --momentum 0.9 --format json\n\n"
    "  backprop descend \"(1-x)^2 + 100*(y-x^2)^2\" --from x=-1.2,y=1 --lr 0.001 --steps 20000 "
    "--plot path.png",
)
def descend(
    expr: str = typer.Argument(..., help=EXPR_HELP, metavar="EXPR", show_default=False),
    start: Optional[str] = typer.Option(None, "--from", help=FROM_HELP + " Required.",
                                        metavar="POINT", show_default=False),
    lr: Optional[float] = typer.Option(None, "--lr", help="The learning rate tau: each step moves "
                                       "by -tau * gradient (default 0.1; gd only).", metavar="TAU",
                                       show_default=False),
    method: Method = typer.Option(Method.gd, "--method", help="gd (W = W - tau*gradient) or newton "
                                  "(W = W - H^-1 gradient with the exact Hessian, the step halved "
                                  "until f decreases; a gradient step where H is not positive "
                                  "definite)."),
    steps: int = typer.Option(1000, "--steps", help="Stop after this many steps (at most "
                              "1,000,000).", metavar="N"),
    tol: float = typer.Option(1e-8, "--tol", help="Stop (converged) when the gradient's norm "
                              "falls below this.", metavar="T"),
    momentum: float = typer.Option(0.0, "--momentum", help="Classical momentum m in [0, 1): "
                                   "V = m*V - tau*gradient, W = W + V. 0 is the plain rule.",
                                   metavar="M"),
    every: Optional[int] = typer.Option(None, "--every", help="Print a row every K steps "
                                        "(default: about 20 rows; the first and last always).",
                                        metavar="K", show_default=False),
    format: Format = typer.Option(Format.table, "--format", "-f", help="table, json (JSON Lines: "
                                  "one object per printed step, then a summary with "
                                  "\"converged\" and \"reason\") or csv."),
    plot: Optional[str] = typer.Option(None, "--plot", help="Draw the path to FILE.png (needs "
                                       "matplotlib: pip install 'backprop-cli[plot]'). One variable: "
                                       "the function and the iterates; two: contours and the "
                                       "path; more: the value by step.", metavar="FILE",
                                       show_default=False),
    angle: Angle = typer.Option(Angle.rad, "--angle", help=ANGLE_HELP),
    # grad, compare and graph take --at: accepted here only to point to --from
    at: Optional[str] = typer.Option(None, "--at", hidden=True),
    declared: Optional[str] = typer.Option(None, "--vars", help=VARS_HELP, metavar="VARS"),
) -> int:
    """Minimise EXPR from POINT: gradient descent, W = W - tau * grad E(W), or Newton's method.

    Where the run ends with a vanishing gradient, the Hessian there says whether it is a
    minimum; a maximum or a saddle is reported as a failure (exit 1), and a run that
    oscillates says so in its summary.
    """
    from backprop.methods.descend import MAX_STEPS, failure_message, follow
    from backprop.errors import BackpropError
    from backprop.views import writers

    f, run, tau = _start(expr, start, at, every, lr, method, steps, tol, momentum, angle,
                         declared)
    plot_path = None
    if plot is not None:
        from backprop.views.plots.common import check_plot_path

        plot_path = check_plot_path(plot)
    # JSON and CSV stream their rows as they come; a table is printed at the end,
    # so its rows can be chosen once the number of steps taken is known.
    writer = writers.open_writer(format.value, ["step", *f.variables, "f", "grad_norm"])
    with writers.ProgressBar(steps, "descending") as bar:
        done = follow(run, every, on_rows=None if format is Format.table else writer.write,
                      on_progress=bar.update,
                      plot_points=PLOT_POINTS if plot_path is not None else None)
    if plot_path is not None:
        from backprop.views.plots.descend import plot_descent

        plot_descent(f, done.path, plot_path)
    title = (f"Newton's method on f = {f.text.strip()}" if method is Method.newton else
             f"gradient descent on f = {f.text.strip()}  (tau = {tau!r}, momentum = {momentum!r})")
    writers.write_descent_end(done, writer, format.value, title)
    outcome = done.outcome
    if outcome.reason != MAX_STEPS and not outcome.converged:
        raise BackpropError(failure_message(outcome, tau))
    return 0


def _start(expr: str, start: str | None, at: str | None, every: int | None, lr: float | None,
           method: Method, steps: int, tol: float, momentum: float, angle: Angle,
           declared: str | None) -> tuple[Any, Any, float]:
    """The options checked, the expression parsed: the function, the run (not started)
    and the learning rate."""
    from backprop.core.points import parse_point_or_empty
    from backprop.methods.descend import Descent
    from backprop.errors import InputError

    if start is None:
        hint = f": descend starts from --from POINT (write --from {at})" if at is not None else ""
        raise InputError(f"missing option '--from'{hint}")
    if at is not None:
        raise InputError("descend takes its starting point as --from, not --at")
    if every is not None and every < 1:
        raise InputError(f"--every must be 1 or more, not {every}")
    f = parse_expr(expr, angle, declared)
    if not f.variables:
        raise InputError("the expression has no variables: there is nothing to descend on")
    if method is Method.newton and lr is not None:
        raise InputError("--lr is gradient descent's step size; Newton's method steps by "
                         "H^-1 gradient, halved until f decreases: leave --lr out")
    tau = DEFAULT_LR if lr is None else lr
    run = Descent(f, parse_point_or_empty(start, f.variables, "--from"), tau=tau,
                  max_steps=steps, tol=tol, momentum=momentum, method=method.value)
    return f, run, tau

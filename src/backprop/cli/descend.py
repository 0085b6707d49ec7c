"""``backprop descend``: gradient descent on any expression, step by step."""

from __future__ import annotations

import sys
import time
from typing import Any, Optional

import typer

from backprop.cli import app
from backprop.cli.common import ANGLE_HELP, EXPR_HELP, Angle, Format, parse_expr

FROM_HELP = ("The starting point: a number when EXPR has one variable (3), or name=value "
             "pairs (x=-1.2,y=1).")
PROGRESS_AFTER_S = 0.5  # show a progress bar (on a terminal) once a run takes this long
PLOT_POINTS = 5000  # at most about this many iterates are kept for --plot


@app.command(
    epilog="Examples:\n\n"
    "  backprop descend \"(x-3)^2\" --from 0\n\n"
    "  backprop descend \"(1-x)^2 + 100*(y-x^2)^2\" --from x=-1.2,y=1 --lr 0.001 --steps 20000\n\n"
    "  backprop descend \"x^2 + 10*y^2\" --from x=5,y=1 --lr 0.05 --momentum 0.9 --format json\n\n"
    "  backprop descend \"(1-x)^2 + 100*(y-x^2)^2\" --from x=-1.2,y=1 --lr 0.001 --steps 20000 "
    "--plot path.png",
)
def descend(
    expr: str = typer.Argument(..., help=EXPR_HELP, metavar="EXPR", show_default=False),
    start: str = typer.Option(..., "--from", help=FROM_HELP, metavar="POINT", show_default=False),
    lr: float = typer.Option(0.1, "--lr", help="The learning rate tau: each step moves by "
                             "-tau * gradient.", metavar="TAU"),
    steps: int = typer.Option(1000, "--steps", help="Stop after this many steps.", metavar="N"),
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
                                       "matplotlib: pip install 'backprop\\[plot]'). One variable: "
                                       "the function and the iterates; two: contours and the "
                                       "path; more: the value by step.", metavar="FILE",
                                       show_default=False),
    angle: Angle = typer.Option(Angle.rad, "--angle", help=ANGLE_HELP),
) -> int:
    """Minimise EXPR by gradient descent from POINT: W(new) = W(old) - tau * grad E(W(old))."""
    from backprop.descend import MAX_STEPS, Descent, default_every
    from backprop.errors import BackpropError, InputError
    from backprop.core.points import parse_point

    if every is not None and every < 1:
        raise InputError(f"--every must be 1 or more, not {every}")
    f = parse_expr(expr, angle)
    if not f.variables:
        raise InputError("the expression has no variables: there is nothing to descend on")
    point = parse_point(start, f.variables, "--from")
    run = Descent(f, point, tau=lr, max_steps=steps, tol=tol, momentum=momentum)
    plot_path = None
    if plot is not None:
        from backprop.views.plots.common import check_plot_path

        plot_path = check_plot_path(plot)
    # A table is printed at the end, so its default rows can be chosen once the
    # number of steps taken is known; JSON and CSV stream, so they go by --steps.
    adaptive = every is None and format is Format.table
    k_every = 1 if adaptive else every if every is not None else default_every(steps)
    thin = max(1, steps // PLOT_POINTS)

    printer = _Printer(format, f.variables, adaptive)
    path: list[Any] = []
    progress = _Progress(steps)
    last = None
    try:
        for s in run:
            if s.step % k_every == 0:
                printer.row(s)
            if plot_path is not None and s.step % thin == 0:
                path.append(s)
            if s.step & 255 == 0:
                progress.update(s.step)
            last = s
    finally:
        progress.close()
    outcome = run.outcome
    assert outcome is not None and last is not None
    if last.step % k_every != 0 and format is not Format.table:
        printer.row(last)
    if plot_path is not None:
        if not path or path[-1] is not last:
            path.append(last)
        from backprop.views.plots.descend import plot_descent

        plot_descent(f, path, plot_path)
    printer.summary(outcome, f"gradient descent on f = {f.text.strip()}  "
                    f"(tau = {lr!r}, momentum = {momentum!r})")
    if outcome.reason == MAX_STEPS:
        return 0
    if not outcome.converged:
        good = outcome.last_finite
        where = (f"the last finite point is {_point_text(good.point)} (step {good.step}, "
                 f"f = {good.value!r})") if good is not None else "no finite point"
        raise BackpropError(f"{outcome.detail}; {where}; try a smaller learning rate, "
                            f"e.g. --lr {lr / 10:g}")
    return 0


def _point_text(point: dict[str, float]) -> str:
    return ",".join(f"{k}={v!r}" for k, v in point.items())


class _Progress:
    """A transient progress bar on stderr, shown only on a terminal once the run takes a while."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.t0 = time.perf_counter()
        self.bar: Any = None
        self.task: Any = None
        self.enabled = sys.stderr.isatty() and total > 0

    def update(self, step: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            if time.perf_counter() - self.t0 < PROGRESS_AFTER_S:
                return
            from rich.progress import Progress

            from backprop.views.render import console

            self.bar = Progress(console=console(stderr=True), transient=True)
            self.bar.start()
            self.task = self.bar.add_task("descending", total=self.total)
        self.bar.update(self.task, completed=step)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


class _Printer:
    """Writes the chosen rows as they come (json, csv) or as one table at the end.

    ``adaptive``: keep every ``stride``-th row, doubling the stride whenever
    more than 2 * ROWS are kept, and pick about ROWS evenly spaced ones at the end.
    """

    ROWS = 20

    def __init__(self, format: Format, names: tuple[str, ...], adaptive: bool = False) -> None:
        self.format, self.names, self.adaptive = format, names, adaptive
        self.rows: list[Any] = []
        self.stride = 1
        if format is Format.csv:
            from backprop.views.render import csv_line

            sys.stdout.write(csv_line(["step", *names, "f", "grad_norm"]) + "\n")

    def row(self, s: Any) -> None:
        from backprop.views.render import csv_line, json_line

        if self.format is Format.json:
            sys.stdout.write(json_line({"step": s.step, "at": s.point, "value": s.value,
                                        "grad_norm": s.grad_norm}) + "\n")
            sys.stdout.flush()
        elif self.format is Format.csv:
            sys.stdout.write(csv_line([s.step, *s.point.values(), s.value, s.grad_norm]) + "\n")
            sys.stdout.flush()
        elif not self.adaptive:
            self.rows.append(s)
        elif s.step % self.stride == 0:
            self.rows.append(s)
            if len(self.rows) > 2 * self.ROWS:
                self.stride *= 2
                self.rows = [r for r in self.rows if r.step % self.stride == 0]

    def _table_rows(self, last: Any) -> list[Any]:
        rows = self.rows
        if self.adaptive and last.step > 0:
            k = self.stride * max(1, round(last.step / self.ROWS / self.stride))
            rows = [r for r in rows if r.step % k == 0]
        if not rows or rows[-1].step != last.step:
            rows.append(last)
        return rows

    def summary(self, outcome: Any, title: str) -> None:
        from backprop.views.render import console, json_line, table

        result = outcome.last_finite or outcome.last
        if self.format is Format.json:
            sys.stdout.write(json_line({
                "converged": outcome.converged, "reason": outcome.reason,
                "detail": outcome.detail, "steps": outcome.steps, "step": result.step,
                "at": result.point, "value": result.value, "grad_norm": result.grad_norm,
            }) + "\n")
            return
        if self.format is Format.csv:
            if outcome.reason == "diverged":
                return  # the error message on stderr says how
            # CSV holds only rows; how it ended goes to stderr.
            sys.stderr.write(f"backprop: {'converged' if outcome.converged else 'not converged'}: "
                             f"{outcome.detail}\n")
            return
        con = console()
        con.print(title)
        rows = [[s.step, *s.point.values(), s.value, s.grad_norm]
                for s in self._table_rows(outcome.last)]
        con.print(table(None, ["step", *self.names, "f", "|grad|"], rows))
        if outcome.reason == "diverged":
            return  # the error message on stderr says how, and where it was last finite
        if outcome.converged:
            con.print(f"converged after {outcome.steps} steps: {outcome.detail}")
        else:
            con.print(f"not converged: {outcome.detail}")
        con.print(f"at {_point_text(result.point)}: f = {result.value!r}, "
                  f"|grad| = {result.grad_norm!r}")

"""Symbolic differentiation: the derivative as an expression, simplified and printed.

What belongs here: the canonical form of expressions (:mod:`.store` holds the
nodes and enforces the size cap, :mod:`.canonical` has one rule per primitive,
:mod:`.rational` the non-local rewrites tried on a finished result), the
differentiator (:mod:`.derivative`, reading the derivative templates of
:mod:`backprop.core.ops`), and the writers (:mod:`.printer` for the expression
language, :mod:`.latex` for LaTeX). The command ``backprop diff`` calls
:func:`diff_expression`.

>>> diff_text("x^2*sin(x)")
'x^2*cos(x) + 2*x*sin(x)'
>>> diff_text("1/x", order=4)
'24/x^5'
>>> diff_text("log2(x)")
'1/(x*log(2))'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from backprop.errors import InputError
from backprop.symbolic.derivative import (DEFAULT_MAX_SIZE, Derivative, SizeCapError, derivative,
                                          derivatives, simplify)

__all__ = ["DEFAULT_MAX_SIZE", "Derivative", "DiffResult", "SizeCapError", "derivative",
           "derivatives", "diff_expression", "diff_text", "simplify"]


def diff_text(text: str, wrt: str | None = None, order: int = 1, angle: str = "rad",
              max_size: int = DEFAULT_MAX_SIZE) -> str:
    """The derivative of the expression ``text`` as text that parses again."""
    from backprop.core.parser import parse_graph

    g = parse_graph(text, angle)
    variables = g.variables
    if wrt is None:
        if len(variables) != 1:
            raise InputError(f"name the variable: the expression has {len(variables)} "
                             f"({', '.join(variables) or 'none'})")
        wrt = variables[0]
    return derivative(g, wrt, order, max_size).text()


@dataclass(frozen=True)
class DiffResult:
    """The derivatives of one expression, one per variable, and their written forms."""

    expression: str
    order: int
    derivatives: dict[str, Derivative]
    # the expression's variables: with more than one, even a single derivative is labelled
    # (`diff "x*y" --wrt y` prints "y: x", so x is not read as d/dx)
    n_variables: int = 1

    def text_lines(self) -> list[str]:
        """One line: the derivative; several variables: ``x: ...`` lines."""
        if len(self.derivatives) == 1 and self.n_variables == 1:
            return [next(iter(self.derivatives.values())).text()]
        return [f"{v}: {d.text()}" for v, d in self.derivatives.items()]

    def latex_lines(self) -> list[str]:
        """One line: the derivative; several variables: ``\\frac{\\partial f}{\\partial x} = ...``."""
        if len(self.derivatives) == 1 and self.n_variables == 1:
            return [next(iter(self.derivatives.values())).latex()]
        n = self.order
        up, down = ("", "") if n == 1 else (f"^{{{n}}}", f"^{{{n}}}")
        return [f"\\frac{{\\partial{up} f}}{{\\partial {v}{down}}} = {d.latex()}"
                for v, d in self.derivatives.items()]

    def as_json(self) -> dict[str, Any]:
        ds = self.derivatives
        return {"expression": self.expression, "order": self.order,
                "derivative": {v: d.text() for v, d in ds.items()},
                "latex": {v: d.latex() for v, d in ds.items()},
                "size": {v: d.size for v, d in ds.items()}}


def diff_expression(text: str, wrt: str | Sequence[str] | None = None, order: int = 1,
                    angle: str = "rad", max_size: int = DEFAULT_MAX_SIZE) -> DiffResult:
    """The ``order``-th derivatives of ``text`` with respect to ``wrt`` (default: every variable).

    ``wrt`` is a list of names or the text of ``--wrt`` (``"x,y"``); each must be a
    variable of the expression (:class:`~backprop.errors.InputError` otherwise).

    >>> diff_expression("x^2*y", "y").as_json()["derivative"]
    {'y': 'x^2'}
    """
    from backprop.core.parser import parse_graph

    g = parse_graph(text, angle)
    variables = g.variables
    if wrt is None:
        if not variables:
            raise InputError("the expression has no variables: its derivative is 0 with "
                             "respect to anything (name one with --wrt to see it)")
        names = list(variables)
    else:
        names = [n.strip() for n in wrt.split(",")] if isinstance(wrt, str) else list(wrt)
        names = [n for n in names if n]
        if not names:
            raise InputError("--wrt is empty: name one or more variables, e.g. --wrt x,y")
        bad = [n for n in names if n not in variables]
        if bad:
            raise InputError(f"--wrt: {', '.join(bad)} is not a variable of the expression "
                             f"(its variables: {', '.join(variables) or 'none'})")
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise InputError(f"--wrt: {', '.join(twice)} is named twice")
    return DiffResult(text.strip(), order, derivatives(g, names, order, max_size),
                      len(variables))

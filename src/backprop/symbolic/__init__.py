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
from itertools import groupby
from typing import TYPE_CHECKING, Any, Sequence

from backprop.errors import InputError
from backprop.symbolic.store import collector_paused
from backprop.symbolic.derivative import (DEFAULT_MAX_SIZE, MAX_ORDER, MAX_SIZE_CEILING, MAX_STEPS,
                                          Derivative, OrderCapError, SizeCapError, check_order,
                                          derivative, derivatives, partial, second_partials,
                                          simplify)

if TYPE_CHECKING:
    from backprop.core.graph import Graph

__all__ = ["DEFAULT_MAX_SIZE", "MAX_ORDER", "MAX_SIZE_CEILING", "MAX_STEPS", "Derivative",
           "DiffResult", "OrderCapError", "SizeCapError", "derivative",
           "derivatives", "diff_expression", "diff_text", "partial", "partial_label", "simplify"]


def diff_text(text: str, wrt: str | None = None, order: int = 1, angle: str = "rad",
              max_size: int = DEFAULT_MAX_SIZE) -> str:
    """The derivative of the expression ``text`` as text that parses again."""
    from backprop.core.parser import parse_graph

    with collector_paused():  # parsing allocates as much as differentiating
        g = parse_graph(text, angle)
    variables = g.variables
    if wrt is None:
        if len(variables) != 1:
            raise InputError(f"name the variable: the expression has {len(variables)} "
                             f"({', '.join(variables) or 'none'})")
        wrt = variables[0]
    return derivative(g, wrt, order, max_size).text()


def _runs(names: Sequence[str]) -> list[tuple[str, int]]:
    """Each variable differentiated in, with how many times in a row (x, x, y -> x 2, y 1)."""
    return [(v, len(list(run))) for v, run in groupby(names)]


def partial_label(names: Sequence[str]) -> str:
    """What a partial derivative is, by the variables differentiated in, in turn:
    ``df/dx``, ``d2f/dx2``, ``d2f/dxdy``, ``d3f/dx2dy`` (runs of one name as a power)."""
    parts = [f"d{v}{k if k > 1 else ''}" for v, k in _runs(names)]
    n = len(names)
    return f"d{n if n > 1 else ''}f/{''.join(parts)}"


def _latex_label(names: Sequence[str]) -> str:
    from backprop.symbolic.latex import _name

    parts = [f"\\partial {_name(v)}{f'^{{{k}}}' if k > 1 else ''}" for v, k in _runs(names)]
    n = len(names)
    up = f"^{{{n}}}" if n > 1 else ""
    below = "\\,".join(parts)
    return f"\\frac{{\\partial{up} f}}{{{below}}}"


@dataclass(frozen=True)
class DiffResult:
    """The derivatives of one expression and their written forms.

    ``derivatives`` maps each one's label to it: the variable's name for a first
    partial (``x``), else what it is (``d2f/dx2``, ``d2f/dxdy``). ``bare``: the one
    derivative the user named (or the only one there is) is printed alone, so that
    it can be passed to another command; otherwise every line is labelled.
    """

    expression: str
    order: int
    derivatives: dict[str, Derivative]
    bare: bool = False

    COLUMNS = ("partial", "derivative", "size")

    def text_lines(self) -> list[str]:
        """One line: the derivative; several: ``x: ...`` or ``d2f/dxdy: ...`` lines."""
        if self.bare:
            return [next(iter(self.derivatives.values())).text()]
        return [f"{k}: {d.text()}" for k, d in self.derivatives.items()]

    def latex_lines(self) -> list[str]:
        """One line: the derivative; several: ``\\frac{\\partial f}{\\partial x} = ...``."""
        if self.bare:
            return [next(iter(self.derivatives.values())).latex()]
        return [f"{_latex_label(d.names)} = {d.latex()}" for d in self.derivatives.values()]

    @property
    def columns(self) -> list[str]:
        return list(self.COLUMNS)

    def rows(self) -> list[list[Any]]:
        """One row per derivative (table and CSV): what it is, its text, its tree size."""
        return [[partial_label(d.names), d.text(), d.size] for d in self.derivatives.values()]

    def diagnosis(self) -> None:
        return None  # an expression is never "not finite"

    def as_json(self) -> dict[str, Any]:
        ds = self.derivatives
        return {"expression": self.expression, "order": self.order,
                "derivative": {k: d.text() for k, d in ds.items()},
                "latex": {k: d.latex() for k, d in ds.items()},
                "size": {k: d.size for k, d in ds.items()},
                "wrt": {k: list(d.names) for k, d in ds.items()}}


# The most differentiation steps x expression nodes one diff takes on, checked before the
# first step (each step is a pass over the expression at least): every first partial of a
# 1,000-term sum of 4,000 nodes (4,000,000) took 16 s on 2 busy cores, of 3,000 terms 166 s.
DIFF_LIMIT = 5_000_000


def _check_work(steps: int, nodes: int, what: str) -> None:
    if steps * nodes > DIFF_LIMIT:
        raise InputError(f"{steps:,} differentiation {what} over an expression of {nodes:,} "
                         f"nodes = {steps * nodes:,}, past the limit of {DIFF_LIMIT:,}: choose the "
                         "variables with --wrt")


def _names(value: str) -> list[str]:
    names = [n.strip() for n in value.split(",")]
    names = [n for n in names if n]
    if not names:
        raise InputError("--wrt is empty: name a variable, e.g. --wrt x (or x,y for d2f/dxdy)")
    return names


def _check(names: Sequence[str], variables: Sequence[str]) -> None:
    known = set(variables)
    bad = list(dict.fromkeys(n for n in names if n not in known))
    if bad:
        # a typo guard: d/dy of x^2 is 0, but y may be a typo for x; declared, it is 0
        declare = ",".join([*variables, *bad])
        raise InputError(f"--wrt: {', '.join(bad)} is not a variable of the expression "
                         f"(its variables: {', '.join(variables) or 'none'}); to differentiate "
                         f"with respect to it (a partial derivative of 0), declare it: "
                         f"--vars {declare}")


def diff_expression(text: str, wrt: str | Sequence[str] | None = None, order: int | None = None,
                    angle: str = "rad", max_size: int = DEFAULT_MAX_SIZE,
                    hessian: bool = False, vars: Sequence[str] | None = None) -> DiffResult:
    """Derivatives of ``text``, as ``backprop diff`` asks for them.

    ``wrt`` is one ``--wrt`` value or a list of them. Each value names the
    variables to differentiate in, in turn: ``"x"`` is df/dx (``order`` times:
    the ``order``-th derivative), ``"x,y"`` the mixed partial d2f/dxdy, whose
    order is the number of names. Without ``wrt``: every variable, ``order``
    times (default 1). ``hessian``: every second partial once (the matrix is
    symmetric: d2f/dx2, d2f/dxdy, d2f/dy2, ...), of the variables in the one
    ``wrt`` value (default every variable). Each name must be a variable of the
    expression (:class:`~backprop.errors.InputError` otherwise), or declared in
    ``vars`` (whose partials are 0 where the text does not use them). An expression
    without variables is a constant: its derivative, in any name, is 0.

    >>> diff_expression("x^2*y", "x,y").text_lines()
    ['2*x']
    >>> diff_expression("x^2*y", order=2).text_lines()
    ['d2f/dx2: 2*y', 'd2f/dy2: 0']
    >>> diff_expression("x^2*y", ["x", "y"]).text_lines()
    ['x: 2*x*y', 'y: x^2']
    """
    from backprop.core.parser import parse_text

    values = None if wrt is None else ([wrt] if isinstance(wrt, str) else list(wrt))
    if values is not None and not values:
        values = None
    with collector_paused():  # parsing allocates as much as differentiating
        g = parse_text(text, angle, vars=vars).graph
    if not g.variables and vars is None and not hessian:
        # a constant: no variable a name could be a typo of; its derivative is 0 in any
        # name asked for (diff "3" --wrt x), or in x when none is (diff "3" prints 0)
        asked = [n for v in values for n in _names(v)] if values is not None else ["x"]
        with collector_paused():
            g = parse_text(text, angle, vars=asked or ["x"]).graph
        if values is None:
            out = {"x": partial(g, ["x"] * (1 if order is None else max(order, 1)), max_size)}
            return DiffResult(text.strip(), 1 if order is None else order, out, True)
    variables = g.variables
    if hessian:
        if order is not None:
            raise InputError("--hessian is every second partial: give it without --order")
        return _hessian_entries(text, g, values, max_size)
    if order is not None:
        check_order(order)  # before the lists of names are made
    n = 1 if order is None else order
    if values is None:
        if not variables:
            raise InputError("the expression has no variables: its derivative is 0 with "
                             "respect to anything (name one with --wrt to see it)")
        requests = [[v] * n for v in variables]
        bare = len(variables) == 1
    else:
        requests = _requests(values, variables, order)
        n = len(requests[0])
        bare = len(requests) == 1
    _check_work(sum(min(len(r), MAX_STEPS) for r in requests), len(g), "steps")
    out = {(r[0] if len(r) == 1 else partial_label(r)): partial(g, r, max_size) for r in requests}
    return DiffResult(text.strip(), n, out, bare)


def _hessian_entries(text: str, g: Graph, values: list[str] | None,
                     max_size: int) -> DiffResult:
    """``diff --hessian``: every second partial once, in the variables of the one ``--wrt``."""
    variables = g.variables
    if values is not None and len(values) > 1:
        raise InputError("--hessian takes its variables in one --wrt, e.g. --wrt x,y")
    names = list(variables) if values is None else _names(values[0])
    _check(names, variables)
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InputError(f"--wrt: {', '.join(twice)} is named twice")
    if not names:
        raise InputError("the expression has no variables: its Hessian is empty")
    _check_work(len(names) * (len(names) + 1), len(g), "steps (two a second partial)")
    entries = second_partials(g, names, max_size)
    return DiffResult(text.strip(), 2, {partial_label(list(r)): d for r, d in entries.items()},
                      False)


def _requests(values: list[str], variables: Sequence[str], order: int | None) -> list[list[str]]:
    """Each ``--wrt`` value as the names to differentiate in, in turn (one name ``order``
    times); checked: known names, none asked twice, all of one order."""
    n = 1 if order is None else order
    requests = []
    for value in values:
        names = _names(value)
        _check(names, variables)
        if len(names) > 1 and order is not None:
            raise InputError(f"--wrt {value.strip()} already says the order ({len(names)}): "
                             "give --order only with a --wrt of one variable")
        requests.append(names * n if len(names) == 1 else names)
    seen: dict[tuple[str, ...], str] = {}
    for value, r in zip(values, requests):
        if tuple(r) in seen:
            raise InputError(f"--wrt {value.strip()} is given twice")
        seen[tuple(r)] = value
    orders = sorted({len(r) for r in requests})
    if len(orders) > 1:
        raise InputError("the --wrt values ask for derivatives of different orders ("
                         + " and ".join(map(str, orders)) + "): one command prints "
                         "derivatives of one order")
    return requests

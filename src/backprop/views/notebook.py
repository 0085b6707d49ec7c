"""Functions that show themselves in Jupyter: their computational graph, drawn.

``backprop.parse`` (the package's front door) returns an :class:`Expression`:
a :class:`~backprop.core.function.Function` with a ``_repr_svg_``, so that a
notebook cell ending in ``parse("2/sin(exp(-x))")`` shows the graph.
``f.at(x=-4.499)`` is the function at one point: it shows the graph with both
passes' numbers on it, holds the value and the gradient, and gives the
step-by-step lesson page with ``.html()``.

Why here and not on ``Function`` itself: the core must not import the views
(they sit above it), so the display is a thin subclass in the views layer,
and the top-level ``backprop.parse`` hands it out. ``backprop.core.function.parse``,
which the commands use, still returns a plain ``Function``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import copy
import warnings
from typing import Iterable

from backprop.core import function
from backprop.core.function import Function


class Expression(Function):
    """A :class:`Function` that a notebook displays as its graph."""

    def _repr_svg_(self) -> str:
        from backprop.views.lesson import graph_svg

        return graph_svg(self)

    def at(self, **point: float) -> AtPoint:
        """The function at one point: value, gradient, and a picture with both passes."""
        import numpy as np

        from backprop.errors import InputError

        bad = [k for k, v in point.items() if np.ndim(v) != 0]
        if bad:
            raise InputError(f"at() takes one point: {', '.join(bad)} is not a single number")
        value, grad = self.value_and_grad(**point)
        return AtPoint(self, {k: float(v) for k, v in point.items()}, float(value),
                       {k: float(v) for k, v in grad.items()})


@dataclass
class AtPoint:
    """``f.at(x=...)``: displayed in a notebook as the graph annotated at the point
    (each box its forward value, each edge the gradient flowing back along it)."""

    function: Function = field(repr=False)
    point: dict[str, float]
    value: float
    grad: dict[str, float]

    def _repr_svg_(self) -> str:
        from backprop.views.lesson import graph_svg

        return graph_svg(self.function, self.point)

    def html(self, wrt: list[str] | None = None) -> str:
        """The self-contained lesson page (as ``backprop graph --format html``)."""
        from backprop.views.lesson import lesson_page

        return lesson_page(self.function, self.point, wrt)


def parse(text: str, angle: str = "rad", vars: Iterable[str] | None = None) -> Expression:
    """Parse an expression into an :class:`Expression` (a differentiable
    :class:`Function` that displays as its graph in Jupyter).

    ``angle="deg"``: sin, cos and tan take degrees, asin, acos and atan return
    degrees, and the derivatives are scaled to match. ``vars``: the declared
    variables (any other name is an ExpressionError). A name that looks like a
    typo (``sinx``) is reported with :func:`warnings.warn` (and kept in
    ``.warnings``).
    """
    f = function.parse(text, angle, vars)
    for message in f.warnings:
        warnings.warn(message, stacklevel=2)
    return as_expression(f)


def as_expression(f: Function) -> Expression:
    """``f`` as an :class:`Expression`: the same graph and plan, not re-planned.

    A shallow copy whose class is the subclass, which adds methods and no state,
    so whatever fields ``Function`` has are carried over as they are.
    """
    if isinstance(f, Expression):
        return f
    out = copy.copy(f)
    out.__class__ = Expression
    return out  # type: ignore[return-value]


__all__ = ["Expression", "AtPoint", "parse", "as_expression"]

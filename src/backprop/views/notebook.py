"""Functions that show themselves in Jupyter: their computational graph, drawn.

A notebook cell ending in ``parse("2/sin(exp(-x))")`` shows the graph, and
``f.at(x=-4.499)`` shows it with both passes' numbers on it (``.html()`` is the
step-by-step lesson page). :class:`~backprop.core.function.Function` carries the
``_repr_svg_`` and ``at`` that Jupyter calls; the core cannot import the views that
draw (they sit above it), so importing this module hands the drawings to the core.
The package's top-level ``parse`` and ``Function`` import it.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from backprop.core.function import Function, draw_with


def _graph_svg(f: Function, point: Mapping[str, float] | None = None) -> str:
    from backprop.views.lesson import graph_svg  # on first drawing: not at `import backprop`

    return graph_svg(f, point)


def _lesson_page(f: Function, point: Mapping[str, float], wrt: Sequence[str] | None) -> Any:
    from backprop.views.lesson import lesson_page

    return lesson_page(f, point, wrt)


draw_with(_graph_svg, _lesson_page)

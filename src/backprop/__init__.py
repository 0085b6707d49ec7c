"""backprop: exact gradients by backpropagation, from the command line or Python.

>>> from backprop import parse
>>> f = parse("2/sin(exp(-x))")
>>> value, grad = f.value_and_grad(x=-4.499)

The names are loaded lazily so that ``backprop --help`` starts without numpy.

The packages, bottom up: ``core`` (the table of primitives, the graph, the
parser and printer, the passes over the graph, and the ``Function`` façade);
the methods above it, ``symbolic`` (derivatives as expressions), ``methods``
(finite differences, Richardson extrapolation, the complex step, gradient
descent and Newton's method) and ``nn`` (networks of layers and their
training); ``studies`` (the methods measured side by side); ``views`` (tables,
JSON Lines, CSV, plots, drawings of the graph, the HTML lesson); and ``cli``
(one module per command; ``python -m backprop`` runs it through ``__main__``).
``dask`` maps gradients, Hessians and predictions over the partitions of a Dask
DataFrame. Small modules the layers share: ``errors`` (the exceptions and their
exit codes), ``files`` (output files never half-written), ``lines`` (input read
in lines of bounded length), ``lazy`` (numpy imported at first use), ``threads``
(the pool that spreads blocks of rows over the cores) and ``vector_math`` (sin
and cos over arrays, numpy's or Intel MKL's).
"""

from __future__ import annotations

from typing import Any

# The one place the version is written: hatch reads it into the package metadata
# (pyproject.toml, [tool.hatch.version]) and `backprop --version` prints it.
__version__ = "0.1.0"
__all__ = ["parse", "Function", "parse_vector", "VectorFunction", "BackpropError", "InputError",
           "ExpressionError"]


def __getattr__(name: str) -> Any:
    if name in ("parse", "Function", "parse_vector", "VectorFunction"):
        # the views' drawings go to the core first, so that Jupyter shows the graph
        # (the core cannot import the views that draw it)
        import backprop.views.notebook  # noqa: F401
        from backprop.core import function

        return getattr(function, name)
    if name in ("BackpropError", "InputError", "ExpressionError"):
        from backprop import errors

        return getattr(errors, name)
    raise AttributeError(f"module 'backprop' has no attribute {name!r}")

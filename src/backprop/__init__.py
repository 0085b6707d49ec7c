"""backprop: exact gradients by backpropagation, from the command line or Python.

>>> from backprop import parse
>>> f = parse("2/sin(exp(-x))")
>>> value, grad = f.value_and_grad(x=-4.499)

The names are loaded lazily so that ``backprop --help`` starts without numpy.
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

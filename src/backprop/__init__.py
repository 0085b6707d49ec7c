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
    if name == "parse":
        # the views' parse: the same Function, displayed as its graph in Jupyter
        # (the core cannot import the views that draw it)
        from backprop.views import notebook

        return notebook.parse
    if name == "Function":
        from backprop.core import function

        return function.Function
    if name in ("parse_vector", "VectorFunction"):
        from backprop.core import jacobian

        return getattr(jacobian, name)
    if name in ("BackpropError", "InputError", "ExpressionError"):
        from backprop import errors

        return getattr(errors, name)
    raise AttributeError(f"module 'backprop' has no attribute {name!r}")

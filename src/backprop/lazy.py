"""numpy, imported when first used: a start-up that pays only for what it uses.

Parsing an expression, printing it and differentiating it at one point of
Python floats need no numpy; importing it costs more than the rest of a
``backprop grad`` run. A module that needs numpy only inside its functions
writes ``np = numpy_on_first_use(globals())``: the stand-in imports numpy at
its first attribute lookup and puts numpy itself in the module's globals, so
every later ``np.…`` in that module is a plain lookup, at no cost.
"""

from __future__ import annotations

from typing import Any


class numpy_on_first_use:  # noqa: N801  (it stands where the module name ``np`` stands)
    """Stands in for ``numpy`` as ``np`` in one module's globals until first used."""

    __slots__ = ("_namespace",)

    def __init__(self, namespace: dict[str, Any]) -> None:
        self._namespace = namespace

    def __getattr__(self, name: str) -> Any:
        import numpy

        self._namespace["np"] = numpy
        return getattr(numpy, name)

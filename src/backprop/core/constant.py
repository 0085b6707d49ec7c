"""Constant expressions as numbers: ``--at pi/4``, ``--from x=2^-10``.

Below the façade and the point readers, so both can use it: it parses with the
same parser and evaluates with the same forward pass as any expression at one
point (core/scalar.py).
"""

from __future__ import annotations

import math
import re

from backprop.core.parser import parse_text
from backprop.core.scalar import FloatPasses
from backprop.errors import ExpressionError, InputError

_INF = re.compile(r"[+-]?(inf|infinity)", re.IGNORECASE)


def constant(text: str, what: str = "value") -> float:
    """The value of a constant expression (``pi/4``, ``-1e-3``, ``2^-10``, ``sqrt(2)``).

    Parsed and evaluated by the same parser and forward pass as any expression,
    with no variables allowed. A plain number takes the fast path. Raises
    InputError (naming ``what``) for a name, a syntax error, or a result that is
    not finite (``1e400``, ``1/0``, ``log(-1)``); ``inf`` and ``nan`` spelled out
    are taken as they are.
    """
    t = text.strip()
    try:
        value = float(t)
    except ValueError:
        value = None
    if value is not None:
        if math.isinf(value) and not _INF.fullmatch(t):
            raise InputError(f"{what}: {t} is too large for a float64 (the largest is about 1.8e308)")
        return value
    try:
        graph = parse_text(t, vars=()).graph
    except ExpressionError as exc:
        # one line: the point's text is short, and the reason says where it goes wrong
        reason = ("a value cannot name a variable" if "declared variables" in exc.message
                  else exc.message)
        raise InputError(f"{what}: {t!r} is not a number nor a constant expression "
                         f"({reason})") from None
    found = FloatPasses(graph, ())({})
    if found is not None:
        v = found[0]
    else:  # math raised, or the value is not finite: numpy's IEEE value says which
        from backprop.core import engine

        vals = engine.forward(graph, engine.Plan.of(graph), {})
        v = float(vals[graph.output])  # type: ignore[arg-type]
    if not math.isfinite(v):
        raise InputError(f"{what}: {t} is {v} (not a finite number)")
    return v

"""Pieces shared by the commands: option types, the EXPR argument, warnings."""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Any, Sequence

from backprop.errors import InputError

if TYPE_CHECKING:
    from backprop.core.function import Function


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


class Angle(str, Enum):
    rad = "rad"
    deg = "deg"


EXPR_HELP = ("The expression, e.g. \"2/sin(exp(-x))\". One that begins with '-' "
             "(\"-x^2\") is taken as the expression, not an option.")
AT_HELP = ("The point: a number when EXPR has one variable (-4.499), name=value pairs "
           "(x=1,y=2), or '-' to read points from stdin (CSV with a header x,y, or one "
           "number per line).")
ANGLE_HELP = "rad, or deg: sin/cos/tan take degrees and asin/acos/atan return degrees."


def parse_expr(text: str, angle: Angle | str = "rad") -> Function:
    from backprop.core.function import parse

    return parse(text, angle=angle.value if isinstance(angle, Angle) else angle)


def split_names(text: str | None, option: str, variables: Sequence[str]) -> list[str] | None:
    """``--wrt x,y``: the names, checked against the expression's variables."""
    if text is None:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise InputError(f"{option} is empty: name one or more variables, e.g. {option} x,y")
    bad = [n for n in names if n not in variables]
    if bad:
        known = ", ".join(variables) or "none"
        raise InputError(f"{option}: {', '.join(bad)} is not a variable of the expression "
                         f"(its variables: {known})")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputError(f"{option}: {', '.join(dup)} is named twice")
    return names


def warn_non_finite(f: Function, vals: list[Any] | None, what: str = "value") -> None:
    """One warning naming the first module that produced nan or inf."""
    from backprop.core import engine
    from backprop.views.render import warn

    i = engine.first_non_finite(f.graph, f.plan, vals) if vals is not None else None
    if i is not None:
        warn(f"the {what} is not finite: {f.node_text(i)} is nan or infinite "
             "at some point (outside its domain, or overflow)")
        return
    if vals is not None:
        j = engine.first_non_finite_local(f.graph, f.plan, vals)
        if j is not None:
            warn(f"the gradient is not finite: the local derivative of {f.node_text(j)} "
                 "is nan or infinite at some point")
            return
    warn(f"the {what} is not finite at some point")

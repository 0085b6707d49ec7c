"""Graph to text in the expression language, with the fewest parentheses.

The output parses back to the same tree. Iterative: each node's text is built
from its arguments' texts, in topological order.
"""

from __future__ import annotations

import math

from ..errors import BackpropError
from ..ops import ADD, NEG, PRIMITIVES
from .graph import CONST, VAR, Graph

ATOM = 100
_NON_ASSOC_RIGHT = {"sub", "div"}


def format_number(v: float) -> str:
    if math.isnan(v):
        return "(0/0)"
    if math.isinf(v):
        return "1e999" if v > 0 else "-1e999"
    if v == int(v) and abs(v) < 1e16:
        return str(int(v)) if v != 0 or math.copysign(1, v) > 0 else "-0"
    return repr(v)


def tree_size(graph: Graph, root: int | None = None, cap: int = 1 << 62) -> int:
    """Nodes in the expression as a tree (shared nodes counted once per use), saturating at cap."""
    order = graph.reachable(root)
    size: dict[int, int] = {}
    for i in order:
        s = 1
        for j in graph.args[i]:
            s += size[j]
        size[i] = min(s, cap)
    return size[order[-1]]


def to_text(graph: Graph, root: int | None = None, max_chars: int = 10_000_000) -> str:
    """The expression computed by ``root`` (default: the output) as text."""
    order = graph.reachable(root)
    text: dict[int, str] = {}
    prec: dict[int, int] = {}
    for i in order:
        op = graph.ops[i]
        if op == CONST:
            t = format_number(float(graph.leaf[i]))  # type: ignore[arg-type]
            p = NEG if t.startswith("-") else ATOM
        elif op == VAR:
            t, p = str(graph.leaf[i]), ATOM
        else:
            prim = PRIMITIVES[op]
            a = graph.args[i]
            if prim.symbol is None:
                t, p = f"{prim.name}({', '.join(text[j] for j in a)})", ATOM
            elif prim.arity == 1:  # prefix minus
                c = text[a[0]]
                t, p = "-" + (c if prec[a[0]] >= NEG else f"({c})"), NEG
            else:
                p = prim.precedence
                left, right = text[a[0]], text[a[1]]
                if op == "pow":
                    # the base must be an atom; the exponent may be any unary
                    lp, rp = prec[a[0]] >= ATOM, prec[a[1]] >= NEG
                else:
                    # left-associative: an equal-precedence right operand keeps its
                    # parentheses, so a-(b-c) and a+(b+c) print as the trees they are
                    lp, rp = prec[a[0]] >= p, prec[a[1]] > p
                left = left if lp else f"({left})"
                right = right if rp else f"({right})"
                sym = f" {prim.symbol} " if p == ADD else prim.symbol
                t = f"{left}{sym}{right}"
        if len(t) > max_chars:
            raise BackpropError(f"the expression's text is over {max_chars:,} characters")
        text[i], prec[i] = t, p
    return text[order[-1]]


def module_label(graph: Graph, i: int) -> str:
    """A node's module as the seed document draws it: 'exp', 'sin', '/', or the leaf."""
    op = graph.ops[i]
    if op == CONST:
        return format_number(float(graph.leaf[i]))  # type: ignore[arg-type]
    if op == VAR:
        return str(graph.leaf[i])
    prim = PRIMITIVES[op]
    return prim.symbol if prim.symbol and prim.arity == 2 else ("neg" if op == "neg" else prim.name)

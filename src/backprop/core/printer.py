"""Graph to text in the expression language, with the fewest parentheses.

The output parses back to the same tree. Iterative: each node's text is built
from its arguments' texts, in topological order.
"""

from __future__ import annotations

import math
from typing import Callable

from backprop.errors import BackpropError
from backprop.core.ops import ADD, NEG, PRIMITIVES
from backprop.core.graph import CONST, VAR, Graph

ATOM = 100
_ASSOCIATIVE = {"add", "mul"}
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


def precedence(graph: Graph, i: int, number: Callable[[float], str] = format_number) -> int:
    """How tightly node ``i`` binds when printed (ATOM for a name, a number or a call; a
    negative number or a unary minus as NEG); ``number`` is how constants print."""
    op = graph.ops[i]
    if op == CONST:
        return NEG if number(float(graph.leaf[i])).startswith("-") else ATOM  # type: ignore[arg-type]
    if op == VAR:
        return ATOM
    prim = PRIMITIVES[op]
    if prim.symbol is None:
        return ATOM
    return NEG if prim.arity == 1 else prim.precedence


def bare_operands(op: str, left: int, right: int) -> tuple[bool, bool]:
    """Whether each operand of the binary operator ``op`` prints without parentheses, from
    the operands' precedences: a power's base must be an atom and its exponent may be any
    unary; otherwise left-associative, so an equal-precedence right operand keeps its
    parentheses and a-(b-c), a/(b*c) print as the trees they are."""
    if op == "pow":
        return left >= ATOM, right >= NEG
    p = PRIMITIVES[op].precedence
    return left >= p, right > p


def to_text(graph: Graph, root: int | None = None, max_chars: int = 10_000_000,
            associative: bool = False, number: Callable[[float], str] = format_number) -> str:
    """The expression computed by ``root`` (default: the output) as text.

    ``associative``: print a+(b+c) as a + b + c and a*(b*c) as a*b*c, which
    reads back as the same value though not the same tree (for derivatives,
    where a reader wants the fewest parentheses, not the exact tree).

    Each node's precedence is known without its text, so the parentheses are
    decided per node and the text is emitted piece by piece from an explicit
    stack: time and memory grow with the length of the output, not with
    depth x length (a 100,000-deep chain would otherwise hold 100,000 copies
    of ever longer strings). ``number`` writes a constant (e.g. ``pi`` by name).
    """
    root = graph.output if root is None else root
    prec = {i: precedence(graph, i, number) for i in graph.reachable(root)}
    pieces: list[str] = []
    length = 0
    # a stack of work: an int is a node to print, a str is text to emit as is
    stack: list[int | str] = [root]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            pieces.append(item)
            length += len(item)
        else:
            i = item
            op = graph.ops[i]
            if op == CONST:
                t = number(float(graph.leaf[i]))  # type: ignore[arg-type]
                pieces.append(t)
                length += len(t)
            elif op == VAR:
                t = str(graph.leaf[i])
                pieces.append(t)
                length += len(t)
            else:
                prim = PRIMITIVES[op]
                a = graph.args[i]
                todo: list[int | str]
                if prim.symbol is None:
                    todo = [f"{prim.name}("]
                    for k, j in enumerate(a):
                        todo += [", ", j] if k else [j]
                    todo.append(")")
                elif prim.arity == 1:  # prefix minus
                    todo = ["-", a[0]] if prec[a[0]] >= NEG else ["-(", a[0], ")"]
                else:
                    lp, rp = bare_operands(op, prec[a[0]], prec[a[1]])
                    if associative and op in _ASSOCIATIVE and graph.ops[a[1]] == op:
                        rp = True  # a+(b+c) as a + b + c: the same value
                    sym = f" {prim.symbol} " if prim.precedence == ADD else prim.symbol
                    todo = ([a[0]] if lp else ["(", a[0], ")"]) + [sym] \
                        + ([a[1]] if rp else ["(", a[1], ")"])
                stack.extend(reversed(todo))
        if length > max_chars:
            raise BackpropError(f"the expression's text is over {max_chars:,} characters")
    return "".join(pieces)


def module_label(graph: Graph, i: int) -> str:
    """A node's module as the lecture draws it: 'exp', 'sin', '/', or the leaf."""
    op = graph.ops[i]
    if op == CONST:
        return format_number(float(graph.leaf[i]))  # type: ignore[arg-type]
    if op == VAR:
        return str(graph.leaf[i])
    prim = PRIMITIVES[op]
    return prim.symbol if prim.symbol and prim.arity == 2 else ("neg" if op == "neg" else prim.name)

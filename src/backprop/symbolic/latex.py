"""An expression graph written as LaTeX math (for slides): ``\\frac``, ``^{...}``, ``\\sin``.

Works on any :class:`~backprop.core.graph.Graph` of the table's primitives (a
lowered derivative, or a parsed expression); parentheses only where the text
form needs them, plus around a negative factor. Iterative, like the text printer.

>>> from backprop.core.parser import parse_graph
>>> to_latex(parse_graph("-1/x^2 + sin(x)^2*log2(x)/sqrt(2*x)"))
'-\\\\frac{1}{x^{2}} + \\\\frac{\\\\sin^{2}\\\\left(x\\\\right)\\\\,\\\\log_{2}\\\\left(x\\\\right)}{\\\\sqrt{2\\\\,x}}'
"""

from __future__ import annotations

import math

from backprop.core.graph import CONST, VAR, Graph
from backprop.core.ops import ADD, MUL, NEG
from backprop.core.printer import ATOM, precedence
from backprop.symbolic.printer import number_text

FUNCTIONS = {
    "sin": r"\sin", "cos": r"\cos", "tan": r"\tan", "asin": r"\arcsin", "acos": r"\arccos",
    "atan": r"\arctan", "sinh": r"\sinh", "cosh": r"\cosh", "tanh": r"\tanh", "exp": r"\exp",
    "log": r"\log", "log2": r"\log_{2}", "log10": r"\log_{10}",
}


def _number(v: float) -> str:
    if math.isnan(v):
        return r"\mathrm{nan}"
    if math.isinf(v):
        return r"\infty" if v > 0 else r"-\infty"
    t = number_text(v)
    if t == "pi":
        return r"\pi"
    if "e" in t and t != "e":  # 1e-20 is 1 \times 10^{-20}
        mantissa, exponent = t.split("e")
        return rf"{mantissa} \times 10^{{{int(exponent)}}}"
    return t


def _name(name: str) -> str:
    """x as x, W_1 as W_{1}, rate as \\mathrm{rate}."""
    base, _, sub = name.partition("_")
    out = base if len(base) == 1 else r"\mathrm{" + base + "}" if base else ""
    if sub:
        plain = len(sub) == 1 or sub.isdigit()
        out += "_{" + (sub if plain else r"\mathrm{" + sub.replace("_", r"\_") + "}") + "}"
    return out


def to_latex(graph: Graph, root: int | None = None) -> str:
    """The expression at ``root`` (default: the output) as LaTeX math, without ``$``."""
    root = graph.output if root is None else root
    prec = {i: precedence(graph, i, _number) for i in graph.reachable(root)}
    ops, args = graph.ops, graph.args

    def wrapped(j: int, bare: bool) -> list[int | str]:
        return [j] if bare else [r"\left(", j, r"\right)"]

    pieces: list[str] = []
    stack: list[int | str] = [root]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            pieces.append(item)
            continue
        i = item
        op = ops[i]
        a = args[i]
        todo: list[int | str]
        if op == CONST:
            todo = [_number(float(graph.leaf[i]))]  # type: ignore[arg-type]
        elif op == VAR:
            todo = [_name(str(graph.leaf[i]))]
        elif op == "sqrt":
            todo = [r"\sqrt{", a[0], "}"]
        elif op == "abs":
            todo = [r"\left|", a[0], r"\right|"]
        elif op == "div":
            top = a[0]
            if ops[top] == "neg":  # -1/x^2 is -\frac{1}{x^{2}}
                todo = [r"-\frac{", args[top][0], "}{", a[1], "}"]
            else:
                todo = [r"\frac{", top, "}{", a[1], "}"]
        elif op == "neg":
            todo = ["-", *wrapped(a[0], prec[a[0]] >= NEG and ops[a[0]] != "neg")]
        elif op == "pow":
            base = a[0]
            if ops[base] in FUNCTIONS:  # sin(x)^2 is \sin^{2}(x)
                todo = [FUNCTIONS[ops[base]], "^{", a[1], r"}\left(", args[base][0], r"\right)"]
            else:
                bare = prec[base] >= ATOM and ops[base] not in ("sqrt", "abs")
                todo = [*wrapped(base, bare), "^{", a[1], "}"]
        elif op in ("add", "sub"):
            right = prec[a[1]] > ADD if op == "sub" else prec[a[1]] >= ADD and prec[a[1]] != NEG
            todo = [a[0], " + " if op == "add" else " - ", *wrapped(a[1], right)]
        elif op == "mul":
            right = prec[a[1]] >= MUL and prec[a[1]] != NEG
            # a number after a factor reads as one number without a visible product
            first = a[1] if ops[a[1]] != "div" else args[a[1]][0]
            sep = r" \cdot " if ops[first] == CONST and _number(float(graph.leaf[first]))[0].isdigit() \
                else r"\,"  # type: ignore[arg-type]
            todo = [*wrapped(a[0], prec[a[0]] >= MUL), sep, *wrapped(a[1], right)]
        else:
            name = FUNCTIONS.get(op, r"\operatorname{" + op + "}")
            todo = [name, r"\left("]
            for k, j in enumerate(a):
                todo += [", ", j] if k else [j]
            todo.append(r"\right)")
        stack.extend(reversed(todo))
    return "".join(pieces)

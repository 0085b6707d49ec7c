"""The forward and backward passes at one point, step by step, as the lecture
walks through f(x) = 2/sin(exp(-x)): each module's cached value, then each
local derivative, the upstream gradient it multiplies, and the sums.

Reached through :meth:`backprop.core.function.Function.trace`. A :class:`Trace`
knows its rows (CSV) and its JSON form; ``node_values`` and ``edge_grads`` (by
node index) are what a drawing of the graph annotates.
"""

from __future__ import annotations



import re
import string
from dataclasses import dataclass, field
from typing import Any, Sequence

from backprop.core.graph import CONST, VAR
from backprop.core.printer import format_number, module_label
from backprop.core.ops import CONSTANTS, PRIMITIVES

# The façade (core/function.py) imports this module, so the Function traced is not imported
# here, even for its type: ``Traced`` names it for readers.
Traced = Any


@dataclass
class ForwardStep:
    node: str  # the name the trace gives the module's output (a, b, c, ...)
    module: str  # exp, sin, /, ...
    computes: str  # e.g. "exp(a)"
    value: float


@dataclass
class BackwardStep:
    node: str  # the module whose output's gradient is being passed back
    upstream: float  # df/d(node), complete: all paths from node to f are summed
    input: str  # one of the module's inputs
    local: str  # the local derivative d(node)/d(input), symbolically
    local_value: float
    contribution: float  # upstream * local: what this path adds to df/d(input)


TRACE_COLUMNS = ("pass", "node", "module", "computes", "value", "input", "local",
                 "local_value", "upstream", "contribution")


@dataclass
class Trace:
    expression: str
    point: dict[str, float]
    forward: list[ForwardStep] = field(default_factory=list)
    backward: list[BackwardStep] = field(default_factory=list)
    value: float = float("nan")
    grad: dict[str, float] = field(default_factory=dict)
    # by node index, for drawings: every reachable node's value, and each edge's
    # (argument, module, slot) contribution upstream * local
    node_values: dict[int, float] = field(default_factory=dict, repr=False)
    edge_grads: dict[tuple[int, int, int], float] = field(default_factory=dict, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "expression": self.expression,
            "at": self.point,
            "forward": [vars(s) for s in self.forward],
            "backward": [vars(s) for s in self.backward],
            "value": self.value,
            "grad": self.grad,
        }

    @property
    def columns(self) -> list[str]:
        return list(TRACE_COLUMNS)

    def rows(self) -> list[list[Any]]:
        """One row per forward step, then one per backward edge (CSV)."""
        return ([["forward", s.node, s.module, s.computes, s.value, "", "", "", "", ""]
                 for s in self.forward]
                + [["backward", b.node, "", "", "", b.input, b.local, b.local_value, b.upstream,
                    b.contribution] for b in self.backward])

    def records(self) -> list[dict[str, Any]]:
        return [self.as_dict()]


def _names(f: Traced) -> dict[int, str]:
    """a, b, c, ... for the modules (as the lecture names them), skipping taken names."""
    g = f.graph
    taken = set(f.variables) | set(CONSTANTS) | set(PRIMITIVES) | {"f"}  # f is the output
    pool = (c for c in string.ascii_lowercase if c not in taken)
    names: dict[int, str] = {}
    k = 0
    for i in f._order:
        if g.ops[i] == VAR:
            names[i] = str(g.leaf[i])
        elif g.ops[i] == CONST:
            names[i] = format_number(float(g.leaf[i]))  # type: ignore[arg-type]
        else:
            nxt = next(pool, None)
            while nxt is None and f"n{k}" in taken:
                k += 1
            names[i] = nxt if nxt is not None else f"n{k}"
            if nxt is None:
                k += 1
    return names


def _wrap(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z_]\w*|\d+(\.\d+)?", name) else f"({name})"


def _computes(f: Traced, i: int, names: dict[int, str]) -> str:
    op = f.graph.ops[i]
    args = [names[j] for j in f.graph.args[i]]
    prim = PRIMITIVES[op]
    if prim.symbol is None:
        return f"{prim.name}({', '.join(args)})"
    if prim.arity == 1:
        return f"-{_wrap(args[0])}"
    return f"{_wrap(args[0])}{prim.symbol}{_wrap(args[1])}"


# The local derivatives as the slides write them, where the table's template is written
# for the computation (sigmoid(x)*sigmoid(-x) does not cancel for large x; equal values).
# The values shown beside them are the table's, computed as the passes compute them.
_SHOWN = {"sigmoid": ("sigmoid(x)*(1 - sigmoid(x))",),
          "div": ("1/y", "-x/y^2"),
          "tanh": ("1 - tanh(x)^2",),
          "tan": ("1 + tan(x)^2",),
          "atan": ("1/(1 + x^2)",),
          "asin": ("1/sqrt(1 - x^2)",),
          "acos": ("-1/sqrt(1 - x^2)",),
          "atanh": ("1/(1 - x^2)",)}
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def _number_text(v: float) -> str:
    return str(int(v)) if v == int(v) and abs(v) < 1e15 else repr(v)


def _local_text(op: str, k: int, args: Sequence[str]) -> str:
    if op == "pow" and k == 0 and _NUMBER.fullmatch(args[1]):
        # d(x^n)/dx with n a number: n*x^(n-1), the exponent worked out (2*x, not 2*x^(2-1))
        n = float(args[1])
        base, power = _wrap(args[0]), n - 1.0
        if power == 0.0:
            return _number_text(n)
        factor = "" if n == 1.0 else f"{_number_text(n)}*"
        shown = base if power == 1.0 else f"{base}^{_wrap(_number_text(power))}"
        return f"{factor}{shown}"
    template = (_SHOWN.get(op) or PRIMITIVES[op].derivative)[k]
    sub = {"x": _wrap(args[0]), "y": _wrap(args[1]) if len(args) > 1 else "y"}
    return re.sub(r"\b[xy]\b", lambda m: sub[m.group(0)], template)


def trace(f: Traced, point: dict[str, float], wrt: Sequence[str] | None = None) -> Trace:
    """Run both passes at one point and record every step.

    The passes are those ``grad`` runs at one point, so the trace ends on the same
    digits: the float passes (the math module), or numpy's where they cannot answer.
    """
    names = _names(f)
    wrt = list(f.variables) if wrt is None else list(wrt)
    found = None
    if set(point) == set(f.variables) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in point.values()):
        found = f._float_passes(wrt).recorded({k: float(v) for k, v in point.items()})
    if found is not None:
        vals, value, partials, steps = found
    else:
        vals = f._forward(**point)
    out = Trace(str(f.text or f), dict(point))
    out.node_values = {i: float(vals[i]) for i in f._order}  # type: ignore[arg-type]
    for i in f._order:
        if f.graph.ops[i] in (VAR, CONST):
            continue
        out.forward.append(ForwardStep(names[i], module_label(f.graph, i), _computes(f, i, names),
                                       float(vals[i])))  # type: ignore[arg-type]

    def record(i: int, k: int, j: int, local: Any, upstream: Any, contrib: Any) -> None:
        args = [names[m] for m in f.graph.args[i]]
        # contrib is None when the local derivative is exactly 0 (the pass skips it)
        out.edge_grads[(j, i, k)] = 0.0 if contrib is None else float(contrib)
        out.backward.append(BackwardStep(names[i], float(upstream), names[j],
                                         _local_text(f.graph.ops[i], k, args), float(local),
                                         0.0 if contrib is None else float(contrib)))

    if found is not None:
        for step in steps:
            record(*step)
        out.value = value
        out.grad = dict(zip(wrt, partials))
        return out
    grads = f._backward(vals, wrt, record=record)
    out.value = float(vals[f.graph.output])  # type: ignore[arg-type]
    out.grad = {k: float(v) for k, v in grads.items()}
    return out

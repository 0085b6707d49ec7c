"""Symbolic differentiation: the derivative as an expression tree.

The rules come from the one table of primitives (:mod:`backprop.core.ops`): each
primitive's ``derivative`` templates (``"cos(x)"``, ``"y"``/``"x"`` for mul,
``"1/y"``/``"-x/y^2"`` for div) are parsed once and instantiated with the
argument subtrees, and the chain rule multiplies each by the argument's own
derivative and sums. The product and quotient rules fall out of the templates.

The result is a *tree*: nothing is computed once and reused, which is exactly
why symbolic derivatives swell (the seed's point). The tree is stored compactly
(a node may be referenced from several places, as an immutable value), but its
size is the size of the tree as printed: every reference counts in full. A size
cap stops the work at once, with the size reached and the step, long before
memory runs out.

Every pass is a loop over nodes in topological order; nothing recurses over
the expression.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from backprop.errors import BackpropError, InputError
from backprop.core.graph import CONST, VAR, Graph
from backprop.core.ops import PRIMITIVES

DEFAULT_MAX_SIZE = 1_000_000
_SATURATE = 1 << 62  # sizes stop growing here: only "over the cap" matters past it


class SizeCapError(BackpropError):
    """The derivative grew past the size cap (exit code 1)."""

    def __init__(self, size: int, cap: int, step: int, steps: int, order: int, orders: int,
                 module: str) -> None:
        self.size, self.cap, self.step, self.steps = size, cap, step, steps
        self.order, self.orders, self.module = order, orders, module
        where = f"step {step:,} of {steps:,} (differentiating '{module}')"
        if orders > 1:
            where += f", derivative {order} of {orders}"
        grown = f"{size:,}" if size < _SATURATE else f"over {_SATURATE:,}"
        super().__init__(
            f"the symbolic derivative grew past the size cap of {cap:,} nodes: it had reached "
            f"{grown} nodes at {where}. Symbolic differentiation does not reuse shared "
            f"subexpressions; backpropagation (backprop grad) does. Raise --max-size to go on.")


@dataclass(frozen=True)
class Derivative:
    """A derivative: ``graph`` holds it, ``root`` is its node, ``size`` its tree size."""

    graph: Graph
    root: int
    size: int
    wrt: str
    order: int

    def text(self) -> str:
        from backprop.core.printer import to_text

        return to_text(self.graph, self.root, associative=True)

    def as_graph(self) -> Graph:
        """The same nodes with ``root`` as the output, ready for the forward pass."""
        return Graph(self.graph.ops, self.graph.args, self.graph.leaf, self.root)


# ---- templates ----------------------------------------------------------------

_TEMPLATES: dict[str, tuple[tuple[Graph, list[int]], ...]] = {}


def _templates(op: str) -> tuple[tuple[Graph, list[int]], ...]:
    """The primitive's derivative templates, each parsed once (with its node order)."""
    t = _TEMPLATES.get(op)
    if t is None:
        from backprop.core.parser import parse_graph

        graphs = [parse_graph(s) for s in PRIMITIVES[op].derivative]
        t = tuple((g, g.reachable()) for g in graphs)
        _TEMPLATES[op] = t
    return t


# ---- the tree builder, with the simplifying constructors -------------------------


class _Cap(Exception):
    def __init__(self, size: int) -> None:
        self.size = size


class TreeBuilder:
    """Appends nodes to a :class:`Graph` without hash-consing, simplifying as it goes.

    Every node records its tree size; creating a node larger than ``cap`` raises
    at once. ``canon`` gives structurally equal subtrees the same number, so
    ``x - x`` is recognised whatever nodes the two sides are.
    """

    def __init__(self, cap: int = DEFAULT_MAX_SIZE) -> None:
        self.graph = Graph()
        self.cap = cap
        self.size: list[int] = []
        self.canon: list[int] = []
        self._canon_ids: dict[tuple, int] = {}
        self._leaves: dict[tuple, int] = {}  # a leaf is one node however often it is used
        self.checking = True

    # raw node creation ---------------------------------------------------------
    def _append(self, op: str, args: tuple[int, ...], leaf: float | str | None, key: tuple) -> int:
        s = 1
        for j in args:
            s += self.size[j]
        if s > _SATURATE:
            s = _SATURATE
        if self.checking and s > self.cap:
            raise _Cap(s)
        g = self.graph
        g.ops.append(op)
        g.args.append(args)
        g.leaf.append(leaf)
        self.size.append(s)
        c = self._canon_ids.setdefault(key, len(self._canon_ids))
        self.canon.append(c)
        return len(g.ops) - 1

    def const(self, value: float) -> int:
        value = float(value)
        if value == 0.0:
            value = 0.0  # -0 prints as "-0"; the sign of a zero carries nothing here
        key = (CONST, repr(value))
        i = self._leaves.get(key)
        if i is None:
            i = self._leaves[key] = self._append(CONST, (), value, key)
        return i

    def var(self, name: str) -> int:
        key = (VAR, name)
        i = self._leaves.get(key)
        if i is None:
            i = self._leaves[key] = self._append(VAR, (), name, key)
        return i

    def raw(self, op: str, *args: int) -> int:
        return self._append(op, args, None, (op, *(self.canon[j] for j in args)))

    # queries -------------------------------------------------------------------
    def is_const(self, i: int, value: float | None = None) -> bool:
        if self.graph.ops[i] != CONST:
            return False
        return value is None or self.graph.leaf[i] == value

    def value(self, i: int) -> float:
        return float(self.graph.leaf[i])  # type: ignore[arg-type]

    def same(self, i: int, j: int) -> bool:
        return self.canon[i] == self.canon[j]

    def op(self, i: int) -> str:
        return self.graph.ops[i]

    def arg(self, i: int, k: int) -> int:
        return self.graph.args[i][k]

    # simplifying constructors ------------------------------------------------------
    def apply(self, op: str, *a: int) -> int:
        """``op(*a)``, simplified locally (each rule looks at most two levels down)."""
        if all(self.graph.ops[j] == CONST for j in a):
            folded = self._fold(op, a)
            if folded is not None:
                return folded
        rule = _RULES.get(op)
        if rule is not None:
            return rule(self, *a)
        return self.raw(op, *a)

    def _fold(self, op: str, a: Sequence[int]) -> int | None:
        with np.errstate(all="ignore"):
            v = float(PRIMITIVES[op].forward(*(self.value(j) for j in a)))
        # keep the expression where folding would print nan or inf
        return self.const(v) if math.isfinite(v) else None

    def add(self, a: int, b: int) -> int:
        if self.is_const(a, 0.0):
            return b
        if self.is_const(b, 0.0):
            return a
        if self.op(b) == "neg":
            return self.apply("sub", a, self.arg(b, 0))
        if self.op(a) == "neg":
            return self.apply("sub", b, self.arg(a, 0))
        if self._minus_led(b):  # a + -2*u = a - 2*u
            return self.apply("sub", a, self._negated(b, 1))  # type: ignore[arg-type]
        if self.is_const(b) and self.value(b) < 0:
            return self.apply("sub", a, self.const(-self.value(b)))
        if self.is_const(a) and not self.is_const(b):
            return self.apply("add", b, a)  # constants last in a sum: x + 1
        if self.is_const(b):
            folded = self._shift(a, self.value(b))
            if folded is not None:
                return folded
        ca, ra = self._coef(a)
        cb, rb = self._coef(b)
        if self.same(ra, rb):  # c1*u + c2*u = (c1+c2)*u
            return self.apply("mul", self.const(ca + cb), ra)
        return self.raw("add", a, b)

    def sub(self, a: int, b: int) -> int:
        if self.is_const(b, 0.0):
            return a
        if self.is_const(a, 0.0):
            return self.apply("neg", b)
        if self.same(a, b):
            return self.const(0.0)
        if self.op(b) == "neg":
            return self.apply("add", a, self.arg(b, 0))
        if self._minus_led(b):  # a - -2*u = a + 2*u
            return self.apply("add", a, self._negated(b, 1))  # type: ignore[arg-type]
        if self.is_const(b) and self.value(b) < 0:
            return self.apply("add", a, self.const(-self.value(b)))
        if self.is_const(b):
            folded = self._shift(a, -self.value(b))
            if folded is not None:
                return folded
        ca, ra = self._coef(a)
        cb, rb = self._coef(b)
        if self.same(ra, rb):
            return self.apply("mul", self.const(ca - cb), ra)
        return self.raw("sub", a, b)

    def _shift(self, a: int, c: float) -> int | None:
        """a + c where a is u + c1 or u - c1: u + (c1 + c), else None."""
        op = self.op(a)
        if op in ("add", "sub") and self.is_const(self.arg(a, 1)):
            c1 = self.value(self.arg(a, 1)) * (1.0 if op == "add" else -1.0)
            u, total = self.arg(a, 0), c1 + c
            if total >= 0:
                return self.apply("add", u, self.const(total))
            return self.apply("sub", u, self.const(-total))
        return None

    def _minus_led(self, i: int) -> bool:
        """i is c*u or c/u with a negative constant c."""
        return (self.op(i) in ("mul", "div") and self.is_const(self.arg(i, 0))
                and self.value(self.arg(i, 0)) < 0)

    def _coef(self, i: int) -> tuple[float, int]:
        """i as c*u: the constant factor and the rest."""
        if self.op(i) == "mul" and self.is_const(self.arg(i, 0)):
            return self.value(self.arg(i, 0)), self.arg(i, 1)
        return 1.0, i

    def neg(self, a: int) -> int:
        cheap = self._negated(a, 2)
        return self.raw("neg", a) if cheap is None else cheap

    def _negated(self, a: int, depth: int) -> int | None:
        """-a without a new minus sign, if a has a sign to flip within ``depth`` levels."""
        op = self.op(a)
        if op == CONST:
            return self.const(-self.value(a))
        if op == "neg":
            return self.arg(a, 0)
        if op == "sub":
            return self.raw("sub", self.arg(a, 1), self.arg(a, 0))
        if op in ("mul", "div") and depth > 0:
            first = self._negated(self.arg(a, 0), depth - 1)
            if first is not None:
                return self.apply(op, first, self.arg(a, 1))
            if op == "mul":
                second = self._negated(self.arg(a, 1), depth - 1)
                if second is not None:
                    return self.apply(op, self.arg(a, 0), second)
        return None

    def mul(self, a: int, b: int) -> int:
        if self.is_const(a, 0.0) or self.is_const(b, 0.0):
            return self.const(0.0)
        if self.is_const(a, 1.0):
            return b
        if self.is_const(b, 1.0):
            return a
        if self.is_const(b) and not self.is_const(a):
            return self.apply("mul", b, a)  # the constant factor first: 2*x
        if self.op(a) == "neg":
            return self.apply("neg", self.apply("mul", self.arg(a, 0), b))
        if self.op(b) == "neg":
            return self.apply("neg", self.apply("mul", a, self.arg(b, 0)))
        if self.is_const(a):
            if self.is_const(a, -1.0):
                return self.apply("neg", b)
            if self.op(b) == "mul" and self.is_const(self.arg(b, 0)):  # c1*(c2*u)
                return self.apply("mul", self.const(self.value(a) * self.value(self.arg(b, 0))), self.arg(b, 1))
            if self.op(b) == "div" and self.is_const(self.arg(b, 0)):  # c1*(c2/u)
                return self.apply("div", self.const(self.value(a) * self.value(self.arg(b, 0))), self.arg(b, 1))
            return self.raw("mul", a, b)
        # no constant in front of a: gather one from either side
        if self.op(a) == "mul" and self.is_const(self.arg(a, 0)):  # (c*u)*v = c*(u*v)
            return self.apply("mul", self.arg(a, 0), self.apply("mul", self.arg(a, 1), b))
        if self.op(b) == "mul" and self.is_const(self.arg(b, 0)):  # u*(c*v) = c*(u*v)
            return self.apply("mul", self.arg(b, 0), self.apply("mul", a, self.arg(b, 1)))
        if self.op(a) == "div" and self.is_const(self.arg(a, 0), 1.0):  # (1/u)*v = v/u
            return self.apply("div", b, self.arg(a, 1))
        if self.op(b) == "div" and self.is_const(self.arg(b, 0), 1.0):  # u*(1/v) = u/v
            return self.apply("div", a, self.arg(b, 1))
        if self.same(a, b):
            return self.apply("pow", a, self.const(2.0))
        if self.canon[a] > self.canon[b]:
            # one order for the two factors (the older subtree first: variables before
            # the functions of them), so that u*v and v*u are seen to be equal
            a, b = b, a
        return self.raw("mul", a, b)

    def div(self, a: int, b: int) -> int:
        if self.is_const(b, 1.0):
            return a
        if self.is_const(b, -1.0):
            return self.apply("neg", a)
        if self.is_const(a, 0.0) and not self.is_const(b, 0.0):
            return self.const(0.0)
        if self.same(a, b) and not self.is_const(b, 0.0):
            return self.const(1.0)
        if self.op(a) == "neg":
            return self.apply("neg", self.apply("div", self.arg(a, 0), b))
        if self.op(b) == "neg":
            return self.apply("neg", self.apply("div", a, self.arg(b, 0)))
        if (self.op(a) == "mul" and self.is_const(self.arg(a, 0))
                and not self.is_const(self.arg(a, 0), 1.0)):  # (c*u)/v = c*(u/v)
            return self.apply("mul", self.arg(a, 0), self.apply("div", self.arg(a, 1), b))
        return self.raw("div", a, b)

    def pow(self, a: int, b: int) -> int:
        if self.is_const(b, 1.0):
            return a
        if self.is_const(b, 0.0):
            return self.const(1.0)
        if self.is_const(a, 1.0):
            return self.const(1.0)
        return self.raw("pow", a, b)


_RULES = {
    "add": TreeBuilder.add, "sub": TreeBuilder.sub, "mul": TreeBuilder.mul,
    "div": TreeBuilder.div, "pow": TreeBuilder.pow, "neg": TreeBuilder.neg,
}


# ---- copying, simplifying, differentiating ------------------------------------------


def _copy(b: TreeBuilder, graph: Graph, order: Iterable[int], simplify: bool) -> list[int]:
    """Nodes of ``graph`` rebuilt in ``b`` (indexed by the graph's node numbers)."""
    m = [-1] * len(graph)
    ops, args, leaf = graph.ops, graph.args, graph.leaf
    for i in order:
        op = ops[i]
        if op == CONST:
            m[i] = b.const(float(leaf[i]))  # type: ignore[arg-type]
        elif op == VAR:
            m[i] = b.var(str(leaf[i]))
        elif simplify:
            m[i] = b.apply(op, *(m[j] for j in args[i]))
        else:
            m[i] = b.raw(op, *(m[j] for j in args[i]))
    return m


def simplify(graph: Graph, root: int | None = None, cap: int = 1 << 62) -> Derivative:
    """The expression at ``root`` rebuilt bottom-up through the simplifying constructors.

    One pass in topological order, so its cost is linear in the number of nodes:
    each node's arguments are already simplified when the node is rebuilt.
    """
    root = graph.output if root is None else root
    b = TreeBuilder(cap)
    m = _copy(b, graph, graph.reachable(root), simplify=True)
    r = m[root]
    return Derivative(b.graph, r, b.size[r], "", 0)


def _differentiate(b: TreeBuilder, graph: Graph, order: list[int], wrt: str,
                   on_step: "StepCounter") -> int:
    """The derivative of ``graph``'s output with respect to ``wrt``, as a node of ``b``.

    Forward accumulation over the nodes in topological order: d[i] is the
    derivative of node i, the sum over its arguments of (the template for that
    argument, with the argument subtrees put in) times (the argument's derivative).
    """
    # The expression itself is copied (simplified) without the cap: only the
    # derivative is capped, and it is capped as soon as it uses a copy.
    b.checking = False
    e = _copy(b, graph, order, simplify=True)
    b.checking = True
    ops, args, leaf = graph.ops, graph.args, graph.leaf
    d: list[int | None] = [None] * len(graph)  # None: derivative 0
    for i in order:
        op = ops[i]
        if op == VAR:
            if leaf[i] == wrt:
                d[i] = b.const(1.0)
            continue
        if op == CONST:
            continue
        a = args[i]
        if all(d[j] is None for j in a):
            continue
        on_step.step = on_step.done + 1
        on_step.module = op
        total: int | None = None
        for k, j in enumerate(a):
            dj = d[j]
            if dj is None:
                continue
            local = _instantiate(b, _templates(op)[k], [e[m] for m in a])
            term = b.apply("mul", local, dj)
            if b.is_const(term, 0.0):
                continue
            total = term if total is None else b.apply("add", total, term)
        on_step.done += 1
        d[i] = total
    out = d[graph.output]
    return b.const(0.0) if out is None else out


def _instantiate(b: TreeBuilder, template: tuple[Graph, list[int]], argnodes: Sequence[int]) -> int:
    """The template with x and y replaced by the argument subtrees."""
    template, order = template
    m = [-1] * len(template)
    for i in order:
        op = template.ops[i]
        if op == CONST:
            m[i] = b.const(float(template.leaf[i]))  # type: ignore[arg-type]
        elif op == VAR:
            m[i] = argnodes[0 if template.leaf[i] == "x" else 1]
        else:
            m[i] = b.apply(op, *(m[j] for j in template.args[i]))
    return m[template.output]


@dataclass
class StepCounter:
    done: int = 0
    step: int = 0
    total: int = 0
    module: str = ""


def _steps(graph: Graph, order: list[int], wrt: str) -> int:
    """How many modules depend on ``wrt``: the steps of one differentiation."""
    dep = bytearray(len(graph))
    n = 0
    for i in order:
        op = graph.ops[i]
        if op == VAR:
            dep[i] = graph.leaf[i] == wrt
        elif op != CONST and any(dep[j] for j in graph.args[i]):
            dep[i] = 1
            n += 1
    return n


def derivative(graph: Graph, wrt: str, order: int = 1, max_size: int = DEFAULT_MAX_SIZE) -> Derivative:
    """The ``order``-th derivative of ``graph``'s output with respect to ``wrt``, simplified.

    Raises :class:`SizeCapError` as soon as any node of the derivative would be
    larger than ``max_size`` nodes as a tree.
    """
    if order < 1:
        raise InputError(f"--order must be 1 or more, not {order}")
    if max_size < 1:
        raise InputError(f"--max-size must be 1 or more, not {max_size}")
    current, root = graph, graph.output
    result: Derivative | None = None
    for n in range(1, order + 1):
        g = Graph(current.ops, current.args, current.leaf, root)
        reach = g.reachable(root)
        counter = StepCounter(total=_steps(g, reach, wrt))
        b = TreeBuilder(max_size)
        try:
            # every node went through the simplifying constructors, the copy of the
            # expression included, so no separate simplifying pass is needed
            r = _differentiate(b, g, reach, wrt, counter)
        except _Cap as cap:
            raise SizeCapError(cap.size, max_size, max(counter.step, 1), max(counter.total, 1), n,
                               order, counter.module) from None
        result = Derivative(b.graph, r, b.size[r], wrt, n)
        current, root = b.graph, r
    assert result is not None
    return result


def derivatives(graph: Graph, wrt: Sequence[str], order: int = 1,
                max_size: int = DEFAULT_MAX_SIZE) -> dict[str, Derivative]:
    """The derivative with respect to each name in ``wrt``."""
    return {v: derivative(graph, v, order, max_size) for v in wrt}


def diff_text(text: str, wrt: str | None = None, order: int = 1, angle: str = "rad",
              max_size: int = DEFAULT_MAX_SIZE) -> str:
    """The derivative of the expression ``text`` as text that parses again.

    >>> diff_text("x^2*sin(x)")
    '2*(sin(x)*x) + x^2*cos(x)'
    """
    from backprop.core.parser import parse_graph

    g = parse_graph(text, angle)
    variables = g.variables
    if wrt is None:
        if len(variables) != 1:
            raise InputError(f"name the variable: the expression has {len(variables)} "
                             f"({', '.join(variables) or 'none'})")
        wrt = variables[0]
    return derivative(g, wrt, order, max_size).text()


def tree_sizes(graph: Graph, order: Iterable[int] | None = None) -> list[int]:
    """Each node's size as a tree (saturating), indexed by node."""
    size = [0] * len(graph)
    for i in (range(len(graph)) if order is None else order):
        s = 1
        for j in graph.args[i]:
            s += size[j]
        size[i] = min(s, _SATURATE)
    return size

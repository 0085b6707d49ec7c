"""The canonical form written out: as a graph of primitives, as text.

:func:`lower` turns a canonical node into a :class:`~backprop.core.graph.Graph`
of the table's primitives shaped exactly as its text parses back (``a + b - c``
is ``(a + b) - c``, ``-2*x`` is ``(-2)*x``), so the graph's tree size is the
size of the printed expression and the graph can be evaluated by the forward
pass. The order is stable and natural: in a sum, higher powers first, the
constant after the other terms of degree 0, a positive term first; in a product, the number first, then
variables by name, then functions, then sums; negative powers go below a
fraction bar (``-1/x^2``, ``1/(x*log(2))``).

>>> from backprop.symbolic.store import Store
>>> from backprop.symbolic.canonical import add, mul, num, power, sym
>>> s = Store()
>>> x = sym(s, "x")
>>> text(s, add(s, [num(s, 1), mul(s, [num(s, -3), power(s, x, num(s, -2))]), power(s, x, num(s, 2))]))
'x^2 + 1 - 3/x^2'
"""

from __future__ import annotations

import math
from fractions import Fraction

from backprop.core.graph import CONST, VAR, Graph, GraphBuilder
from backprop.core.ops import ADD as ADD_PRECEDENCE, NEG, PRIMITIVES
from backprop.core.printer import ATOM, bare_operands, format_number, to_text, tree_size
from backprop.symbolic.store import ADD, FLOAT, FN, MUL, NUM, SYM, Rational, Store

_NAMED = {"pi": math.pi, "e": math.e}
_RANK = {SYM: 0, NUM: 1, FLOAT: 1, FN: 2, ADD: 3, MUL: 4}
_HALF = Fraction(1, 2)


def number_text(v: float) -> str:
    """A constant of a lowered graph as text: the named constants by name."""
    if v == math.pi:
        return "pi"
    if v == math.e:
        return "e"
    return format_number(v)


def reachable(s: Store, root: int) -> list[int]:
    """The nodes ``root`` depends on, in increasing (topological) order, without recursion."""
    seen = {root}
    stack = [root]
    while stack:
        i = stack.pop()
        for j in children(s, i):
            if j not in seen:
                seen.add(j)
                stack.append(j)
    return sorted(seen)


def children(s: Store, i: int) -> list[int]:
    k = s.kinds[i]
    if k == ADD:
        return [t for t, _ in s.datas[i][1]]
    if k == MUL:
        return [j for f in s.datas[i][1] for j in f]
    if k == FN:
        return list(s.datas[i][1])
    return []


def _factor_key(s: Store, b: int) -> tuple:
    k = s.kinds[b]
    name = s.datas[b] if k == SYM else s.datas[b][0] if k == FN else ""
    if k == SYM and name in _NAMED:
        return (-1, name, b)  # pi and e read as numbers: 2*pi*x, not 2*x*pi
    return (_RANK[k], name, b)


def _degree(s: Store, t: int) -> Rational:
    """The total power of the variables in a term (for the order of a sum's terms)."""
    kinds, datas = s.kinds, s.datas
    k = kinds[t]
    if k == SYM:
        return 0 if datas[t] in _NAMED else 1
    if k == MUL:
        d: Rational = 0
        for b, e in datas[t][1]:
            if kinds[b] == SYM and kinds[e] == NUM and datas[b] not in _NAMED:
                d += datas[e]
        return d
    return 0


def term_order(s: Store, const: Rational,
               terms: tuple[tuple[int, Rational], ...]) -> list[tuple[int | None, Rational]]:
    """A sum's terms as they are written: descending powers (``x^2 - 5*x + 5``), the constant
    after the other terms of degree 0 (``cos(x) + 1``, then ``1/x``); negative terms that
    would lead go last if a positive term can lead instead (``1 - x^2``, ``3*x + 5 - x^2``:
    no leading minus, one character shorter).
    The constant is ``(None, const)``."""
    keyed = sorted([(-_degree(s, t), _factor_key(s, t), t, c) for t, c in terms])
    items: list[tuple[int | None, Rational]] = [(t, c) for d, _, t, c in keyed]
    if const != 0:
        at = next((k for k, (d, _, _, _) in enumerate(keyed) if d > 0), len(keyed))
        items.insert(at, (None, const))
    if items[0][1] < 0:  # the leading negative terms go after the rest: 3*x + 5 - x^2
        first = next((k for k, (_, c) in enumerate(items) if c > 0), 0)
        items = items[first:] + items[:first]
    return items


class _Lowering:
    def __init__(self, s: Store) -> None:
        self.s = s
        self.b = GraphBuilder()
        self.low: dict[int, int] = {}
        self.numbers: dict[Rational, int] = {}  # each number's graph node, made once
        self.parts: dict[tuple, tuple[list[int], list[int]]] = {}  # see factors()

    def number(self, v: Rational) -> int:
        """A number as the language writes it: an integer, a short decimal, or p/q.

        The language's numbers are float64, so an integer past 2^53 is written as
        the nearest float (the value the forward pass uses).
        """
        found = self.numbers.get(v)
        if found is None:
            found = self.numbers[v] = self._number(v)
        return found

    def _number(self, v: Rational) -> int:
        b = self.b
        if v < 0:
            return b.apply("neg", self.number(-v))
        p, q = v.numerator, v.denominator
        if q == 1:
            return b.const(float(p))
        f = float(v)
        if math.isfinite(f) and Fraction(repr(f)) == v and len(repr(f)) < len(f"{p}/{q}"):
            return b.const(f)
        return b.apply("div", b.const(float(p)), b.const(float(q)))

    def power(self, base: int, exp: int) -> int:
        s = self.s
        if s.kinds[exp] == NUM:
            return self.numeric_power(base, s.datas[exp])
        return self.b.apply("pow", self.low[base], self.low[exp])

    def numeric_power(self, base: int, e: Rational) -> int:
        if e == 1:
            return self.low[base]
        if e == _HALF:
            return self.b.apply("sqrt", self.low[base])
        return self.b.apply("pow", self.low[base], self.number(e))

    def chain(self, parts: list[int]) -> int:
        out = parts[0]
        for p in parts[1:]:
            out = self.b.apply("mul", out, p)
        return out

    def factors(self, factors: tuple[tuple[int, int], ...]) -> tuple[list[int], list[int]]:
        """A product's powers lowered, in order: those above the fraction bar, those below."""
        found = self.parts.get(factors)
        if found is not None:
            return found
        s = self.s
        kinds, datas = s.kinds, s.datas
        above, below = [], []
        for base, exp in sorted(factors, key=lambda f: _factor_key(s, f[0])) if len(factors) > 1 \
                else factors:
            if kinds[exp] == NUM and datas[exp] < 0:
                below.append(self.numeric_power(base, -datas[exp]))
            else:
                above.append(self.power(base, exp))
        found = self.parts[factors] = (above, below)
        return found

    def product(self, coef: Rational, factors: tuple[tuple[int, int], ...]) -> int:
        b = self.b
        above, below = self.factors(factors)
        p, q = abs(coef.numerator), coef.denominator
        parts = [] if p == 1 and above else [self.number(p)]
        parts += above  # a copy: the lowered factors are kept for the next product
        if coef < 0:
            parts[0] = b.apply("neg", parts[0])
        out = self.chain(parts)
        under = ([self.number(q)] if q != 1 else []) + below
        return b.apply("div", out, self.chain(under)) if under else out

    def term(self, coef: Rational, t: int) -> int:
        """``coef * t`` for a term of a sum (a term's own coefficient is 1)."""
        if coef == 1:
            return self.low[t]
        s = self.s
        if s.kinds[t] == MUL:
            return self.product(coef, s.datas[t][1])
        return self.product(coef, ((t, s.node(NUM, 1)),))

    def node(self, i: int) -> int:
        s, b = self.s, self.b
        k, d = s.kinds[i], s.datas[i]
        if k == NUM:
            return self.number(d)
        if k == SYM:
            return b.const(_NAMED[d]) if d in _NAMED else b.var(d)
        if k == FLOAT:
            return b.const(d)
        if k == FN:
            return b.apply(d[0], *(self.low[a] for a in d[1]))
        if k == MUL:
            return self.product(*d)
        const, terms = d
        out = -1
        for t, c in term_order(s, const, terms):
            if out < 0:
                out = self.number(c) if t is None else self.term(c, t)
                continue
            piece = self.number(abs(c)) if t is None else self.term(abs(c), t)
            out = b.apply("add" if c > 0 else "sub", out, piece)
        return out


    def ensure(self, root: int) -> int:
        """Lower ``root`` and whatever under it is not lowered yet; its graph node."""
        low = self.low
        if root in low:
            return low[root]
        s = self.s
        todo = {root}
        stack = [root]
        while stack:
            i = stack.pop()
            for j in children(s, i):
                if j not in low and j not in todo:
                    todo.add(j)
                    stack.append(j)
        for i in sorted(todo):
            low[i] = self.node(i)
        return low[root]


def lower(s: Store, root: int) -> tuple[Graph, int]:
    """The canonical node ``root`` as a graph of primitives (and the root's index in it)."""
    g, r, _ = lower_mapped(s, root)
    return g, r


def lower_mapped(s: Store, root: int) -> tuple[Graph, int, dict[int, int]]:
    """:func:`lower`, and the canonical node each graph node stands for (where it stands for
    one): reading the graph back need not rebuild those."""
    lw = _Lowering(s)
    r = lw.ensure(root)
    g = lw.b.graph
    g.output = r
    return g, r, {gi: i for i, gi in lw.low.items()}


class TextLengths:
    """The printed length of canonical nodes, without printing them (for choosing the shortest).

    Lowered graphs and lengths are kept between calls, so asking about many
    forms that share parts costs little.
    """

    def __init__(self, s: Store) -> None:
        self.lw = _Lowering(s)
        self.length: list[int] = []
        self.prec: list[int] = []

    def lowered(self, i: int) -> tuple[Graph, int]:
        """``i`` as :func:`lower` gives it, from the nodes lowered already for measuring."""
        g = self.lw.b.graph
        if not len(g):  # nothing measured (a result too large to shorten): lowered as it is
            g.output = self.lw.ensure(i)
            return g, g.output
        return subgraph(g, self.lw.ensure(i))

    def __call__(self, i: int) -> int:
        gi = self.lw.ensure(i)
        g = self.lw.b.graph
        ln, prec = self.length, self.prec
        for k in range(len(ln), len(g)):
            op = g.ops[k]
            a = g.args[k]
            if op == CONST:
                t = number_text(float(g.leaf[k]))  # type: ignore[arg-type]
                ln.append(len(t))
                prec.append(NEG if t.startswith("-") else ATOM)
                continue
            if op == VAR:
                ln.append(len(str(g.leaf[k])))
                prec.append(ATOM)
                continue
            prim = PRIMITIVES[op]
            if prim.symbol is None:
                ln.append(len(op) + 2 + sum(ln[j] for j in a) + 2 * (len(a) - 1))
                prec.append(ATOM)
            elif prim.arity == 1:
                ln.append(1 + ln[a[0]] + (0 if prec[a[0]] >= NEG else 2))
                prec.append(NEG)
            else:
                p = prim.precedence
                lp, rp = bare_operands(op, prec[a[0]], prec[a[1]])
                ln.append(ln[a[0]] + ln[a[1]] + (3 if p == ADD_PRECEDENCE else 1)
                          + (0 if lp else 2) + (0 if rp else 2))
                prec.append(p)
        return ln[gi]


def subgraph(graph: Graph, root: int) -> tuple[Graph, int]:
    """The nodes ``root`` depends on, copied into a graph of their own (same tree, same text)."""
    out = Graph()
    ops, args, leaf = out.ops, out.args, out.leaf
    new: dict[int, int] = {}
    for i in graph.reachable(root):
        new[i] = len(ops)
        ops.append(graph.ops[i])
        args.append(tuple([new[j] for j in graph.args[i]]))
        leaf.append(graph.leaf[i])
    out.output = new[root]
    return out, out.output


def graph_text(graph: Graph, root: int) -> str:
    return to_text(graph, root, number=number_text)


def text(s: Store, root: int) -> str:
    """The canonical node as text in the expression language (it parses back to the same tree)."""
    g, r = lower(s, root)
    return graph_text(g, r)


def size(s: Store, root: int) -> int:
    """The size of the node's printed tree."""
    g, r = lower(s, root)
    return tree_size(g, r)

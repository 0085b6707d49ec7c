"""Node storage for canonical expressions, with the size cap enforced at creation.

A node is a ``(kind, data)`` pair stored once (hash-consed), so two equal
subexpressions are the same integer and a node's arguments always have smaller
numbers than the node: the numbering is a topological order. The kinds:

* ``NUM``: an exact rational: an ``int`` when it is an integer (integer arithmetic is
  many times faster than :class:`fractions.Fraction`'s, and most coefficients and
  exponents are small integers), else a :class:`~fractions.Fraction` (see :func:`exact`);
* ``SYM``: a variable or a named constant (``pi``, ``e``), by name;
* ``FLOAT``: a constant with no exact value (``nan``, ``inf``), kept as it is;
* ``ADD``: ``(constant, ((term, coefficient), ...))`` -- a sum as a map from
  terms to exact coefficients (numbers as for ``NUM``);
* ``MUL``: ``(coefficient, ((base, exponent), ...))`` -- a product as a map from
  bases to exponents (exponents are nodes, usually ``NUM``);
* ``FN``: ``(name, (argument, ...))`` -- a call of a primitive from the table.

Each node also records the size its printed tree will have (an estimate made
from its arguments' sizes, saturating). A store made with a cap refuses to
create a node larger than the cap: the swell of a symbolic derivative stops at
once, with the size reached, however the node was reached.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from fractions import Fraction
from typing import Any, Iterator

NUM, SYM, FLOAT, ADD, MUL, FN = range(6)
SATURATE = 1 << 62  # sizes stop growing here: only "over the cap" matters past it
ONE = 1

Rational = int | Fraction  # an exact number, an int whenever it is an integer


def exact(v: Rational) -> Rational:
    """``v`` with an integer-valued Fraction made an ``int`` (Fraction arithmetic keeps
    ``Fraction(4, 2)`` a Fraction). Either is correct anywhere; the int is faster."""
    if type(v) is int:
        return v
    return v.numerator if v.denominator == 1 else v


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused while expressions are built.

    A derivative allocates many tuples and dicts that live until it is done and
    make no reference cycles (reference counting frees them); the collector would
    only walk them again and again (a fifth of the time of a 2,000-term ``diff``).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class SizeCap(Exception):
    """A node would be larger than the store's cap."""

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


class _Tables:
    """The node tables, shared by every view of one store."""

    def __init__(self) -> None:
        self.kind: list[int] = []
        self.data: list[Any] = []
        self.size: list[int] = []
        self.index: dict[tuple, int] = {}
        self.constants: dict[float, int] = {}  # a graph's float constants, converted once
        self.memo: dict[tuple, Any] = {}  # results of pure functions of nodes (rewrites, local derivatives)
        self.integers: dict[int, int] = {}  # integer -> its NUM node (the most frequent look-up)


def _number_size(v: Rational) -> int:
    if type(v) is int:
        return 1 if v >= 0 else 2
    s = 1 if v.denominator == 1 else 3  # p or p/q
    return s + 1 if v.numerator < 0 else s  # -p is neg(p)


def _unit(v: Rational) -> bool:
    """v is 1 or -1 (compared through the integers: Fraction's == is slow)."""
    if type(v) is int:
        return v == 1 or v == -1
    return v.denominator == 1 and (v.numerator == 1 or v.numerator == -1)


def _key(kind: int, data: Any) -> tuple:
    """The node's identity, with numbers as integer pairs (hashing a Fraction is slow)."""
    if kind == NUM:
        return (NUM, data.numerator, data.denominator)
    if kind == MUL:
        return (MUL, data[0].numerator, data[0].denominator, data[1])
    if kind == ADD:
        return (ADD, data[0].numerator, data[0].denominator,
                tuple([(term, c.numerator, c.denominator) for term, c in data[1]]))
    if kind == FLOAT:
        return (FLOAT, repr(data))
    return (kind, data)


class Store:
    """Hash-consed canonical nodes; ``cap`` bounds the size of every new node.

    ``with_cap`` gives another view of the same nodes with another cap (the
    expression being differentiated is stored without a cap, its derivative
    with one).

    >>> s = Store(cap=3)
    >>> x = s.node(SYM, "x")
    >>> s.node(SYM, "x") == x
    True
    >>> sin_sin_x = s.node(FN, ("sin", (s.node(FN, ("sin", (x,))),)))
    >>> s.size(sin_sin_x)
    3
    >>> s.node(FN, ("sin", (sin_sin_x,)))
    Traceback (most recent call last):
    ...
    backprop.symbolic.store.SizeCap: 4
    """

    def __init__(self, cap: int = SATURATE, tables: _Tables | None = None) -> None:
        self.cap = cap
        self._t = tables if tables is not None else _Tables()
        self.kinds, self.datas = self._t.kind, self._t.data  # read-only views for hot loops
        self.constants = self._t.constants
        self.memo = self._t.memo
        self.integers = self._t.integers

    def with_cap(self, cap: int) -> "Store":
        return Store(cap, self._t)

    def copy(self) -> "Store":
        """A store holding the same nodes, numbered alike, and the same remembered results;
        what is made in one afterwards is not in the other. (Nodes and remembered results
        are immutable, so the tables' entries are shared.)"""
        t, c = self._t, _Tables()
        c.kind, c.data, c.size = t.kind.copy(), t.data.copy(), t.size.copy()
        c.index, c.constants = t.index.copy(), t.constants.copy()
        c.memo, c.integers = t.memo.copy(), t.integers.copy()
        return Store(self.cap, c)

    def __len__(self) -> int:
        return len(self._t.kind)

    def kind(self, i: int) -> int:
        return self._t.kind[i]

    def data(self, i: int) -> Any:
        return self._t.data[i]

    def size(self, i: int) -> int:
        return self._t.size[i]

    def node(self, kind: int, data: Any) -> int:
        """The node ``(kind, data)``: the existing one, or a new one within the cap."""
        t = self._t
        if kind == MUL and type(data[0]) is int:  # the most frequent kinds, keyed inline
            key: tuple = (MUL, data[0], 1, data[1])
        elif kind == FN or kind == SYM:
            key = (kind, data)
        else:
            key = _key(kind, data)
        found = t.index.get(key)
        if found is not None:
            return found
        size = self._tree_size(kind, data)
        if size > self.cap:
            raise SizeCap(size)
        t.kind.append(kind)
        t.data.append(data)
        t.size.append(size)
        i = len(t.kind) - 1
        t.index[key] = i
        return i

    def _tree_size(self, kind: int, data: Any) -> int:
        """The size of the node's printed tree, from its arguments' sizes."""
        size = self._t.size
        if kind == NUM:
            return _number_size(data)
        if kind in (SYM, FLOAT):
            return 1
        if kind == FN:
            s = 1
            for a in data[1]:
                s += size[a]
        elif kind == MUL:
            coef, factors = data
            s = len(factors) - 1
            if type(coef) is int:  # c* (2 nodes) unless c is 1 or -1, and neg for a negative c
                s += (0 if coef == 1 or coef == -1 else 2) + (coef < 0)
            else:
                if not _unit(coef):
                    s += _number_size(coef) + 1  # the sign is counted once, below
                    if coef.numerator < 0:
                        s -= 1
                if coef.numerator < 0:
                    s += 1
            one = self._t.index.get((NUM, 1, 1), -1)  # exponent 1 is not written
            for base, exp in factors:
                s += size[base]
                if exp != one:
                    s += 1 + size[exp]
        else:  # ADD
            const, terms = data
            s = len(terms) - 1
            if const.numerator != 0:
                s += 1 + _number_size(const) - (const.numerator < 0)
            for term, coef in terms:
                s += size[term]
                if not _unit(coef):
                    s += _number_size(coef) + 1 - (coef.numerator < 0)
        return min(s, SATURATE)

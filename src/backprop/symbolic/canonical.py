"""The canonical form: sums as maps term -> coefficient, products as maps base -> exponent.

Nodes are built bottom-up through these constructors, so every node is already
canonical when it is made: like terms collect (``x + x`` is ``2*x``), powers of
one base merge (``x*x^2`` is ``x^3``, ``x/x`` is ``1``, ``y/(x*y)`` is
``1/x``), numbers are exact fractions, and the named constants (``pi``, ``e``,
``log(2)``) stay symbolic. Each primitive of the table has one small rule
(``RULES``), the only place that knows what that operator simplifies to; a
primitive with no rule is kept as a call.

Rewrites that hold only on part of the real line are made only where the
original is undefined (nan) on the rest: ``(x^2)^(1/2)`` and ``(x^2)^y`` stay
(they are defined for x < 0), ``exp(log(u))`` is ``u`` and ``sqrt(x)^2`` is ``x``.

>>> from backprop.symbolic.store import Store
>>> from backprop.symbolic.printer import text
>>> s = Store()
>>> x, y = sym(s, "x"), sym(s, "y")
>>> text(s, add(s, [x, x]))
'2*x'
>>> text(s, mul(s, [y, power(s, mul(s, [x, y]), num(s, -1))]))
'1/x'
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Callable, Iterable

from backprop.symbolic.store import ADD, FLOAT, FN, MUL, NUM, ONE, SYM, Rational, Store, exact

_MAX_FOLDED_EXPONENT = 256  # 2^256 is exact and short enough; 2^100000 is not worth printing


_MAX_BITS = 1000  # exact numbers up to about 10^300; past that, the float64 the forward pass has
_BIG = 1 << _MAX_BITS  # an int strictly between -_BIG and _BIG is not huge


def _huge(v: Rational) -> bool:
    if type(v) is int:
        return v.bit_length() > _MAX_BITS
    return v.numerator.bit_length() > _MAX_BITS or v.denominator.bit_length() > _MAX_BITS


def _inexact(s: Store, v: Rational) -> int:
    """A number too long to print exactly, as the float the forward pass would compute (maybe inf)."""
    try:
        f = float(v)
    except OverflowError:
        f = math.inf if v > 0 else -math.inf
    return s.node(FLOAT, f)


def num(s: Store, v: Rational) -> int:
    if type(v) is int:
        found = s.integers.get(v)
        if found is not None:
            return found
        if v.bit_length() > _MAX_BITS:
            return _inexact(s, v)
        found = s.integers[v] = s.node(NUM, v)
        return found
    v = exact(v if type(v) is Fraction else Fraction(v))
    if type(v) is int:
        return num(s, v)
    return _inexact(s, v) if _huge(v) else s.node(NUM, v)


def sym(s: Store, name: str) -> int:
    return s.node(SYM, name)


def constant(s: Store, v: float) -> int:
    """A float constant of a graph as the exact value it stands for.

    The parser turns ``pi``, ``e`` and the degree factors into floats; they come
    back here as symbols, and every other finite float as the decimal it was
    written as (``0.1`` is 1/10).
    """
    found = s.constants.get(v)
    if found is None:
        found = s.constants[v] = _constant(s, v)
    return found


def _constant(s: Store, v: float) -> int:
    if not math.isfinite(v):
        return s.node(FLOAT, v)
    if v == math.pi:
        return sym(s, "pi")
    if v == math.e:
        return sym(s, "e")
    if v == math.pi / 180.0:
        return mul(s, [num(s, Fraction(1, 180)), sym(s, "pi")])
    if v == 180.0 / math.pi:
        return mul(s, [num(s, 180), power(s, sym(s, "pi"), num(s, -1))])
    if v == int(v) and abs(v) < 2 ** 53:
        return num(s, int(v))
    return num(s, Fraction(repr(v)))


def value(s: Store, i: int) -> Rational | None:
    """The node's exact value if it is a number, else None."""
    return s.datas[i] if s.kinds[i] == NUM else None


def _integer(v: Rational | None) -> bool:
    return v is not None and v.denominator == 1


# ---- sums ----------------------------------------------------------------------------------

def split_coefficient(s: Store, i: int) -> tuple[Rational, int]:
    """``i`` as ``c * term`` with the term's own coefficient 1: (c, term)."""
    if s.kinds[i] == MUL:
        c, factors = s.datas[i]
        if c != 1:
            if len(factors) == 1 and s.datas[factors[0][1]] == 1:
                return c, factors[0][0]
            return c, s.node(MUL, (ONE, factors))
    return ONE, i


def make_sum(s: Store, const: Rational, terms: dict[int, Rational]) -> int:
    """The canonical node for ``const + sum(coef * term)`` (terms already collected)."""
    kept = [(t, c if type(c) is int else exact(c)) for t, c in terms.items() if c != 0]
    const = exact(const)
    if _huge(const) or any([_huge(c) for _, c in kept if type(c) is not int or not -_BIG < c < _BIG]):
        return add(s, [num(s, const), *(mul(s, [_inexact(s, c), t]) if _huge(c) else scale(s, c, t)
                                         for t, c in kept)])
    if not kept:
        return num(s, const)
    if const == 0 and len(kept) == 1:
        t, c = kept[0]
        return t if c == 1 else mul(s, [num(s, c), t])
    kept.sort()
    return s.node(ADD, (const, tuple(kept)))


def add(s: Store, items: Iterable[int]) -> int:
    """The sum of ``items``: constants folded, like terms collected."""
    if type(items) is list and len(items) == 1:
        return items[0]  # a node is canonical already
    const: Rational = 0
    terms: dict[int, Rational] = {}
    kinds, datas = s.kinds, s.datas
    for i in items:
        k = kinds[i]
        if k == NUM:
            const += datas[i]
        elif k == ADD:
            c0, ts = datas[i]
            const += c0
            for t, c in ts:
                terms[t] = terms.get(t, 0) + c
        else:
            c, t = split_coefficient(s, i)
            terms[t] = terms.get(t, 0) + c
    return make_sum(s, const, terms)


def scale(s: Store, c: Rational, i: int) -> int:
    """``c * i``, distributing over a sum (as a computer algebra system does for numbers)."""
    if c == 0:
        return num(s, 0)
    if c == 1:
        return i
    if s.kinds[i] == ADD:
        c0, ts = s.datas[i]
        return make_sum(s, c0 * c, {t: k * c for t, k in ts})
    return mul(s, [num(s, c), i])


def neg(s: Store, a: int) -> int:
    return scale(s, -1, a)


def sub(s: Store, a: int, b: int) -> int:
    return add(s, [a, neg(s, b)])


# ---- products and powers -----------------------------------------------------------------

def _exact_root(v: Rational, n: int) -> Rational | None:
    """The exact n-th root of v >= 0 when it is rational, else None."""
    if v < 0:
        return None
    parts = []
    for k in (v.numerator, v.denominator):
        r = round(k ** (1.0 / n)) if k < 1 << 1000 else None
        if r is None:
            return None
        for guess in (r - 1, r, r + 1):
            if guess >= 0 and guess ** n == k:
                parts.append(guess)
                break
        else:
            return None
    return Fraction(parts[0], parts[1])


def _fold_power(b: Rational, e: Rational) -> Rational | None:
    """b^e exactly, or None (no exact rational value, undefined, or not worth printing)."""
    if abs(e.numerator) > _MAX_FOLDED_EXPONENT:
        return None
    if b == 0:
        return 0 if e > 0 else None
    if e.denominator != 1:
        r = _exact_root(b, e.denominator) if e.denominator <= 64 else None
        if r is None:
            return None
        b, e = r, e.numerator
    return _int_power(b, int(e))


def _int_power(b: Rational, n: int) -> Rational:
    """b^n exactly (an int's negative power is a Fraction, not a float)."""
    if n >= 0:
        return exact(b ** n)
    if n == -1:  # 1/k, the most frequent (Fraction's ** is slow)
        return exact(Fraction(1, b)) if type(b) is int else exact(1 / b)
    return exact(Fraction(b) ** n)


def mul(s: Store, items: Iterable[int]) -> int:
    """The product of ``items``: numbers multiplied, powers of one base merged."""
    if type(items) is list and len(items) == 1:
        return items[0]  # a node is canonical already
    kinds, datas = s.kinds, s.datas
    coef: Rational = 1
    exps: dict[int, list[int]] = {}
    one = -1
    for i in items:
        k = kinds[i]
        if k == NUM:
            coef *= datas[i]
        elif k == MUL:
            c, factors = datas[i]
            if c != 1:
                coef *= c
            for b, e in factors:
                es = exps.get(b)
                if es is None:
                    exps[b] = [e]
                else:
                    es.append(e)
        else:
            if one < 0:
                one = num(s, 1)
            es = exps.get(i)
            if es is None:
                exps[i] = [one]
            else:
                es.append(one)
    if coef == 0:
        return num(s, 0)
    kept: list[tuple[int, int]] = []
    redo: list[int] = []
    if len(exps) > 1:
        merged = _merge_exponentials(s, exps)
        if merged is not None:
            return mul(s, [num(s, coef), merged, *(power(s, b, e) for b, es in exps.items() for e in es)])
    for b, es in exps.items():
        if len(es) == 1:
            e = es[0]
        elif all(kinds[j] == NUM for j in es):
            e = num(s, sum([datas[j] for j in es]))
        else:
            e = add(s, es)
        ev = datas[e] if kinds[e] == NUM else None
        if ev == 0:
            continue
        kb = kinds[b]
        if kb == NUM and ev is not None:
            folded = _fold_power(datas[b], ev)
            if folded is not None:
                coef *= folded
                continue
        if kb == MUL and ev is not None and ev.denominator == 1:  # a merged base: (x*y)^(1/2) * (x*y)^(1/2)
            redo.append(power(s, b, e))
            continue
        kept.append((b, e))
    if redo:
        return mul(s, [num(s, coef), *redo, *(power(s, b, e) for b, e in kept)])
    if coef == 0:
        return num(s, 0)
    if not kept or _huge(coef):
        return num(s, coef) if not kept else mul(s, [_inexact(s, coef), *(power(s, b, e) for b, e in kept)])
    if len(kept) == 1 and kinds[kept[0][1]] == NUM and datas[kept[0][1]] == 1:
        base = kept[0][0]
        if coef == 1:
            return base
        if s.kinds[base] == ADD:
            return scale(s, coef, base)
    kept.sort()
    return s.node(MUL, (coef if type(coef) is int else exact(coef), tuple(kept)))


def _merge_exponentials(s: Store, exps: dict[int, list[int]]) -> int | None:
    """exp(a)^m * exp(b)^n = exp(m*a + n*b) for integers m, n: the merged factor, taken out of
    ``exps``; None if there are not two such factors."""
    found = []
    kinds, datas = s.kinds, s.datas
    for b, es in exps.items():
        if kinds[b] == FN and datas[b][0] == "exp":
            e = es[0] if len(es) == 1 else add(s, es)
            if _integer(value(s, e)):
                found.append((b, value(s, e)))
    if len(found) < 2:
        return None
    for b, _ in found:
        del exps[b]
    return call(s, "exp", [add(s, [scale(s, ev, s.datas[b][1][0]) for b, ev in found])])


def _single_power(s: Store, i: int) -> tuple[int, int] | None:
    """``i`` as ``base^exponent`` if it is one power with coefficient 1."""
    if s.kinds[i] == MUL:
        c, factors = s.datas[i]
        if c == 1 and len(factors) == 1:
            return factors[0]
    return None


def power(s: Store, base: int, exp: int) -> int:
    """``base ^ exp``."""
    ev = value(s, exp)
    if ev == 0:
        return num(s, 1)  # 0^0 is 1, as numpy has it
    if ev == 1:
        return base
    kb = s.kinds[base]
    if kb == NUM:
        b = s.datas[base]
        if b == 1:
            return num(s, 1)
        if ev is not None:
            folded = _fold_power(b, ev)
            if folded is not None:
                return num(s, folded)
    if ev is not None and kb == MUL:
        c, factors = s.datas[base]
        if ev.denominator == 1:  # (c*x^a*y^b)^n = c^n*x^(a*n)*y^(b*n)
            parts = [power(s, b, mul(s, [e, exp])) for b, e in factors]
            return mul(s, [num(s, _int_power(c, int(ev))), *parts])
        inner = _single_power(s, base)
        if inner is not None:  # (x^(1/2))^(3/2) = x^(3/4): both sides nan for x < 0
            iv = value(s, inner[1])
            if iv is not None and abs(iv.numerator) == 1:
                return power(s, inner[0], num(s, iv * ev))
    if ev is not None and ev.denominator == 1 and kb == FN and s.datas[base][0] == "exp":
        return call(s, "exp", [scale(s, ev, s.datas[base][1][0])])  # exp(u)^n = exp(n*u)
    return s.node(MUL, (ONE, ((base, exp),)))


def div(s: Store, a: int, b: int) -> int:
    return mul(s, [a, power(s, b, num(s, -1))])


# ---- the rules, one per primitive --------------------------------------------------------

def _raw(name: str, args: Iterable[int]) -> tuple[str, tuple[int, ...]]:
    return (name, tuple(args))


def _exp(s: Store, u: int) -> int:
    """exp(0) = 1, exp(log(v)) = v, exp(c*log(v) + w) = v^c * exp(w)."""
    if value(s, u) == 0:
        return num(s, 1)
    const, terms = (0, ((u, ONE),)) if s.kinds[u] != ADD else s.datas[u]
    powers, rest = [], {}
    for t, c in terms:
        if s.kinds[t] == FN and s.datas[t][0] == "log":
            powers.append(power(s, s.datas[t][1][0], num(s, c)))
        elif s.kinds[t] == MUL and value(s, split_coefficient(s, t)[1]) is None \
                and split_coefficient(s, t)[1] != t:
            c2, t2 = split_coefficient(s, t)
            if s.kinds[t2] == FN and s.datas[t2][0] == "log":
                powers.append(power(s, s.datas[t2][1][0], num(s, c * c2)))
            else:
                rest[t] = rest.get(t, 0) + c
        else:
            rest[t] = rest.get(t, 0) + c
    if not powers:
        return s.node(FN, _raw("exp", [u]))
    remainder = make_sum(s, const, rest)
    tail = [] if value(s, remainder) == 0 else [s.node(FN, _raw("exp", [remainder]))]
    return mul(s, powers + tail)


def _log(s: Store, u: int) -> int:
    """log(1) = 0, log(e) = 1, log(exp(v)) = v, log(e^v) = v."""
    if value(s, u) == 1:
        return num(s, 0)
    if s.kinds[u] == SYM and s.datas[u] == "e":
        return num(s, 1)
    if s.kinds[u] == FN and s.datas[u][0] == "exp":
        return s.datas[u][1][0]
    p = _single_power(s, u)
    if p is not None and s.kinds[p[0]] == SYM and s.datas[p[0]] == "e":
        return p[1]
    return s.node(FN, _raw("log", [u]))


def _negative(s: Store, u: int) -> bool:
    """u is written with a leading minus: a negative number, or a negative multiple."""
    if s.kinds[u] == NUM:
        return s.datas[u] < 0
    return s.kinds[u] == MUL and s.datas[u][0] < 0


def _odd(name: str) -> Callable[[Store, int], int]:
    def rule(s: Store, u: int) -> int:
        if value(s, u) == 0:
            return num(s, 0)
        if _negative(s, u):  # f(-u) = -f(u)
            return neg(s, s.node(FN, _raw(name, [neg(s, u)])))
        return s.node(FN, _raw(name, [u]))
    rule.__doc__ = f"{name}(0) = 0, {name}(-u) = -{name}(u)."
    return rule


def _even(name: str) -> Callable[[Store, int], int]:
    def rule(s: Store, u: int) -> int:
        if value(s, u) == 0:
            return num(s, 1)
        if _negative(s, u):  # f(-u) = f(u)
            u = neg(s, u)
        return s.node(FN, _raw(name, [u]))
    rule.__doc__ = f"{name}(0) = 1, {name}(-u) = {name}(u)."
    return rule


def _sqrt(s: Store, u: int) -> int:
    return power(s, u, num(s, Fraction(1, 2)))


def _folding(name: str, fold: Callable[..., Rational]) -> Callable[..., int]:
    """A rule that folds numbers exactly (sign, step, abs, relu, max, min) and keeps the rest."""
    def rule(s: Store, *args: int) -> int:
        vals = [value(s, a) for a in args]
        if all(v is not None for v in vals):
            return num(s, fold(*vals))
        return s.node(FN, _raw(name, args))
    return rule


def _sign(v: Rational) -> int:
    return (v > 0) - (v < 0)


RULES: dict[str, Callable[..., int]] = {
    "add": lambda s, a, b: add(s, [a, b]),
    "sub": sub,
    "mul": lambda s, a, b: mul(s, [a, b]),
    "div": div,
    "pow": power,
    "neg": neg,
    "exp": _exp,
    "log": _log,
    "sqrt": _sqrt,
    "sin": _odd("sin"), "tan": _odd("tan"), "asin": _odd("asin"), "atan": _odd("atan"),
    "sinh": _odd("sinh"), "tanh": _odd("tanh"),
    "cos": _even("cos"), "cosh": _even("cosh"),
    "sign": _folding("sign", _sign),
    "step": _folding("step", lambda v: int(v > 0)),
    "abs": _folding("abs", abs),
    "relu": _folding("relu", lambda v: max(v, 0)),
    "max": _folding("max", max),
    "min": _folding("min", min),
}


def call(s: Store, op: str, args: Iterable[int]) -> int:
    """The primitive ``op`` applied to ``args``, through its rule."""
    args = tuple(args)
    rule = RULES.get(op)
    if rule is not None:
        return rule(s, *args)
    return s.node(FN, _raw(op, args))

"""Rewrites that are not local, tried on a finished result and kept only if they print shorter.

The canonical constructors never expand or combine fractions (that can make an
expression much longer), so a derivative such as ``-1/(x + 1) + (x - 1)/(x + 1)^2``
stays a sum of fractions. Here, while the result is small (:data:`SHORTEN_LIMIT`),
a few standard forms are tried and the one that prints shortest is kept:

* :func:`together`: one fraction over the common denominator, its numerator as
  it is or multiplied out (``-2/(x + 1)^2``);
* :func:`cancel`: common factors of univariate polynomials with rational
  coefficients cancelled between numerator and denominator (``(x^2 - 1)/(x - 1)``
  is ``x + 1``);
* :func:`factor_terms`: a common number and common factors taken out of a sum
  (``(sin(x) + cos(x))*exp(x)``);
* :func:`double_angle` and :func:`pythagoras`: ``sin(u)*cos(u)``, ``sin(u)/cos(u)``,
  ``cos(u)^2 + sin(u)^2`` and ``cos(u)^2 - sin(u)^2`` (and their hyperbolic twins).

Every rewrite is an identity wherever both sides are defined.

>>> from backprop.symbolic.store import Store
>>> from backprop.symbolic.canonical import add, div, mul, num, power, sub, sym
>>> from backprop.symbolic.printer import text
>>> s = Store()
>>> x = sym(s, "x")
>>> text(s, shorten(s, div(s, sub(s, power(s, x, num(s, 2)), num(s, 1)), sub(s, x, num(s, 1)))))
'x + 1'
"""

from __future__ import annotations

from fractions import Fraction
from math import gcd, lcm
from typing import Any, Callable, Iterator, TypeVar

from backprop.core.graph import Graph
from backprop.symbolic import canonical as cf
from backprop.symbolic.store import ADD, FN, MUL, NUM, SYM, Rational, Store, exact

SHORTEN_LIMIT = 600  # printed tree nodes: above it, a result is kept as built (cheap, linear)
_MAX_EXPAND_TERMS = 120
_MAX_DEGREE = 40

Poly = dict[int, Rational]
_R = TypeVar("_R")


def _memo(rewrite: Callable[[Store, int], _R]) -> Callable[[Store, int], _R]:
    """The rewrite remembered per node of the store: nodes are immutable and shared, so a
    rewrite of one node (met again from another candidate, or in the second pass) is made once.
    Its result must not be changed by the caller."""
    name = rewrite.__name__

    def remembered(s: Store, i: int) -> _R:
        key = (name, i)
        memo: dict[tuple[str, int], Any] = s.memo
        if key in memo:
            return memo[key]
        out = memo[key] = rewrite(s, i)
        return out

    remembered.__name__, remembered.__doc__ = name, rewrite.__doc__
    remembered.__wrapped__ = rewrite  # type: ignore[attr-defined]
    return remembered


def _terms(s: Store, i: int) -> list[tuple[Fraction, int]]:
    """The sum ``i`` as (coefficient, term) pairs; the constant is a term ``1``."""
    if s.kinds[i] != ADD:
        return [cf.split_coefficient(s, i)] if s.kinds[i] != NUM else [(s.datas[i], cf.num(s, 1))]
    const, terms = s.datas[i]
    out = [(c, t) for t, c in terms]
    if const != 0:
        out.append((const, cf.num(s, 1)))
    return out


def _factors(s: Store, t: int) -> dict[int, int]:
    """A term (coefficient 1) as base -> exponent."""
    if s.kinds[t] == MUL:
        return dict(s.datas[t][1])
    if s.kinds[t] == NUM:
        return {}
    return {t: cf.num(s, 1)}


def _numeric(s: Store, e: int) -> Fraction | None:
    return s.datas[e] if s.kinds[e] == NUM else None


# ---- multiplying out -----------------------------------------------------------------------

@_memo
def expand(s: Store, i: int) -> int | None:
    """Products of sums (to small integer powers) multiplied out, one level; None if too big
    or if there is nothing to multiply out."""
    pairs = _terms(s, i)
    if not any(s.kinds[b] == ADD and (_numeric(s, e) or 0) >= 1
               for _, t in pairs for b, e in _factors(s, t).items()):
        return None
    out: list[int] = []
    for c, t in pairs:
        parts = [cf.num(s, c)]
        for base, e in _factors(s, t).items():
            ev = _numeric(s, e)
            if s.kinds[base] == ADD and ev is not None and ev.denominator == 1 and 1 <= ev <= 8:
                summands = [cf.mul(s, [cf.num(s, k), u]) for k, u in _terms(s, base)]
                for _ in range(int(ev)):
                    parts = [cf.mul(s, [p, q]) for p in parts for q in summands]
                    if len(parts) > _MAX_EXPAND_TERMS:
                        return None
            else:
                factor = cf.power(s, base, e)
                parts = [cf.mul(s, [p, factor]) for p in parts]
        out += parts
        if len(out) > _MAX_EXPAND_TERMS:
            return None
    return cf.add(s, out)


# ---- taking out common factors ---------------------------------------------------------------

@_memo
def factor_terms(s: Store, i: int) -> int | None:
    """A sum with its common number and common factors taken out, or None if there are none."""
    if s.kinds[i] != ADD:
        return None
    terms = _terms(s, i)
    nums = [c.numerator for c, _ in terms]
    dens = [c.denominator for c, _ in terms]
    d = lcm(*dens)
    g: Fraction | int = gcd(*nums) if d == 1 else Fraction(gcd(*nums), d)
    if all(c < 0 for c, _ in terms):
        g = -g
    common: dict[int, Fraction] = {}
    facs = [_factors(s, t) for _, t in terms]
    for base, e in facs[0].items():
        ev = _numeric(s, e)
        if ev is None:
            continue
        lo = ev
        for f in facs[1:]:
            ov = _numeric(s, f[base]) if base in f else None
            if ov is None or (ov > 0) != (ev > 0):
                lo = None
                break
            lo = min(lo, ov) if ev > 0 else max(lo, ov)
        if lo is not None:
            common[base] = lo
    if g == 1 and not common:
        return None
    out = cf.mul(s, [cf.num(s, g), *(cf.power(s, b, cf.num(s, e)) for b, e in common.items())])
    rest = []
    for (c, _), f in zip(terms, facs):
        parts = [cf.num(s, c // g if type(c) is int and type(g) is int else Fraction(c) / g)]
        for b, e in f.items():
            parts.append(cf.power(s, b, cf.num(s, s.datas[e] - common[b]) if b in common else e))
        rest.append(cf.mul(s, parts))
    return cf.mul(s, [out, cf.add(s, rest)])


# ---- one fraction --------------------------------------------------------------------------

@_memo
def together(s: Store, i: int) -> tuple[int, ...]:
    """The sum ``i`` over its common denominator: numerator as is, and multiplied out."""
    if s.kinds[i] != ADD:
        return ()
    terms = _terms(s, i)
    denominator: dict[int, Fraction] = {}
    for _, t in terms:
        for base, e in _factors(s, t).items():
            ev = _numeric(s, e)
            if ev is not None and ev < 0:
                denominator[base] = max(denominator.get(base, Fraction(0)), -ev)
    if not denominator:
        return ()
    d = cf.mul(s, [cf.power(s, b, cf.num(s, e)) for b, e in denominator.items()])
    numerator = cf.add(s, [cf.mul(s, [cf.num(s, c), t, d]) for c, t in terms])
    inverse = cf.power(s, d, cf.num(s, -1))
    out = [cf.mul(s, [numerator, inverse])]
    expanded = expand(s, numerator)
    if expanded is not None and expanded != numerator:
        out.append(cf.mul(s, [expanded, inverse]))
        identity = pythagoras(s, expanded)
        if identity is not None:
            out.append(cf.mul(s, [identity, inverse]))
    for n in list(out):
        top = _numerator(s, n)
        f = factor_terms(s, top) if top is not None else None
        if f is not None:
            out.append(cf.mul(s, [f, inverse]))
    return tuple(out + [c for n in out for c in [cancel(s, n)] if c is not None])


def _numerator(s: Store, i: int) -> int | None:
    """The sum among the positive-power factors of a product, if there is exactly one."""
    if s.kinds[i] == ADD:
        return i
    if s.kinds[i] != MUL:
        return None
    sums = [b for b, e in s.datas[i][1] if s.kinds[b] == ADD and _numeric(s, e) == 1]
    return sums[0] if len(sums) == 1 else None


# ---- univariate polynomials with rational coefficients ---------------------------------------

@_memo
def as_poly(s: Store, i: int) -> tuple[int | None, Poly] | None:
    """``i`` as a polynomial in one generator (a variable or a call such as ``sin(x)``):
    (the generator's node, the coefficients by degree), or None."""
    var: int | None = None
    p: Poly = {}
    for c, t in _terms(s, i):
        if s.kinds[t] == NUM:
            p[0] = p.get(0, 0) + c * s.datas[t]
            continue
        f = _factors(s, t)
        if len(f) != 1:
            return None
        (base, e), = f.items()
        ev = _numeric(s, e)
        if not (s.kinds[base] == FN or (s.kinds[base] == SYM and s.datas[base] not in ("pi", "e"))) \
                or ev is None or ev.denominator != 1 or not 0 < ev <= _MAX_DEGREE:
            return None
        if var is not None and var != base:
            return None
        var = base
        p[int(ev)] = p.get(int(ev), 0) + c
    return var, {k: exact(v) for k, v in p.items() if v != 0}


def _degree(p: Poly) -> int:
    return max(p) if p else -1


def _over(a: Rational, b: Rational) -> Rational:
    """a/b exactly (ints stay ints where b divides a; never a float)."""
    if type(a) is int and type(b) is int:
        return a // b if a % b == 0 else Fraction(a, b)
    return exact(Fraction(a) / b)


def _divmod(a: Poly, b: Poly) -> tuple[Poly, Poly]:
    a = dict(a)
    q: Poly = {}
    db, lead = _degree(b), b[_degree(b)]
    while a and _degree(a) >= db:
        k = _degree(a) - db
        c = _over(a[_degree(a)], lead)
        q[k] = c
        for j, v in b.items():
            a[j + k] = a.get(j + k, 0) - c * v
            if a[j + k] == 0:
                del a[j + k]
    return q, a


def _gcd(a: Poly, b: Poly) -> Poly:
    while b:
        a, b = b, _divmod(a, b)[1]
    lead = a[_degree(a)]
    return {k: _over(v, lead) for k, v in a.items()}


def _from_poly(s: Store, x: int, p: Poly) -> int:
    return cf.add(s, [cf.mul(s, [cf.num(s, c), cf.power(s, x, cf.num(s, k))]) for k, c in p.items()])


@_memo
def cancel(s: Store, i: int) -> int | None:
    """Common polynomial factors of a quotient cancelled, or None if there are none."""
    changed = False
    for _ in range(8):
        if s.kinds[i] != MUL:
            break
        coef, factors = s.datas[i]
        found = _cancel_pair(s, coef, factors)
        if found is None:
            break
        i, changed = found, True
    return i if changed else None


def _cancel_pair(s: Store, coef: Fraction, factors: tuple[tuple[int, int], ...]) -> int | None:
    polys = []
    for base, e in factors:
        ev = _numeric(s, e)
        if ev is not None and ev.denominator == 1 and s.kinds[base] in (ADD, SYM, FN):
            p = as_poly(s, base)
            if p is not None and p[0] is not None:
                polys.append((base, ev, p[0], p[1]))
    for bp, ep, vp, pp in polys:
        if ep < 0:
            continue
        for bq, eq, vq, pq in polys:
            if eq > 0 or vq != vp:
                continue
            g = _gcd(pp, pq)
            if _degree(g) < 1:
                continue
            p1, q1 = _divmod(pp, g)[0], _divmod(pq, g)[0]
            # the common factor written as the numerator or denominator it is a multiple of:
            # (8 - 8*x)/(1 - x)^6 is 8/(1 - x)^5, not -8/(x - 1)^5 next to other powers of 1 - x
            if _degree(q1) == 0:
                g, p1, q1 = pq, {k: _over(v, q1[0]) for k, v in p1.items()}, {0: 1}
            elif _degree(p1) == 0:
                g, q1, p1 = pp, {k: _over(v, p1[0]) for k, v in q1.items()}, {0: 1}
            rest = [cf.power(s, b, e) for b, e in factors if b not in (bp, bq)]
            return cf.mul(s, [cf.num(s, coef), *rest,
                              cf.power(s, _from_poly(s, vp, p1), cf.num(s, ep)),
                              cf.power(s, _from_poly(s, vp, q1), cf.num(s, eq)),
                              cf.power(s, _from_poly(s, vp, g), cf.num(s, ep + eq))])
    return None


# ---- a few trigonometric identities ---------------------------------------------------------

_PAIRS = {"sin": ("sin", "cos"), "cos": ("sin", "cos"), "sinh": ("sinh", "cosh"),
          "cosh": ("sinh", "cosh")}


def _function_of(s: Store, b: int) -> tuple[str, int] | None:
    if s.kinds[b] == FN and s.datas[b][0] in _PAIRS:
        return s.datas[b][0], s.datas[b][1][0]
    return None


@_memo
def double_angle(s: Store, i: int) -> int | None:
    """sin(u)*cos(u) = sin(2*u)/2, sinh(u)*cosh(u) = sinh(2*u)/2, sin(u)/cos(u) = tan(u)."""
    if s.kinds[i] != MUL:
        return None
    coef, factors = s.datas[i]
    f = dict(factors)
    for b, e in factors:
        fa = _function_of(s, b)
        if fa is None or fa[0] not in ("sin", "sinh"):
            continue
        name, u = fa
        other = cf.call(s, _PAIRS[name][1], [u])
        if other not in f:
            continue
        ev, ov = _numeric(s, e), _numeric(s, f[other])
        rest = [cf.power(s, bb, ee) for bb, ee in factors if bb not in (b, other)]
        if ev == 1 and ov == 1:
            twice = cf.call(s, name, [cf.scale(s, Fraction(2), u)])
            return cf.mul(s, [cf.num(s, Fraction(coef) / 2), twice, *rest])
        if name == "sin" and ev is not None and ov is not None and ev == -ov:
            return cf.mul(s, [cf.num(s, coef), cf.power(s, cf.call(s, "tan", [u]), e), *rest])
    return None


@_memo
def pythagoras(s: Store, i: int) -> int | None:
    """c*(cos(u)^2 + sin(u)^2) = c, c*(cos(u)^2 - sin(u)^2) = c*cos(2*u), and for cosh, sinh."""
    if s.kinds[i] != ADD:
        return None
    terms = _terms(s, i)
    seen: dict[tuple, tuple[int, str, Fraction]] = {}
    for k, (c, t) in enumerate(terms):
        f = _factors(s, t)
        for b, e in f.items():
            fa = _function_of(s, b)
            if fa is None or _numeric(s, e) != 2:
                continue
            name, u = fa
            rest = tuple(sorted((bb, ee) for bb, ee in f.items() if bb != b))
            key = (_PAIRS[name], u, rest)
            if key not in seen:
                seen[key] = (k, name, c)
                continue
            k0, name0, c0 = seen[key]
            if name0 == name:
                continue
            cos_c, sin_c = (c0, c) if name0 in ("cos", "cosh") else (c, c0)
            hyperbolic = name in ("sinh", "cosh")
            r = [cf.power(s, bb, ee) for bb, ee in rest]
            if cos_c == (-sin_c if hyperbolic else sin_c):  # the pair is cos_c * 1
                merged = cf.mul(s, [cf.num(s, cos_c), *r])
            elif cos_c == (sin_c if hyperbolic else -sin_c):  # the pair is cos_c * cos(2u)
                twice = cf.call(s, "cosh" if hyperbolic else "cos", [cf.scale(s, Fraction(2), u)])
                merged = cf.mul(s, [cf.num(s, cos_c), twice, *r])
            else:
                continue
            others = [cf.mul(s, [cf.num(s, cc), tt]) for j, (cc, tt) in enumerate(terms) if j not in (k, k0)]
            return cf.add(s, [merged, *others])
    return None


@_memo
def _expand_denominator(s: Store, i: int) -> int | None:
    """A denominator that is a product of several sums, multiplied out: 1/((x + 1)*(x - 1))
    is 1/(x^2 - 1)."""
    if s.kinds[i] != MUL:
        return None
    coef, factors = s.datas[i]
    below = [(b, e) for b, e in factors if s.kinds[b] == ADD and (_numeric(s, e) or 0) < 0]
    if len(below) < 2 or any(_numeric(s, e).denominator != 1 for _, e in below):
        return None
    d = expand(s, cf.mul(s, [cf.power(s, b, cf.num(s, -_numeric(s, e))) for b, e in below]))
    if d is None:
        return None
    rest = [cf.power(s, b, e) for b, e in factors if (b, e) not in below]
    return cf.mul(s, [cf.num(s, coef), *rest, cf.power(s, d, cf.num(s, -1))])


@_memo
def _together_factors(s: Store, i: int) -> int | None:
    """A product with each sum among its factors put over its common denominator."""
    if s.kinds[i] != MUL:
        return None
    coef, factors = s.datas[i]
    changed, parts = False, [cf.num(s, coef)]
    for b, e in factors:
        if s.kinds[b] == ADD:
            forms = together(s, b)
            if forms:
                b, changed = forms[0], True
        parts.append(cf.power(s, b, e))
    return cf.mul(s, parts) if changed else None


# ---- choosing ---------------------------------------------------------------------------------

def candidates(s: Store, i: int) -> Iterator[int]:
    """Other forms of ``i``, equal to it wherever both are defined."""
    if s.kinds[i] == ADD:
        yield from together(s, i)
        rewrites: tuple = (factor_terms, expand, pythagoras)
    elif s.kinds[i] == MUL:
        bases = [s.kinds[b] == ADD or (s.kinds[b] == FN and s.datas[b][0] in ("sin", "sinh"))
                 for b, _ in s.datas[i][1]]
        if not any(bases):  # nothing to cancel, multiply out or combine
            return
        rewrites = (cancel, expand, double_angle, _together_factors, _expand_denominator)
    else:
        return
    for rewrite in rewrites:
        c = rewrite(s, i)
        if c is not None:
            yield c
            if rewrite is _together_factors:
                c2 = cancel(s, c)
                if c2 is not None:
                    yield c2


def shorten(s: Store, root: int) -> int:
    """The shortest printed among ``root``'s forms, when ``root`` is small; else ``root``.

    Tried on every sum and product of the result, bottom-up (each node's
    arguments are shortened first), so that a quotient inside a function or a
    power is simplified as well.
    """
    return Shortener(s)(root)


class Shortener:
    """:func:`shorten` with memory: nodes met again (the next order's derivative is made
    of the last one's parts) are not tried again."""

    def __init__(self, s: Store) -> None:
        from backprop.symbolic.printer import TextLengths

        self.s = s
        self.best: dict[int, int] = {}
        self.text_length = TextLengths(s)

    def lowered(self, root: int) -> tuple[Graph, int]:
        """The node as a graph of primitives, as :func:`~backprop.symbolic.printer.lower` makes
        it, reusing what was lowered to compare the lengths of the forms."""
        return self.text_length.lowered(root)

    def __call__(self, root: int) -> int:
        for _ in range(2):  # a second pass shortens the parts the first one made
            if self.s.size(root) > SHORTEN_LIMIT:
                return root
            new = self._once(root)
            if new == root:
                break
            root = new
        return root

    def _once(self, root: int) -> int:
        from backprop.symbolic.printer import reachable

        s, best, text_length = self.s, self.best, self.text_length
        for i in reachable(s, root):
            if i in best:
                continue
            j = _rebuilt(s, i, best)
            if s.kinds[j] in (ADD, MUL):
                forms = [c for c in dict.fromkeys(candidates(s, j)) if c != j]
                if forms:  # measured only when there is something to compare with
                    length = text_length(j)
                    for c in forms:
                        n = text_length(c)
                        if n < length:
                            j, length = c, n
            best[i] = j
        return best[root]


def _rebuilt(s: Store, i: int, best: dict[int, int]) -> int:
    """``i`` with its arguments replaced by their shortened forms."""
    from backprop.symbolic.printer import children

    if all(best[j] == j for j in children(s, i)):
        return i  # nothing under it changed
    k = s.kinds[i]
    if k == ADD:
        const, terms = s.datas[i]
        return cf.add(s, [cf.num(s, const), *(cf.mul(s, [cf.num(s, c), best[t]]) for t, c in terms)])
    if k == MUL:
        coef, factors = s.datas[i]
        return cf.mul(s, [cf.num(s, coef), *(cf.power(s, best[b], best[e]) for b, e in factors)])
    if k == FN:
        name, args = s.datas[i]
        return cf.call(s, name, [best[a] for a in args])
    return i

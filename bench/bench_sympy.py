"""Benchmark: `backprop diff` against SymPy's simplify(diff(...)), size and time.

A fixed set of textbook derivatives (one and two variables, orders 1 to 4).
For each, the printed length of our derivative over the printed length of
SymPy's ``simplify(diff(...))`` written in this language's syntax (``**`` as
``^``, ``E`` as ``e``); the median, 90th percentile and worst ratio; and the
total time of both over the set (ours: parse, differentiate, simplify, print;
SymPy's: diff and simplify of the already parsed expression), medians of
``--repeats`` runs. Each of our results is also checked against SymPy's value
at two points, so a short but wrong answer cannot pass.

    python bench/bench_sympy.py [--repeats 3] [--show] [--set main|other]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import sympy as sp
from sympy.parsing.sympy_parser import convert_xor, parse_expr, standard_transformations

from backprop.symbolic import diff_text

# (expression, variable, order)
CASES: list[tuple[str, str, int]] = [
    # one variable, first derivatives
    ("x^2*sin(x)", "x", 1), ("1/x", "x", 1), ("x/x", "x", 1), ("log2(x)", "x", 1),
    ("log10(x)", "x", 1), ("(x^2-1)/(x-1)", "x", 1), ("exp(2*log(x))", "x", 1),
    ("(1-x)/(1+x)", "x", 1), ("x*exp(x)", "x", 1), ("exp(x)/x", "x", 1), ("sin(x)/x", "x", 1),
    ("x*log(x)", "x", 1), ("log(x)/x", "x", 1), ("sqrt(x)", "x", 1), ("sqrt(1-x^2)", "x", 1),
    ("1/sqrt(x)", "x", 1), ("x^3 - 3*x^2 + 2", "x", 1), ("(x^2+1)^3", "x", 1),
    ("(2*x+1)^5", "x", 1), ("sin(x)^2", "x", 1), ("cos(x)^3", "x", 1), ("tan(x)", "x", 1),
    ("atan(x)", "x", 1), ("asin(x)", "x", 1), ("sin(2*x)*cos(3*x)", "x", 1), ("exp(-x^2)", "x", 1),
    ("x^x", "x", 1), ("x^2*exp(-x)", "x", 1), ("log(x^2+1)", "x", 1), ("sin(x)*cos(x)", "x", 1),
    ("tanh(x)", "x", 1), ("sinh(x)*cosh(x)", "x", 1), ("1/(1+exp(-x))", "x", 1),
    ("x/(x^2+1)", "x", 1), ("(x+1)/(x-1)", "x", 1), ("log(sin(x))", "x", 1),
    ("exp(sin(x))", "x", 1), ("sin(exp(x))", "x", 1), ("sqrt(x^2+1)", "x", 1),
    ("x*sqrt(x)", "x", 1), ("2^x", "x", 1), ("log(log(x))", "x", 1), ("atan(1/x)", "x", 1),
    ("pi*x^2", "x", 1), ("exp(x)*(x^2 - 2*x + 2)", "x", 1),
    # one variable, higher orders
    ("1/x", "x", 4), ("x^5 - 2*x^2", "x", 4), ("sin(x)*exp(x)", "x", 3), ("x^3*exp(x)", "x", 2),
    ("tanh(x)", "x", 2), ("atan(x)", "x", 2), ("x*log(x)", "x", 3), ("exp(-x^2)", "x", 2),
    ("1/(1+x^2)", "x", 2), ("sqrt(x)", "x", 3), ("log(x)", "x", 4), ("x^2*log(x)", "x", 3),
    ("sin(x)/x", "x", 2), ("x/(x+1)", "x", 3), ("(x-1)/(x+1)", "x", 2), ("exp(x)*cos(x)", "x", 4),
    ("tan(x)", "x", 2), ("x^4*sin(x)", "x", 2), ("cos(x)^2", "x", 2), ("1/(x^2-1)", "x", 2),
    ("x*exp(-x)", "x", 4), ("log(1+x)", "x", 3),
    # two variables
    ("log(x*y)", "x", 1), ("x^2*y + sin(y)", "y", 1), ("x*y*exp(x*y)", "x", 1),
    ("sin(x*y)", "y", 2), ("x^2*y^3", "x", 2), ("exp(x+y)*sin(x)", "x", 1), ("x/(x+y)", "y", 1),
    ("sqrt(x^2+y^2)", "x", 1), ("atan(y/x)", "x", 1), ("log(x^2+y^2)", "x", 2), ("x^y", "y", 1),
    ("(x+y)^3", "x", 2), ("x*y/(x+y)", "x", 1), ("exp(-x^2-y^2)", "x", 2),
    ("cos(x)*sin(y)", "x", 3), ("x^2/y", "y", 2), ("y*log(x)", "x", 3), ("sin(x+y)^2", "x", 1),
]

# a second set of the same kind, written after the simplifier was tuned on the first
OTHER_CASES: list[tuple[str, str, int]] = [
    ("x^3*log(x)", "x", 1), ("exp(x)*sin(2*x)", "x", 2), ("1/(x^2+4)", "x", 1),
    ("x/sqrt(x^2+1)", "x", 1), ("log((x+1)/(x-1))", "x", 1), ("(x^2+x+1)/(x+1)", "x", 1),
    ("cos(x)/(1+sin(x))", "x", 1), ("x^2*atan(x)", "x", 1), ("exp(x^2)", "x", 3),
    ("sin(x)^3", "x", 1), ("x^5*exp(-2*x)", "x", 2), ("sqrt(x)*log(x)", "x", 2),
    ("1/(1-x)^2", "x", 3), ("tanh(2*x)", "x", 1), ("asin(2*x)", "x", 1), ("atan(x^2)", "x", 1),
    ("x*cos(x)", "x", 4), ("log(cos(x))", "x", 1), ("exp(-x)*x^2", "x", 3), ("(3*x-1)^4", "x", 2),
    ("x^2*y^2 + x*y", "y", 2), ("exp(x*y)", "y", 3), ("y/x", "x", 3), ("log(x+y)", "x", 2),
    ("sin(x)*cos(y)", "y", 2), ("(x-y)/(x+y)", "x", 1), ("x*exp(-y)", "y", 4),
    ("sqrt(x*y)", "x", 1), ("x^3*y - y^3*x", "x", 2), ("atan(x*y)", "x", 1),
]

X, Y = sp.symbols("x y")
LOCALS = {"x": X, "y": Y, "e": sp.E, "pi": sp.pi,
          "log2": sp.Lambda(X, sp.log(X) / sp.log(2)), "log10": sp.Lambda(X, sp.log(X) / sp.log(10))}


def to_sympy(text: str) -> sp.Expr:
    return parse_expr(text, local_dict=dict(LOCALS),
                      transformations=standard_transformations + (convert_xor,))


def sympy_text(expr: sp.Expr) -> str:
    """SymPy's printed form in this language's syntax."""
    return sp.sstr(expr).replace("**", "^").replace("E", "e")


def sympy_derivative(expr: sp.Expr, wrt: str, order: int) -> sp.Expr:
    return sp.simplify(sp.diff(expr, sp.Symbol(wrt), order))


def percentile(values: list[float], q: float) -> float:
    v = sorted(values)
    k = (len(v) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def agrees(ours: str, theirs: sp.Expr) -> bool:
    mine = to_sympy(ours)
    for px, py in ((0.37, 0.61), (1.3, 0.45)):
        a = complex(mine.evalf(30, subs={X: px, Y: py}))
        b = complex(theirs.evalf(30, subs={X: px, Y: py}))
        if abs(a - b) > 1e-9 * max(1.0, abs(b)):
            return False
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--show", action="store_true", help="print every case")
    ap.add_argument("--set", choices=["main", "other"], default="main",
                    help="the set of expressions (other: a second set of the same kind)")
    a = ap.parse_args()
    cases = CASES if a.set == "main" else OTHER_CASES

    parsed = [to_sympy(t) for t, _, _ in cases]
    ours_times, theirs_times = [], []
    ours_cpu, theirs_cpu = [], []  # CPU time too: on a shared machine, less of the others' load
    for _ in range(a.repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        ours = [diff_text(t, v, n) for t, v, n in cases]
        ours_times.append(time.perf_counter() - t0)
        ours_cpu.append(time.process_time() - c0)
        t0, c0 = time.perf_counter(), time.process_time()
        theirs = [sympy_derivative(p, v, n) for p, (_, v, n) in zip(parsed, cases)]
        theirs_times.append(time.perf_counter() - t0)
        theirs_cpu.append(time.process_time() - c0)

    ratios, wrong = [], []
    for (t, v, n), o, th in zip(cases, ours, theirs):
        st = sympy_text(th)
        r = len(o) / len(st)
        ratios.append(r)
        if not agrees(o, th):
            wrong.append((t, v, n, o, st))
        if a.show:
            print(f"{r:5.2f}  d^{n}/d{v}^{n} {t}:  {o}   |   {st}")
    t_ours, t_theirs = statistics.median(ours_times), statistics.median(theirs_times)
    print(f"{len(cases)} derivatives ({sum(n > 1 for _, _, n in cases)} of order 2-4, "
          f"{sum('y' in t for t, _, _ in cases)} of two variables)")
    print(f"printed length, ours / SymPy's simplify(diff(...)): median {statistics.median(ratios):.2f}, "
          f"90th percentile {percentile(ratios, 0.9):.2f}, worst {max(ratios):.2f} "
          f"(targets 1.0, 1.3, 2)")
    print(f"shorter than SymPy's: {sum(r < 1 for r in ratios)}, same length: "
          f"{sum(r == 1 for r in ratios)}, longer: {sum(r > 1 for r in ratios)}")
    print(f"time for the set (median of {a.repeats}): backprop {t_ours * 1e3:.1f} ms, SymPy diff + "
          f"simplify {t_theirs * 1e3:.0f} ms: {t_theirs / t_ours:.0f}x faster (target 20x)")
    c_ours, c_theirs = statistics.median(ours_cpu), statistics.median(theirs_cpu)
    print(f"CPU time for the set (median of {a.repeats}): backprop {c_ours * 1e3:.1f} ms, SymPy "
          f"{c_theirs * 1e3:.0f} ms: {c_theirs / c_ours:.0f}x")
    if wrong:
        print(f"DISAGREE with SymPy's value: {len(wrong)}")
        for w in wrong:
            print("  ", w)
        raise SystemExit(1)


if __name__ == "__main__":
    main()

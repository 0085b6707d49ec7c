"""The table of primitive modules: each one declared once, here.

Every primitive is an elementwise function of one or two arguments, so its
Jacobian is diagonal and is never built: the table stores the diagonal, the
*local derivative* of the output with respect to each argument. A row declares

* its forward once per arithmetic: numpy's (arrays, and the default), the math
  module's (one point of Python floats, ``core/scalar.py``: parsing and one point
  need no numpy), and a complex one where numpy's is not complex-safe (the
  complex step, f'(x) ~ Im f(x + ih)/h);
* its local derivative with respect to each argument **once**, as a *rule*
  written in the table's own primitives (as JAX's JVP rules and tinygrad's
  gradient patterns are): ``lambda B: lambda f, x: B.cos(x)`` for sin, where
  ``f`` is the module's output, ``x`` (and ``y``) its arguments and ``B`` an
  arithmetic whose attributes are the table's forwards. A constant derivative
  (add's 1, neg's -1, sign's 0) is written as the number.

From the rule come every local derivative the program uses: numpy's partial
(``partials``: the backward and tangent passes over arrays), the math module's
(``float_partials``: the passes at one point), and the same derivative as text in
the expression language (``derivative``: read by the symbolic differentiator,
the gradient graph of the Hessian, ``diff`` and ``--trace``), traced by running
the rule on symbols. Reverse mode multiplies the upstream gradient by a partial,
forward mode the incoming tangent. Adding a primitive is one ``_add(...)`` call
below (plus its row in tests/test_reference_table.py).

The rule at the edges (README, "The expression language"): a nan value has nan
partials. Where a rule gives a number outside the function's domain (1/x for log
at x < 0), the row says ``nan_outside`` and the passes add 0 * sign(value).

The complex forward of a module is its analytic continuation from the real
line, and it must agree with ``forward`` on the real part. Where the real
function is not analytic the complex one says so: outside the real domain or
at a pole or branch point (log 0, sqrt of a negative, 1/0) it gives nan when
its argument carries an imaginary part, so the complex step never returns a
finite number where the derivative does not exist. The six modules with a kink
(abs, relu, sign, step at 0; max, min at a tie) are analytic on each side of
it: their complex forward follows the side the real part is on (Martins,
Sturdza and Alonso 2003), and ``kink(*args)`` marks the arguments that sit
on the kink with a non-zero imaginary part, where no one-sided rule is right.

A local derivative is called as ``partial(ans, *args)``: ``ans`` is the cached
output of the forward pass, ``args`` the cached inputs; it returns an array or
a Python float (the float ``1.0`` lets the engine skip a multiplication).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Union

from backprop import vector_math
from backprop.lazy import numpy_on_first_use

if TYPE_CHECKING:
    import numpy as np
else:
    np = numpy_on_first_use(globals())  # parsing and printing read the table without numpy

Value = Union[float, "np.ndarray"]
Partial = Callable[..., Value]
# A local derivative, written once: a number, or ``lambda B: lambda f, x[, y]: ...`` in
# the primitives of the arithmetic B (see the module docstring).
Rule = Union[float, Callable[[Any], Partial]]


def _one(ans: Value, *args: Value) -> float:
    return 1.0


def _minus_one(ans: Value, *args: Value) -> float:
    return -1.0


def _zero(ans: Value, *args: Value) -> float:
    return 0.0


_CONSTANT_PARTIALS = {1.0: _one, -1.0: _minus_one, 0.0: _zero}


class _Arithmetic:
    """The table's forwards on one kind of number, as attributes: ``B.cos(x)``.

    Looked up at a rule's first call (not when the table is built: numpy is imported
    only when an array pass first runs), then kept as a plain attribute."""

    def __init__(self, pick: Callable[[Primitive], Callable[..., Any]]) -> None:
        self._pick = pick

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_"):
            raise AttributeError(name)
        fn = self._pick(PRIMITIVES[name])
        setattr(self, name, fn)
        return fn


class _Symbol:
    """A rule's argument when the rule is traced into text: Python's operators and the
    arithmetic's functions build the expression, with the fewest parentheses that
    parse back to it."""

    def __init__(self, text: str, precedence: int = 100) -> None:
        self.text, self.precedence = text, precedence

    @staticmethod
    def of(v: Any) -> _Symbol:
        if isinstance(v, _Symbol):
            return v
        t = repr(float(v))
        t = t[:-2] if t.endswith(".0") else t
        return _Symbol(t, NEG if t.startswith("-") else 100)

    def _binary(self, other: Any, symbol: str, prec: int, swap: bool = False) -> _Symbol:
        a, b = (_Symbol.of(other), self) if swap else (self, _Symbol.of(other))
        # left-associative: an equal-precedence left operand stands bare (not a power's base),
        # a right one is wrapped, so the text computes in the rule's own order
        left = a.text if a.precedence > prec or (a.precedence == prec and symbol != "^") \
            else f"({a.text})"
        right = b.text if b.precedence > prec else f"({b.text})"
        return _Symbol(f"{left}{symbol}{right}", prec)

    def __add__(self, o: Any) -> _Symbol: return self._binary(o, "+", ADD)
    def __radd__(self, o: Any) -> _Symbol: return self._binary(o, "+", ADD, True)
    def __sub__(self, o: Any) -> _Symbol: return self._binary(o, "-", ADD)
    def __rsub__(self, o: Any) -> _Symbol: return self._binary(o, "-", ADD, True)
    def __mul__(self, o: Any) -> _Symbol: return self._binary(o, "*", MUL)
    def __rmul__(self, o: Any) -> _Symbol: return self._binary(o, "*", MUL, True)
    def __truediv__(self, o: Any) -> _Symbol: return self._binary(o, "/", MUL)
    def __rtruediv__(self, o: Any) -> _Symbol: return self._binary(o, "/", MUL, True)

    def __neg__(self) -> _Symbol:
        return _Symbol("-" + (self.text if self.precedence > NEG else f"({self.text})"), NEG)


class _Text:
    """The arithmetic of symbols: ``B.cos(x)`` is the text cos(x); ``B.pow`` is ^."""

    def __getattr__(self, name: str) -> Callable[..., _Symbol]:
        if name == "pow":
            return lambda a, b: _Symbol.of(a)._binary(b, "^", POW)
        return lambda *a: _Symbol(f"{name}({','.join(_Symbol.of(v).text for v in a)})")


NUMPY = _Arithmetic(lambda p: p.forward)
MATH = _Arithmetic(lambda p: p.float_forward)
_TEXT = _Text()


@dataclass(frozen=True)
class Primitive:
    name: str  # the name in the language (function) or the node's name (operator)
    arity: int
    numpy_forward: Callable[..., Value] | str  # a function, or the name of numpy's ufunc
    rules: tuple[Rule, ...]  # the local derivative w.r.t. each argument, written once
    symbol: str | None = None  # infix or prefix symbol; None: printed as name(args)
    precedence: int = 100  # binding strength when printed; atoms and calls are 100
    right_assoc: bool = False
    angle_in: bool = False  # takes an angle (sin, cos, tan): scaled under --angle deg
    angle_out: bool = False  # returns an angle (asin, acos, atan)
    # One point of Python floats: the math module's forward (a function, or the name of
    # one in math); None: ``numpy_forward`` is plain Python arithmetic already. Where math
    # raises (log 0, exp 1000, 1/0) the caller falls back to numpy, whose IEEE results
    # (inf, nan) and warnings the commands report.
    math_forward: Callable[..., float] | str | None = None
    # Complex step: the forward for complex arguments when ``forward`` is not complex-safe
    # (None: ``forward`` is numpy's complex ufunc itself); ``analytic=False`` for a kink,
    # with ``kink(*args)`` True where an argument sits on it with an imaginary part.
    complex_forward: Callable[..., Value] | None = None
    analytic: bool = True
    kink: Callable[..., Value] | None = None
    # The rule gives a number where the function is nan (1/x for log at x < 0): the
    # passes add 0 * sign(value) to it, nan exactly where the value is nan.
    nan_outside: bool = False
    # The forward and the local derivative from one computation, for passes that will need
    # both (the forward then the backward pass over arrays); None: computed apart.
    forward_and_partial: Callable[[Value], tuple[Value, Value]] | None = None
    _derived: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def forward(self) -> Callable[..., Value]:
        """The forward on floats and arrays (numpy's ufunc, looked up at first use)."""
        fn = self.numpy_forward
        if isinstance(fn, str):
            fn = getattr(np, fn)
            object.__setattr__(self, "numpy_forward", fn)
        return fn

    @property
    def float_forward(self) -> Callable[..., float]:
        """The forward on Python floats (the math module)."""
        fn = self.math_forward
        if fn is None:
            return self.numpy_forward  # type: ignore[return-value]
        if isinstance(fn, str):
            fn = getattr(math, fn)
            object.__setattr__(self, "math_forward", fn)
        return fn

    def forward_complex(self) -> Callable[..., Value]:
        """The forward pass to run on complex arguments (the complex step)."""
        return self.complex_forward if self.complex_forward is not None else self.forward

    def _bound(self, arithmetic: _Arithmetic, mask: bool) -> tuple[Partial, ...]:
        out = []
        for rule in self.rules:
            if not callable(rule):
                out.append(_CONSTANT_PARTIALS[float(rule)])
                continue
            partial = rule(arithmetic)
            if mask and self.nan_outside:
                partial = _masked(partial)
            out.append(partial)
        return tuple(out)

    @property
    def partials(self) -> tuple[Partial, ...]:
        """numpy's local derivative w.r.t. each argument, from the rules."""
        found = self._derived.get("numpy")
        if found is None:
            found = self._derived["numpy"] = self._bound(NUMPY, True)
        return found

    @property
    def float_partials(self) -> tuple[Partial, ...]:
        """The math module's local derivatives (math raises outside a domain: no mask)."""
        found = self._derived.get("math")
        if found is None:
            found = self._derived["math"] = self._bound(MATH, False)
        return found

    @property
    def scalar(self) -> tuple[Callable[..., float], ...]:
        """The forward and the local derivatives on Python floats."""
        return (self.float_forward, *self.float_partials)

    @property
    def derivative(self) -> tuple[str, ...]:
        """The local derivatives as text in the language, in x (and y): the rules traced."""
        found = self._derived.get("text")
        if found is None:
            args = [_Symbol("x"), _Symbol("y")][:self.arity]
            f = (_Symbol(f"{self.name}({','.join(a.text for a in args)})")
                 if self.symbol is None else self._operator_text(args))
            found = tuple(_Symbol.of(rule).text if not callable(rule)
                          else _Symbol.of(rule(_TEXT)(f, *args)).text for rule in self.rules)
            self._derived["text"] = found
        return found

    def _operator_text(self, args: list[_Symbol]) -> _Symbol:
        if self.arity == 1:
            return -args[0]
        if self.name == "pow":
            return _TEXT.pow(*args)
        return args[0]._binary(args[1], self.symbol or "", self.precedence)


def _masked(partial: Partial) -> Partial:
    def masked(ans: Value, *args: Value) -> Value:
        return partial(ans, *args) + 0.0 * np.sign(ans)  # 0 for any number, inf included

    return masked


PRIMITIVES: dict[str, Primitive] = {}
FUNCTIONS: dict[str, Primitive] = {}  # callable by name in the language

# Operator precedences, shared by the printer and the grammar's layering.
ADD, MUL, NEG, POW = 10, 20, 30, 40


def _add(p: Primitive, callable_by_name: bool = True) -> None:
    assert p.analytic == (p.kink is None), f"{p.name}: a non-analytic module declares its kink"
    assert len(p.rules) == p.arity, f"{p.name}: one rule per argument"
    PRIMITIVES[p.name] = p
    if callable_by_name and p.symbol is None:
        FUNCTIONS[p.name] = p


# ---- numpy forwards that are not one ufunc ---------------------------------------------

def _sigmoid(x: Value) -> Value:
    # exp(-log(1 + exp(-x))): no overflow at either end, and (unlike 0.5 + 0.5*tanh(x/2),
    # which cancels to 0 below x = -37) full relative precision in the far-negative tail.
    return np.exp(-np.logaddexp(0.0, -x))


def _step(x: Value) -> Value:
    return np.heaviside(x, 0.0)  # 1 above 0, 0 at and below it, nan at nan


_LN2, _LN10 = math.log(2.0), math.log(10.0)
_NAN_C = complex(math.nan, math.nan)


# ---- complex forwards (the complex step) --------------------------------------------
# Each is the analytic continuation of the real forward; see the module docstring.


def _guarded(name: str, analytic_at: Callable[..., Value]) -> Callable[..., Value]:
    """numpy's ufunc ``name`` where ``analytic_at(real part)`` holds; elsewhere nan if the
    argument is perturbed (no derivative there), and the real function of the real part
    if it is not."""

    def forward(z: Value) -> Value:
        fn = real_fn = getattr(np, name)
        out = fn(z)
        bad = ~analytic_at(np.real(z))
        if not np.any(bad):
            return out
        re = np.real(z)
        return np.where(bad, np.where(np.imag(z) == 0, real_fn(re) + 0j, _NAN_C), out)

    return forward


def _pow_complex(x: Value, y: Value) -> Value:
    # numpy's complex power is exp(y log x) (exact repeated products only for integers up
    # to 100): for a negative base that puts the angle near pi and ruins the imaginary
    # part. A whole exponent n is applied to -x instead: x^n = (-1)^n (-x)^n.
    x = np.asarray(x, dtype=complex)
    re_x, re_y, im_y = np.real(x), np.real(y), np.imag(y)
    whole = (im_y == 0) & (re_y == np.round(re_y)) & np.isfinite(re_y)
    odd = whole & (np.fmod(re_y, 2.0) != 0)
    flip = whole & (re_x < 0)
    base = np.where(flip, -x, x)
    out = np.power(base, y)
    out = np.where(flip & odd, -out, out)
    # analytic where the base is positive, or for a whole exponent on any base but
    # 0^(negative), a pole; at base 0 with y > 1 not analytic but differentiable (the
    # derivative 0 comes out as it should); elsewhere nan if perturbed, else the real power
    perturbed = (np.imag(x) != 0) | (im_y != 0)
    ok = (re_x > 0) | (whole & ((re_x != 0) | (re_y >= 0))) | ((re_x == 0) & (re_y > 1))
    if np.all(ok):
        return out
    real = np.power(re_x, re_y) + 0j
    return np.where(ok, out, np.where(perturbed, _NAN_C, real))


def _div_complex(x: Value, y: Value) -> Value:
    # a pole at y = 0: numpy's division by a tiny imaginary number is finite, and wrong
    with np.errstate(all="ignore"):
        out = x / y
    pole = (np.real(y) == 0) & (np.imag(y) != 0)
    return np.where(pole, _NAN_C, out) if np.any(pole) else out


def _sigmoid_complex(z: Value) -> Value:
    # 1/(1 + exp(-z)) or exp(z)/(1 + exp(z)), whichever keeps exp's real part <= 0
    right = np.real(z) >= 0
    e = np.exp(np.where(right, -z, z))
    return np.where(right, 1.0 / (1.0 + e), e / (1.0 + e))


def _softplus_complex(z: Value) -> Value:
    # log(1 + exp(z)) = max(z, 0) + log1p(exp(-|z|)), with |.| on the real part
    right = np.real(z) > 0
    return np.where(right, z, 0.0) + np.log1p(np.exp(np.where(right, -z, z)))


def _atan2_complex(y: Value, x: Value) -> Value:
    # np.arctan2 takes no complex numbers. The complex step perturbs by ih with h tiny, so
    # the first-order continuation is exact to the last bit: the real angle, plus i times
    # the directional derivative (x dy - y dx)/(x^2 + y^2) along the imaginary parts,
    # scaled by hypot(x, y) so that x^2 + y^2 neither overflows nor underflows.
    yr, yi, xr, xi = np.real(y), np.imag(y), np.real(x), np.imag(x)
    with np.errstate(all="ignore"):
        r = np.hypot(xr, yr)
        return np.arctan2(yr, xr) + 1j * (((xr / r) * yi - (yr / r) * xi) / r)


def _hypot_complex(x: Value, y: Value) -> Value:
    # as atan2: the real hypot plus i times its directional derivative (x dx + y dy)/hypot
    xr, xi, yr, yi = np.real(x), np.imag(x), np.real(y), np.imag(y)
    with np.errstate(all="ignore"):
        r = np.hypot(xr, yr)
        return r + 1j * ((xr / r) * xi + (yr / r) * yi)


def _cbrt_complex(z: Value) -> Value:
    # np.cbrt takes no complex numbers: the real cube root plus i times its derivative
    # along the (tiny) imaginary part, as atan2's; no derivative at 0 if perturbed
    re, im = np.real(z), np.imag(z)
    with np.errstate(all="ignore"):
        r = np.cbrt(re)
        out = r + 1j * (im / (3.0 * r * r))
    pole = (re == 0) & (im != 0)
    return np.where(pole, _NAN_C, out) if np.any(pole) else out


def _abs_complex(z: Value) -> Value:
    return np.where(np.real(z) < 0, -z, z)  # np.abs would be the modulus: derivative 0


def _sign_complex(z: Value) -> Value:
    return np.sign(np.real(z)) + 0j  # np.sign of a complex number is z/|z|


def _at_zero(z: Value) -> Value:
    return (np.real(z) == 0) & (np.imag(z) != 0)


def _at_tie(x: Value, y: Value) -> Value:
    return (np.real(x) == np.real(y)) & (np.imag(x) != np.imag(y))


def _positive(re: Value) -> Value:
    return re > 0


def _inside_unit(re: Value) -> Value:
    return np.abs(re) < 1

# ---- one point of Python floats (the math module) ------------------------------------------
# Each mirrors its numpy forward or local derivative above operation for operation, so the
# two differ at most where math's and numpy's elementary functions round differently.


def _pow_float(x: float, y: float) -> float:
    # numpy's power takes these exponents as x*x, sqrt(x), 1/x and x (exactly rounded);
    # math.pow does not, always: the same exponents here give the same bits
    if y == 1.0:  # first: the exponent of x^2's partial, 2*x^1
        return x
    if y == 2.0:
        return x * x
    if y == 0.5:
        return math.sqrt(x)
    if y == -1.0:
        return 1.0 / x
    return math.pow(x, y)


def _logaddexp0_float(t: float) -> float:
    # log(1 + exp(t)), computed as numpy's logaddexp(0, t) computes it
    if t == 0.0:
        return _LN2
    if t < 0.0:
        return math.log1p(math.exp(t))
    return t + math.log1p(math.exp(-t))


def _sigmoid_float(x: float) -> float:
    return math.exp(-_logaddexp0_float(-x))


def _step_float(x: float) -> float:
    return 1.0 if x > 0 else 0.0 if x <= 0 else x  # nan for nan


def _sign_float(x: float) -> float:
    return 1.0 if x > 0 else -1.0 if x < 0 else x + 0.0  # 0.0 for +-0.0, nan for nan


def _max_float(x: float, y: float) -> float:
    return x if x > y or x != x else y  # as np.maximum: nan wins, a tie gives y


def _min_float(x: float, y: float) -> float:
    return x if x < y or x != x else y


# ---- the table -----------------------------------------------------------------------
# Operators are written with Python's operators rather than np.add & co.: on
# numpy scalars they skip the ufunc machinery, and on arrays they are the same ufuncs.
# A string forward names numpy's ufunc (or math's function), looked up at first use.
_add(Primitive("add", 2, lambda x, y: x + y, (1.0, 1.0), "+", ADD))
_add(Primitive("sub", 2, lambda x, y: x - y, (1.0, -1.0), "-", ADD))
_add(Primitive("mul", 2, lambda x, y: x * y,
               (lambda B: lambda f, x, y: y, lambda B: lambda f, x, y: x), "*", MUL))
_add(Primitive("div", 2, lambda x, y: x / y,
               (lambda B: lambda f, x, y: 1.0 / y, lambda B: lambda f, x, y: -f / y), "/", MUL,
               complex_forward=_div_complex))
# y*x^(y-1), the exponent raised by 1 only where x = y = 0: there x^0 has partial 0 (not
# 0 * inf); everywhere else the term and all its derivatives are 0, so the second partials
# (d/dy of y*x^(y-1) is x^(y-1) + ... at y = 0) stay exact; x^2's is 2*x^1 = 2*x exactly.
# x^y*log(x) with log(x^|sign(x)|): 0^0 is 1, so at x = 0 the partial in y is 0 for
# y >= 0 (0^y is 0 for all y > 0; PyTorch and JAX agree).
_add(Primitive("pow", 2, "power",
               (lambda B: lambda f, x, y: y * B.pow(
                   x, y - 1.0 + (1.0 - B.abs(B.sign(y))) * (1.0 - B.abs(B.sign(x)))),
                lambda B: lambda f, x, y: f * B.log(B.pow(x, B.abs(B.sign(x))))),
               "^", POW, right_assoc=True, math_forward=_pow_float,
               complex_forward=_pow_complex))
_add(Primitive("neg", 1, lambda x: -x, (-1.0,), "-", NEG))

# sin and cos over arrays come from vector_math: numpy's, or MKL's vectorised ones where
# installed (numpy's call the C library once per number); complex numbers always numpy's.
_add(Primitive("sin", 1, vector_math.sin, (lambda B: lambda f, x: B.cos(x),), angle_in=True,
               math_forward="sin", complex_forward=lambda z: np.sin(z),
               forward_and_partial=vector_math.sin_and_cos))
_add(Primitive("cos", 1, vector_math.cos, (lambda B: lambda f, x: -B.sin(x),), angle_in=True,
               math_forward="cos", complex_forward=lambda z: np.cos(z),
               forward_and_partial=vector_math.cos_and_minus_sin))
_add(Primitive("tan", 1, "tan", (lambda B: lambda f, x: 1.0 + f * f,), angle_in=True,
               math_forward="tan"))
_add(Primitive("asin", 1, "arcsin", (lambda B: lambda f, x: 1.0 / B.sqrt(1.0 - x * x),),
               angle_out=True, math_forward="asin",
               complex_forward=_guarded("arcsin", _inside_unit)))
_add(Primitive("acos", 1, "arccos", (lambda B: lambda f, x: -1.0 / B.sqrt(1.0 - x * x),),
               angle_out=True, math_forward="acos",
               complex_forward=_guarded("arccos", _inside_unit)))
_add(Primitive("atan", 1, "arctan", (lambda B: lambda f, x: 1.0 / (1.0 + x * x),),
               angle_out=True, math_forward="atan"))
# hypot(x, 1), not sqrt(x^2+1): no overflow of x^2 for |x| > 1e154.
_add(Primitive("asinh", 1, "arcsinh", (lambda B: lambda f, x: 1.0 / B.hypot(x, 1.0),),
               math_forward="asinh"))
# sqrt(x-1)*sqrt(x+1), not sqrt(x^2-1): no overflow of x^2 and no cancellation near 1.
_add(Primitive("acosh", 1, "arccosh",
               (lambda B: lambda f, x: 1.0 / (B.sqrt(x - 1.0) * B.sqrt(x + 1.0)),),
               math_forward="acosh", complex_forward=_guarded("arccosh", lambda x: x > 1.0)))
_add(Primitive("atanh", 1, "arctanh", (lambda B: lambda f, x: 1.0 / ((1.0 - x) * (1.0 + x)),),
               math_forward="atanh", nan_outside=True,
               complex_forward=_guarded("arctanh", lambda x: np.abs(x) < 1.0)))
_add(Primitive("sinh", 1, "sinh", (lambda B: lambda f, x: B.cosh(x),), math_forward="sinh"))
_add(Primitive("cosh", 1, "cosh", (lambda B: lambda f, x: B.sinh(x),), math_forward="cosh"))
# 1/cosh(x)^2, not 1 - tanh(x)^2: the latter cancels to 0 (or loses all digits) for |x| > ~10.
_add(Primitive("tanh", 1, "tanh", (lambda B: lambda f, x: 1.0 / (B.cosh(x) * B.cosh(x)),),
               math_forward="tanh"))
_add(Primitive("exp", 1, "exp", (lambda B: lambda f, x: f,), math_forward="exp"))
_add(Primitive("log", 1, "log", (lambda B: lambda f, x: 1.0 / x,), math_forward="log",
               nan_outside=True, complex_forward=_guarded("log", _positive)))
_add(Primitive("log2", 1, "log2", (lambda B: lambda f, x: 1.0 / (x * B.log(2.0)),),
               math_forward="log2", nan_outside=True, complex_forward=_guarded("log2", _positive)))
_add(Primitive("log10", 1, "log10", (lambda B: lambda f, x: 1.0 / (x * B.log(10.0)),),
               math_forward="log10", nan_outside=True,
               complex_forward=_guarded("log10", _positive)))
# log1p(x) = log(1 + x) and expm1(x) = exp(x) - 1 keep every digit where x is tiny (1 + x
# would round x away); their derivatives 1/(1+x) and exp(x) have no such cancellation.
_add(Primitive("log1p", 1, "log1p", (lambda B: lambda f, x: 1.0 / (1.0 + x),),
               math_forward="log1p", nan_outside=True,
               complex_forward=_guarded("log1p", lambda x: x > -1.0)))
_add(Primitive("expm1", 1, "expm1", (lambda B: lambda f, x: B.exp(x),), math_forward="expm1"))
_add(Primitive("sqrt", 1, "sqrt", (lambda B: lambda f, x: 0.5 / f,), math_forward="sqrt",
               complex_forward=_guarded("sqrt", _positive)))
# the real cube root, defined for negative x too; infinite derivative at 0
_add(Primitive("cbrt", 1, "cbrt", (lambda B: lambda f, x: 1.0 / (3.0 * f * f),),
               math_forward="cbrt", complex_forward=_cbrt_complex))
_add(Primitive("abs", 1, "abs", (lambda B: lambda f, x: B.sign(x),),  # abs'(0) = 0
               math_forward=abs, complex_forward=_abs_complex, analytic=False, kink=_at_zero))
# sigmoid(x)*sigmoid(-x): 1 - sigmoid(x) would cancel for large x
_add(Primitive("sigmoid", 1, _sigmoid, (lambda B: lambda f, x: f * B.sigmoid(-x),),
               math_forward=_sigmoid_float,
               complex_forward=_sigmoid_complex))  # np.logaddexp takes no complex numbers
# maximum keeps nan a nan and takes -inf to 0; + 0.0 turns -0.0 into 0.0, as PyTorch returns
_add(Primitive("relu", 1, lambda x: np.maximum(x, 0.0) + 0.0,
               (lambda B: lambda f, x: B.step(x),),  # relu'(0) = 0
               # complex: numpy orders complex numbers by their real part first
               math_forward=lambda x: x if x > 0 or x != x else 0.0,
               analytic=False, kink=_at_zero))
_add(Primitive("softplus", 1, lambda x: np.logaddexp(0.0, x),
               (lambda B: lambda f, x: B.sigmoid(x),), math_forward=_logaddexp0_float,
               complex_forward=_softplus_complex))
# sign and step are in the language so that derivatives of abs, relu, max and
# min can be written in it; their own derivative is 0 (almost everywhere).
_add(Primitive("sign", 1, "sign", (0.0,), math_forward=_sign_float,
               complex_forward=_sign_complex, analytic=False, kink=_at_zero))
_add(Primitive("step", 1, _step, (0.0,), math_forward=_step_float,
               complex_forward=lambda z: _step(np.real(z)) + 0j, analytic=False, kink=_at_zero))

# ---- functions of two arguments --------------------------------------------
# pow(a, b) is the same module as a^b; the parser maps the call onto "pow".
# max and min: (1 + sign(x - y))/2 is 1 where x wins, 0 where it loses, 1/2 on a tie (as
# PyTorch, JAX); nan where an operand is nan (or both are the same infinity).
_add(Primitive("max", 2, "maximum",
               (lambda B: lambda f, x, y: (1.0 + B.sign(x - y)) / 2.0,
                lambda B: lambda f, x, y: (1.0 + B.sign(y - x)) / 2.0),
               math_forward=_max_float,
               analytic=False, kink=_at_tie))  # complex: ordered by the real part first
_add(Primitive("min", 2, "minimum",
               (lambda B: lambda f, x, y: (1.0 + B.sign(y - x)) / 2.0,
                lambda B: lambda f, x, y: (1.0 + B.sign(x - y)) / 2.0),
               math_forward=_min_float, analytic=False, kink=_at_tie))


def _atan2_partial(first: bool) -> Rule:
    # atan2(y, x), the angle of the point (x, y): the rule's x and y are the first and the
    # second argument, so d/dy = x/(x^2+y^2) is y/r/r here, with r = hypot: x^2 + y^2 would
    # overflow above 1e154 and underflow below 1e-154
    def rule(B: Any) -> Partial:
        def partial(f: Value, x: Value, y: Value) -> Value:
            r = B.hypot(x, y)
            return y / r / r if first else -x / r / r

        return partial

    return rule


_add(Primitive("atan2", 2, "arctan2", (_atan2_partial(True), _atan2_partial(False)),
               angle_out=True, math_forward="atan2", complex_forward=_atan2_complex))
# hypot(x, y) = sqrt(x^2 + y^2) without overflow or underflow; its partials x/hypot and
# y/hypot are nan at (0, 0), the tip of a cone, where it has no derivative.
_add(Primitive("hypot", 2, "hypot", (lambda B: lambda f, x, y: x / f,
                                     lambda B: lambda f, x, y: y / f),
               math_forward="hypot", complex_forward=_hypot_complex))
FUNCTIONS["pow"] = PRIMITIVES["pow"]

# Other names for functions, read by the parser (printing uses the name above).
ALIASES: dict[str, str] = {
    "ln": "log",
    "arcsin": "asin", "arccos": "acos", "arctan": "atan",
    "arsinh": "asinh", "arcosh": "acosh", "artanh": "atanh",
    "arcsinh": "asinh", "arccosh": "acosh", "arctanh": "atanh",
}

CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}

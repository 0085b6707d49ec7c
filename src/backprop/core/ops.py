"""The table of primitive modules: each one declared once, here.

Every primitive is an elementwise function of one or two arguments, so its
Jacobian is diagonal and is never built: the table stores the diagonal, the
*local derivative* of the output with respect to each argument, and

* reverse mode (backpropagation) multiplies the upstream gradient by it,
* forward mode multiplies the incoming tangent by it,
* the symbolic differentiator reads the same derivative written as a template
  in the expression language itself (``x`` and ``y`` stand for the arguments),
* the printer reads the name, the infix symbol and the precedence,
* a forward pass over arrays that a backward pass will follow takes sin's and
  cos's value and local derivative from one computation (``forward_and_partial``);
  over arrays, sin and cos are numpy's or MKL's (``vector_math.py``),
* one point of Python floats (``core/scalar.py``) runs ``scalar``: the same
  forward and local derivatives with the math module, so that parsing and one
  point need no numpy (numpy is imported when an array pass first runs),
* the complex step (f'(x) ~ Im f(x + ih)/h) runs the forward pass on complex
  numbers: ``complex_forward`` where ``forward`` is not complex-safe, and
  ``analytic=False`` with a ``kink`` test for the modules with a kink.

Adding a primitive is one ``_add(...)`` call below plus a test.

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
The real ``forward`` is untouched by all this: same numerics, same speed.

A local derivative is called as ``partial(ans, *args)``: ``ans`` is the cached
output of the forward pass, ``args`` the cached inputs; it returns an array or
a Python float (the float ``1.0`` lets the engine skip a multiplication).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Union

from backprop import vector_math
from backprop.lazy import numpy_on_first_use

if TYPE_CHECKING:
    import numpy as np
else:
    np = numpy_on_first_use(globals())  # parsing and printing read the table without numpy

Value = Union[float, "np.ndarray"]
Partial = Callable[..., Value]


@dataclass(frozen=True)
class Primitive:
    name: str  # the name in the language (function) or the node's name (operator)
    arity: int
    numpy_forward: Callable[..., Value] | str  # a function, or the name of numpy's ufunc
    partials: tuple[Partial, ...]  # local derivative w.r.t. each argument
    derivative: tuple[str, ...]  # the same, as expression templates in x (and y)
    symbol: str | None = None  # infix or prefix symbol; None: printed as name(args)
    precedence: int = 100  # binding strength when printed; atoms and calls are 100
    right_assoc: bool = False
    angle_in: bool = False  # takes an angle (sin, cos, tan): scaled under --angle deg
    angle_out: bool = False  # returns an angle (asin, acos, atan)
    # Complex step: the forward for complex arguments when ``forward`` is not complex-safe
    # (None: ``forward`` is numpy's complex ufunc itself); ``analytic=False`` for a kink,
    # with ``kink(*args)`` True where an argument sits on it with an imaginary part.
    complex_forward: Callable[..., Value] | None = None
    analytic: bool = True
    kink: Callable[..., Value] | None = None
    # The derivative template gives a number where the function is nan (1/x for log at
    # x < 0): the passes add 0 * sign(value) to it, nan exactly where the value is nan.
    nan_outside: bool = False
    # One point of Python floats, with the math module (no numpy): the forward, then the
    # local derivative w.r.t. each argument. None: ``forward`` and ``partials`` are plain
    # Python arithmetic already. Where math raises (log 0, exp 1000, 1/0) the caller falls
    # back to numpy, whose IEEE results (inf, nan) and warnings the commands report.
    scalar: tuple[Callable[..., float], ...] | None = None
    # The forward and the local derivative from one computation, for passes that will need
    # both (the forward then the backward pass over arrays); None: computed apart.
    forward_and_partial: Callable[[Value], tuple[Value, Value]] | None = None

    @property
    def forward(self) -> Callable[..., Value]:
        """The forward on floats and arrays (numpy's ufunc, looked up at first use)."""
        fn = self.numpy_forward
        if isinstance(fn, str):
            fn = getattr(np, fn)
            object.__setattr__(self, "numpy_forward", fn)
        return fn

    def forward_complex(self) -> Callable[..., Value]:
        """The forward pass to run on complex arguments (the complex step)."""
        return self.complex_forward if self.complex_forward is not None else self.forward


PRIMITIVES: dict[str, Primitive] = {}
FUNCTIONS: dict[str, Primitive] = {}  # callable by name in the language

# Operator precedences, shared by the printer and the grammar's layering.
ADD, MUL, NEG, POW = 10, 20, 30, 40


def _add(p: Primitive, callable_by_name: bool = True) -> None:
    assert p.analytic == (p.kink is None), f"{p.name}: a non-analytic module declares its kink"
    PRIMITIVES[p.name] = p
    if callable_by_name and p.symbol is None:
        FUNCTIONS[p.name] = p


def _one(ans: Value, *args: Value) -> float:
    return 1.0


def _minus_one(ans: Value, *args: Value) -> float:
    return -1.0


def _zero(ans: Value, *args: Value) -> float:
    return 0.0


def _pow_base_at(x: Value, y: float, power: Callable[..., Value]) -> Value:
    # y * x^(y-1) for one exponent, written so that x^0 has derivative 0 at x = 0 (not
    # 0 * inf); ``power`` is numpy's, or the math module's for one point of floats
    if y == 0.0:
        return 0.0
    if y == 1.0:
        return 1.0
    if y == 2.0:
        return 2.0 * x
    return y * power(x, y - 1.0)


def _pow_base(ans: Value, x: Value, y: Value) -> Value:
    if np.ndim(y) == 0:
        return _pow_base_at(x, float(y), np.power)
    return np.where(y == 0.0, 0.0, y * np.power(x, y - 1.0))


def _pow_exponent(ans: Value, x: Value, y: Value) -> Value:
    # x^y * log(x), with log(1) in place of log(0): 0^y is 0 for every y > 0, so its
    # partial in y is 0 there (as PyTorch and JAX), not 0 * -inf; nan for y < 0 (inf * 0)
    return ans * np.log(np.where(x == 0, 1.0, x))


def _sigmoid(x: Value) -> Value:
    # exp(-log(1 + exp(-x))): no overflow at either end, and (unlike 0.5 + 0.5*tanh(x/2),
    # which cancels to 0 below x = -37) full relative precision in the far-negative tail.
    return np.exp(-np.logaddexp(0.0, -x))


def _step(x: Value) -> Value:
    return np.heaviside(x, 0.0)  # 1 above 0, 0 at and below it, nan at nan


def _tie_split(x: Value, y: Value) -> Value:
    # d max(x, y)/dx = (1 + sign(x - y))/2: 1 where x wins, 0 where it loses, 1/2 on a tie
    # (as PyTorch, JAX); nan where an operand is nan (or both are the same infinity)
    return (1.0 + np.sign(x - y)) * 0.5


def _nan_outside(ans: Value, local: Value) -> Value:
    # the local derivative where the value is a number; nan where it is nan (outside the
    # domain): 0 * sign(ans) is 0 for every number, inf included, and nan for nan
    return local + 0.0 * np.sign(ans)


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
    if y == 2.0:
        return x * x
    if y == 0.5:
        return math.sqrt(x)
    if y == -1.0:
        return 1.0 / x
    if y == 1.0:
        return x
    return math.pow(x, y)


def _pow_base_float(ans: float, x: float, y: float) -> float:
    return _pow_base_at(x, y, _pow_float)  # type: ignore[return-value]


def _pow_exponent_float(ans: float, x: float, y: float) -> float:
    return ans * (math.log(x) if x != 0 else 0.0)


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


def _tie_split_float(x: float, y: float) -> float:
    return (1.0 + _sign_float(x - y)) * 0.5


def _max_float(x: float, y: float) -> float:
    return x if x > y or x != x else y  # as np.maximum: nan wins, a tie gives y


def _min_float(x: float, y: float) -> float:
    return x if x < y or x != x else y


# ---- operators ------------------------------------------------------------
# Operators are written with Python's operators rather than np.add & co.: on
# numpy scalars they are ten times faster, and on arrays they are the same ufuncs.
# A string forward names numpy's ufunc, looked up when a pass first runs.
_add(Primitive("add", 2, lambda x, y: x + y, (_one, _one), ("1", "1"), "+", ADD))
_add(Primitive("sub", 2, lambda x, y: x - y, (_one, _minus_one), ("1", "-1"), "-", ADD))
_add(Primitive("mul", 2, lambda x, y: x * y,
               (lambda a, x, y: y, lambda a, x, y: x), ("y", "x"), "*", MUL))
_add(Primitive("div", 2, lambda x, y: x / y,
               (lambda a, x, y: 1.0 / y, lambda a, x, y: -a / y), ("1/y", "-x/y^2"), "/", MUL,
               complex_forward=_div_complex))
_add(Primitive("pow", 2, "power", (_pow_base, _pow_exponent),
               ("y*x^(y-abs(sign(y)))", "x^y*log(x^abs(sign(x)))"), "^", POW, right_assoc=True,
               complex_forward=_pow_complex,
               scalar=(_pow_float, _pow_base_float, _pow_exponent_float)))
_add(Primitive("neg", 1, lambda x: -x, (_minus_one,), ("-1",), "-", NEG))

# ---- functions of one argument ---------------------------------------------
# sin and cos over arrays come from vector_math: numpy's, or MKL's vectorised ones where
# installed (numpy's call the C library once per number); complex numbers always numpy's.
_add(Primitive("sin", 1, vector_math.sin, (lambda a, x: vector_math.cos(x),), ("cos(x)",),
               angle_in=True, complex_forward=lambda z: np.sin(z),
               scalar=(math.sin, lambda a, x: math.cos(x)),
               forward_and_partial=vector_math.sin_and_cos))
_add(Primitive("cos", 1, vector_math.cos, (lambda a, x: -vector_math.sin(x),), ("-sin(x)",),
               angle_in=True, complex_forward=lambda z: np.cos(z),
               scalar=(math.cos, lambda a, x: -math.sin(x)),
               forward_and_partial=vector_math.cos_and_minus_sin))
_add(Primitive("tan", 1, "tan", (lambda a, x: 1.0 + a * a,), ("1+tan(x)^2",), angle_in=True,
               scalar=(math.tan, lambda a, x: 1.0 + a * a)))
_add(Primitive("asin", 1, "arcsin",
               (lambda a, x: 1.0 / np.sqrt(1.0 - x * x),), ("1/sqrt(1-x^2)",), angle_out=True,
               complex_forward=_guarded("arcsin", _inside_unit),
               scalar=(math.asin, lambda a, x: 1.0 / math.sqrt(1.0 - x * x))))
_add(Primitive("acos", 1, "arccos",
               (lambda a, x: -1.0 / np.sqrt(1.0 - x * x),), ("-1/sqrt(1-x^2)",), angle_out=True,
               complex_forward=_guarded("arccos", _inside_unit),
               scalar=(math.acos, lambda a, x: -1.0 / math.sqrt(1.0 - x * x))))
_add(Primitive("atan", 1, "arctan",
               (lambda a, x: 1.0 / (1.0 + x * x),), ("1/(1+x^2)",), angle_out=True,
               scalar=(math.atan, lambda a, x: 1.0 / (1.0 + x * x))))
# hypot(x, 1), not sqrt(x^2+1): no overflow of x^2 for |x| > 1e154.
_add(Primitive("asinh", 1, "arcsinh", (lambda a, x: 1.0 / np.hypot(x, 1.0),), ("1/sqrt(x^2+1)",),
               scalar=(math.asinh, lambda a, x: 1.0 / math.hypot(x, 1.0))))
# sqrt(x-1)*sqrt(x+1), not sqrt(x^2-1): no overflow of x^2 and no cancellation near 1.
_add(Primitive("acosh", 1, "arccosh", (lambda a, x: 1.0 / (np.sqrt(x - 1.0) * np.sqrt(x + 1.0)),),
               ("1/(sqrt(x-1)*sqrt(x+1))",),
               complex_forward=_guarded("arccosh", lambda x: x > 1.0),
               scalar=(math.acosh, lambda a, x: 1.0 / (math.sqrt(x - 1.0) * math.sqrt(x + 1.0)))))
_add(Primitive("atanh", 1, "arctanh", (lambda a, x: _nan_outside(a, 1.0 / ((1.0 - x) * (1.0 + x))),),
               ("1/((1-x)*(1+x))",),
               complex_forward=_guarded("arctanh", lambda x: np.abs(x) < 1.0), nan_outside=True,
               scalar=(math.atanh, lambda a, x: 1.0 / ((1.0 - x) * (1.0 + x)))))
_add(Primitive("sinh", 1, "sinh", (lambda a, x: np.cosh(x),), ("cosh(x)",),
               scalar=(math.sinh, lambda a, x: math.cosh(x))))
_add(Primitive("cosh", 1, "cosh", (lambda a, x: np.sinh(x),), ("sinh(x)",),
               scalar=(math.cosh, lambda a, x: math.sinh(x))))
# 1/cosh(x)^2, not 1 - tanh(x)^2: the latter cancels to 0 (or loses all digits) for |x| > ~10.
_add(Primitive("tanh", 1, "tanh", (lambda a, x: 1.0 / np.square(np.cosh(x)),), ("1/cosh(x)^2",),
               scalar=(math.tanh, lambda a, x: 1.0 / (math.cosh(x) * math.cosh(x)))))
_add(Primitive("exp", 1, "exp", (lambda a, x: a,), ("exp(x)",),
               scalar=(math.exp, lambda a, x: a)))
_add(Primitive("log", 1, "log", (lambda a, x: _nan_outside(a, 1.0 / x),), ("1/x",),
               complex_forward=_guarded("log", _positive), nan_outside=True,
               scalar=(math.log, lambda a, x: 1.0 / x)))
_add(Primitive("log2", 1, "log2", (lambda a, x: _nan_outside(a, 1.0 / (x * _LN2)),),
               ("1/(x*log(2))",),
               complex_forward=_guarded("log2", _positive), nan_outside=True,
               scalar=(math.log2, lambda a, x: 1.0 / (x * _LN2))))
_add(Primitive("log10", 1, "log10", (lambda a, x: _nan_outside(a, 1.0 / (x * _LN10)),),
               ("1/(x*log(10))",),
               complex_forward=_guarded("log10", _positive), nan_outside=True,
               scalar=(math.log10, lambda a, x: 1.0 / (x * _LN10))))
# log1p(x) = log(1 + x) and expm1(x) = exp(x) - 1 keep every digit where x is tiny (1 + x
# would round x away); their derivatives 1/(1+x) and exp(x) have no such cancellation.
_add(Primitive("log1p", 1, "log1p", (lambda a, x: _nan_outside(a, 1.0 / (1.0 + x)),),
               ("1/(1+x)",),
               complex_forward=_guarded("log1p", lambda x: x > -1.0), nan_outside=True,
               scalar=(math.log1p, lambda a, x: 1.0 / (1.0 + x))))
_add(Primitive("expm1", 1, "expm1", (lambda a, x: np.exp(x),), ("exp(x)",),
               scalar=(math.expm1, lambda a, x: math.exp(x))))
# the real cube root, defined for negative x too; its derivative 1/(3 cbrt(x)^2) from the
# output, infinite at 0
_add(Primitive("cbrt", 1, "cbrt", (lambda a, x: 1.0 / (3.0 * a * a),), ("1/(3*cbrt(x)^2)",),
               complex_forward=_cbrt_complex,
               scalar=(math.cbrt, lambda a, x: 1.0 / (3.0 * a * a))))
_add(Primitive("sqrt", 1, "sqrt", (lambda a, x: 0.5 / a,), ("0.5/sqrt(x)",),
               complex_forward=_guarded("sqrt", _positive),
               scalar=(math.sqrt, lambda a, x: 0.5 / a)))
_add(Primitive("abs", 1, "abs", (lambda a, x: np.sign(x),), ("sign(x)",),  # abs'(0) = 0
               complex_forward=_abs_complex, analytic=False, kink=_at_zero,
               scalar=(abs, lambda a, x: _sign_float(x))))
_add(Primitive("sigmoid", 1, _sigmoid,
               # sigmoid(x)*sigmoid(-x): 1 - sigmoid(x) would cancel for large x
               (lambda a, x: a * _sigmoid(-x),), ("sigmoid(x)*sigmoid(-x)",),
               complex_forward=_sigmoid_complex,  # np.logaddexp takes no complex numbers
               scalar=(_sigmoid_float, lambda a, x: a * _sigmoid_float(-x))))
# maximum keeps nan a nan and takes -inf to 0; + 0.0 turns -0.0 into 0.0, as PyTorch returns
_add(Primitive("relu", 1, lambda x: np.maximum(x, 0.0) + 0.0,
               (lambda a, x: _step(x),), ("step(x)",),  # relu'(0) = 0
               # complex: numpy orders complex numbers by their real part first
               analytic=False, kink=_at_zero,
               scalar=(lambda x: x if x > 0 or x != x else 0.0, lambda a, x: _step_float(x))))
_add(Primitive("softplus", 1, lambda x: np.logaddexp(0.0, x),
               (lambda a, x: _sigmoid(x),), ("sigmoid(x)",), complex_forward=_softplus_complex,
               scalar=(_logaddexp0_float, lambda a, x: _sigmoid_float(x))))
# sign and step are in the language so that derivatives of abs, relu, max and
# min can be written in it; their own derivative is 0 (almost everywhere).
_add(Primitive("sign", 1, "sign", (_zero,), ("0",),
               complex_forward=_sign_complex, analytic=False, kink=_at_zero,
               scalar=(_sign_float, _zero)))
_add(Primitive("step", 1, _step, (_zero,), ("0",), analytic=False, kink=_at_zero,
               complex_forward=lambda z: _step(np.real(z)) + 0j,
               scalar=(_step_float, _zero)))

# ---- functions of two arguments --------------------------------------------
# pow(a, b) is the same module as a^b; the parser maps the call onto "pow".
_add(Primitive("max", 2, "maximum",
               (lambda a, x, y: _tie_split(x, y), lambda a, x, y: _tie_split(y, x)),
               ("(1+sign(x-y))/2", "(1+sign(y-x))/2"),
               analytic=False, kink=_at_tie,  # complex: ordered by the real part first
               scalar=(_max_float, lambda a, x, y: _tie_split_float(x, y),
                       lambda a, x, y: _tie_split_float(y, x))))
_add(Primitive("min", 2, "minimum",
               (lambda a, x, y: _tie_split(y, x), lambda a, x, y: _tie_split(x, y)),
               ("(1+sign(y-x))/2", "(1+sign(x-y))/2"),
               analytic=False, kink=_at_tie,
               scalar=(_min_float, lambda a, x, y: _tie_split_float(y, x),
                       lambda a, x, y: _tie_split_float(x, y))))
# atan2(y, x): the angle of the point (x, y), in (-pi, pi]. Templates: x and y are the
# first and second argument, so d/dy = x/(x^2+y^2) is written "y/(x^2+y^2)" here.
# x/(x^2+y^2) is computed as (x/r)/r with r = hypot(x, y): x^2 + y^2 would overflow
# above 1e154 and underflow below 1e-154.
_add(Primitive("atan2", 2, "arctan2",
               (lambda a, y, x: x / np.hypot(x, y) / np.hypot(x, y),
                lambda a, y, x: -y / np.hypot(x, y) / np.hypot(x, y)),
               ("y/hypot(x,y)/hypot(x,y)", "-x/hypot(x,y)/hypot(x,y)"), angle_out=True,
               complex_forward=_atan2_complex,
               scalar=(math.atan2, lambda a, y, x: x / math.hypot(x, y) / math.hypot(x, y),
                       lambda a, y, x: -y / math.hypot(x, y) / math.hypot(x, y))))
# hypot(x, y) = sqrt(x^2 + y^2) without overflow or underflow; its partials x/hypot and
# y/hypot are nan at (0, 0), the tip of a cone, where it has no derivative.
_add(Primitive("hypot", 2, "hypot", (lambda a, x, y: x / a, lambda a, x, y: y / a),
               ("x/hypot(x,y)", "y/hypot(x,y)"), complex_forward=_hypot_complex,
               scalar=(math.hypot, lambda a, x, y: x / a, lambda a, x, y: y / a)))
FUNCTIONS["pow"] = PRIMITIVES["pow"]

# Other names for functions, read by the parser (printing uses the name above).
ALIASES: dict[str, str] = {
    "ln": "log",
    "arcsin": "asin", "arccos": "acos", "arctan": "atan",
    "arsinh": "asinh", "arcosh": "acosh", "artanh": "atanh",
    "arcsinh": "asinh", "arccosh": "acosh", "arctanh": "atanh",
}

CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}

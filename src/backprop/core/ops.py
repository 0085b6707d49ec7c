"""The table of primitive modules: each one declared once, here.

Every primitive is an elementwise function of one or two arguments, so its
Jacobian is diagonal and is never built: the table stores the diagonal, the
*local derivative* of the output with respect to each argument, and

* reverse mode (backpropagation) multiplies the upstream gradient by it,
* forward mode multiplies the incoming tangent by it,
* the symbolic differentiator reads the same derivative written as a template
  in the expression language itself (``x`` and ``y`` stand for the arguments),
* the printer reads the name, the infix symbol and the precedence.

Adding a primitive is one ``_add(...)`` call below plus a test.

A local derivative is called as ``partial(ans, *args)``: ``ans`` is the cached
output of the forward pass, ``args`` the cached inputs; it returns an array or
a Python float (the float ``1.0`` lets the engine skip a multiplication).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Union

import numpy as np

Value = Union[float, np.ndarray]
Partial = Callable[..., Value]


@dataclass(frozen=True)
class Primitive:
    name: str  # the name in the language (function) or the node's name (operator)
    arity: int
    forward: Callable[..., Value]
    partials: tuple[Partial, ...]  # local derivative w.r.t. each argument
    derivative: tuple[str, ...]  # the same, as expression templates in x (and y)
    symbol: str | None = None  # infix or prefix symbol; None: printed as name(args)
    precedence: int = 100  # binding strength when printed; atoms and calls are 100
    right_assoc: bool = False
    angle_in: bool = False  # takes an angle (sin, cos, tan): scaled under --angle deg
    angle_out: bool = False  # returns an angle (asin, acos, atan)


PRIMITIVES: dict[str, Primitive] = {}
FUNCTIONS: dict[str, Primitive] = {}  # callable by name in the language

# Operator precedences, shared by the printer and the grammar's layering.
ADD, MUL, NEG, POW = 10, 20, 30, 40


def _add(p: Primitive, callable_by_name: bool = True) -> None:
    PRIMITIVES[p.name] = p
    if callable_by_name and p.symbol is None:
        FUNCTIONS[p.name] = p


def _one(ans: Value, *args: Value) -> float:
    return 1.0


def _minus_one(ans: Value, *args: Value) -> float:
    return -1.0


def _zero(ans: Value, *args: Value) -> float:
    return 0.0


def _pow_base(ans: Value, x: Value, y: Value) -> Value:
    # y * x^(y-1), written so that x^0 has derivative 0 at x = 0 (not 0 * inf).
    if np.ndim(y) == 0:
        y = float(y)
        if y == 0.0:
            return 0.0
        if y == 1.0:
            return 1.0
        if y == 2.0:
            return 2.0 * x
        return y * np.power(x, y - 1.0)
    return np.where(y == 0.0, 0.0, y * np.power(x, y - 1.0))


def _pow_exponent(ans: Value, x: Value, y: Value) -> Value:
    # Needed only when the exponent depends on a variable: x^y * log(x).
    return ans * np.log(x)


def _sigmoid(x: Value) -> Value:
    # exp(-log(1 + exp(-x))): no overflow at either end, and (unlike 0.5 + 0.5*tanh(x/2),
    # which cancels to 0 below x = -37) full relative precision in the far-negative tail.
    return np.exp(-np.logaddexp(0.0, -x))


def _step(x: Value) -> Value:
    return np.where(x > 0, 1.0, 0.0)


def _tie_split(x: Value, y: Value) -> Value:
    # d max(x, y)/dx: 1 where x wins, 0 where it loses, 1/2 on a tie (as PyTorch, JAX).
    return np.where(x > y, 1.0, np.where(x == y, 0.5, 0.0))


_LN2, _LN10 = math.log(2.0), math.log(10.0)

# ---- operators ------------------------------------------------------------
# Operators are written with Python's operators rather than np.add & co.: on
# numpy scalars they are ten times faster, and on arrays they are the same ufuncs.
_add(Primitive("add", 2, lambda x, y: x + y, (_one, _one), ("1", "1"), "+", ADD))
_add(Primitive("sub", 2, lambda x, y: x - y, (_one, _minus_one), ("1", "-1"), "-", ADD))
_add(Primitive("mul", 2, lambda x, y: x * y,
               (lambda a, x, y: y, lambda a, x, y: x), ("y", "x"), "*", MUL))
_add(Primitive("div", 2, lambda x, y: x / y,
               (lambda a, x, y: 1.0 / y, lambda a, x, y: -a / y), ("1/y", "-x/y^2"), "/", MUL))
_add(Primitive("pow", 2, np.power, (_pow_base, _pow_exponent),
               ("y*x^(y-1)", "x^y*log(x)"), "^", POW, right_assoc=True))
_add(Primitive("neg", 1, lambda x: -x, (_minus_one,), ("-1",), "-", NEG))

# ---- functions of one argument ---------------------------------------------
_add(Primitive("sin", 1, np.sin, (lambda a, x: np.cos(x),), ("cos(x)",), angle_in=True))
_add(Primitive("cos", 1, np.cos, (lambda a, x: -np.sin(x),), ("-sin(x)",), angle_in=True))
_add(Primitive("tan", 1, np.tan, (lambda a, x: 1.0 + a * a,), ("1+tan(x)^2",), angle_in=True))
_add(Primitive("asin", 1, np.arcsin,
               (lambda a, x: 1.0 / np.sqrt(1.0 - x * x),), ("1/sqrt(1-x^2)",), angle_out=True))
_add(Primitive("acos", 1, np.arccos,
               (lambda a, x: -1.0 / np.sqrt(1.0 - x * x),), ("-1/sqrt(1-x^2)",), angle_out=True))
_add(Primitive("atan", 1, np.arctan,
               (lambda a, x: 1.0 / (1.0 + x * x),), ("1/(1+x^2)",), angle_out=True))
# hypot(x, 1), not sqrt(x^2+1): no overflow of x^2 for |x| > 1e154.
_add(Primitive("asinh", 1, np.arcsinh, (lambda a, x: 1.0 / np.hypot(x, 1.0),), ("1/sqrt(x^2+1)",)))
# sqrt(x-1)*sqrt(x+1), not sqrt(x^2-1): no overflow of x^2 and no cancellation near 1.
_add(Primitive("acosh", 1, np.arccosh, (lambda a, x: 1.0 / (np.sqrt(x - 1.0) * np.sqrt(x + 1.0)),),
               ("1/(sqrt(x-1)*sqrt(x+1))",)))
_add(Primitive("atanh", 1, np.arctanh, (lambda a, x: 1.0 / ((1.0 - x) * (1.0 + x)),),
               ("1/((1-x)*(1+x))",)))
_add(Primitive("sinh", 1, np.sinh, (lambda a, x: np.cosh(x),), ("cosh(x)",)))
_add(Primitive("cosh", 1, np.cosh, (lambda a, x: np.sinh(x),), ("sinh(x)",)))
# 1/cosh(x)^2, not 1 - tanh(x)^2: the latter cancels to 0 (or loses all digits) for |x| > ~10.
_add(Primitive("tanh", 1, np.tanh, (lambda a, x: 1.0 / np.square(np.cosh(x)),), ("1/cosh(x)^2",)))
_add(Primitive("exp", 1, np.exp, (lambda a, x: a,), ("exp(x)",)))
_add(Primitive("log", 1, np.log, (lambda a, x: 1.0 / x,), ("1/x",)))
_add(Primitive("log2", 1, np.log2, (lambda a, x: 1.0 / (x * _LN2),), ("1/(x*log(2))",)))
_add(Primitive("log10", 1, np.log10, (lambda a, x: 1.0 / (x * _LN10),), ("1/(x*log(10))",)))
_add(Primitive("sqrt", 1, np.sqrt, (lambda a, x: 0.5 / a,), ("0.5/sqrt(x)",)))
_add(Primitive("abs", 1, np.abs, (lambda a, x: np.sign(x),), ("sign(x)",)))  # abs'(0) = 0
_add(Primitive("sigmoid", 1, _sigmoid,
               # sigmoid(x)*sigmoid(-x): 1 - sigmoid(x) would cancel for large x
               (lambda a, x: a * _sigmoid(-x),), ("sigmoid(x)*sigmoid(-x)",)))
# 0*x keeps nan a nan; + 0.0 turns the -0.0 of 0*(negative) into 0.0, as PyTorch returns
_add(Primitive("relu", 1, lambda x: np.where(x > 0, x, 0.0 * x) + 0.0,
               (lambda a, x: _step(x),), ("step(x)",)))  # relu'(0) = 0
_add(Primitive("softplus", 1, lambda x: np.logaddexp(0.0, x),
               (lambda a, x: _sigmoid(x),), ("sigmoid(x)",)))
# sign and step are in the language so that derivatives of abs, relu, max and
# min can be written in it; their own derivative is 0 (almost everywhere).
_add(Primitive("sign", 1, np.sign, (_zero,), ("0",)))
_add(Primitive("step", 1, _step, (_zero,), ("0",)))

# ---- functions of two arguments --------------------------------------------
# pow(a, b) is the same module as a^b; the parser maps the call onto "pow".
_add(Primitive("max", 2, np.maximum,
               (lambda a, x, y: _tie_split(x, y), lambda a, x, y: _tie_split(y, x)),
               ("(1+sign(x-y))/2", "(1+sign(y-x))/2")))
_add(Primitive("min", 2, np.minimum,
               (lambda a, x, y: _tie_split(y, x), lambda a, x, y: _tie_split(x, y)),
               ("(1+sign(y-x))/2", "(1+sign(x-y))/2")))
# atan2(y, x): the angle of the point (x, y), in (-pi, pi]. Templates: x and y are the
# first and second argument, so d/dy = x/(x^2+y^2) is written "y/(x^2+y^2)" here.
_add(Primitive("atan2", 2, np.arctan2,
               (lambda a, y, x: x / (x * x + y * y), lambda a, y, x: -y / (x * x + y * y)),
               ("y/(x^2+y^2)", "-x/(x^2+y^2)"), angle_out=True))
FUNCTIONS["pow"] = PRIMITIVES["pow"]

# Other names for functions, read by the parser (printing uses the name above).
ALIASES: dict[str, str] = {
    "ln": "log",
    "arcsin": "asin", "arccos": "acos", "arctan": "atan",
    "arsinh": "asinh", "arcosh": "acosh", "artanh": "atanh",
    "arcsinh": "asinh", "arccosh": "acosh", "arctanh": "atanh",
}

CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}

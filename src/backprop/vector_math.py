"""sin and cos over arrays: numpy's, or Intel MKL's vectorised ones where installed.

numpy 2 runs every elementary function of the primitives' table with SIMD
instructions but two: its float64 sin and cos call the C library once per number
(about 16 ns a number on this project's machine, against 1-2 ns for exp, log,
tan or tanh). Those two are most of the time of an expression built on them.
Intel's ``mkl_umath`` (the ``mkl`` extra: ``pip install ".[mkl]"``) gives numpy
ufuncs whose sin and cos are vectorised (about 3 ns a number) and at least as
accurate: against mpmath on 4,500 arguments across float64, MKL's were 0.50 ulp
off at worst and the C library's 0.51, but 7.95 at the hardest argument of all
(about 5.3e255); ``tests/test_vector_math.py`` holds MKL's to 1 ulp.

Which one runs is chosen once, at the first sin or cos over arrays, by
``BACKPROP_VECTOR_MATH``: ``auto`` (the default: MKL's where both ``mkl_umath``
and ``mkl`` import, else numpy's), ``numpy`` or ``mkl``. Only arrays are
concerned: one point runs the math module's (or numpy's) sin and cos, whatever
is set, so with MKL a batch and a single point may differ in the last bit of a
sin or cos (in about 0.14% of numbers).
MKL runs each call on the calling thread alone (its thread-local setting, put
back after the call, so nothing else in the process changes): backprop spreads
the blocks of a batch over its own threads (``threads.py``), and MKL's threads
on top of them would fight for the cores.
"""

from __future__ import annotations

import os
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator

from backprop.errors import InputError
from backprop.lazy import numpy_on_first_use

if TYPE_CHECKING:
    import numpy as np
else:
    np = numpy_on_first_use(globals())

ENV = "BACKPROP_VECTOR_MATH"
CHOICES = ("auto", "numpy", "mkl")
MKL_INSTALL = "install the mkl extra (pip install \".[mkl]\" in a checkout of backprop)"


@dataclass(frozen=True)
class VectorMath:
    """The sin and cos that passes over arrays call, and where they come from."""

    name: str  # "numpy" or "mkl"
    description: str  # for people: the library and its version
    sin: Callable[[Any], Any]
    cos: Callable[[Any], Any]
    # both at once, for a forward pass whose backward pass needs the local derivative
    sin_and_cos: Callable[[Any], tuple[Any, Any]]


def _cis(x: Any) -> Any:
    z = np.empty(np.shape(x), dtype=np.complex128)
    z.real = 0.0
    z.imag = x
    return np.exp(z)


def _numpy_sin_and_cos(x: Any) -> tuple[Any, Any]:
    # exp(i*x) = cos(x) + i*sin(x): numpy's complex exponential computes both in one pass
    # (the C library's sincos), faster than sin and cos apart, and its parts are
    # numpy's sin and cos bit for bit (tests/test_engine.py checks every class of float64)
    z = _cis(x)
    return z.imag, z.real


def _load_numpy() -> VectorMath:
    return VectorMath("numpy", f"numpy {np.__version__} (the C library's sin and cos)",
                      np.sin, np.cos, _numpy_sin_and_cos)


# mkl_umath hands an array of up to 8,192 numbers, or one it must buffer (strided, or not
# float64: numpy's buffers hold 8,192), to the C library's sin and cos, and a longer one to
# MKL's vector functions: the same number would get different last bits in a short block
# and in a long batch. Every call here is one contiguous float64 array of at least this
# many numbers (a short one padded with zeros: slower than numpy's on a short batch, the
# price of one answer per number), so that a number's sin is MKL's whatever the batch.
# tests/test_vector_math.py checks the threshold.
MKL_SHORTEST = 8193


def _whole_vectors(fn: Callable[[Any], Any], single: Callable[[Any], Any],
                   one_thread: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``fn`` (MKL's ufunc) on one thread, on a contiguous float64 array of at least
    MKL_SHORTEST numbers; ``single`` (numpy's) on one number, as the math module's passes
    at one point, and on complex numbers."""

    def call(x: Any) -> Any:
        a = np.asarray(x)
        if a.ndim == 0 or a.dtype.kind == "c":  # one number; complex numbers: numpy's
            return single(x)
        a = np.ascontiguousarray(a, dtype=np.float64)
        # this thread's MKL on one thread for the call, then as it was (0.5 us the pair)
        before = one_thread(1)
        try:
            # MKL raises overflow and invalid inside for huge finite arguments too; the
            # passes judge the numbers they get (inf, nan), not the flags
            with np.errstate(over="ignore", invalid="ignore"):
                if a.size >= MKL_SHORTEST:
                    return fn(a)
                padded = np.zeros(MKL_SHORTEST)
                padded[:a.size] = a.ravel()
                return fn(padded)[:a.size].reshape(a.shape)
        finally:
            one_thread(before)

    return call


def _load_mkl() -> VectorMath:
    """MKL's sin and cos; ImportError (or OSError) when not installed."""
    import mkl  # mkl-service: MKL's threads
    import mkl_umath

    sin = _whole_vectors(mkl_umath.sin, np.sin, mkl.set_num_threads_local)
    cos = _whole_vectors(mkl_umath.cos, np.cos, mkl.set_num_threads_local)

    def sin_and_cos(x: Any) -> tuple[Any, Any]:
        # MKL's sin and cos apart are faster than any complex exponential (a C-library call
        # per number again)
        return sin(x), cos(x)

    return VectorMath("mkl", f"Intel MKL (mkl_umath {mkl_umath.__version__})",
                      sin, cos, sin_and_cos)


_loaded: dict[str, VectorMath] = {}
_active: list[VectorMath] = []  # empty until the first sin or cos over arrays


def load(choice: str) -> VectorMath:
    """The vector math named ``choice`` (auto, numpy or mkl), loaded once per process."""
    if choice not in CHOICES:
        raise InputError(f"{ENV} must be one of {', '.join(CHOICES)}, not {choice!r}")
    if choice == "auto":
        try:
            return load("mkl")
        except InputError:
            return load("numpy")
    if choice not in _loaded:
        if choice == "numpy":
            _loaded[choice] = _load_numpy()
        else:
            try:
                _loaded[choice] = _load_mkl()
            except ModuleNotFoundError as exc:
                raise InputError(f"{ENV}=mkl needs the package {exc.name!r}: {MKL_INSTALL}") \
                    from None
            except (ImportError, OSError, AttributeError) as exc:
                # installed but broken (a numpy it was not built for, a missing library):
                # say so once, and run numpy's
                warnings.warn(f"MKL's sin and cos could not be loaded ({exc}); "
                              "using numpy's", RuntimeWarning, stacklevel=2)
                _loaded[choice] = _load_numpy()
    return _loaded[choice]


def active() -> VectorMath:
    """The vector math in use: chosen by BACKPROP_VECTOR_MATH at the first call."""
    if not _active:
        _active.append(load(os.environ.get(ENV, "").strip().lower() or "auto"))
    return _active[0]


def use(choice: str) -> VectorMath:
    """Run later passes over arrays with ``choice`` (auto, numpy or mkl); returns it."""
    chosen = load(choice)
    _active[:] = [chosen]
    return chosen


@contextmanager
def using(choice: str) -> Iterator[VectorMath]:
    """``use(choice)`` inside a ``with`` block, and the one before it after the block."""
    before = list(_active)
    try:
        yield use(choice)
    finally:
        _active[:] = before


# What the primitives' table calls: one lookup of the active choice per call of a whole
# array or block, nothing measurable beside the work.


def sin(x: Any) -> Any:
    return (_active[0] if _active else active()).sin(x)


def cos(x: Any) -> Any:
    return (_active[0] if _active else active()).cos(x)


def sin_and_cos(x: Any) -> tuple[Any, Any]:
    """sin(x) and its local derivative cos(x)."""
    return (_active[0] if _active else active()).sin_and_cos(x)


def cos_and_minus_sin(x: Any) -> tuple[Any, Any]:
    """cos(x) and its local derivative -sin(x)."""
    s, c = (_active[0] if _active else active()).sin_and_cos(x)
    return c, -s

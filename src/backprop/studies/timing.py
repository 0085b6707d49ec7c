"""The one timing harness of the studies and the benchmarks.

Every method is timed the same way, as :mod:`timeit` would: one untimed call
first (warm: caches filled, lazy imports done), then samples of ``number``
calls each (``number`` chosen so that a sample lasts at least
``sample_seconds`` of wall time, timeit's autorange idea), garbage collection
off while a sample runs. The functions are interleaved: each round times every function
once, in an order rotated from round to round, so the machine's load falls on
all of them alike. Rounds go on until every function has run for
``min_total`` seconds (wall time) and ``min_repeats`` rounds are done, and none
starts that would end past a ``deadline``. The result is the median time per call, with the spread.

The clock is the process's CPU time (:func:`time.process_time`): on a shared
machine the time other processes hold the cores is not the method's cost, and
wall time would count it (a 2-core machine at load 8 stretches wall times 4x
and unevenly). The methods timed are single-threaded (BLAS is held to one
thread), so their CPU time is the wall time they take on an idle machine. The
deadline is kept in wall time.

Also :func:`limit_threads`: BLAS on one thread while a study runs.
"""

from __future__ import annotations

import contextlib
import gc
import os
import statistics
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping


@dataclass(frozen=True)
class Timing:
    """Seconds per call of one function: the median over samples, and the spread."""

    median: float
    low: float  # the fastest sample
    high: float  # the slowest sample
    q1: float  # first and third quartile of the samples
    q3: float
    repeats: int  # samples taken (0: only the warm call was timed, the deadline came first)
    number: int  # calls per sample
    samples: tuple[float, ...] = ()  # seconds per call of each sample, in round order

    @property
    def spread(self) -> float:
        """(q3 - q1) / median: the relative interquartile range."""
        return (self.q3 - self.q1) / self.median if self.median > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"median": self.median, "min": self.low, "max": self.high, "q1": self.q1,
                "q3": self.q3, "spread": self.spread, "repeats": self.repeats, "number": self.number}

    @classmethod
    def of(cls, per_call: list[float], number: int) -> Timing:
        xs = sorted(per_call)
        if len(xs) >= 2:
            q1, _, q3 = statistics.quantiles(xs, n=4, method="inclusive")
        else:
            q1 = q3 = xs[0]
        return cls(statistics.median(xs), xs[0], xs[-1], q1, q3, len(xs), number, tuple(per_call))


CLOCK = time.process_time


def _timed(fn: Callable[[], Any], number: int) -> float:
    t0 = CLOCK()
    for _ in range(number):
        fn()
    return CLOCK() - t0


def _autorange(fn: Callable[[], Any], sample_seconds: float,
               deadline: float | None) -> tuple[int, float]:
    """Calls per sample: 1, 2, 5, 10, 20, ... until a sample lasts ``sample_seconds`` of wall
    time (a call that waits costs no CPU but still takes time), as timeit's autorange."""
    number, dt = 1, 0.0
    for k in range(30):
        number = (1, 2, 5)[k % 3] * 10 ** (k // 3)
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        dt = time.perf_counter() - t0
        if dt >= sample_seconds or (deadline is not None and time.perf_counter() + 2.5 * dt > deadline):
            break
    return number, dt


def time_interleaved(fns: Mapping[str, Callable[[], Any]], min_total: float = 0.05,
                     min_repeats: int = 5, max_repeats: int = 10_000,
                     sample_seconds: float = 0.002,
                     deadline: float | None = None) -> dict[str, Timing]:
    """Time every function in ``fns``, interleaved; per-call :class:`Timing` by name.

    With a ``deadline`` (a ``time.perf_counter()`` instant) no round starts
    that would end past it, predicted from the last round; if not even one
    round fits, the warm call's time is all there is (``repeats`` 0).
    """
    names = list(fns)
    if not names:
        return {}
    warm: dict[str, float] = {}
    number: dict[str, int] = {}
    round_seconds = 0.0  # wall time of a round: predicted from the autorange, then the last round
    for name in names:  # the warm call is not a sample: it pays for first-call effects
        warm[name] = _timed(fns[name], 1)
        number[name], dt = _autorange(fns[name], sample_seconds, deadline)
        round_seconds += dt
    samples: dict[str, list[float]] = {n: [] for n in names}
    totals = dict.fromkeys(names, 0.0)
    collecting = gc.isenabled()
    gc.collect()
    rounds = 0
    try:
        while rounds < max_repeats:
            if rounds >= min_repeats and all(totals[n] >= min_total for n in names):
                break
            if deadline is not None and time.perf_counter() + round_seconds > deadline:
                break
            start = time.perf_counter()
            k = rounds % len(names)
            for name in names[k:] + names[:k]:
                wall = time.perf_counter()
                gc.disable()  # as timeit: a collection mid-sample is noise, not the method's cost
                try:
                    dt = _timed(fns[name], number[name])
                finally:
                    if collecting:
                        gc.enable()
                samples[name].append(dt / number[name])
                totals[name] += time.perf_counter() - wall  # the minimum total is in wall time
            round_seconds = time.perf_counter() - start
            rounds += 1
    finally:
        if collecting:
            gc.enable()
    return {n: Timing.of(samples[n], number[n]) if samples[n] else
            Timing(warm[n], warm[n], warm[n], warm[n], warm[n], 0, 1, (warm[n],)) for n in names}


def median_ratio(a: Timing, b: Timing) -> float:
    """The median over rounds of a's time over b's in the same round (a and b interleaved):
    a load that changes between rounds falls on both sides of each ratio alike."""
    return statistics.median(x / y for x, y in zip(a.samples, b.samples))


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No garbage collection while a large graph is built: the collector's passes over
    hundreds of thousands of new tuples make the building superlinear, and no cycle
    is made."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def time_one(fn: Callable[[], Any], **options: Any) -> Timing:
    return time_interleaved({"fn": fn}, **options)["fn"]


THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


def limit_thread_variables() -> None:
    """Set the BLAS thread variables to 1 unless the user set them: call before numpy loads.

    The command line does this where ``compare --scaling`` starts; in a process
    that has loaded numpy already :func:`limit_threads` does the work.
    """
    for v in THREAD_VARIABLES:
        os.environ.setdefault(v, "1")


@contextlib.contextmanager
def limit_threads() -> Iterator[None]:
    """BLAS on one thread while timing: on a small shared machine its threads only
    contend, and a matrix product's time then says nothing about its size."""
    from threadpoolctl import threadpool_limits  # a dependency: the budget depends on it

    with threadpool_limits(limits=1):
        yield


def blas_threads() -> str:
    """The BLAS threads in use now, as threadpoolctl finds them."""
    from threadpoolctl import threadpool_info

    counts = sorted({int(p["num_threads"]) for p in threadpool_info() if p.get("user_api") == "blas"})
    if not counts:
        return "no BLAS loaded"
    return " or ".join(map(str, counts)) + (" BLAS thread" if counts == [1] else " BLAS threads")

"""The thread pool that spreads blocks of rows over the cores.

Shared by the engine's large batches (``core/engine.py``) and a model's
predictions (``nn/predict.py``): how many threads (``BACKPROP_THREADS``, else the
cores this process may use), how a batch is cut into blocks, and one pool per
size for the whole process. numpy releases the GIL inside its ufuncs and BLAS
calls, so blocks in threads run on all the cores; each block writes only its own
rows, so the result does not depend on the number of threads.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Sequence

from backprop.errors import InputError

_pools: dict[int, Any] = {}
_cache: list[int] = []

# When the system does not say: a last-level cache smaller than most of today's.
DEFAULT_CACHE_BYTES = 8 << 20


def cache_bytes() -> int:
    """The size of the largest CPU cache, in bytes (Linux's sysfs; else 8 MiB)."""
    if not _cache:
        found: list[int] = []
        try:
            base = "/sys/devices/system/cpu/cpu0/cache"
            for entry in os.listdir(base):
                if entry.startswith("index"):
                    with open(os.path.join(base, entry, "size")) as fh:
                        text = fh.read().strip()
                    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:].upper(), 1)
                    found.append(int(text.rstrip("KkMmGg")) * scale)
        except (OSError, ValueError):
            found.append(DEFAULT_CACHE_BYTES)  # an entry not read: the default is a floor
        _cache.append(max(found, default=DEFAULT_CACHE_BYTES))
    return _cache[0]


# The most threads a batch is spread over, per core this process may use: past the cores
# threads only wait for the interpreter's lock and cost a stack each (tens of thousands
# of them cannot even start).
THREADS_PER_CORE = 4


def cores() -> int:
    """The cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def max_threads() -> int:
    """The most threads a batch uses: :data:`THREADS_PER_CORE` per core."""
    return THREADS_PER_CORE * cores()


def capped_threads(n: int, source: str = "--threads") -> tuple[int, str | None]:
    """``n`` threads, or :func:`max_threads` if ``n`` is more, with a note saying so.

    ``source`` names where ``n`` came from (an option or BACKPROP_THREADS). An ``n``
    below 1 is an :class:`~backprop.errors.InputError`.
    """
    if n < 1:
        raise InputError(f"{source} must be at least 1, not {n}")
    top = max_threads()
    if n <= top:
        return n, None
    return top, (f"{source} {n:,}: using {top} threads ({THREADS_PER_CORE} a core, "
                 f"{cores()} cores here); more would only wait for the cores")


def threads_from_environment() -> tuple[int | None, str | None]:
    """BACKPROP_THREADS as a capped count (None when unset) and a note if it was capped."""
    env = os.environ.get("BACKPROP_THREADS", "").strip()
    if not env:
        return None, None
    try:
        n = int(env)
    except ValueError:
        raise InputError(f"BACKPROP_THREADS must be a whole number of threads, not {env!r}") \
            from None
    return capped_threads(n, "BACKPROP_THREADS")


def default_threads() -> int:
    """Threads for a batch: BACKPROP_THREADS if set (at most :func:`max_threads`), else the
    cores this process may use."""
    n, _ = threads_from_environment()
    return cores() if n is None else n


def block_bounds(n: int, rows: int, threads: int = 1, min_rows: int = 1) -> list[tuple[int, int]]:
    """The (start, stop) rows of the blocks of a batch of ``n`` rows.

    Blocks of ``rows``; with several threads and fewer blocks than threads,
    shorter blocks (n / threads each), so that no thread waits while another
    computes the whole batch. No block is shorter than ``min_rows`` (a short last
    block joins the one before): a computation that changes method with the
    number of rows then runs every block as it would run the whole batch.
    """
    if threads > 1:
        rows = min(rows, -(-n // threads))
    rows = max(rows, min_rows, 1)
    starts = list(range(0, n, rows))
    if len(starts) > 1 and n - starts[-1] < min_rows:
        starts.pop()
    return list(zip(starts, starts[1:] + [n]))


def run_blocks(run: Callable[[int, int], None], bounds: Sequence[tuple[int, int]],
               threads: int = 1) -> None:
    """``run(start, stop)`` for every block, spread over a pool of ``threads`` threads.

    Every block is finished (and the first error re-raised) when this returns.
    """
    if threads <= 1 or len(bounds) <= 1:
        for start, stop in bounds:
            run(start, stop)
    else:
        # list(): wait for every block and re-raise the first error
        # capped here too, for the library's callers: a pool of 100,000 threads cannot start
        list(_pool(min(threads, len(bounds), max_threads())).map(lambda b: run(*b), bounds))


def _pool(threads: int) -> Any:
    # One pool per size for the whole process: creating threads costs more than a block.
    pool = _pools.get(threads)
    if pool is None:
        from concurrent.futures import ThreadPoolExecutor

        pool = _pools[threads] = ThreadPoolExecutor(threads, thread_name_prefix="backprop")
    return pool

"""The one way tests run the command line: in this process or as a real subprocess.

* :func:`run_cli`: ``backprop.cli.main(argv)`` here, output captured by pytest's capsys;
* :func:`run_inprocess`: the same with stdin/stdout/stderr swapped for byte buffers
  (stdin a strict UTF-8 text stream over bytes, as a pipe gives);
* :func:`run_subprocess`: ``python -m backprop`` with NO_COLOR, as a :class:`Run`;
* :func:`run_backprop`: ``python -m backprop`` (or a given script) as a
  ``CompletedProcess`` of text, for tests that read it like a shell would;
* :func:`limit_resources` / :data:`BACKPROP`: for a test that must start the process
  itself (``Popen``, a shell pipeline): ``preexec_fn=limit_resources``.

Every run is held to the limits a user's machine sets (issue 25): at most
:data:`MEMORY_LIMIT_BYTES` of address space (``RLIMIT_AS``; a subprocess gets it
through ``preexec_fn``, a run in this process gets that much above what the test
process already holds) and a time limit. A run that needs more is a failure of the
test, as are a kill by a signal, a ``MemoryError``, an "internal error" or a Python
traceback: a size the program should have refused shows up here, not as a machine
brought to its knees.
"""

from __future__ import annotations

import functools
import io
import os
import resource
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

# 3 GiB of address space: what a modest machine or a CI container gives, and about
# fifteen times what a command needs to start (python, numpy and the package: ~0.2 GB)
MEMORY_LIMIT_BYTES = 3 * 2**30
TIME_LIMIT_S = 120.0
BACKPROP = [sys.executable, "-m", "backprop"]


@dataclass
class Run:
    argv: list[str]
    code: int
    out: str
    err: str


def limit_resources(cpu_seconds: int | None = None) -> None:
    """``preexec_fn`` of every subprocess a test starts: the address-space limit (soft and
    hard, so that the program cannot lift it) and, when given, a limit on CPU time (a
    time limit that a busy machine does not trip: SIGXCPU ends the process)."""
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = MEMORY_LIMIT_BYTES if hard == resource.RLIM_INFINITY else min(hard, MEMORY_LIMIT_BYTES)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    if cpu_seconds is not None:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 5))


def check_ended_well(argv: Any, code: int, out: str, err: str,
                     signals: tuple[int, ...] = ()) -> None:
    """No kill (but by one of ``signals``), no MemoryError, no internal error, no traceback."""
    where = f"argv={argv!r}\nexit={code}\nstderr={err[-2000:]!r}"
    if code < 0 and -code not in signals:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
        why = ("the CPU time limit" if -code == signal.SIGXCPU
               else f"the {MEMORY_LIMIT_BYTES >> 30} GiB memory limit?")
        pytest.fail(f"killed by {name} ({why})\n" + where, pytrace=False)
    for text in (out, err):
        assert "Traceback" not in text, where
        assert "MemoryError" not in text, where
        assert "internal error" not in text, where


class _TimeLimit(BaseException):
    """Raised in the main thread when a run in this process outlives its time limit
    (a BaseException: the command line's own handlers let it through)."""


def _address_space() -> int:
    """Bytes of address space this process holds now (VmSize)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


@contextmanager
def limits_here(timeout: float = TIME_LIMIT_S) -> Iterator[None]:
    """The memory and time limits on code run in this process: MEMORY_LIMIT_BYTES more
    address space than it holds now (the soft limit, restored afterwards) and a timer
    that interrupts the run after ``timeout`` seconds."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = _address_space() + MEMORY_LIMIT_BYTES
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    timed = threading.current_thread() is threading.main_thread()

    def _expired(signum: int, frame: Any) -> None:
        raise _TimeLimit

    previous = signal.signal(signal.SIGALRM, _expired) if timed else None
    if timed:
        signal.setitimer(signal.ITIMER_REAL, timeout)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    except _TimeLimit:
        pytest.fail(f"did not end within {timeout:g} s", pytrace=False)
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        if timed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``main(argv)`` in this process: (exit code, stdout, stderr)."""
    from backprop.cli import main

    with limits_here():
        code = main(argv)
    out, err = capsys.readouterr()
    check_ended_well(argv, code, out, err)
    return code, out, err


def run_inprocess(argv: list[str], stdin: bytes | str | None = None,
                  timeout: float = TIME_LIMIT_S) -> Run:
    """``main(argv)`` in this process, stdin/stdout/stderr swapped for byte buffers.

    stdout is a TextIOWrapper over bytes, as a pipe is, since graph writes its
    picture to sys.stdout.buffer.
    """
    from backprop.cli import main

    data = stdin.encode("utf-8", "surrogateescape") if isinstance(stdin, str) else (stdin or b"")
    fake_in = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8")
    out_bytes, err_bytes = io.BytesIO(), io.BytesIO()
    fake_out = io.TextIOWrapper(out_bytes, encoding="utf-8", write_through=True)
    fake_err = io.TextIOWrapper(err_bytes, encoding="utf-8", errors="backslashreplace",
                                write_through=True)
    saved = sys.stdin, sys.stdout, sys.stderr
    sys.stdin, sys.stdout, sys.stderr = fake_in, fake_out, fake_err
    try:
        with limits_here(timeout):
            code = main(argv)
    except SystemExit as exc:  # main() must return, never exit: recorded as a failure
        code = -1000 - (exc.code if isinstance(exc.code, int) else 0)
    finally:
        fake_out.flush()
        fake_err.flush()
        sys.stdin, sys.stdout, sys.stderr = saved
    run = Run(list(argv), code, out_bytes.getvalue().decode("utf-8", "replace"),
              err_bytes.getvalue().decode("utf-8", "replace"))
    check_ended_well(argv, 0, run.out, run.err)
    return run


def _run_limited(cmd: list[str], data: bytes | None, env: dict[str, str] | None,
                 timeout: float, cwd: str | os.PathLike[str] | None,
                 cpu_seconds: int | None = None) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(cmd, input=data or b"", capture_output=True, env=env,
                              timeout=timeout, cwd=cwd,
                              preexec_fn=functools.partial(limit_resources, cpu_seconds))
    except subprocess.TimeoutExpired:
        pytest.fail(f"{cmd[2:] if cmd[:2] == BACKPROP[:2] else cmd!r} did not end within "
                    f"{timeout:g} s", pytrace=False)


def run_subprocess(argv: list[str], stdin: bytes | None = None, timeout: float = 60,
                   env: dict[str, str] | None = None, cwd: str | os.PathLike[str] | None = None,
                   cpu_seconds: int | None = None) -> Run:
    """``python -m backprop *argv`` with NO_COLOR (and without BACKPROP_DEBUG), under
    the memory and time limits (``timeout`` of wall time, ``cpu_seconds`` of CPU time)."""
    full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
    full_env.pop("BACKPROP_DEBUG", None)
    p = _run_limited([*BACKPROP, *argv], stdin, full_env, timeout, cwd, cpu_seconds)
    run = Run(list(argv), p.returncode, p.stdout.decode("utf-8", "replace"),
              p.stderr.decode("utf-8", "replace"))
    check_ended_well(argv, run.code, run.out, run.err)
    return run


def run_backprop(*args: str, stdin: str | bytes | None = None, env: dict[str, str] | None = None,
                 script: str | None = None, timeout: float = TIME_LIMIT_S,
                 cwd: str | os.PathLike[str] | None = None,
                 check: bool = False) -> subprocess.CompletedProcess[Any]:
    """``python -m backprop *args`` (or ``script *args``): a CompletedProcess of text,
    under the memory and time limits; ``check``: a non-zero exit fails the test."""
    cmd = [*BACKPROP, *args] if script is None else [script, *args]
    data = stdin.encode() if isinstance(stdin, str) else stdin
    p = _run_limited(cmd, data, env, timeout, cwd)
    out = subprocess.CompletedProcess(p.args, p.returncode, p.stdout.decode(), p.stderr.decode())
    check_ended_well(args, out.returncode, out.stdout, out.stderr)
    if check and out.returncode != 0:
        pytest.fail(f"{list(args)!r} exited {out.returncode}: {out.stderr[-2000:]}", pytrace=False)
    return out

"""The one way tests run the command line: in this process or as a real subprocess.

* :func:`run_cli`: ``backprop.cli.main(argv)`` here, output captured by pytest's capsys;
* :func:`run_inprocess`: the same with stdin/stdout/stderr swapped for byte buffers
  (stdin a strict UTF-8 text stream over bytes, as a pipe gives);
* :func:`run_subprocess`: ``python -m backprop`` with NO_COLOR, as a :class:`Run`;
* :func:`run_backprop`: ``python -m backprop`` (or a given script) as a
  ``CompletedProcess`` of text, for tests that read it like a shell would.

None of them lets a Python traceback pass.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import pytest


@dataclass
class Run:
    argv: list[str]
    code: int
    out: str
    err: str


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``main(argv)`` in this process: (exit code, stdout, stderr)."""
    from backprop.cli import main

    code = main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def run_inprocess(argv: list[str], stdin: bytes | str | None = None) -> Run:
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
        code = main(argv)
    except SystemExit as exc:  # main() must return, never exit: recorded as a failure
        code = -1000 - (exc.code if isinstance(exc.code, int) else 0)
    finally:
        fake_out.flush()
        fake_err.flush()
        sys.stdin, sys.stdout, sys.stderr = saved
    return Run(list(argv), code, out_bytes.getvalue().decode("utf-8", "replace"),
               err_bytes.getvalue().decode("utf-8", "replace"))


def run_subprocess(argv: list[str], stdin: bytes | None = None, timeout: float = 60,
                   env: dict[str, str] | None = None) -> Run:
    """``python -m backprop *argv`` with NO_COLOR (and without BACKPROP_DEBUG)."""
    full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
    full_env.pop("BACKPROP_DEBUG", None)
    p = subprocess.run([sys.executable, "-m", "backprop", *argv], input=stdin or b"",
                       capture_output=True, timeout=timeout, env=full_env)
    return Run(list(argv), p.returncode, p.stdout.decode("utf-8", "replace"),
               p.stderr.decode("utf-8", "replace"))


def run_backprop(*args: str, stdin: str | bytes | None = None, env: dict[str, str] | None = None,
                 script: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[Any]:
    """``python -m backprop *args`` (or ``script *args``): a CompletedProcess of text."""
    cmd = [sys.executable, "-m", "backprop", *args] if script is None else [script, *args]
    data = stdin.encode() if isinstance(stdin, str) else stdin
    p = subprocess.run(cmd, input=data, capture_output=True, env=env, timeout=timeout)
    out = subprocess.CompletedProcess(p.args, p.returncode, p.stdout.decode(), p.stderr.decode())
    assert "Traceback" not in out.stderr and "Traceback" not in out.stdout, out.stderr
    return out

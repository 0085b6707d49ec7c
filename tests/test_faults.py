"""Faults around `backprop grad` (issue 6): closed pipes, a full disk, signals, and
numbers that overflow or are nan. Real subprocesses, because the faults are the
operating system's.

Defined behaviour, tested here and stated in SECURITY.md:
* a reader that closes early (`| head -1`) or SIGPIPE: exit 141, nothing on stderr;
* a full disk (/dev/full as stdout): exit 1 and one line "backprop: error: No space left on device";
* SIGINT: exit 130 and "backprop: interrupted";
* overflow inside the graph: IEEE inf (or nan where inf meets 0), written as inf/nan in
  CSV, null in JSON, exit 0, and one warning on stderr naming the first module at fault;
* nan on stdin or in --at: carried through as nan, the same warning.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import time

import pytest

from clikit import BACKPROP, limit_resources, run_subprocess
from fuzzkit import check_contract

ENV = {**os.environ, "NO_COLOR": "1"}


def _sigpipe_default_and_limits() -> None:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    limit_resources()


def _no_traceback(err: bytes) -> str:
    text = err.decode("utf-8", "replace")
    assert "Traceback" not in text and "Exception ignored" not in text, text
    assert "MemoryError" not in text and "internal error" not in text, text
    return text


# The table is rendered by rich at ~0.3 ms a row, a chunk of 65,536 rows at a time,
# so its case is kept small (see SECURITY.md: use csv or json for big streams), yet well
# over what a pipe and head's first read hold (64 KiB and a few KiB): 10,000 rows are
# about 260 KB, so the reader is always gone before the table is all written. (At 3,000
# rows, 78 KB, the table could fit before head left: a quiet exit 0, also right.)
@pytest.mark.parametrize("fmt,lines", [("csv", 300_000), ("json", 300_000), ("table", 10_000)])
def test_reader_that_closes_early_head_1(fmt: str, lines: int, tmp_path) -> None:
    """`seq 1 N | backprop grad x^2 --at - | head -1` in a real shell: exit 141 (the output
    is far more than a pipe holds, so the reader is gone before it is all written), quiet."""
    script = (f"seq 1 {lines} | {' '.join(BACKPROP)} grad 'x^2' --at - --format {fmt} "
              "2>err.txt | head -1; echo \"${PIPESTATUS[1]}\" > code.txt")
    p = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, timeout=120,
                       env=ENV, preexec_fn=limit_resources)
    code = int((tmp_path / "code.txt").read_text())
    err = (tmp_path / "err.txt").read_bytes()
    assert code == 141, (code, err)
    assert _no_traceback(err) == ""  # quiet
    assert p.stdout.count(b"\n") == 1


def test_reader_closed_before_anything_is_written() -> None:
    proc = subprocess.Popen([*BACKPROP, "grad", "x^2", "--at", "-", "--format", "csv"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=ENV, preexec_fn=limit_resources)
    proc.stdout.close()  # type: ignore[union-attr]
    _, err = proc.communicate(b"".join(b"%d\n" % i for i in range(100_000)), timeout=60)
    assert proc.returncode == 141
    assert _no_traceback(err) == ""


def test_sigpipe_default_disposition_is_still_quiet() -> None:
    """A parent that restores SIGPIPE to its default: the process dies of it or exits 141, silently."""
    proc = subprocess.Popen([*BACKPROP, "grad", "x", "--at", "-", "--format", "csv"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=ENV, preexec_fn=_sigpipe_default_and_limits)
    # the first line comes first: it says the stream's format (CSV or JSON Lines) and
    # its pass-through columns, so the header is written only once it is read
    proc.stdin.write(b"1\n")  # type: ignore[union-attr]
    proc.stdin.flush()  # type: ignore[union-attr]
    proc.stdout.read(10)  # type: ignore[union-attr]
    proc.stdout.close()  # type: ignore[union-attr]
    _, err = proc.communicate(b"1\n" * 200_000, timeout=60)
    assert proc.returncode in (141, -signal.SIGPIPE)
    assert _no_traceback(err) == ""


@pytest.mark.parametrize("argv,stdin", [
    (["grad", "x^2", "--at", "3"], None),
    (["grad", "x^2", "--at", "3", "--format", "json"], None),
    (["grad", "x^2", "--at", "3", "--trace"], None),
    (["grad", "x^2", "--at", "-", "--format", "csv"], b"".join(b"%d\n" % i for i in range(50_000))),
])
def test_full_disk_as_stdout(argv: list[str], stdin: bytes | None) -> None:
    with open("/dev/full", "wb") as full:
        p = subprocess.run([*BACKPROP, *argv], input=stdin or b"", stdout=full,
                           stderr=subprocess.PIPE, timeout=60, env=ENV, preexec_fn=limit_resources)
    err = _no_traceback(p.stderr)
    assert p.returncode == 1, err
    assert err == "backprop: error: No space left on device\n"


def test_sigint_while_reading_stdin() -> None:
    proc = subprocess.Popen([*BACKPROP, "grad", "x", "--at", "-"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV,
                            preexec_fn=limit_resources)
    proc.stdin.write(b"1\n")  # type: ignore[union-attr]
    proc.stdin.flush()  # type: ignore[union-attr]
    time.sleep(1.5)  # let it start and block on the read
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=30)
    except ValueError:  # stdin already closed by communicate on some versions
        err = proc.stderr.read()  # type: ignore[union-attr]
    text = _no_traceback(err)
    assert proc.returncode == 130, text
    assert text.strip().splitlines()[-1] == "backprop: interrupted"


@pytest.mark.parametrize("argv", [
    ["descend", "x^2", "--from", "1", "--lr", "1e-9", "--steps", "1000000", "--format", "csv"],
    ["compare", "--scaling", "--max-seconds", "60"],
])
@pytest.mark.slow  # a few seconds: in the slow group (docs/setup.md)
def test_sigint_in_a_long_command_says_interrupted(argv: list[str]) -> None:
    proc = subprocess.Popen([*BACKPROP, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=ENV, preexec_fn=limit_resources)
    time.sleep(2.0)  # well inside the work
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    text = _no_traceback(err)
    assert proc.returncode == 130, text
    assert text.strip().splitlines()[-1] == "backprop: interrupted"


def _json_run(expr: str, at: str) -> tuple[dict, str]:
    r = run_subprocess(["grad", expr, "--at", at, "--format", "json"])
    check_contract(r, allowed=(0,))
    return json.loads(r.out), r.err


def test_overflow_exp_1000_is_inf_written_as_null_with_a_warning() -> None:
    out, err = _json_run("exp(x)", "1000")
    assert out == {"at": {"x": 1000.0}, "value": None, "grad": {"x": None}}
    assert err.startswith("warning: the value is not finite: exp(x)")
    assert err.count("\n") == 1
    r = run_subprocess(["grad", "exp(x)", "--at", "1000", "--format", "csv"])
    assert r.code == 0 and r.out.splitlines()[1] == "1000.0,inf,inf"


def test_underflow_one_over_exp_1000() -> None:
    """1/exp(1000): the value underflows to 0 exactly as IEEE says; the gradient is
    -exp(-1000), which underflows too, but backpropagation meets 0 * inf on the way
    (d(1/u)/du = -1/u^2 = -0, times d exp/dx = inf): nan, reported, exit 0."""
    out, err = _json_run("1/exp(x)", "1000")
    assert out["value"] == 0.0
    assert out["grad"]["x"] is None
    assert err.startswith("warning: the gradient is not finite")
    # written as exp(-x) there is no inf on the way and the answer is the true -0.0
    out, err = _json_run("exp(-x)", "1000")
    assert out["value"] == 0.0 and out["grad"]["x"] == 0.0 and err == ""
    assert math.copysign(1.0, out["grad"]["x"]) == -1.0


def test_nan_and_inf_on_stdin_are_carried_through() -> None:
    r = run_subprocess(["grad", "x^2", "--at", "-", "--format", "csv"],
                       b"x\n2\nnan\ninf\n-inf\n1e400\n3\n")
    check_contract(r, allowed=(0,))
    rows = [line.split(",") for line in r.out.splitlines()[1:]]
    assert rows == [["2.0", "4.0", "4.0"], ["nan", "nan", "nan"], ["inf", "inf", "inf"],
                    ["-inf", "inf", "-inf"], ["inf", "inf", "inf"], ["3.0", "9.0", "6.0"]]
    assert r.err.count("warning:") == 1  # one warning, not one per row


def test_nan_at_point_in_json_is_null() -> None:
    out, err = _json_run("x*y", "x=nan,y=2")
    assert out == {"at": {"x": None, "y": 2.0}, "value": None, "grad": {"x": 2.0, "y": None}}
    assert "warning:" in err

"""`backprop grad` through the real command line (a subprocess of python -m backprop)."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import pty
import re
import select
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from clikit import run_backprop

ENV = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "BACKPROP_DEBUG")}
SEED = "2/sin(exp(-x))"


def run(*args: str, stdin: str | bytes | None = None, env: dict | None = None,
        module: bool = True) -> subprocess.CompletedProcess:
    return run_backprop(*args, stdin=stdin, env=env or ENV, script=None if module else _script())


def _script() -> str:
    path = Path(sys.executable).parent / "backprop"
    return str(path) if path.exists() else shutil.which("backprop") or "backprop"


def bad(*args: str, stdin: str | None = None) -> str:
    """Runs a command that must fail with exit 2 and one error message; returns stderr."""
    p = run(*args, stdin=stdin)
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert p.stderr.count("backprop: error:") == 1, p.stderr
    assert p.stderr.startswith("backprop: error:")
    return p.stderr


def jsonl(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


# ---- the value and the gradient --------------------------------------------------------

def test_seed_example_table() -> None:
    p = run("grad", SEED, "--at", "-4.499")
    assert p.returncode == 0 and p.stderr == ""
    x = -4.499
    value = 2 / math.sin(math.exp(-x))
    d = -2 / math.sin(math.exp(-x)) ** 2 * math.cos(math.exp(-x)) * math.exp(-x) * -1
    assert repr(value) in p.stdout
    nums = [float(t) for t in p.stdout.split() if t.lstrip("-").replace(".", "", 1).replace("e-", "").isdigit()]
    assert any(math.isclose(n, d, rel_tol=1e-12) for n in nums), p.stdout
    assert "\x1b[" not in p.stdout  # not a terminal: no colour


def test_json_two_variables() -> None:
    p = run("grad", "x^2*y + sin(y)", "--at", "x=1,y=2", "--format", "json")
    assert p.returncode == 0
    [row] = jsonl(p.stdout)
    assert row["at"] == {"x": 1.0, "y": 2.0}
    assert row["value"] == pytest.approx(2 + math.sin(2), rel=1e-15)
    assert row["grad"]["x"] == 4.0
    assert row["grad"]["y"] == pytest.approx(1 + math.cos(2), rel=1e-15)
    assert list(row) == ["at", "value", "grad"]


def test_short_format_flag_and_wrt() -> None:
    p = run("grad", "x*y + y*z", "--at", "x=1,y=2,z=3", "-f", "json", "--wrt", "z,x")
    [row] = jsonl(p.stdout)
    assert row["grad"] == {"z": 2.0, "x": 2.0}
    p = run("grad", "x*y + y*z", "--at", "x=1,y=2,z=3", "-f", "csv", "--wrt", "y")
    assert p.stdout.splitlines()[0] == "x,y,z,f,df/dy"


def test_csv_header_and_repr_round_trip() -> None:
    xs = [0.1, -1e-300, 1 / 3, 12345.678901234567, 2.0 ** 0.5]
    p = run("grad", "x*y + y", "--at", "-", "--format", "csv",
            stdin="x,y\n" + "".join(f"{x!r},{x * 7!r}\n" for x in xs))
    assert p.returncode == 0, p.stderr
    rows = list(csv.reader(io.StringIO(p.stdout)))
    assert rows[0] == ["x", "y", "f", "df/dx", "df/dy"]
    for x, row in zip(xs, rows[1:]):
        y = x * 7
        assert [float(c) for c in row] == [x, y, x * y + y, y, x + 1.0]
        assert all(repr(float(c)) == c for c in row)  # the shortest text that reads back
    assert len(rows) == len(xs) + 1


def test_constant_expression() -> None:
    [row] = jsonl(run("grad", "2*pi", "--at", ",", "-f", "json").stdout)
    assert row == {"at": {}, "value": 2 * math.pi, "grad": {}}


def test_angle_deg_seed_example() -> None:
    x = -math.log(90.0)
    p = run("grad", SEED, "--at", repr(x), "--angle", "deg", "-f", "json")
    [row] = jsonl(p.stdout)
    assert row["value"] == pytest.approx(2.0, abs=1e-12)
    assert abs(row["grad"]["x"]) < 1e-10
    [rad] = jsonl(run("grad", SEED, "--at", repr(x), "--angle", "rad", "-f", "json").stdout)
    assert rad["value"] == pytest.approx(2 / math.sin(90.0), rel=1e-13)


def test_trace_json_follows_the_seed_walkthrough() -> None:
    p = run("grad", SEED, "--at", "-4.499", "--trace", "-f", "json")
    assert p.returncode == 0
    [t] = jsonl(p.stdout)
    a = 4.499
    b = math.exp(a)
    c = math.sin(b)
    d = 2 / c
    assert [s["module"] for s in t["forward"]] == ["neg", "exp", "sin", "/"]
    assert [s["value"] for s in t["forward"]] == pytest.approx([a, b, c, d], rel=1e-15)
    locals_ = [s["local_value"] for s in t["backward"]]
    assert locals_ == pytest.approx([-2 / c**2, math.cos(b), b, -1.0], rel=1e-14)
    # each step's contribution is upstream x local; the last one is df/dx
    for s in t["backward"]:
        assert s["contribution"] == pytest.approx(s["upstream"] * s["local_value"], rel=1e-15)
    assert t["backward"][-1]["contribution"] == t["grad"]["x"]
    assert t["grad"]["x"] == pytest.approx(-2 / c**2 * math.cos(b) * b * -1, rel=1e-14)


def test_trace_table_and_csv() -> None:
    p = run("grad", SEED, "--at", "-4.499", "--trace")
    assert p.returncode == 0
    for word in ("Forward", "Backward", "exp", "sin", "cos(b)", "df/dx"):
        assert word in p.stdout
    p = run("grad", "sin(x)*sin(x)", "--at", "0.5", "--trace", "-f", "csv")
    rows = list(csv.DictReader(io.StringIO(p.stdout)))
    back = [r for r in rows if r["pass"] == "backward"]
    # the shared sin node receives one contribution from each path out of it
    assert sum(1 for r in back if r["input"] == back[-1]["node"]) == 2
    assert {r["pass"] for r in rows} == {"forward", "backward"}


def test_trace_with_stdin_is_bad_input() -> None:
    assert "--trace" in bad("grad", "x", "--at", "-", "--trace", stdin="1\n")


def test_help_has_every_option_and_an_example() -> None:
    p = run("grad", "--help")
    assert p.returncode == 0
    for opt in ("--at", "--wrt", "--format", "--trace", "--angle", "Examples"):
        assert opt in p.stdout, opt


def test_python_dash_m_and_the_script_agree() -> None:
    a = run("grad", SEED, "--at", "-4.499", "-f", "json")
    b = run("grad", SEED, "--at", "-4.499", "-f", "json", module=False)
    assert a.returncode == b.returncode == 0
    assert a.stdout == b.stdout and a.stdout


# ---- an EXPR beginning with '-' ------------------------------------------------------------

@pytest.mark.parametrize("args", [
    ["grad", "-x^2", "--at", "2", "-f", "json"],
    ["grad", "-x^2", "--at=2", "-f", "json"],
    ["grad", "--at", "2", "-x^2", "-f", "json"],
    ["grad", "-f", "json", "--at", "2", "-x^2"],
    ["grad", "--at", "2", "-f", "json", "--", "-x^2"],
])
def test_expression_beginning_with_minus(args: list[str]) -> None:
    p = run(*args)
    assert p.returncode == 0, p.stderr
    assert jsonl(p.stdout) == [{"at": {"x": 2.0}, "value": -4.0, "grad": {"x": -4.0}}]


def test_negative_point_after_a_minus_expression() -> None:
    [row] = jsonl(run("grad", "-x^3", "--at", "-2", "-f", "json").stdout)
    assert row == {"at": {"x": -2.0}, "value": 8.0, "grad": {"x": -12.0}}


def test_double_dash_before_expression_then_options() -> None:
    r = run("grad", "--", "-x^2", "--at", "2", "-f", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"at": {"x": 2.0}, "value": -4.0, "grad": {"x": -4.0}}


@pytest.mark.parametrize("args", [("grad", "-h"), ("grad", "x", "-h"), ("descend", "-h")])
def test_short_help_is_help_not_an_expression(args: tuple[str, ...]) -> None:
    r = run(*args)
    assert r.returncode == 0, r.stderr
    assert "Usage" in r.stdout


# ---- bad input: exit 2, one message, no traceback -------------------------------------------

@pytest.mark.parametrize("expr,col,words", [
    ("2x", 1, "implicit multiplication"),
    ("x +* 1", 3, "unexpected"),
    ("foo(x)", 0, "unknown function"),
    ("sin(x, 1)", 0, "argument"),
    ("max(x)", 0, "argument"),
    ("1 + sin", 4, "function"),
    ("pi(2)", 0, "constant"),
    ("x # 1", 2, "unexpected character"),
])
def test_bad_expression_has_a_caret(expr: str, col: int, words: str) -> None:
    err = bad("grad", expr, "--at", "1")
    lines = err.rstrip("\n").splitlines()
    assert len(lines) == 3, err  # the message, the text, the caret
    assert words in lines[0]
    assert lines[1].strip() == expr
    indent = len(lines[1]) - len(lines[1].lstrip())
    assert lines[2].index("^") - indent == col, err


def test_empty_expression() -> None:
    assert "empty" in bad("grad", "  ", "--at", "1")


@pytest.mark.parametrize("expr,at,words", [
    ("x+y", "x=", "x= has no value"),
    ("x+y", "x=1,x=2", "twice"),
    ("x+y", "x=1", "no value for y"),
    ("x+y", "x=1,y=2,z=3", "z is not a variable"),
    ("x+y", "3", "bare number"),
    ("x", "abc", "not a number"),
    ("x", "x=abc", "not a number"),
    ("x", "", "empty"),
    ("x+y", "x=1,=2", "not a name=value"),
    ("x", "1,2", "not a number"),
])
def test_bad_point(expr: str, at: str, words: str) -> None:
    err = bad("grad", expr, "--at", at)
    assert words in err, err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("wrt,words", [("z", "z is not a variable"), ("", "empty"),
                                       ("x,x", "twice")])
def test_bad_wrt(wrt: str, words: str) -> None:
    assert words in bad("grad", "x*y", "--at", "x=1,y=2", "--wrt", wrt)


@pytest.mark.parametrize("args", [
    ["grad", "x", "--at", "1", "--format", "xml"],
    ["grad", "x", "--at", "1", "--angle", "grad"],
    ["grad", "x"],
    ["grad", "x", "--at", "1", "--bogus"],
])
def test_bad_options_exit_2_without_traceback(args: list[str]) -> None:
    p = run(*args)
    assert p.returncode == 2, p.stderr
    assert p.stdout == ""
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("backprop grad: error: "), p.stderr


@pytest.mark.parametrize("expr,stdin,line,words", [
    ("x*y", "x,y\n1,2\n3\n", 3, "column"),
    ("x*y", "x,y\n1,2\n\n3,abc\n", 4, "'abc' is not a number"),
    ("x*y", "x\n1\n", 1, "no column for y"),
    ("x*y", "1\n2\n", 1, "header"),
    ("x", "x,x\n1,2\n", 1, "twice"),
    ("x", "1\n2\n1,2\n", 3, "column"),
    ("x", "1\n2\nzz\n", 3, "'zz' is not a number"),
    ("x", "x\r\n1\r\n\r\nq\r\n", 4, "'q' is not a number"),
])
def test_bad_stdin_names_the_line(expr: str, stdin: str, line: int, words: str) -> None:
    err = bad("grad", expr, "--at", "-", "-f", "csv", stdin=stdin)
    assert f"line {line}" in err, err
    assert words in err, err


def test_bad_line_after_many_good_ones() -> None:
    lines = "".join(f"{k}\n" for k in range(100_000)) + "oops\n"
    err = bad("grad", "x^2", "--at", "-", "-f", "csv", stdin=lines)
    assert "line 100001" in err


# ---- stdin streaming ---------------------------------------------------------------------

def test_stdin_with_header_any_column_order_and_extra_columns() -> None:
    p = run("grad", "x*y", "--at", "-", "-f", "json", stdin="note,y,x\n7,1,2\n8,3,4\n")
    # the column that is not a variable passes through (as text), not dropped
    assert jsonl(p.stdout) == [
        {"note": "7", "at": {"x": 2.0, "y": 1.0}, "value": 2.0, "grad": {"x": 1.0, "y": 2.0}},
        {"note": "8", "at": {"x": 4.0, "y": 3.0}, "value": 12.0, "grad": {"x": 3.0, "y": 4.0}},
    ]


def test_stdin_without_header_one_variable() -> None:
    p = run("grad", "x^3", "--at", "-", "-f", "csv", stdin="1\n2\n-3\n")
    assert p.stdout.splitlines() == ["x,f,df/dx", "1.0,1.0,3.0", "2.0,8.0,12.0",
                                     "-3.0,-27.0,27.0"]


def test_stdin_header_for_one_variable() -> None:
    p = run("grad", "x^3", "--at", "-", "-f", "csv", stdin="x\n2\n")
    assert p.stdout.splitlines() == ["x,f,df/dx", "2.0,8.0,12.0"]


def test_stdin_crlf_bom_and_blank_lines() -> None:
    data = "\ufeffx,y\r\n\r\n1,2\r\n\r\n3,4\r\n\r\n".encode("utf-8")
    p = run("grad", "x*y", "--at", "-", "-f", "json", stdin=data)
    assert p.returncode == 0, p.stderr
    assert [r["value"] for r in jsonl(p.stdout)] == [2.0, 12.0]
    p = run("grad", "x+1", "--at", "-", "-f", "csv", stdin="\ufeff5\r\n\r\n6\r\n".encode())
    assert p.stdout.splitlines()[1:] == ["5.0,6.0,1.0", "6.0,7.0,1.0"]


def test_stdin_leading_blank_lines_and_no_trailing_newline() -> None:
    p = run("grad", "x*2", "--at", "-", "-f", "csv", stdin="\n\nx\n1\n2")
    assert p.stdout.splitlines()[1:] == ["1.0,2.0,2.0", "2.0,4.0,2.0"]


def test_empty_stdin_writes_only_the_header() -> None:
    p = run("grad", "x", "--at", "-", "-f", "csv", stdin="")
    assert p.returncode == 0 and p.stdout.splitlines() == ["x,f,df/dx"]


def test_many_points_keep_input_order_across_chunks() -> None:
    n = 150_000  # more than two chunks
    p = run("grad", "x^2", "--at", "-", "-f", "csv", stdin="".join(f"{k}\n" for k in range(n)))
    lines = p.stdout.splitlines()
    assert len(lines) == n + 1
    for k in (0, 1, 65_535, 65_536, 65_537, 131_072, n - 1):
        assert lines[k + 1] == f"{float(k)!r},{float(k * k)!r},{float(2 * k)!r}"


def test_results_stream_out_before_the_input_ends() -> None:
    """Bounded memory: the first chunk is answered while stdin is still open."""
    p = subprocess.Popen([sys.executable, "-m", "backprop", "grad", "x+1", "--at", "-", "-f", "csv"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=ENV)
    def feed() -> None:  # in a thread: the child blocks on a full stdout pipe meanwhile
        try:
            assert p.stdin is not None
            p.stdin.write(b"".join(b"%d\n" % k for k in range(100_000)))
            p.stdin.flush()  # and stdin stays open
        except (BrokenPipeError, OSError, ValueError):
            pass

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    try:
        assert p.stdout is not None
        ready, _, _ = select.select([p.stdout], [], [], 60)
        assert ready, "no output while stdin stays open"
        assert p.stdout.readline() == b"x,f,df/dx\n"
        assert p.stdout.readline() == b"0.0,1.0,1.0\n"
        assert p.poll() is None  # still waiting for the rest of the input
    finally:
        p.kill()
        p.wait()


# ---- non-finite values -------------------------------------------------------------------

def test_non_finite_json_is_null_with_one_warning_naming_the_node() -> None:
    p = run("grad", "log(x - 1) + x", "--at", "-", "-f", "json", stdin="x\n3\n0\n-1\n")
    assert p.returncode == 0
    rows = jsonl(p.stdout)  # strict: json.loads rejects NaN only if we ask, so check text too
    assert "NaN" not in p.stdout and "Infinity" not in p.stdout
    assert rows[0]["value"] == pytest.approx(math.log(2) + 3, rel=1e-15)
    assert rows[1]["value"] is None and rows[2]["value"] is None
    assert p.stderr.count("warning:") == 1
    assert "log(x - 1)" in p.stderr


def test_non_finite_gradient_only() -> None:
    p = run("grad", "sqrt(x)", "--at", "0", "-f", "json")
    [row] = jsonl(p.stdout)
    assert row["value"] == 0.0 and row["grad"]["x"] is None
    assert p.stderr.count("warning:") == 1 and "sqrt(x)" in p.stderr


def test_domain_error_at_a_pole_is_inf_in_csv_and_no_numpy_warning() -> None:
    p = run("grad", "1/x", "--at", "0", "-f", "csv")
    assert p.returncode == 0
    assert p.stdout.splitlines()[1].split(",")[1] == "inf"
    assert "RuntimeWarning" not in p.stderr
    assert p.stderr.count("warning:") == 1


def test_strict_json_loads_every_line_with_nan_rejected() -> None:
    p = run("grad", "log(x)", "--at", "-", "-f", "json", stdin="x\n-1\n1\n")

    def no_constants(name: str) -> None:
        raise AssertionError(f"non-standard JSON constant {name}")

    for line in p.stdout.splitlines():
        json.loads(line, parse_constant=no_constants)


# ---- pipes and terminals ------------------------------------------------------------------

def test_closed_pipe_is_quiet() -> None:
    cmd = (f"seq 1 300000 | {sys.executable} -m backprop grad 'x^2' --at - -f csv | head -1; "
           "echo \"rc=${PIPESTATUS[1]}\" >&2")
    p = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, env=ENV, timeout=120)
    assert p.stdout == "x,f,df/dx\n"
    assert "Traceback" not in p.stderr and "Error" not in p.stderr, p.stderr
    assert p.stderr.strip() in ("rc=141", "rc=0"), p.stderr


def _on_a_terminal(args: list[str], env: dict) -> str:
    main, sub = pty.openpty()
    p = subprocess.Popen([sys.executable, "-m", "backprop", *args], stdout=sub, stderr=sub,
                         stdin=subprocess.DEVNULL, env=env)
    os.close(sub)
    chunks = []
    deadline = time.time() + 60
    while time.time() < deadline:
        r, _, _ = select.select([main], [], [], 1)
        if r:
            try:
                data = os.read(main, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        elif p.poll() is not None:
            break
    p.wait()
    os.close(main)
    return b"".join(chunks).decode(errors="replace")


def _colour_codes(text: str) -> list[str]:
    """SGR escape sequences that set a colour (30-49, 90-107); bold and italic are not colour."""
    found = []
    for params in re.findall(r"\x1b\[([0-9;]*)m", text):
        codes = [int(c) for c in params.split(";") if c]
        if any(30 <= c <= 49 or 90 <= c <= 107 for c in codes):
            found.append(params)
    return found


def test_colour_on_a_terminal_and_no_color_respected() -> None:
    env = dict(ENV, TERM="xterm-256color", COLUMNS="120")
    args = ["grad", "log(x)", "--at", "-1"]  # a table and a warning
    coloured = _on_a_terminal(args, env)
    assert _colour_codes(coloured) and "warning" in coloured
    plain = _on_a_terminal(args, dict(env, NO_COLOR="1"))
    assert _colour_codes(plain) == [] and "warning" in plain and "nan" in plain

"""Fuzzing `backprop grad` through the real command line (issue 6).

Random bytes and near-miss expressions as EXPR, random POINT strings, random
stdin (blank lines, CRLF, BOM, extra columns, text in number columns, very long
lines): every run must keep the contract in fuzzkit.check_contract. Most runs
call backprop.cli.main in-process (fast); a few start real subprocesses.
The counts of examples are printed with ``pytest -s`` (FUZZ_COUNTS).
"""

from __future__ import annotations

import os
import random

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from clikit import run_inprocess, run_subprocess
from fuzzkit import check_contract, corpus_cases, decode_stdin
from fuzzkit import TOKEN
from fuzzkit import near_miss as fuzzkit_near_miss

FUZZ = settings(deadline=None, suppress_health_check=list(HealthCheck), derandomize=False)
COUNTS: dict[str, int] = {}

# grad on random text, points, stdin and arguments: answered (0) or bad input (2, one
# message), as the README's "Conventions" say; exit 1 is for a divergence, a size cap or
# a missing program, none of which small random input can reach
BAD_INPUT_OR_ANSWER = (0, 2)


def _count(name: str) -> None:
    COUNTS[name] = COUNTS.get(name, 0) + 1


def teardown_module() -> None:
    print("\nFUZZ_COUNTS", dict(sorted(COUNTS.items())), "total", sum(COUNTS.values()))


VALID = [
    "2/sin(exp(-x))", "x^2*y + sin(y)", "-x^2", "2^3^2", "x^-2", "x**y", "max(x, y) - min(x, y)",
    "sigmoid(x)*(1-sigmoid(x))", "log(abs(x)+1e-9)", "sqrt(x^2 + y^2)", "atan(y/x)",
    "relu(x) + softplus(-x)", "pow(x, 3) + tanh(x)", "pi*e*x", "-(-(-x))", "1/(1+exp(-x))",
    "log10(x) + log2(x) + sinh(x)*cosh(x)", "asin(x/2) + acos(x/2)", "step(x)*sign(x)",
    "((x))", "+x", "x - -x", "1.5e3*x + .5 - 3.", "w*a + b", "tau*y_hat",
    # the notation people paste, aliases and the primitives of issue 12
    "π·x² − 1", "x × y ÷ 2", "√(x) + x⁻¹", "√x·√y", "ln(x) + arctan(x) + atan2(x, 2)",
    "arcsin(x/2) + arccos(x/2)", "asinh(x) + arsinh(y) + atanh(x/2)", "acosh(x^2 + 1.5)",
]
NOISE = ["(", ")", ",", "+", "-", "*", "/", "^", "**", "x", "y", "1", "0", "1e999", ".", "e",
         "sin", "pow", "max", "pi", "=", ";", "'", '"', "[", "]", "{", "}", "__import__",
         "__class__", "lambda", "\\", "#", "@", "!", "$", "%", "&", "|", "~", "`", "é", "\x00",
         "\t", "\n", "\r", "\ufeff", "1" * 400, "(" * 50, ")" * 50, "x" * 200, "nan", "inf",
         "π", "²", "⁻", "⁺", "√", "×", "·", "÷", "−", "–", "—", "θ", "ｘ", "\u00a0", "sinx", "pix",
         "ln", "arctan", "atan2", "atanh"]


@st.composite
def near_miss(draw: st.DrawFn) -> str:
    """A valid expression with one token inserted, deleted, swapped or replaced."""
    return fuzzkit_near_miss(draw, VALID, NOISE)


def _point_for(expr: str) -> str:
    names = sorted(set(TOKEN.findall(expr)) & {"x", "y", "w", "a", "b", "tau", "y_hat"})
    return ",".join(f"{n}=0.7" for n in names) or ","


@given(raw=st.binary(max_size=80), fmt=st.sampled_from(["table", "json", "csv"]))
@settings(FUZZ, max_examples=150)
@example(raw=b"\xff\xfe", fmt="json")
@example(raw=b"\x00", fmt="csv")
def test_random_bytes_as_expr(raw: bytes, fmt: str) -> None:
    _count("bytes as EXPR")
    expr = os.fsdecode(raw)  # what argv holds for those bytes
    r = run_inprocess(["grad", expr, "--at", "x=1", "--format", fmt])
    check_contract(r, allowed=BAD_INPUT_OR_ANSWER)


@given(expr=near_miss(), fmt=st.sampled_from(["table", "json", "csv"]),
       trace=st.booleans(), deg=st.booleans())
@settings(FUZZ, max_examples=300)
def test_near_miss_expressions(expr: str, fmt: str, trace: bool, deg: bool) -> None:
    _count("near-miss EXPR")
    argv = ["grad", expr, "--at", _point_for(expr), "--format", fmt]
    argv += ["--trace"] * trace + ["--angle", "deg"] * deg
    check_contract(run_inprocess(argv), allowed=BAD_INPUT_OR_ANSWER)


@given(expr=st.sampled_from(VALID))
@settings(FUZZ, max_examples=40)
def test_valid_expressions_answer(expr: str) -> None:
    """The unmutated expressions must be answered (exit 0), not merely survive."""
    _count("valid EXPR")
    r = run_inprocess(["grad", expr, "--at", _point_for(expr), "--format", "json"])
    check_contract(r, allowed=(0,))
    assert r.out.count("\n") == 1


POINT_ALPHABET = st.sampled_from(list("xyz=,.-+eE0123456789 \t") + ["nan", "inf", "x=", "=1",
                                                                   ",,", "\ufeff", "1e999", "é"])


@given(point=st.one_of(st.lists(POINT_ALPHABET, max_size=20).map("".join), st.text(max_size=30)),
       expr=st.sampled_from(["x", "x*y", "2/sin(exp(-x))", "3", "x+y+z"]))
@settings(FUZZ, max_examples=200)
def test_random_points(point: str, expr: str) -> None:
    _count("POINT")
    r = run_inprocess(["grad", expr, "--at", point, "--format", "json"])
    check_contract(r, allowed=BAD_INPUT_OR_ANSWER)


CELLS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-10**30, 10**30).map(str),
    st.sampled_from(["", " ", "x", "y", "nan", "-inf", "1e999", "1e-400", "0x10", "1_000", "١",
                     "1,5", '"1"', "\ufeff1", "\t2\t", "NaN", "Infinity", "--1", "1e", "é"]),
    st.text(max_size=8),
)


@st.composite
def stdin_text(draw: st.DrawFn) -> bytes:
    header = draw(st.sampled_from(["", "x\n", "x,y\n", "y,x\n", "x,y,extra\n", "x,x\n", ",\n",
                                   "\ufeffx,y\n", "X,Y\n", " x , y \n"]))
    lines = []
    for _ in range(draw(st.integers(0, 8))):
        cells = draw(st.lists(CELLS, min_size=0, max_size=4))
        lines.append(",".join(cells))
    if draw(st.booleans()):
        lines.append("1," * draw(st.integers(1000, 20000)) + "1")  # a very long line
    eol = draw(st.sampled_from(["\n", "\r\n", "\r", ""]))
    body = header.replace("\n", eol or "\n") + eol.join(lines) + (eol if draw(st.booleans()) else "")
    data = body.encode("utf-8", "surrogatepass")
    if draw(st.booleans()):
        data = draw(st.sampled_from([b"", b"\xef\xbb\xbf", b"\xff", b"\x00"])) + data
    return data


@given(data=stdin_text(), expr=st.sampled_from(["x*y", "x^2", "2/sin(exp(-x))", "y"]),
       fmt=st.sampled_from(["table", "json", "csv"]))
@settings(FUZZ, max_examples=200)
def test_random_stdin(data: bytes, expr: str, fmt: str) -> None:
    _count("stdin")
    r = run_inprocess(["grad", expr, "--at", "-", "--format", fmt], stdin=data)
    check_contract(r, allowed=BAD_INPUT_OR_ANSWER)


@given(argv=st.lists(st.sampled_from(["grad", "x", "-x", "--at", "-", "1", "x=1", "--wrt", "x,y",
                                      "--format", "json", "csv", "bogus", "--trace", "--angle",
                                      "deg", "grd", "--", "-h", "--help", "--version", "-f", ""]),
                     max_size=7))
@settings(FUZZ, max_examples=150)
def test_random_argument_lists(argv: list[str]) -> None:
    _count("argv")
    check_contract(run_inprocess(argv), allowed=BAD_INPUT_OR_ANSWER)


def test_subprocesses_keep_the_contract() -> None:
    """A few real processes: the same contract with a real interpreter, pipes and locale."""
    rng = random.Random(6)
    cases: list[tuple[list[str], bytes | None]] = [
        (["grad", "\udcff\udcfe", "--at", "1"], None),
        (["grad", "x+", "--at", "1"], None),
        (["grad", "__import__('os')", "--at", "1"], None),
        (["grad", "x", "--at", "-"], b"x\r\n1\r\n\r\nzz\r\n"),
        (["grad", "x", "--at", "-"], b"\xef\xbb\xbfx\n1\n2\n"),
        (["grad", "x", "--at", "-", "--format", "json"], b"nan\ninf\n1e400\n"),
        (["grad", "x", "--at", "-"], b"x\n1\n\xff\xfe\n"),
    ]
    cases.append((["grad", rng.choice(VALID) + rng.choice(NOISE), "--at", "x=1,y=2"], None))
    for argv, data in cases:
        _count("subprocess")
        check_contract(run_subprocess(argv, data), allowed=BAD_INPUT_OR_ANSWER)
    # a strict UTF-8 decoder on stdin (the default under some locales)
    _count("subprocess")
    r = run_subprocess(["grad", "x", "--at", "-"], b"x\n1\n\xff\xfe\n", env={"PYTHONIOENCODING": "utf-8"})
    check_contract(r)
    assert r.code == 2 and "not UTF-8" in r.err, r.err


@pytest.mark.parametrize("case", corpus_cases(), ids=lambda c: c["name"])
def test_regression_corpus(case: dict) -> None:
    """Every input that once broke something, replayed in-process and with its expected exit."""
    _count("corpus")
    r = run_inprocess(case["argv"], stdin=decode_stdin(case))
    check_contract(r)
    if "expect_exit" in case:
        assert r.code == case["expect_exit"], (r.code, r.err)
    if "expect_stderr" in case:
        assert case["expect_stderr"] in r.err, r.err

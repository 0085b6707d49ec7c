"""Shared pieces of the hardening tests: run the real command line, check the contract.

The contract every run must keep (issue 6, tightened in issue 25): exit 0, 1 or 2;
when the exit is not 0, one error message on stderr, ``backprop: error: ...``; never a
Python traceback, a MemoryError nor an "internal error" (an exception that escaped the
BackpropError hierarchy); strict JSON on stdout when --format json succeeded. The runs
themselves (tests/clikit.py) are held to a memory and a time limit.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Sequence

from clikit import Run

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).resolve().parent / "corpus"


# "backprop: error: ...", "backprop grad: error: ..." (a usage error), "backprop: interrupted"
ERROR_LINE = re.compile(r"backprop( [a-z]+)?: (error|interrupted)\b")


def check_contract(r: Run, allowed: tuple[int, ...] = (0, 1, 2),
                   error_after_progress: bool = False) -> None:
    """What the README promises of every run ("Conventions"): exit 0, 1 or 2 (or those of
    ``allowed``); when not 0, one error message on stderr (one line ``backprop: error: ...``,
    possibly followed by the lines that point into the input, as a parse error's caret),
    preceded by nothing but warnings; never a traceback, a MemoryError nor an "internal
    error"; strict JSON on stdout for --format json.

    With ``error_after_progress`` (commands that report progress on stderr, as train does)
    the error line may come after other lines; there is still exactly one.
    """
    where = f"argv={r.argv!r}\nexit={r.code}\nstderr={r.err[-2000:]!r}"
    assert "Traceback" not in r.err, where
    assert "internal error" not in r.err, where
    assert "MemoryError" not in r.err, where
    assert r.code in allowed, where
    if r.code == 2 and not r.err.strip() and "Usage:" in r.out:
        return  # `backprop` with no command: click shows the help (on stdout) and exits 2
    lines = r.err.strip().splitlines()
    errors = [ln for ln in lines if ERROR_LINE.match(ln)]
    if r.code != 0:
        assert r.err.strip(), "non-zero exit with nothing on stderr\n" + where
        assert len(errors) == 1, "not exactly one error line\n" + where
        if not error_after_progress:  # warnings (a name that looks like a typo) may come first
            first = next(ln for ln in lines if not ln.startswith("warning:"))
            assert ERROR_LINE.match(first), "the error is not the first message\n" + where
    else:
        assert not errors, "an error line, yet exit 0\n" + where
    asks_json = any(a in ("--format", "-f") and b == "json" for a, b in zip(r.argv, r.argv[1:]))
    shows_help = any(a in ("-h", "--help", "--version") for a in r.argv)
    if r.code == 0 and asks_json and not shows_help:
        for line in r.out.splitlines():
            json.loads(line, parse_constant=_reject_constant)  # strict: no NaN/Infinity


def _reject_constant(name: str) -> None:
    raise AssertionError(f"non-strict JSON constant {name} on stdout")


def corpus_cases(folder: Path = CORPUS) -> list[dict]:
    """Every regression case in ``folder`` (tests/corpus/ by default), one JSON object each."""
    cases = []
    for path in sorted(folder.glob("*.json")):
        case = json.loads(path.read_text(encoding="utf-8"))
        case["name"] = path.stem
        cases.append(case)
    return cases


def decode_stdin(case: dict) -> bytes | None:
    """Corpus stdin: "stdin" (text) or "stdin_hex" (raw bytes)."""
    if "stdin_hex" in case:
        return bytes.fromhex(case["stdin_hex"])
    if "stdin" in case:
        return case["stdin"].encode("utf-8", "surrogateescape")
    return None


# One token of the expression language (or any other character), for near misses.
TOKEN = re.compile(r"\*\*|[A-Za-z_][A-Za-z0-9_]*|(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|\S")


def near_miss(draw: Any, valid: Sequence[str], noise: Sequence[str]) -> str:
    """A valid expression with one token inserted, deleted, swapped or replaced (a hypothesis draw)."""
    from hypothesis import strategies as st

    toks = TOKEN.findall(draw(st.sampled_from(valid)))
    kind = draw(st.sampled_from(["insert", "delete", "swap", "replace"]))
    i = draw(st.integers(0, len(toks) - 1))
    if kind == "insert":
        toks.insert(draw(st.integers(0, len(toks))), draw(st.sampled_from(noise)))
    elif kind == "delete" and len(toks) > 1:
        del toks[i]
    elif kind == "swap" and len(toks) > 1:
        j = (i + 1) % len(toks)
        toks[i], toks[j] = toks[j], toks[i]
    else:
        toks[i] = draw(st.sampled_from(noise))
    return draw(st.sampled_from(["", " "])).join(toks)

"""Sizes fuzzed for real (issue 25): every size a user can type is refused or answered.

Each option that sets how much work or memory a command takes gets sizes drawn from
1 to 2**64 (powers of two and of ten, and the documented limits and their
neighbours), in a real process under the limits of tests/clikit.py: 3 GiB of address
space, SIZE_CPU_LIMIT_S seconds of CPU time (a busy machine does not trip it) and
SIZE_TIME_LIMIT_S of wall time. The command must answer (exit 0) or refuse with
one error line (exit 1 for a cap, 2 for bad input), never be killed, never print
MemoryError or "internal error", never outlive the time limit.

Each size has its cap now (issue 25, part 3: README and docs say where). All of
them are in the slow group (README, "Tests"): a valid size is real work (10,000,000 rows), and each
failure of a pending cap costs a time limit.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from clikit import run_subprocess
from fuzzkit import check_contract

SIZE_CPU_LIMIT_S = 20  # a refusal takes well under a second; 10,000,000 rows train in ~8 s
SIZE_TIME_LIMIT_S = 240.0
# No shrinking: a failing size is printed as drawn, and each failure may cost a time limit.
# The sizes known to break today come first (@example), so that a pending cap's test ends
# at its first failure.
SIZES = settings(deadline=None, max_examples=6, phases=[Phase.explicit, Phase.generate],
                 suppress_health_check=list(HealthCheck), derandomize=True)


def sizes(*edges: int) -> st.SearchStrategy[int]:
    """1 to 2**64: powers of two and of ten, and the given limits with their neighbours."""
    return st.one_of(st.integers(0, 64).map(lambda k: 2 ** k),
                     st.integers(0, 19).map(lambda k: 10 ** k),
                     st.sampled_from([e + d for e in edges for d in (-1, 0, 1)] or [1]))


def _refused_or_answered(argv: list[str], stdin: bytes | None = None, cwd: Path | None = None) -> int:
    r = run_subprocess(argv, stdin, timeout=SIZE_TIME_LIMIT_S, cwd=cwd, cpu_seconds=SIZE_CPU_LIMIT_S)
    check_contract(r, error_after_progress=True)
    return r.code


# -- train: rows and hidden units -------------------------------------------------

def _train_config(tmp: Path, n: int, hidden: int | list[int]) -> Path:
    cfg = {"data": {"synthetic": {"expr": "sin(3*x)", "ranges": {"x": [-2, 2]}, "n": n},
                    "target": "y", "validation_split": 0.2},
           "model": {"hidden": hidden},
           "training": {"epochs": 1, "batch_size": None},  # one full-batch step
           "output": {"model": str(tmp / "model.npz")}}
    path = tmp / "c.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


@pytest.mark.slow
@given(n=sizes(10_000_000))
@settings(SIZES)
def test_train_rows_refused_or_answered(tmp_path_factory: pytest.TempPathFactory, n: int) -> None:
    tmp = tmp_path_factory.mktemp("rows")
    code = _refused_or_answered(["train", str(_train_config(tmp, n, 2)), "--quiet",
                                 "--format", "json"], cwd=tmp)
    assert code in (0, 2)
    assert (code == 0) == (2 <= n <= 10_000_000)  # the documented range of data.synthetic.n


@pytest.mark.slow
@given(layers=st.lists(sizes(100_000), min_size=1, max_size=3))
@example(layers=[100_000, 30_000])
@settings(SIZES)
def test_train_hidden_units_refused_or_answered(tmp_path_factory: pytest.TempPathFactory,
                                                layers: list[int]) -> None:
    tmp = tmp_path_factory.mktemp("hidden")
    hidden: int | list[int] = layers[0] if len(layers) == 1 else layers
    code = _refused_or_answered(["train", str(_train_config(tmp, 60, hidden)), "--quiet",
                                 "--format", "json"], cwd=tmp)
    if any(not 1 <= width <= 100_000 for width in layers):
        assert code == 2  # the documented width of a layer


# -- diff --order, hessian's variables, compare --example nested --n, --threads ----

@pytest.mark.slow
@given(expr=st.sampled_from(["exp(x)", "x^2", "sin(x)*y", "x^3 + log(x)"]), order=sizes())
@example(expr="x^2", order=100_000)
@example(expr="exp(x)", order=1_000_000_000)
@settings(SIZES)
def test_diff_order_refused_or_answered(expr: str, order: int) -> None:
    _refused_or_answered(["diff", expr, "--order", str(order), "--format", "json"])


@pytest.mark.slow
@given(k=st.integers(1, 5000))
@example(k=3001)
@settings(SIZES)
def test_hessian_variables_refused_or_answered(k: int) -> None:
    names = [f"x{i}" for i in range(k)]
    _refused_or_answered(["hessian", "+".join(names), "--at",
                          ",".join(f"{n}=1" for n in names), "--format", "json"])


@pytest.mark.slow
@given(n=sizes())
@example(n=50)
@settings(SIZES)
def test_compare_nested_depth_refused_or_answered(n: int) -> None:
    _refused_or_answered(["compare", "--example", "nested", "--n", str(n), "--format", "json"])


@pytest.mark.slow
@given(threads=sizes())
@example(threads=100_000)
@settings(SIZES)
def test_threads_refused_or_answered(threads: int) -> None:
    """200,000 points: several blocks, so that the threads are started. The cap being
    added may warn, which the contract allows."""
    points = b"x\n" + b"".join(b"%d\n" % i for i in range(200_000))
    code = _refused_or_answered(["grad", "sin(x)", "--at", "-", "--format", "csv",
                                 "--threads", str(threads)], stdin=points)
    assert code in (0, 2)


def test_the_size_fuzzers_draw_past_every_limit() -> None:
    """The strategy reaches the documented limits, their neighbours and 2**64."""
    drawn: set[int] = set()

    @given(sizes(100_000))
    @settings(max_examples=300, derandomize=True, database=None)
    def collect(v: int) -> None:
        drawn.add(v)

    collect()
    assert {99_999, 100_000, 100_001, 2 ** 64, 10 ** 19} <= drawn and min(drawn) == 1

"""Every size a user controls is refused or answered before memory runs out (issue 25 part 3).

Each command runs as a real process under a 4 GB address-space limit (``ulimit -v``)
and a time limit: it must end in seconds with its exit code (2 for input beyond a
documented limit, 1 for a cap met while working, 0 with the right answer), one clear
message, and never "internal error" or a kill. The limits are documented in README.md
beside each command.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

LIMIT = 4 << 30  # bytes of address space
SECONDS = 90  # a generous ceiling on a busy 2-core machine: minutes would fail


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))


def run_limited(*argv: str, stdin: str | None = None, env: dict[str, str] | None = None,
                ) -> tuple[int, str, str]:
    """``python -m backprop ARGV`` under the memory limit; (exit code, stdout, stderr)."""
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "backprop", *argv], input=stdin,
                          capture_output=True, text=True, timeout=SECONDS, preexec_fn=_limited,
                          env={**os.environ, "NO_COLOR": "1", **(env or {})})
    assert time.monotonic() - started < SECONDS
    assert proc.returncode >= 0, f"killed by signal {-proc.returncode}"
    for bad in ("internal error", "Traceback", "MemoryError", "Killed"):
        assert bad not in proc.stderr, proc.stderr
    return proc.returncode, proc.stdout, proc.stderr


def refused(code: int, argv: list[str], *needles: str) -> str:
    """The command exits with ``code``, one error line holding every needle, nothing on stdout."""
    got, out, err = run_limited(*argv)
    assert got == code, err
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("backprop: error: "), err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


# ---- compare --example --n: the text's length is known before it is built ---------------------

def test_nested_example_too_deep_is_refused_before_it_is_built() -> None:
    # depth 50 would be 2^53 - 8 characters; MAX_TEXT (1,000,000) allows depth 16
    refused(2, ["compare", "--example", "nested", "--n", "50"], "--n 50",
            "9,007,199,254,740,984 characters", "at most 16")


def test_sines_example_too_long_is_refused() -> None:
    refused(2, ["compare", "--example", "sines", "--n", "100000"], "--n 100000",
            "at most 48,676")


def test_example_lengths_are_counted_exactly() -> None:
    from backprop.core.parser import MAX_TEXT
    from backprop.studies.fixtures import largest_n, nested_text, sines_text, text_length

    for k in range(1, 14):
        assert text_length("nested", k) == len(nested_text(k))
    for k in (1, 2, 9, 10, 11, 99, 100, 101, 999, 1000, 5000):
        assert text_length("sines", k) == len(sines_text(k))
    for name, build in (("nested", nested_text), ("sines", sines_text)):
        top = largest_n(name, MAX_TEXT)
        assert len(build(top)) <= MAX_TEXT < text_length(name, top + 1)


# ---- diff --order: 0 ends the work; otherwise capped ---------------------------------------

def test_a_polynomial_of_any_order_up_to_the_limit_is_answered_at_once() -> None:
    code, out, err = run_limited("diff", "x^2", "--order", "100000")
    assert code == 0 and out == "0\n", err


def test_the_order_is_capped() -> None:
    refused(2, ["diff", "exp(x)", "--order", "1000000000"], "--order", "100,000")


def test_a_derivative_not_zero_after_the_step_limit_is_refused() -> None:
    refused(1, ["diff", "exp(x)", "--order", "5000"], "order 5,000", "1,000 differentiations")


def test_stopping_at_zero_gives_sympys_derivatives() -> None:
    sp = pytest.importorskip("sympy")
    from backprop.symbolic import diff_expression

    x, y = sp.symbols("x y")
    f = x**5 * y**2 + sp.sin(y) * x
    for names in (["x"] * 5, ["x"] * 6, ["x"] * 7, ["x", "x", "y"], ["y", "y", "y", "x"],
                  ["x"] * 6 + ["y"]):
        want = sp.diff(f, *[sp.Symbol(n) for n in names])
        got = diff_expression("x^5*y^2 + sin(y)*x", ",".join(names)).text_lines()[0]
        assert sp.simplify(sp.sympify(got.replace("^", "**")) - want) == 0, (names, got)
    # the zero reached early carries the whole order and every name asked for
    d = next(iter(diff_expression("x^2", order=40).derivatives.values()))
    assert d.text() == "0" and d.order == 40 and d.names == ("x",) * 40


@pytest.mark.slow  # a few seconds: in the slow group (docs/setup.md)
def test_diff_of_every_partial_of_a_big_sum_is_refused_and_wrt_answers() -> None:
    from backprop.studies.fixtures import sines_text

    text = sines_text(3000)  # 11,999 nodes: 3,000 first partials would take minutes
    refused(2, ["diff", text], "3,000 differentiation steps", "11,999 nodes", "5,000,000", "--wrt")
    refused(2, ["diff", sines_text(1000), "--hessian"], "1,001,000", "--wrt")
    code, out, err = run_limited("diff", text, "--wrt", "w2")
    assert code == 0, err
    assert out == "w3*cos(w2) + sin(w1)\n"  # d/dw2 of sin(w1)*w2 + sin(w2)*w3


def test_max_size_is_capped() -> None:
    refused(2, ["diff", "x^2", "--max-size", "100000000"], "--max-size", "10,000,000")
    refused(2, ["compare", "x^2", "--at", "1", "--max-size", "100000000"], "--max-size")


# ---- hessian: at most 1,000 variables -----------------------------------------------------

def test_a_hessian_of_3001_variables_is_refused_at_once() -> None:
    n = 3001
    expr = " + ".join(f"x{i}" for i in range(n))
    point = ",".join(f"x{i}=1" for i in range(n))
    refused(1, ["hessian", expr, "--at", point, "--format", "json"], "3,001 variables",
            "limit is 1,000", "--wrt")


def test_a_hessian_whose_tangent_pass_is_too_big_is_refused_at_once() -> None:
    # 1,000 variables (within the limit) over a backward pass of 57,999 nodes: 58 million
    # numbers a point, over the 50,000,000 of MAX_SECOND_ORDER_NUMBERS
    def term(i: int) -> str:
        t = f"x{i}*x{(i + 1) % 1000}"
        for k in range(14):
            t = f"{'sin' if k % 2 else 'cos'}({t})"
        return f"{t}*exp(x{i})"

    expr = " + ".join(term(i) for i in range(1000))
    point = ",".join(f"x{i}=0.5" for i in range(1000))
    refused(1, ["hessian", expr, "--at", point, "--format", "csv"], "1,000 variables",
            "57,999 nodes", "limit is 50,000,000", "--wrt")


def test_a_hessian_within_the_limit_is_answered_in_bounded_memory() -> None:
    # E = sum sin(w_i) w_{i+1} (cyclic): d2E/dw_i2 = -sin(w_i) w_{i+1}, d2E/dw_i dw_{i+1} = cos(w_i)
    import math

    n = 300
    w = [(i + 1) / n for i in range(n)]
    expr = " + ".join(f"sin(w{i})*w{(i + 1) % n}" for i in range(n))
    point = ",".join(f"w{i}={v!r}" for i, v in enumerate(w))
    code, out, err = run_limited("hessian", expr, "--at", point, "--format", "json")
    assert code == 0, err
    h = json.loads(out)["hessian"]
    h = [[h[f"w{i}"][f"w{j}"] for j in range(n)] for i in range(n)] if isinstance(h, dict) else h
    for i in range(n):
        j = (i + 1) % n
        assert h[i][i] == pytest.approx(-math.sin(w[i]) * w[j], rel=1e-12)
        assert h[i][j] == pytest.approx(math.cos(w[i]), rel=1e-12)
        assert h[j][i] == pytest.approx(math.cos(w[i]), rel=1e-12)
        assert h[i][(i + 2) % n] == 0.0


# ---- threads -------------------------------------------------------------------------------

def test_threads_are_capped_with_a_warning() -> None:
    from backprop.threads import max_threads

    points = "x\n" + "".join(f"{i / 7}\n" for i in range(20_000))
    code, out, err = run_limited("grad", "sin(x)*x", "--at", "-", "--format", "csv",
                                 "--threads", "100000", stdin=points)
    assert code == 0, err
    assert err.count("\n") == 1 and f"using {max_threads()} threads" in err and "--threads 100,000" in err
    code1, out1, _ = run_limited("grad", "sin(x)*x", "--at", "-", "--format", "csv",
                                 "--threads", "1", stdin=points)
    assert code1 == 0 and out1 == out  # the same bits whatever the threads


def test_backprop_threads_is_capped_too() -> None:
    code, out, err = run_limited("grad", "sin(x)", "--at", "1", "--format", "json",
                                 env={"BACKPROP_THREADS": "100000"})
    assert code == 0 and "BACKPROP_THREADS 100,000: using" in err
    assert json.loads(out)["grad"]["x"] == pytest.approx(0.5403023058681398, rel=1e-15)


def test_the_library_never_starts_more_threads_than_the_cap() -> None:
    import threading

    from backprop.threads import max_threads, run_blocks

    seen: set[int] = set()
    run_blocks(lambda a, b: seen.add(threading.get_ident()), [(i, i + 1) for i in range(500)],
               threads=100_000)
    assert 1 <= len(seen) <= max_threads()


# ---- train: parameters, memory, epochs ------------------------------------------------------

def _train_config(tmp_path: Path, **sections: dict) -> str:
    cfg = {"data": {"synthetic": {"expr": "sin(x)", "ranges": {"x": [0, 1]}, "n": 100}},
           "training": {"epochs": 1}, "output": {"model": str(tmp_path / "m.npz")}}
    for key, value in sections.items():
        cfg[key] = {**cfg.get(key, {}), **value}
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return str(p)


def test_a_network_too_big_is_refused_by_validation(tmp_path: Path) -> None:
    cfg = _train_config(tmp_path, model={"hidden": [100000, 30000]})
    refused(2, ["train", cfg, "--quiet"], "model.hidden", "3,000,260,001", "10,000,000")
    assert not (tmp_path / "m.npz").exists()


def test_the_parameters_with_the_data_s_widths_are_capped(tmp_path: Path) -> None:
    # 3000 units: within the limit for one input, over it for 4,000 inputs
    cfg = {"data": {"synthetic": {"expr": "+".join(f"x{i}" for i in range(4000)), "n": 10,
                                  "ranges": {f"x{i}": [0, 1] for i in range(4000)}}},
           "model": {"hidden": 3000}, "training": {"epochs": 1},
           "output": {"model": str(tmp_path / "m.npz")}}
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump(cfg))
    refused(2, ["train", str(p), "--quiet"], "4000-3000-1", "12,006,001", "10,000,000")


def test_training_that_would_not_fit_in_memory_is_refused_before_allocating(tmp_path: Path) -> None:
    # 2,000,000 rows of 2,000 units, full batch: about 1.6M x 2,002 x 8 x 3 = 77 GB of layers
    cfg = _train_config(tmp_path, data={"synthetic": {"expr": "sin(x)", "ranges": {"x": [0, 1]},
                                                      "n": 2_000_000}},
                        model={"hidden": 2000}, training={"epochs": 1, "batch_size": None})
    line = refused(2, ["train", cfg, "--quiet"], "2,000,000 rows", "GB of memory", "1-2000-1")
    assert "fewer rows" in line


def test_synthetic_data_too_big_is_refused_before_its_rows_are_made(tmp_path: Path) -> None:
    # 10,000,000 rows of 1,000 inputs: 80 GB of X alone
    n = 1000
    cfg = _train_config(tmp_path, data={"synthetic": {
        "expr": "+".join(f"x{i}" for i in range(n)), "n": 10_000_000,
        "ranges": {f"x{i}": [0, 1] for i in range(n)}}})
    started = time.monotonic()
    refused(2, ["train", cfg, "--quiet"], "1000-64-1", "10,000,000 rows", "fewer rows or inputs")
    assert time.monotonic() - started < 30  # no row was drawn


def test_epochs_are_capped(tmp_path: Path) -> None:
    refused(2, ["train", _train_config(tmp_path), "--quiet", "--epochs", "1000000000"],
            "--epochs", "1000000")


def test_parameter_count_is_the_arrays_of_the_network() -> None:
    import numpy as np

    from backprop.nn.config import parameter_count
    from backprop.nn.model import Regressor

    for inputs, sizes, outputs in ((1, [4], 1), (3, [5, 7], 2), (10, [1, 1, 1], 4)):
        net = Regressor.init(inputs, sizes, outputs, "tanh", np.random.default_rng(0))
        assert parameter_count(inputs, sizes, outputs) == sum(v.size for v in net.params.values())


def test_the_memory_check_uses_the_limit_of_the_process(monkeypatch: pytest.MonkeyPatch) -> None:
    from backprop.errors import InputError
    from backprop.nn import config

    cfg = config.validate({"data": {"synthetic": {"expr": "x", "ranges": {"x": [0, 1]}}},
                           "model": {"hidden": 64}})
    need = config.training_bytes(1, [64], 1, 100_000, 32, 0.2)
    monkeypatch.setattr(config, "memory_limit", lambda: int(need / config.MEMORY_SHARE) + 1)
    config.check_size(cfg, 1, 1, 100_000)  # fits
    monkeypatch.setattr(config, "memory_limit", lambda: int(need / config.MEMORY_SHARE) - 1)
    with pytest.raises(InputError, match="100,000 rows"):
        config.check_size(cfg, 1, 1, 100_000)


# ---- descend --steps ------------------------------------------------------------------------

def test_descend_steps_are_capped() -> None:
    refused(2, ["descend", "x^2", "--from", "1", "--steps", "1000000000"], "--steps", "1,000,000")


# ---- graph: Graphviz draws at most RENDER_LIMIT nodes -----------------------------------------

def test_a_graph_too_big_to_render_is_refused_before_graphviz(tmp_path: Path) -> None:
    from backprop.studies.fixtures import sines_text
    from backprop.views.drawing import RENDER_LIMIT

    text = sines_text(2600)  # 4 nodes a term: about 10,400 nodes
    out = tmp_path / "g.svg"
    line = refused(2, ["graph", text, "-o", str(out)], "10,000", "--format dot")
    assert int(line.split("has ")[1].split(" nodes")[0].replace(",", "")) > RENDER_LIMIT
    assert not out.exists()


# ---- compare --scaling: the derivative is evaluated as a tree only up to TREE_LIMIT nodes ----

def test_the_scaling_study_builds_no_tree_past_its_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    from backprop.studies import scaling

    monkeypatch.setattr(scaling, "TREE_LIMIT", 700)
    done = scaling.depth_scaling(time.perf_counter() + 600, max_depth=7)
    rows = {r["depth"]: r for r in done["rows"]}
    # the tree sizes of f_k = f_{k-1} sin(f_{k-1}): 688 nodes at depth 5, 1,664 at depth 6
    assert rows[5]["symbolic_size"] <= 700 < rows[6]["symbolic_size"]
    assert rows[5]["tree_seconds"] is not None
    for k in (6, 7):
        assert rows[k]["tree_seconds"] is None and "700" in rows[k]["tree_skipped"]


# ---- compare --sweep: variables x nodes ---------------------------------------------------

def test_a_sweep_too_big_is_refused_and_wrt_brings_it_within() -> None:
    refused(2, ["compare", "--example", "sines", "--n", "200", "--sweep", "--format", "json"],
            "200 variables", "799 nodes", "100,000", "--wrt")
    # one variable of the same graph is within the limit: 124 passes of 799 nodes
    code, out, err = run_limited("compare", "--example", "sines", "--n", "200", "--sweep",
                                 "--wrt", "w7", "--format", "json")
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    # dE/dw7 = cos(w7) w8 + sin(w6), at w_i = i/200
    import math

    want = math.cos(7 / 200) * (8 / 200) + math.sin(6 / 200)
    assert len(rows) == 90 and all(r["exact"] == pytest.approx(want, rel=1e-14) for r in rows)


# ---- compare: variables x nodes (and variables^2 x nodes for --order 2) -----------------------

@pytest.mark.slow  # a few seconds: in the slow group (docs/setup.md)
def test_a_comparison_too_big_is_refused_before_the_work() -> None:
    refused(2, ["compare", "--example", "sines", "--n", "5000", "--format", "json"],
            "5,000 variables x 19,999 graph nodes = 99,995,000", "1,000,000", "--wrt")
    refused(2, ["compare", "--example", "sines", "--n", "300", "--order", "2", "--format", "json"],
            "300^2 variables x 1,199 graph nodes", "10,000,000", "--wrt")


@pytest.mark.slow  # a few seconds: in the slow group (docs/setup.md)
def test_wrt_brings_a_big_comparison_within_the_limit() -> None:
    import math

    code, out, err = run_limited("compare", "--example", "sines", "--n", "5000", "--wrt", "w2",
                                 "--methods", "reverse_mode,central_difference", "--format", "json")
    assert code == 0, err
    got = json.loads(out)
    # dE/dw2 = cos(w2) w3 + sin(w1), at w_i = i/5000
    want = math.cos(2 / 5000) * (3 / 5000) + math.sin(1 / 5000)
    assert got["methods"]["reverse_mode"]["grad"]["w2"] == pytest.approx(want, rel=1e-13)

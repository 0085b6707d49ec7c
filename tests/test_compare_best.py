"""compare's rows for numeric differentiation at its best (Richardson, the complex step),
--methods, and the complex step's flat line in the sweep."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sympy as sp

from backprop.cli import main
from backprop.core.function import parse
from backprop.studies.sweep import sweep

X = sp.Symbol("x", real=True)
LECTURE = 2 / sp.sin(sp.exp(-X))


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_lecture_example_richardson_and_complex_step(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["compare", "--methods", "reverse_mode,richardson,complex_step",
                              "--format", "json"], capsys)
    assert code == 0, err
    m = json.loads(out)["methods"]
    assert list(m) == ["reverse_mode", "richardson", "complex_step"]
    want = float(sp.diff(LECTURE, X).subs(X, sp.Rational("-4.499")).evalf(40))
    bp, cs, ri = (m[k]["grad"]["x"] for k in ("reverse_mode", "complex_step", "richardson"))
    assert abs(cs - bp) <= 1e-13 * abs(bp)
    assert abs(ri - want) <= 1e-9 * abs(want)
    assert abs(ri - want) <= m["richardson"]["error_estimate"]["x"]
    assert m["complex_step"]["error_estimate"] is None and m["complex_step"]["h"] == 1e-100
    assert m["richardson"]["seconds"] > 0 and m["complex_step"]["seconds"] > 0


def test_methods_option(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["compare", "exp(x)", "--at", "1", "--methods",
                              "complex_step,central_difference"], capsys)
    assert code == 0, err
    assert "complex step" in out and "central difference" in out
    assert "reverse mode" not in out and "Richardson" not in out and "symbolic (" not in out
    for argv in (["compare", "--methods", "backprop"], ["compare", "--methods", ","],
                 ["compare", "--sweep", "--methods", "richardson"]):
        code, out, err = run_cli(argv, capsys)
        assert code == 2 and out == "" and err.count("\n") == 1, argv
    assert "complex_step" in run_cli(["compare", "--methods", "x"], capsys)[2]


def test_a_kink_is_a_row_with_the_reason_or_exit_2_alone(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["compare", "abs(x) + x^2", "--at", "0", "--format", "json"], capsys)
    assert code == 0, err
    cs = json.loads(out)["methods"]["complex_step"]
    assert cs["grad"] is None and "abs has a kink" in cs["error"]
    code, out, err = run_cli(["compare", "max(x, 1 - x)", "--at", "0.5", "--methods",
                              "complex_step"], capsys)
    assert code == 2 and out == ""
    assert "max has a kink" in err and err.count("\n") == 1 and "Traceback" not in err


def test_sweep_complex_step_line_is_flat_where_the_differences_round() -> None:
    rows = sweep(parse("exp(x)"), {"x": 1.0}).rows
    cs = {r["h"]: r["rel_error"] for r in rows if r["method"] == "complex_step"}
    central = {r["h"]: r["rel_error"] for r in rows if r["method"] == "central"
               and not r["default"]}
    small = [h for h in central if h <= 1e-8]
    assert small
    for h in small:  # the differences' rounding arm; the complex step subtracts nothing
        assert cs[h] <= 4e-16 < central[h]
    # on the right both fall as h^2 (the complex step's error is -h^2 f'''/6f' too)
    assert cs[1e-3] == pytest.approx(1e-6 / 6, rel=1e-3)
    default = [r for r in rows if r["method"] == "complex_step" and r["default"]]
    assert len(default) == 1 and default[0]["h"] == 1e-100 and default[0]["rel_error"] <= 4e-16


def test_sweep_at_a_kink_keeps_the_differences(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["compare", "relu(x)", "--at", "0", "--sweep", "--format",
                              "json"], capsys)
    assert code == 0, err
    methods = {json.loads(line)["method"] for line in out.splitlines()}
    assert methods == {"forward", "central"}
    code, out, err = run_cli(["compare", "relu(x)", "--at", "0", "--sweep"], capsys)
    assert code == 0 and "relu has a kink" in out


def test_sweep_plot_draws_the_complex_step(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    svg = tmp_path / "s.svg"
    code, _, err = run_cli(["compare", "exp(x)", "--at", "1", "--sweep", "--plot", str(svg)], capsys)
    assert code == 0, err
    text = svg.read_text()
    assert "complex step" in text and "1e-100" in text

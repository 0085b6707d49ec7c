"""Gradient descent (``backprop descend`` and :mod:`backprop.methods.descend`).

The expected iterates come from theory, not from the code: for f = a*x^2 plain
gradient descent gives x_k = (1 - 2*a*tau)^k * x_0, so the number of steps to
reach a gradient norm below tol is known in closed form; heavy-ball momentum
is checked against its three-term recurrence x_{k+1} = x_k - tau*f'(x_k) +
m*(x_k - x_{k-1}).
"""

from __future__ import annotations

import csv
import io
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backprop import parse
from backprop.methods.descend import DIVERGED, MAX_STEPS, STALLED, TOLERANCE, Descent, descend
from backprop.errors import InputError
from clikit import run_backprop, run_cli

ROSENBROCK = "(1-x)^2 + 100*(y-x^2)^2"


# ---- the quadratic: theory ---------------------------------------------------------------

@pytest.mark.parametrize("a, tau, x0", [(1.5, 0.1, 4.0), (0.5, 0.3, -2.0), (4.0, 0.2, 1.0)])
def test_quadratic_iterates_follow_theory(a: float, tau: float, x0: float) -> None:
    r = 1 - 2 * a * tau  # 0.7, 0.7 and -0.6 (oscillating)
    steps = list(descend(parse(f"{a}*x^2"), {"x": x0}, tau=tau, max_steps=40, tol=0.0))
    assert len(steps) == 41
    for s in steps:
        expected = r ** s.step * x0
        assert math.isclose(s.point["x"], expected, rel_tol=1e-12, abs_tol=1e-300)
        assert math.isclose(s.value, a * expected ** 2, rel_tol=1e-11)
        assert math.isclose(s.grad["x"], 2 * a * expected, rel_tol=1e-12)


@pytest.mark.parametrize("a, tau, x0, tol", [(1.5, 0.1, 4.0, 1e-8), (0.5, 0.3, -2.0, 1e-6),
                                             (4.0, 0.2, 1.0, 1e-10), (1.0, 0.01, 3.0, 1e-8)])
def test_quadratic_step_count_matches_theory(a: float, tau: float, x0: float, tol: float) -> None:
    # |f'(x_k)| = 2a|x0| |r|^k < tol  <=>  k > log(tol / (2a|x0|)) / log|r|
    r = abs(1 - 2 * a * tau)
    bound = math.log(tol / (2 * a * abs(x0))) / math.log(r)
    assert abs(bound - round(bound)) > 1e-6  # not at a boundary where rounding decides
    expected = math.floor(bound) + 1
    out = descend(parse(f"{a}*x^2"), {"x": x0}, tau=tau, max_steps=100_000, tol=tol).run()
    assert out.converged and out.reason == TOLERANCE
    assert out.steps == expected
    assert abs(out.last.point["x"]) < tol / (2 * a)


@settings(max_examples=40, deadline=None)
# frac near 1/2 makes r = 1 - 2*frac nearly 0, where x - tau*2a*x cancels almost
# completely and its rounding error dwarfs r^k * x0: keep |r| >= 0.1.
@given(a=st.floats(0.05, 5.0), frac=st.floats(0.05, 0.45) | st.floats(0.55, 0.95),
       x0=st.floats(-100.0, 100.0))
def test_quadratic_theory_property(a: float, frac: float, x0: float) -> None:
    tau = frac / a  # 1 - 2*a*tau in [-0.9, -0.1] or [0.1, 0.9]: a contraction
    r = 1 - 2 * a * tau
    for s in descend(parse("a*x^2".replace("a", repr(a))), {"x": x0}, tau=tau,
                     max_steps=15, tol=0.0):
        assert math.isclose(s.point["x"], r ** s.step * x0, rel_tol=1e-9, abs_tol=1e-300)


def test_convex_quadratic_in_two_variables_reaches_its_minimiser() -> None:
    out = descend(parse("(x-1)^2 + 3*(y+2)^2 + x*y/2"), {"x": 5.0, "y": 5.0}, tau=0.1,
                  max_steps=10_000, tol=1e-10).run()
    # The minimiser solves grad = 0: 2(x-1) + y/2 = 0, 6(y+2) + x/2 = 0.
    # [[2, 1/2], [1/2, 6]] @ (x, y) = (2, -12), by Cramer's rule.
    det = 2 * 6 - 0.25
    x_star = (2 * 6 - 0.5 * -12) / det
    y_star = (2 * -12 - 0.5 * 2) / det
    assert out.converged and out.reason == TOLERANCE
    assert math.isclose(out.last.point["x"], x_star, abs_tol=1e-9)
    assert math.isclose(out.last.point["y"], y_star, abs_tol=1e-9)


def test_momentum_follows_the_heavy_ball_recurrence() -> None:
    a, tau, m, x0 = 2.0, 0.05, 0.8, 3.0
    steps = list(descend(parse("2*x^2"), {"x": x0}, tau=tau, max_steps=60, tol=0.0,
                         momentum=m))
    prev, cur = x0, x0 - tau * 2 * a * x0  # the first step has no velocity yet
    expected = [x0, cur]
    for _ in range(59):
        prev, cur = cur, cur - tau * 2 * a * cur + m * (cur - prev)
        expected.append(cur)
    assert [s.point["x"] for s in steps] == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_momentum_converges_faster_on_an_ill_conditioned_bowl() -> None:
    f = parse("x^2 + 50*y^2")
    plain = descend(f, {"x": 5.0, "y": 1.0}, tau=0.009, max_steps=50_000, tol=1e-8).run()
    heavy = descend(f, {"x": 5.0, "y": 1.0}, tau=0.009, max_steps=50_000, tol=1e-8,
                    momentum=0.8).run()
    assert plain.converged and heavy.converged
    assert heavy.steps < plain.steps / 2


def test_stalls_when_the_update_no_longer_changes_the_point() -> None:
    out = descend(parse("x^2"), {"x": 1.0}, tau=0.1, max_steps=100_000, tol=0.0).run()
    assert out.converged and out.reason == STALLED
    assert abs(out.last.point["x"]) < 1e-300


# ---- Rosenbrock and divergence -----------------------------------------------------------

def test_rosenbrock_small_learning_rate_makes_steady_progress() -> None:
    run = descend(parse(ROSENBROCK), {"x": -1.2, "y": 1.0}, tau=0.001, max_steps=5000,
                  tol=1e-10)
    steps = list(run)
    values = [s.value for s in steps]
    assert values[0] == pytest.approx(24.2)  # (1+1.2)^2 + 100*(1-1.44)^2
    assert all(b < a for a, b in zip(values, values[1:]))  # every step goes downhill
    assert values[-1] < 1e-2
    first, last = steps[0].point, steps[-1].point
    dist = [math.hypot(p["x"] - 1, p["y"] - 1) for p in (first, last)]
    assert dist[1] < dist[0] / 10
    assert run.outcome is not None and run.outcome.reason == MAX_STEPS
    assert not run.outcome.converged


def test_rosenbrock_large_learning_rate_diverges() -> None:
    run = descend(parse(ROSENBROCK), {"x": -1.2, "y": 1.0}, tau=0.01, max_steps=1000)
    out = run.run()
    assert out.reason == DIVERGED and not out.converged
    assert out.last_finite is not None and out.last_finite.finite
    assert out.last_finite.step == out.last.step - 1


def test_non_finite_value_is_divergence_with_the_last_finite_point() -> None:
    # log(x) from 0.5 with tau = 1 jumps to x = 0.5 - 1/0.5 = -1.5, where log is nan.
    out = descend(parse("log(x)"), {"x": 0.5}, tau=1.0).run()
    assert out.reason == DIVERGED and "not finite" in out.detail
    assert out.last_finite is not None and out.last_finite.point == {"x": 0.5}
    assert out.last.point["x"] == -1.5


@pytest.mark.parametrize("kwargs", [{"tau": 0.0}, {"tau": -0.1}, {"tau": math.inf},
                                    {"max_steps": -1}, {"tol": -1.0}, {"momentum": 1.0},
                                    {"momentum": -0.1}])
def test_bad_settings_raise_input_error(kwargs: dict) -> None:
    with pytest.raises(InputError):
        Descent(parse("x^2"), {"x": 1.0}, **kwargs)


def test_non_finite_start_is_bad_input() -> None:
    with pytest.raises(InputError, match="log"):
        list(descend(parse("log(x)"), {"x": -1.0}))


# ---- the command line --------------------------------------------------------------------

def test_cli_divergence_exits_1_with_last_finite_point_and_advice(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["descend", ROSENBROCK, "--from", "x=-1.2,y=1", "--lr", "0.01",
                              "--format", "json"], capsys)
    assert code == 1
    lines = [json.loads(ln) for ln in out.splitlines()]
    summary = lines[-1]
    assert summary["converged"] is False and summary["reason"] == "diverged"
    assert "diverged" in err and "last finite point" in err and "smaller learning rate" in err
    assert len(err.strip().splitlines()) == 1


def test_cli_json_lines_and_summary(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["descend", "(x-3)^2", "--from", "0", "--format", "json"], capsys)
    assert code == 0
    objs = [json.loads(ln) for ln in out.splitlines()]
    rows, summary = objs[:-1], objs[-1]
    assert rows[0]["step"] == 0 and rows[0]["at"] == {"x": 0.0} and rows[0]["value"] == 9.0
    assert rows[0]["grad_norm"] == 6.0
    assert summary["converged"] is True and summary["reason"] == "tolerance"
    assert rows[-1]["step"] == summary["steps"]
    assert summary["at"]["x"] == pytest.approx(3.0, abs=1e-8)
    # (1 - 2*0.1)^k * 6 < 1e-8 first at k = 91
    assert summary["steps"] == math.floor(math.log(1e-8 / 6) / math.log(0.8)) + 1


def test_cli_default_rows_are_about_twenty(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["descend", ROSENBROCK, "--from", "x=-1.2,y=1", "--lr", "0.001",
                            "--format", "json"], capsys)
    assert code == 0
    rows = [json.loads(ln) for ln in out.splitlines()][:-1]
    assert [r["step"] for r in rows] == list(range(0, 1001, 50))


def test_cli_table_rows_adapt_to_an_early_stop(capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # the summary lines unwrapped (80 wraps them)
    code, out, _ = run_cli(["descend", "(x-3)^2", "--from", "0"], capsys)
    assert code == 0
    steps = [int(ln.split()[0]) for ln in out.splitlines() if ln.strip()[:1].isdigit()]
    assert steps[0] == 0 and steps[-1] == 91
    assert 15 <= len(steps) <= 30
    assert "converged after 91 steps" in out


def test_cli_every_and_csv(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["descend", "x^2 + y^2", "--from", "x=1,y=2", "--steps", "10",
                              "--every", "4", "--format", "csv"], capsys)
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [int(r["step"]) for r in rows] == [0, 4, 8, 10]
    for r in rows:  # x_k = 0.8^k * x_0 on both axes
        k = int(r["step"])
        assert float(r["x"]) == pytest.approx(0.8 ** k, rel=1e-12)
        assert float(r["y"]) == pytest.approx(2 * 0.8 ** k, rel=1e-12)
        assert float(r["f"]) == pytest.approx(5 * 0.64 ** k, rel=1e-12)
        assert float(r["grad_norm"]) == pytest.approx(2 * math.sqrt(5) * 0.8 ** k, rel=1e-12)
    assert "not converged" in err


def test_cli_expression_starting_with_minus(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["descend", "-cos(x)", "--from", "1", "--format", "json"], capsys)
    assert code == 0
    summary = json.loads(out.splitlines()[-1])
    assert summary["converged"] and summary["at"]["x"] == pytest.approx(0.0, abs=1e-7)


@pytest.mark.parametrize("argv, needle", [
    (["x^2+", "--from", "1"], "ends too early"),
    (["x^2", "--from", "abc"], "not a number"),
    (["x^2", "--from", "y=1"], "not a variable"),
    (["x^2", "--from", "1", "--lr", "-0.1"], "learning rate"),
    (["x^2", "--from", "1", "--lr", "0"], "learning rate"),
    (["x^2", "--from", "1", "--steps", "1.5"], "--steps"),
    (["x^2", "--from", "1", "--steps", "ten"], "--steps"),
    (["x^2", "--from", "1", "--steps", "-3"], "steps"),
    (["x^2", "--from", "1", "--momentum", "1"], "momentum"),
    (["x^2", "--from", "1", "--every", "0"], "--every"),
    (["x^2", "--from", "1", "--tol", "-1"], "tolerance"),
    (["7", "--from", "1"], "no variables"),
    (["log(x)", "--from", "-1"], "starting point"),
])
def test_cli_bad_input_exits_2(argv: list[str], needle: str,
                               capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["descend", *argv], capsys)
    assert code == 2
    assert needle in err
    assert out == ""
    assert len([ln for ln in err.splitlines() if "error" in ln.lower()]) == 1


# ---- plots -------------------------------------------------------------------------------

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("expr, start", [("(x-1)^2 + sin(3*x)", "3"),
                                         (ROSENBROCK, "x=-1.2,y=1"),
                                         ("x^2 + y^2 + z^2", "x=1,y=2,z=3")])
def test_plot_writes_a_png(expr: str, start: str, tmp_path: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    png = tmp_path / "path.png"
    code, _, _ = run_cli(["descend", expr, "--from", start, "--lr", "0.001", "--steps", "300",
                          "--plot", str(png), "--format", "json"], capsys)
    assert code == 0
    assert png.read_bytes()[:8] == PNG_MAGIC
    assert [p.name for p in tmp_path.iterdir()] == ["path.png"]  # no temporary left behind


def test_plot_bad_file_type_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    code, out, err = run_cli(["descend", "x^2", "--from", "1", "--plot",
                              str(tmp_path / "a.nope")], capsys)
    assert code == 2 and ".png" in err and out == ""


def test_plot_without_matplotlib_says_how_to_install(tmp_path: Path) -> None:
    png = tmp_path / "p.png"
    code = ("import sys; sys.modules['matplotlib'] = None\n"  # import matplotlib now fails
            "from backprop.cli import main\n"
            f"sys.exit(main(['descend', 'x^2', '--from', '1', '--plot', {str(png)!r}]))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 1
    assert "pip install 'backprop-cli[plot]'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""  # checked before any step is taken
    assert not png.exists()


def test_real_command_line_help_and_exit_codes() -> None:
    help_ = run_backprop("descend", "--help", timeout=60)
    assert help_.returncode == 0 and "--momentum" in help_.stdout and "Examples" in help_.stdout
    assert "backprop-cli[plot]" in help_.stdout  # rich markup must not eat the extra's name
    bad = run_backprop("descend", "x^2", "--from", "1", "--lr", "2", timeout=60)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert "smaller learning rate" in bad.stderr


def test_module_docstring_example_runs() -> None:
    import doctest

    import backprop.methods.descend

    result = doctest.testmod(backprop.methods.descend)
    assert result.attempted > 0 and result.failed == 0


def test_plot_of_a_path_with_no_finite_step_is_a_clear_error(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from backprop.methods.descend import Step
    from backprop.errors import BackpropError
    from backprop.core.function import parse
    from backprop.views.plots.descend import plot_descent

    bad = [Step(0, {"x": 1.0}, math.inf, {"x": math.nan}, math.nan)]
    with pytest.raises(BackpropError, match="no step has a finite value"):
        plot_descent(parse("x^2"), bad, tmp_path / "p.png")
    assert not (tmp_path / "p.png").exists()

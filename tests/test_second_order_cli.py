"""The second-order commands: `hessian`, `grad` of several expressions, `descend --method newton`.

Expected values come from hand formulas and SymPy, never from the program's own output.
"""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np
import pytest
import sympy as sp

from backprop import parse
from backprop.methods.descend import NOT_MINIMUM, TOLERANCE, Descent
from clikit import run_cli, run_inprocess, run_subprocess

ROSENBROCK = "(1-x)^2 + 100*(y-x^2)^2"


# ---- backprop hessian ----------------------------------------------------------------------

def test_acceptance_json_is_the_exact_hessian(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["hessian", "x^2*y + sin(y)", "--at", "x=1,y=2", "--format", "json"],
                             capsys)
    assert code == 0 and err == ""
    rec = json.loads(out)
    assert rec["at"] == {"x": 1.0, "y": 2.0}
    assert rec["value"] == 2.0 + math.sin(2.0)
    assert rec["grad"] == {"x": 4.0, "y": 1.0 + math.cos(2.0)}
    assert rec["hessian"] == {"x": {"x": 4.0, "y": 2.0}, "y": {"x": 2.0, "y": -math.sin(2.0)}}


def test_table_is_a_matrix_named_by_the_variables(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["hessian", "x^2*y + sin(y)", "--at", "x=1,y=2"], capsys)
    assert code == 0
    lines = [ln.split() for ln in out.splitlines() if ln.strip()]
    header = next(ln for ln in lines if ln[:1] == ["gradient"])
    assert header == ["gradient", "x", "y"]
    row_x = next(ln for ln in lines if ln[:1] == ["x"])
    row_y = next(ln for ln in lines if ln[:1] == ["y"])
    assert [float(v) for v in row_x[1:]] == [4.0, 4.0, 2.0]
    assert [float(v) for v in row_y[1:]] == pytest.approx(
        [1 + math.cos(2.0), 2.0, -math.sin(2.0)], rel=1e-5)


def test_csv_has_each_second_partial_once(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["hessian", "x^3*y^2*z", "--at", "x=1,y=2,z=3", "--format", "csv"],
                           capsys)
    assert code == 0
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["x", "y", "z", "f", "df/dx", "df/dy", "df/dz", "d2f/dx2", "d2f/dxdy",
                       "d2f/dxdz", "d2f/dy2", "d2f/dydz", "d2f/dz2"]
    x, y, z = 1.0, 2.0, 3.0
    expected = [x, y, z, x**3 * y**2 * z, 3 * x**2 * y**2 * z, 2 * x**3 * y * z, x**3 * y**2,
                6 * x * y**2 * z, 6 * x**2 * y * z, 3 * x**2 * y**2, 2 * x**3 * z, 2 * x**3 * y, 0.0]
    assert [float(v) for v in rows[1]] == expected


def test_wrt_limits_rows_and_columns(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["hessian", ROSENBROCK, "--at", "x=1,y=1", "--wrt", "y",
                            "--format", "json"], capsys)
    assert code == 0
    assert json.loads(out)["hessian"] == {"y": {"y": 200.0}}


def test_degrees(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["hessian", "sin(x)", "--at", "30", "--angle", "deg", "--format", "json"],
                           capsys)
    d = math.pi / 180
    assert code == 0
    assert json.loads(out)["hessian"]["x"]["x"] == pytest.approx(-d * d * 0.5, rel=1e-14)


def test_streamed_stdin_one_object_per_point() -> None:
    xs = np.linspace(-2, 2, 301).tolist()
    stdin = "x,y\n" + "".join(f"{x!r},{0.5 * x!r}\n" for x in xs)
    r = run_inprocess(["hessian", "exp(x*y)", "--at", "-", "--format", "json"], stdin)
    assert r.code == 0, r.err
    recs = [json.loads(ln) for ln in r.out.splitlines()]
    assert len(recs) == len(xs)
    X, Y = sp.symbols("x y")
    e = sp.exp(X * Y)
    hxy = sp.lambdify((X, Y), sp.diff(e, X, Y))
    for rec, x in zip(recs, xs):
        assert rec["hessian"]["x"]["y"] == pytest.approx(hxy(x, 0.5 * x), rel=1e-13)
        assert rec["hessian"]["x"]["y"] == rec["hessian"]["y"]["x"]


def test_streamed_stdin_table_and_csv() -> None:
    r = run_inprocess(["hessian", "x^3", "--at", "-", "--format", "csv"], "1\n2\n3\n")
    assert r.code == 0
    rows = list(csv.reader(io.StringIO(r.out)))
    assert rows[0] == ["x", "f", "df/dx", "d2f/dx2"]
    assert [[float(v) for v in row] for row in rows[1:]] == [
        [x, x**3, 3 * x**2, 6 * x] for x in (1.0, 2.0, 3.0)]
    r = run_inprocess(["hessian", "x^3", "--at", "-"], "1\n2\n")
    assert r.code == 0 and "d2f/dx2" in r.out and "12.0" in r.out


def test_non_finite_second_derivative_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["hessian", "x^1.5 + y", "--at", "x=0,y=1", "--format", "json"],
                             capsys)
    assert code == 0
    assert json.loads(out)["hessian"]["x"]["x"] is None  # strict JSON: inf is null
    assert "Hessian is not finite" in err and "x^1.5" in err


@pytest.mark.parametrize("argv", [
    ["hessian", "x*", "--at", "1"],
    ["hessian", "x*y", "--at", "x=1"],
    ["hessian", "x*y", "--at", "x=1,y=2", "--wrt", "z"],
    ["hessian", "x*y; x", "--at", "x=1,y=2"],
    ["hessian", "x", "--at", "-", "--format", "xml"],
])
def test_errors_exit_2_with_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(argv, capsys)
    assert code == 2 and "Traceback" not in err and err.strip()


def test_bad_stdin_line_exits_2() -> None:
    r = run_inprocess(["hessian", "x^2", "--at", "-", "--format", "csv"], "1\nzz\n")
    assert r.code == 2 and "line 2" in r.err


def test_hessian_in_a_real_process() -> None:
    r = run_subprocess(["hessian", "x^2*y", "--at", "x=1,y=2", "--format", "json"])
    assert r.code == 0 and json.loads(r.out)["hessian"]["x"] == {"x": 4.0, "y": 2.0}


def test_python_api() -> None:
    value, grad, h = parse("x^2*y + sin(y)").hessian(x=1.0, y=2.0)
    assert h.tolist() == [[4.0, 2.0], [2.0, -math.sin(2.0)]]
    _, _, hs = parse("x^2*y").hessian(x=np.array([1.0, 2.0]), y=np.array([3.0, 4.0]))
    assert hs.shape == (2, 2, 2) and hs[0, 1].tolist() == [2.0, 4.0]


# ---- Jacobians: grad of several expressions ---------------------------------------------------

def test_jacobian_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["grad", "x*y; x+y", "--at", "x=1,y=2", "--format", "json"], capsys)
    assert code == 0
    rec = json.loads(out)
    assert rec == {"at": {"x": 1.0, "y": 2.0}, "value": [2.0, 3.0],
                   "grad": [{"x": 2.0, "y": 1.0}, {"x": 1.0, "y": 1.0}]}


def test_jacobian_table_one_row_per_output(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["grad", "x*y; x+y; sin(x)", "--at", "x=1,y=2"], capsys)
    assert code == 0
    rows = [ln.split() for ln in out.splitlines() if ln.strip()]
    assert ["x*y", "2.0", "2.0", "1.0"] in rows
    assert ["x+y", "3.0", "1.0", "1.0"] in rows
    assert ["sin(x)", repr(math.sin(1.0)), repr(math.cos(1.0)), "0.0"] in rows


def test_jacobian_csv_and_stream() -> None:
    r = run_inprocess(["grad", "x*y; x-y", "--at", "-", "--format", "csv"], "x,y\n1,2\n3,5\n")
    assert r.code == 0
    rows = list(csv.reader(io.StringIO(r.out)))
    assert rows[0] == ["x", "y", "f1", "f2", "df1/dx", "df1/dy", "df2/dx", "df2/dy"]
    assert [float(v) for v in rows[2]] == [3.0, 5.0, 15.0, -2.0, 5.0, 3.0, 1.0, -1.0]


@pytest.mark.parametrize("expr,mode", [("x*y; x+y", "reverse"), ("x; x^2; x^3", "forward")])
def test_jacobian_trace_names_the_mode(expr: str, mode: str,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    point = "x=1,y=2" if "y" in expr else "2"
    code, out, _ = run_cli(["grad", expr, "--at", point, "--trace"], capsys)
    assert code == 0 and f"{mode} mode" in out


def test_jacobian_forward_mode_values(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["grad", "x; x^2; x^3", "--at", "2", "--format", "json"], capsys)
    assert code == 0
    assert json.loads(out)["grad"] == [{"x": 1.0}, {"x": 4.0}, {"x": 12.0}]


def test_one_expression_still_gives_the_plain_record(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["grad", "x*y", "--at", "x=1,y=2", "--format", "json"], capsys)
    assert json.loads(out) == {"at": {"x": 1.0, "y": 2.0}, "value": 2.0, "grad": {"x": 2.0, "y": 1.0}}


def test_several_expressions_elsewhere_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["descend", "x^2; y^2", "--from", "x=1,y=1"], capsys)
    assert code == 2 and "only grad takes several" in err


# ---- descend: Newton, stationary points, oscillation ----------------------------------------

def test_newton_converges_on_rosenbrock_in_far_fewer_steps() -> None:
    f = parse(ROSENBROCK)
    newton = Descent(f, {"x": -1.2, "y": 1.0}, max_steps=1000, method="newton").run()
    gd = Descent(f, {"x": -1.2, "y": 1.0}, tau=0.001, max_steps=20000).run()
    assert newton.converged and newton.reason == TOLERANCE and newton.stationary == "minimum"
    assert newton.last.point["x"] == pytest.approx(1.0, abs=1e-8)
    assert newton.last.point["y"] == pytest.approx(1.0, abs=1e-8)
    assert newton.steps * 20 < gd.steps


def test_newton_never_steps_uphill() -> None:
    steps = list(Descent(parse(ROSENBROCK), {"x": -1.2, "y": 1.0}, method="newton"))
    values = [s.value for s in steps]
    assert all(b <= a for a, b in zip(values, values[1:]))


def test_newton_on_a_quadratic_takes_one_step() -> None:
    # E = (x-1)^2 + 10 (y+2)^2 + x*y: its Hessian is constant, so one full Newton step lands
    # on the minimum, found by hand: 2(x-1) + y = 0, 20(y+2) + x = 0
    out = Descent(parse("(x-1)^2 + 10*(y+2)^2 + x*y"), {"x": 5.0, "y": 5.0}, method="newton").run()
    x, y = np.linalg.solve([[2.0, 1.0], [1.0, 20.0]], [2.0, -40.0])
    assert out.steps == 1
    assert out.last.point["x"] == pytest.approx(x, rel=1e-12)
    assert out.last.point["y"] == pytest.approx(y, rel=1e-12)


def test_newton_falls_back_to_a_gradient_step_where_the_hessian_is_indefinite() -> None:
    # x^4 - 3x^2 at x = 0.5: f'' = 12x^2 - 6 = -3 < 0: a Newton step would go uphill
    out = Descent(parse("x^4 - 3*x^2"), {"x": 0.5}, method="newton").run()
    assert out.converged and out.fallbacks >= 1
    assert any("gradient step" in n and "indefinite" in n for n in out.notes)
    assert out.last.point["x"] == pytest.approx(math.sqrt(1.5), rel=1e-9)


def test_a_start_at_a_maximum_is_not_called_converged(capsys: pytest.CaptureFixture[str]) -> None:
    out = Descent(parse("x^4 - 3*x^2"), {"x": 0.0}).run()
    assert not out.converged and out.reason == NOT_MINIMUM and out.stationary == "maximum"
    code, stdout, err = run_cli(["descend", "x^4 - 3*x^2", "--from", "0"], capsys)
    assert code == 1 and "maximum" in err and "converged after" not in stdout


def test_a_saddle_is_reported() -> None:
    out = Descent(parse("x^2 - y^2"), {"x": 1.0, "y": 0.0}, tau=0.25).run()
    assert out.reason == NOT_MINIMUM and out.stationary == "saddle"


def test_an_oscillating_run_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["descend", "x^2", "--from", "1", "--lr", "1"], capsys)
    assert code == 0 and "oscillate" in out
    code, out, _ = run_cli(["descend", "x^2", "--from", "1", "--lr", "1", "--format", "json"],
                           capsys)
    summary = json.loads(out.splitlines()[-1])
    assert summary["oscillates"] is True and summary["converged"] is False


def test_a_straight_run_does_not_oscillate() -> None:
    out = Descent(parse("(x-3)^2"), {"x": 0.0}, tau=0.1).run()
    assert not out.oscillates and out.stationary == "minimum"


def test_newton_refuses_lr_and_momentum(capsys: pytest.CaptureFixture[str]) -> None:
    for extra in (["--lr", "0.1"], ["--momentum", "0.5"]):
        code, _, err = run_cli(["descend", "x^2", "--from", "1", "--method", "newton", *extra],
                               capsys)
        assert code == 2 and err.strip()


def test_newton_cli_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["descend", ROSENBROCK, "--from", "x=-1.2,y=1", "--method", "newton"],
                           capsys)
    assert code == 0 and "Newton's method" in out and "converged after" in out


def _peak_rss_kb(lines: int) -> int:
    """Peak memory of `hessian --at - --format csv` fed ``lines`` points through a pipe."""
    import subprocess
    import sys

    code = ("import resource, sys\n"
            "from backprop.cli import main\n"
            "code = main(['hessian', 'sin(x*y) + x^2*exp(-y)', '--at', '-', '--format', 'csv'])\n"
            "sys.stderr.write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))\n"
            "sys.exit(code)\n")
    p = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert p.stdin is not None and p.stderr is not None
    p.stdin.write(b"x,y\n")
    block = b"".join(b"%d.5,%d.25\n" % (k % 7, k % 5) for k in range(10_000))
    for _ in range(lines // 10_000):
        p.stdin.write(block)
    p.stdin.close()
    err = p.stderr.read()
    assert p.wait(timeout=600) == 0, err
    return int(err.decode().strip().splitlines()[-1])


@pytest.mark.slow
def test_streamed_stdin_memory_is_bounded() -> None:
    small, large = _peak_rss_kb(100_000), _peak_rss_kb(400_000)
    assert large < 1.15 * small, (small, large)


# ---- the contract under fuzzing: exit 0/1/2, one message, never a traceback --------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from fuzzkit import check_contract, near_miss  # noqa: E402

VALID = ["x^2*y + sin(y)", "relu(x)*max(x, y)", "x^1.5 + y", "log(x) * exp(y)", "x*y; x+y",
         "sqrt(x^2 + y^2)", "atan(y/x)", "x^y", "1/(x - y)", "3", "tanh(x)^2 - sigmoid(y)"]
NOISE = [";", "(", ")", ",", "^", "*", "x", "y", "0", "1e999", "nan", "max", "; ;", "-"]


@st.composite
def _near(draw: st.DrawFn) -> str:
    return near_miss(draw, VALID, NOISE)


@given(expr=_near(), fmt=st.sampled_from(["table", "json", "csv"]),
       point=st.sampled_from(["x=0.5,y=-1", "x=0,y=0", "1", ",", "x=1e308,y=-1e308", "x=nan,y=1"]),
       command=st.sampled_from(["hessian", "grad"]))
@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
def test_fuzzed_second_order_commands_keep_the_contract(expr: str, fmt: str, point: str,
                                                        command: str) -> None:
    check_contract(run_inprocess([command, expr, "--at", point, "--format", fmt]))


@given(stdin=st.text(max_size=200), fmt=st.sampled_from(["table", "json", "csv"]))
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_fuzzed_stdin_keeps_the_contract(stdin: str, fmt: str) -> None:
    check_contract(run_inprocess(["hessian", "x*y + x^2", "--at", "-", "--format", fmt], stdin))
    check_contract(run_inprocess(["grad", "x*y; x^2", "--at", "-", "--format", fmt], stdin))


# ---- the Jacobian against SymPy, both modes ----------------------------------------------------

@given(data=st.data())
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_random_jacobians_match_sympy(data: st.DataObject) -> None:
    from backprop import parse_vector

    X, Y, Z = sp.symbols("x y z", real=True)
    pieces = [("sin(x)*y", sp.sin(X) * Y), ("x^2 + z", X**2 + Z), ("exp(y/3)*z", sp.exp(Y / 3) * Z),
              ("atan(x*y*z)", sp.atan(X * Y * Z)), ("y", Y), ("x/(1+z^2)", X / (1 + Z**2))]
    chosen = data.draw(st.lists(st.sampled_from(pieces), min_size=1, max_size=5))
    text = "; ".join(t for t, _ in chosen) + "; 0*x + 0*y + 0*z"
    exprs = [e for _, e in chosen] + [sp.Integer(0)]
    values = {s: data.draw(st.floats(-2, 2, allow_nan=False)) for s in (X, Y, Z)}
    f = parse_vector(text)
    point = {str(s): v for s, v in values.items()}
    subs = {s: sp.Float(v, 40) for s, v in values.items()}
    for mode in ("reverse", "forward"):
        vals, grads = f.jacobian(mode=mode, **point)
        for k, e in enumerate(exprs):
            assert vals[k] == pytest.approx(float(e.evalf(40, subs=subs)), rel=1e-13, abs=1e-15)
            for s in (X, Y, Z):
                expected = float(sp.diff(e, s).evalf(40, subs=subs))
                assert grads[k][str(s)] == pytest.approx(expected, rel=1e-12, abs=1e-14)

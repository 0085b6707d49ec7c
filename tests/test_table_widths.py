"""Every table at 60, 80 and 120 columns: every column header whole, every number whole
(never an ellipsis), no line wider than the terminal (issue 27, part 1).

The commands run in a subprocess with COLUMNS set (rich reads it off a terminal);
the numbers a table shows are compared with the same command's JSON, which keeps
every digit: each must appear with at least 4 significant digits (all of them for
``grad`` without --trace, which promises full precision).
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pytest

from clikit import run_backprop

WIDTHS = (60, 80, 120)
_TOKEN = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?")


def run(args: list[str], width: int | None, stdin: str | None = None,
        cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, NO_COLOR="1")
    env.pop("COLUMNS", None)
    if width is not None:
        env["COLUMNS"] = str(width)
    return run_backprop(*args, stdin=stdin, env=env, cwd=cwd, timeout=120)


def check_fits(out: str, width: int, headers: Iterable[str]) -> None:
    assert "…" not in out
    long = [line for line in out.splitlines() if len(line.rstrip()) > width]
    assert not long, f"lines wider than {width}: {long}"
    for h in headers:
        assert any(h in line for line in out.splitlines()), f"header {h!r} not whole"


def tokens(out: str) -> set[str]:
    return set(_TOKEN.findall(out))


def shown(v: float, found: set[str], min_digits: int = 4) -> bool:
    """Whether ``v`` appears whole, with at least ``min_digits`` significant digits."""
    if repr(v) in found or (v == int(v) and abs(v) < 1e15 and str(int(v)) in found):
        return True
    return any(f"{v:.{d}g}" in found for d in range(min_digits, 18))


def numbers(obj: Any) -> list[float]:
    if isinstance(obj, bool):
        return []
    if isinstance(obj, float):
        return [obj] if math.isfinite(obj) else []
    if isinstance(obj, dict):
        return [x for v in obj.values() for x in numbers(v)]
    if isinstance(obj, list):
        return [x for v in obj for x in numbers(v)]
    return []


@pytest.mark.parametrize("width", WIDTHS)
def test_trace_keeps_every_column_and_number(width: int) -> None:
    args = ["grad", "2/sin(exp(-x))", "--at", "-4.499", "--trace"]
    p = run(args, width)
    assert p.returncode == 0, p.stderr
    check_fits(p.stdout, width, ["node", "module", "computes", "value", "upstream", "input",
                                 "local", "= value", "contribution"])
    record = json.loads(run([*args, "--format", "json"], width).stdout)
    found = tokens(p.stdout)
    for v in numbers(record):
        assert shown(v, found), (v, p.stdout)
    for b in record["backward"]:  # the text cells too
        assert b["local"] in p.stdout and b["node"] in p.stdout


@pytest.mark.parametrize("width", WIDTHS)
def test_a_shortened_table_says_so_and_the_json_keeps_every_digit(width: int) -> None:
    p = run(["grad", "2/sin(exp(-x))", "--at", "-4.499", "--trace"], width)
    # the backward table at full precision is 6 + 1 + 5 + 6 + 20 + 18 + 18 wide plus padding
    if width < 120:
        assert "significant digits shown to fit" in p.stdout
        assert "-2.341342514210218" not in p.stdout
    else:
        assert "significant digits" not in p.stdout
        assert "-2.341342514210218" in p.stdout


@pytest.mark.parametrize("width", WIDTHS)
def test_grad_keeps_full_precision_at_any_width(width: int) -> None:
    args = ["grad", "x*y + z*w + sin(q)*u", "--at", "x=1.1,y=2.3,z=3.7,w=0.1,q=0.7,u=1.3"]
    p = run(args, width)
    assert p.returncode == 0, p.stderr
    check_fits(p.stdout, width, ["x", "f", *(f"df/d{v}" for v in "xyzwqu")])
    record = json.loads(run([*args, "--format", "json"], width).stdout)
    found = tokens(p.stdout)
    for v in numbers(record):
        assert repr(v) in found or shown(v, found, 17), v
    assert "significant digits" not in p.stdout


@pytest.mark.parametrize("width", WIDTHS)
def test_a_stream_of_points_is_never_cut(width: int) -> None:
    stdin = "x,y,z,w\n1.1,2.2,3.3,4.4\n0.1,0.2,0.3,0.4\n"
    p = run(["grad", "sin(x*y) + z^w", "--at", "-"], width, stdin=stdin)
    assert p.returncode == 0, p.stderr
    check_fits(p.stdout, width, [])
    found = tokens(p.stdout)
    for line in run(["grad", "sin(x*y) + z^w", "--at", "-", "--format", "json"], width,
                    stdin=stdin).stdout.splitlines():
        for v in numbers(json.loads(line)):
            assert repr(v) in found, v


@pytest.mark.parametrize("width", WIDTHS)
def test_compare_keeps_its_error_columns(width: int) -> None:
    p = run(["compare", "2/sin(exp(-x))", "--at", "-4.499"], width)
    assert p.returncode == 0, p.stderr
    check_fits(p.stdout, width, ["method", "variable", "partial derivative", "abs error",
                                 "rel error", "estimate", "passes", "time per gradient"])
    assert "-80.39305660164425" in p.stdout  # Richardson's estimate, whole
    assert "1.20053e-10" in p.stdout  # its error, as the study shortens it


@pytest.mark.parametrize("width", WIDTHS)
def test_compare_order_2_and_sweep(width: int) -> None:
    p = run(["compare", "x*y + sin(x)", "--at", "x=1,y=2", "--order", "2"], width)
    assert p.returncode == 0, p.stderr
    check_fits(p.stdout, width, ["method", "partial", "second derivative", "abs error",
                                 "rel error", "passes", "time per Hessian"])
    p = run(["compare", "sin(x)", "--at", "1", "--sweep"], width)
    assert p.returncode == 0, p.stderr
    check_fits(p.stdout, width, [])


@pytest.mark.parametrize("width", WIDTHS)
def test_hessian_and_jacobian(width: int) -> None:
    args = ["hessian", "x^2*y + sin(y)*z*w + u*v", "--at", "x=1,y=2,z=3.3,w=0.7,u=0.5,v=-1.5"]
    p = run(args, width)
    assert p.returncode == 0, p.stderr
    check_fits(p.stdout, width, ["gradient", *"xyzwuv"])
    record = json.loads(run([*args, "--format", "json"], width).stdout)
    found = tokens(p.stdout)
    values = numbers(record["hessian"]) + numbers(record["grad"])
    assert len(values) == 36 + 6
    for v in values:
        assert shown(v, found), v
    p = run(["grad", "x*y*z*w; x+y+z+w; sin(x)*cos(y)", "--at", "x=1.3,y=2.7,z=0.3,w=1.9"], width)
    assert p.returncode == 0, p.stderr
    check_fits(p.stdout, width, ["output", "f", "df/dx", "df/dy", "df/dz", "df/dw"])
    assert "significant digits" not in p.stdout  # grad's values keep every digit
    assert repr(math.sin(1.3) * math.cos(2.7)) in p.stdout


@pytest.mark.parametrize("width", WIDTHS)
def test_descend(width: int) -> None:
    args = ["descend", "(1-x)^2 + 100*(y-x^2)^2 + (z-1)^2", "--from", "x=-1.2,y=1,z=0.3",
            "--lr", "0.001", "--steps", "200", "--every", "50"]
    p = run(args, width)
    assert p.returncode == 0, p.stderr
    check_fits(p.stdout, width, ["step", "x", "y", "z", "f", "|grad|"])
    found = tokens(p.stdout)
    for line in run([*args, "--format", "json"], width).stdout.splitlines():
        r = json.loads(line)
        if "step" in r:
            for v in numbers(r):
                assert shown(v, found), v


@pytest.mark.parametrize("width", WIDTHS)
def test_diff_table(width: int) -> None:
    p = run(["diff", "sin(sin(sin(x*y)))*exp(cos(x))*z", "--format", "table"], width)
    assert p.returncode == 0, p.stderr
    check_fits(p.stdout, width, [])


@pytest.fixture(scope="module")
def classifier(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from backprop.nn.model import Classifier

    folder = tmp_path_factory.mktemp("widths")
    rng = np.random.default_rng(2)
    classes = ["low", "middle", "high", "very high", "extreme"]
    W, b = rng.normal(size=(5, 2)), rng.normal(size=5)
    V, c = rng.normal(size=(5, 5)), rng.normal(size=5)
    Classifier([(W, b)], V, c, "tanh", classes=classes, input_names=["u", "v"],
               target_names=["level"]).save(folder / "m.npz")
    X = rng.normal(size=(60, 2))
    labels = np.array(classes)[rng.integers(0, 5, 60)]
    data = folder / "d.csv"
    data.write_text("u,v,level\n" + "".join(f"{u!r},{v!r},{k}\n"
                                            for (u, v), k in zip(X.tolist(), labels)))
    return folder / "m.npz", data


@pytest.mark.parametrize("width", WIDTHS)
def test_evaluate(width: int, classifier: tuple[Path, Path]) -> None:
    model, data = classifier
    p = run(["evaluate", str(model), str(data)], width)
    assert p.returncode == 0, p.stderr
    check_fits(p.stdout, width, ["value", "class", "precision", "recall", "rows",
                                 "true \\ predicted", "low", "middle", "very high", "extreme"])


def test_without_a_terminal_tables_fit_80_columns() -> None:
    # no COLUMNS and no terminal: rich's 80, as the README's examples run
    p = run(["compare", "2/sin(exp(-x))", "--at", "-4.499"], None)
    assert p.returncode == 0, p.stderr
    check_fits(p.stdout, 80, ["abs error", "rel error", "time per gradient"])


def test_fit_never_cuts_and_falls_back_to_a_block_per_row() -> None:
    from rich.console import Console

    from backprop.views.writers import table

    columns = ["a rather long header one", "another long header two", "and a third"]
    rows = [[1.0 / 3.0, 2.0 / 7.0, "x"], [1e-300 / 3, -2.5, "y"]]
    for width in (30, 45, 60, 200):
        c = Console(width=width, record=True, file=open(os.devnull, "w"))
        c.print(table("t", columns, rows, full_precision=True, width=width))
        text = c.export_text()
        check_fits(text, width, columns)
        for v in (1.0 / 3.0, 2.0 / 7.0, 1e-300 / 3):
            assert repr(v) in text


@pytest.fixture(scope="module")
def regressor(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A small network trained on three inputs, and a held-out CSV with its target."""
    import yaml

    folder = tmp_path_factory.mktemp("widths_train")
    config = {"data": {"synthetic": {"expr": "sin(x1)*x2 + x3",
                                     "ranges": {"x1": [-2, 2], "x2": [-1, 1], "x3": [0, 1]},
                                     "n": 200, "noise": 0.01},
                       "target": "y", "validation_split": 0.2},
              "model": {"hidden": 4}, "training": {"epochs": 3, "seed": 0},
              "output": {"model": str(folder / "m.npz")}}
    (folder / "c.yaml").write_text(yaml.safe_dump(config))
    rng = np.random.default_rng(5)
    rows = rng.uniform(-1, 1, size=(30, 3))
    data = folder / "held_out.csv"
    data.write_text("x1,x2,x3,y\n" + "".join(
        f"{a!r},{b!r},{c!r},{math.sin(a) * b + c!r}\n" for a, b, c in rows.tolist()))
    return folder / "c.yaml", folder / "m.npz", data


@pytest.mark.slow  # a few seconds: in the slow group (docs/setup.md)
@pytest.mark.parametrize("width", WIDTHS)
def test_train_predict_and_evaluate(width: int, regressor: tuple[Path, Path, Path]) -> None:
    config, model, data = regressor
    p = run(["train", str(config)], width)
    assert p.returncode == 0, p.stderr
    check_fits(p.stdout, width, ["value"])
    p = run(["predict", str(model), "--at", "x1=0.123456789,x2=-0.987654321,x3=0.5"], width)
    assert p.returncode == 0, p.stderr
    check_fits(p.stdout, width, ["x1", "x2", "x3", "y_pred"])
    p = run(["predict", str(model), str(data)], width)
    assert p.returncode == 0, p.stderr
    check_fits(p.stdout, width, ["x1", "y_pred"])
    p = run(["evaluate", str(model), str(data)], width)
    assert p.returncode == 0, p.stderr
    check_fits(p.stdout, width, ["target", "MSE", "RMSE", "MAE", "R²"])

"""Pictures: training curves (train --plot), the sparkline, the finite-difference sweep."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import sympy as sp
import yaml

from backprop.studies.sweep import sweep, sweep_steps
from backprop.core.function import parse
from backprop.methods.numeric import CENTRAL, FORWARD, step
from backprop.views.sparklines import SPARK_ASCII, SPARK_BLOCKS, sparkline
from clikit import run_backprop, run_cli

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_png_drawn(path: Path) -> None:
    """A real PNG that decodes and is not one flat colour."""
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 1000
    import matplotlib.image as mpimg

    pixels = mpimg.imread(str(path))
    assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert float(pixels[..., :3].var()) > 1e-3  # a blank canvas has variance 0


def assert_svg(path: Path) -> ET.Element:
    root = ET.parse(path).getroot()  # raises on invalid XML
    assert root.tag.endswith("svg")
    assert len(list(root.iter())) > 50  # lines, markers, text: something was drawn
    return root


def no_temporaries(folder: Path) -> None:
    assert not [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


def tiny_config(tmp_path: Path, inputs: int = 1, epochs: int = 12) -> Path:
    ranges = {"x": [-1, 1]} if inputs == 1 else {"x1": [-1, 1], "x2": [-1, 1]}
    expr = "sin(3*x)" if inputs == 1 else "x1*x2"
    cfg = {"data": {"synthetic": {"expr": expr, "ranges": ranges, "n": 300, "noise": 0.05},
                    "validation_split": 0.2},
           "model": {"hidden": 8, "activation": "tanh"},
           "training": {"learning_rate": 0.1, "epochs": epochs, "batch_size": 16, "seed": 1},
           "output": {"model": str(tmp_path / "model.npz")}}
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


# ---- the sparkline ---------------------------------------------------------------

def test_sparkline_length_is_one_character_per_value_up_to_width() -> None:
    assert len(sparkline([1.0, 2.0, 3.0], width=40)) == 3
    assert len(sparkline([float(k + 1) for k in range(300)], width=40)) == 40
    assert len(sparkline([float(k + 1) for k in range(41)], width=40)) == 40
    assert sparkline([], width=10) == ""


def test_sparkline_rises_where_the_values_rise_and_falls_where_they_fall() -> None:
    values = [1.0, 0.1, 0.01, 0.1, 1.0, 10.0]
    line = sparkline(values)
    heights = [SPARK_BLOCKS.index(ch) for ch in line]
    for k in range(1, len(values)):
        if values[k] > values[k - 1]:
            assert heights[k] > heights[k - 1], line
        else:
            assert heights[k] < heights[k - 1], line
    assert heights[0] == heights[4]  # log scale: equal values, equal heights
    assert heights[2] == 0 and heights[5] == len(SPARK_BLOCKS) - 1


def test_sparkline_is_log_scaled_and_ascii_on_request() -> None:
    # 1, 10, 100, ..., 1e7: evenly spaced in log, so each step climbs one of eight levels
    line = sparkline([10.0 ** k for k in range(8)], ascii=True)
    assert line == SPARK_ASCII
    assert all(ord(ch) < 128 for ch in line)


def test_sparkline_shared_limits_put_two_curves_on_one_scale() -> None:
    low = sparkline([0.01, 0.01], limits=(0.01, 1.0))
    high = sparkline([1.0, 1.0], limits=(0.01, 1.0))
    assert set(low) == {SPARK_BLOCKS[0]} and set(high) == {SPARK_BLOCKS[-1]}


def test_sparkline_after_averaging_still_follows_the_trend() -> None:
    falling = [math.exp(-k / 50) for k in range(500)]
    heights = [SPARK_BLOCKS.index(ch) for ch in sparkline(falling, width=20)]
    assert heights == sorted(heights, reverse=True) and heights[0] > heights[-1]


# ---- train --plot and the summary's loss curve ------------------------------------

def test_train_plot_png_one_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    png = tmp_path / "out" / "train.png"
    png.parent.mkdir()
    code, out, err = run_cli(["train", str(tiny_config(tmp_path)), "--quiet", "--plot", str(png)],
                             capsys)
    assert code == 0, err
    assert_png_drawn(png)
    no_temporaries(png.parent)
    # the table summary ends with the loss curves, one character per epoch (12 < width)
    lines = out.splitlines()
    head = next(k for k, line in enumerate(lines) if line.startswith("loss per epoch"))
    train_line, val_line = lines[head + 1], lines[head + 2]
    assert train_line.split()[0] == "train" and val_line.split()[0] == "validation"
    spark = train_line.split()[1]
    assert len(spark) == 12 and set(spark) <= set(SPARK_BLOCKS)
    assert spark[0] == SPARK_BLOCKS[-1]  # the first epoch's loss is the largest on this data


def test_train_plot_svg_several_inputs_is_valid_xml(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    svg = tmp_path / "train.svg"
    code, out, err = run_cli(["train", str(tiny_config(tmp_path, inputs=2)), "--quiet",
                              "--plot", str(svg), "--format", "json"], capsys)
    assert code == 0, err
    assert json.loads(out)["plot"] == str(svg)
    root = assert_svg(svg)
    text = " ".join(t for t in (e.text for e in root.iter()) if t)
    assert "fitted function" not in text  # two inputs: the loss panel only
    no_temporaries(tmp_path)


def test_train_plot_into_a_missing_folder_fails_before_training(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    code, out, err = run_cli(["train", str(tiny_config(tmp_path)), "--plot",
                              str(tmp_path / "nope" / "a.png")], capsys)
    assert code == 2 and "does not exist" in err and out == ""
    assert not (tmp_path / "model.npz").exists()  # no training happened


def test_train_summary_falls_back_to_ascii_when_stdout_cannot_encode_blocks(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONIOENCODING="ascii", NO_COLOR="1")
    proc = run_backprop("train", str(tiny_config(tmp_path)), "--quiet", env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    out = proc.stdout
    out.encode("ascii")  # raises if a block character slipped through
    train_line = next(line for line in out.splitlines() if line.strip().startswith("train "))
    assert set(train_line.split()[1]) <= set(SPARK_ASCII) and "->" in train_line


BLOCK_MATPLOTLIB = "import sys; sys.modules['matplotlib'] = None\n"  # import matplotlib now fails


def test_train_plot_without_matplotlib_says_how_to_install(tmp_path: Path) -> None:
    png = tmp_path / "p.png"
    code = (BLOCK_MATPLOTLIB + "from backprop.cli import main\n"
            f"sys.exit(main(['train', {str(tiny_config(tmp_path))!r}, '--plot', {str(png)!r}]))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "pip install 'backprop-cli[plot]'" in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stdout == "" and not png.exists()
    assert not (tmp_path / "model.npz").exists()  # checked before training started


# ---- the finite-difference sweep ---------------------------------------------------

def test_sweep_steps_are_29_half_decades_from_1e_1_to_1e_15() -> None:
    hs = sweep_steps()
    assert len(hs) == 29
    assert hs[0] == pytest.approx(1e-1) and hs[-1] == pytest.approx(1e-15)
    ratios = [hs[k] / hs[k + 1] for k in range(len(hs) - 1)]
    assert all(r == pytest.approx(math.sqrt(10)) for r in ratios)


@pytest.mark.parametrize("text,x0", [("sin(x)*exp(x)", 0.7), ("log(1 + x^2)", 2.5),
                                     ("exp(x)", -3.0)])
def test_sweep_central_default_is_accurate_and_the_errors_make_a_v(text: str, x0: float) -> None:
    result = sweep(parse(text), {"x": x0}).to_json()
    x = sp.Symbol("x")
    oracle = float(sp.diff(sp.sympify(text.replace("^", "**")), x).subs(x, x0))
    assert result["exact"]["x"] == pytest.approx(oracle, rel=1e-14)
    rows = result["rows"]
    for method in (FORWARD, CENTRAL):
        mine = [r for r in rows if r["method"] == method]
        default = [r for r in mine if r["default"]]
        assert len(default) == 1 and default[0]["h_taken"] == step(x0, method)
        at_default = default[0]["rel_error"]
        swept = {round(math.log10(r["h"]) * 2): r for r in mine if not r["default"]}
        assert len(swept) == 29
        # the V: both ends worse than the bottom, where the default step sits
        assert swept[-2]["rel_error"] > at_default and swept[-30]["rel_error"] > at_default
        if method == CENTRAL:
            assert at_default < 1e-8
        else:
            assert at_default < 1e-6


def test_sweep_truncation_slopes_are_one_forward_and_two_central() -> None:
    # exp at 0: truncation error (e^h - 1)/h - 1 ~ h/2, (e^h - e^-h)/2h - 1 ~ h^2/6
    rows = sweep(parse("exp(x)"), {"x": 0.0}, steps=[1e-2, 1e-3]).rows
    err = {(r["method"], r["h"]): r["rel_error"] for r in rows if not r["default"]}
    assert err[(FORWARD, 1e-2)] / err[(FORWARD, 1e-3)] == pytest.approx(10.0, rel=0.02)
    assert err[(CENTRAL, 1e-2)] / err[(CENTRAL, 1e-3)] == pytest.approx(100.0, rel=0.02)
    assert err[(FORWARD, 1e-3)] == pytest.approx(1e-3 / 2, rel=0.01)
    assert err[(CENTRAL, 1e-3)] == pytest.approx(1e-6 / 6, rel=0.01)


def test_sweep_json_lines_one_object_per_step_per_method(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["compare", "x^2*y + sin(y)", "--at", "x=1,y=2", "--sweep",
                              "--format", "json"], capsys)
    assert code == 0, err
    objs = [json.loads(line) for line in out.splitlines()]
    assert len(objs) == 2 * 3 * (29 + 1)  # variables x methods x (steps + the default step)
    assert {(o["variable"], o["method"]) for o in objs} == {(v, m) for v in "xy"
                                                            for m in (FORWARD, CENTRAL,
                                                                      "complex_step")}
    assert sum(o["default"] for o in objs) == 6
    exact = {o["variable"]: o["exact"] for o in objs}
    assert exact["x"] == pytest.approx(4.0) and exact["y"] == pytest.approx(1 + math.cos(2.0))


def test_sweep_table_marks_the_default_steps(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["compare", "--sweep"], capsys)  # the seed's function and point
    assert code == 0, err
    assert "default forward step" in out and "default central step" in out
    assert "2/sin(exp(-x))" in out and "-4.499" in out


def test_sweep_plot_png_and_svg(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    png, svg = tmp_path / "sweep.png", tmp_path / "sweep.svg"
    code, _, err = run_cli(["compare", "exp(x)", "--at", "1", "--sweep", "--plot", str(png)], capsys)
    assert code == 0, err
    assert_png_drawn(png)
    code, _, err = run_cli(["compare", "x*y", "--at", "x=1,y=2", "--sweep", "--plot", str(svg),
                            "--format", "json"], capsys)
    assert code == 0, err
    assert_svg(svg)
    no_temporaries(tmp_path)


def test_sweep_option_errors_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    for argv in (["compare", "exp(x)", "--at", "1", "--plot", str(tmp_path / "a.png")],
                 ["compare", "exp(x)", "--at", "1", "--sweep", "--eps", "1e-3"],
                 ["compare", "--sweep", "--scaling"],
                 ["compare", "3", "--at", "", "--sweep"]):
        code, out, err = run_cli(argv, capsys)
        assert code == 2 and "error" in err and out == "", argv


def test_sweep_plot_without_matplotlib_says_how_to_install(tmp_path: Path) -> None:
    png = tmp_path / "p.png"
    code = (BLOCK_MATPLOTLIB + "from backprop.cli import main\n"
            f"sys.exit(main(['compare', '--sweep', '--plot', {str(png)!r}]))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "pip install 'backprop-cli[plot]'" in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stdout == "" and not png.exists()

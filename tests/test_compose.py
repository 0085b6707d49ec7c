"""Commands that compose: JSON Lines in as well as out, --at @FILE, repeated --at,
pass-through columns, options of one value given twice, the distribution's name.

The expected numbers are hand formulas of the expressions (d(x*y)/dx = y, ...),
evaluated here on the points the previous command wrote.
"""

from __future__ import annotations

import csv
import io
import json
import math
import tomllib
from pathlib import Path

import pytest

from clikit import run_inprocess

ROOT = Path(__file__).resolve().parent.parent


def ok(argv: list[str], stdin: str | None = None) -> str:
    r = run_inprocess(argv, stdin)
    assert r.code == 0, r.err
    return r.out


def bad(argv: list[str], stdin: str | None = None, code: int = 2) -> str:
    r = run_inprocess(argv, stdin)
    assert r.code == code, (r.out, r.err)
    assert "Traceback" not in r.err and r.err.count("\n") == 1, r.err
    return r.err


def jsonl(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


# ---- acceptance ---------------------------------------------------------------------------

def test_descend_json_into_grad_csv_one_row_per_line_with_step_passed_through() -> None:
    steps = ok(["descend", "(x-3)^2 + y^2", "--from", "x=0,y=1", "--format", "json"])
    lines = jsonl(steps)
    out = run_inprocess(["grad", "x*y", "--at", "-", "--format", "csv"], steps)
    assert out.code == 0
    rows = csv_rows(out.out)
    assert len(rows) == len(lines) >= 3
    assert list(rows[0])[:1] == ["step"]
    for line, row in zip(lines, rows):
        x, y = line["at"]["x"], line["at"]["y"]
        assert int(row["step"]) == line["step"]
        assert float(row["x"]) == x and float(row["y"]) == y
        assert float(row["f"]) == x * y
        assert float(row["df/dx"]) == y and float(row["df/dy"]) == x
    # the last line is descend's summary: its members that the first line has not are
    # named on stderr, not dropped silently
    assert "converged" in out.err and "--format json keeps them" in out.err


def test_repeated_at_gives_one_row_per_point_in_order() -> None:
    rows = csv_rows(ok(["grad", "x^2", "--at", "1", "--at", "2", "--at", "3", "--format", "csv"]))
    assert [(float(r["x"]), float(r["f"]), float(r["df/dx"])) for r in rows] == [
        (1.0, 1.0, 2.0), (2.0, 4.0, 4.0), (3.0, 9.0, 6.0)]
    recs = jsonl(ok(["grad", "x*y", "--at", "x=2,y=3", "--at", "x=-1,y=5", "-f", "json"]))
    assert recs == [{"at": {"x": 2.0, "y": 3.0}, "value": 6.0, "grad": {"x": 3.0, "y": 2.0}},
                    {"at": {"x": -1.0, "y": 5.0}, "value": -5.0, "grad": {"x": 5.0, "y": -1.0}}]


@pytest.mark.parametrize("content", [
    "x\n1\n2.5\n-3\n",
    "1\n2.5\n-3\n",
    '{"at": {"x": 1}}\n{"at": {"x": 2.5}}\n\n{"x": -3}\n',
])
def test_at_file_equals_stdin(tmp_path: Path, content: str) -> None:
    pts = tmp_path / "pts.txt"
    pts.write_text(content)
    for fmt in ("csv", "json", "table"):
        from_file = ok(["grad", "x^2", "--at", f"@{pts}", "--format", fmt])
        assert from_file == ok(["grad", "x^2", "--at", "-", "--format", fmt], content)
    rows = csv_rows(ok(["grad", "x^2", "--at", f"@{pts}", "--format", "csv"]))
    assert [float(r["df/dx"]) for r in rows] == [2.0, 5.0, -6.0]


# ---- every JSON output is input to the next command ---------------------------------------

def _through_grad(json_out: str, expr: str = "x*y") -> list[dict]:
    recs = jsonl(ok(["grad", expr, "--at", "-", "--format", "json"], json_out))
    assert recs
    for r in recs:
        x, y = r["at"]["x"], r["at"]["y"]
        assert r["value"] == x * y and r["grad"] == {"x": y, "y": x}
    return recs


def test_round_trip_grad_json() -> None:
    first = ok(["grad", "x^2*y", "--at", "x=1,y=2", "--at", "x=3,y=-1", "-f", "json"])
    recs = _through_grad(first)
    # the input's own value and grad clash with the new ones: kept, as in_value, in_grad
    assert [r["in_value"] for r in recs] == [2.0, -9.0]
    assert [r["in_grad"] for r in recs] == [{"x": 4.0, "y": 1.0}, {"x": -6.0, "y": 9.0}]
    # and again: nothing is lost down a pipeline
    again = jsonl(ok(["grad", "x+y", "--at", "-", "-f", "json"], "".join(
        json.dumps(r) + "\n" for r in recs)))
    assert [r["in_in_value"] for r in again] == [2.0, -3.0]  # the second command's value
    assert [r["in_value"] for r in again] == [2.0, -9.0]  # the first command's


def test_round_trip_descend_json() -> None:
    out = ok(["descend", "x^2 + (y-1)^2", "--from", "x=1,y=0", "--every", "5", "-f", "json"])
    recs = _through_grad(out)
    assert [r["step"] for r in recs[:-1]] == [json.loads(ln)["step"] for ln in out.splitlines()][:-1]
    assert recs[-1]["converged"] in (True, False) and "reason" in recs[-1]


def test_round_trip_compare_and_trace_json() -> None:
    for argv in (["compare", "x^2*y", "--at", "x=1,y=2", "-f", "json"],
                 ["grad", "x^2*y", "--at", "x=1,y=2", "--trace", "-f", "json"]):
        [rec] = _through_grad(ok(argv))
        assert rec["at"] == {"x": 1.0, "y": 2.0} and rec["expression"] == "x^2*y"


def test_round_trip_csv_output_into_csv_input() -> None:
    out = ok(["grad", "x*y", "--at", "x=1,y=2", "--at", "x=3,y=4", "-f", "csv"])
    rows = csv_rows(ok(["grad", "x+y", "--at", "-", "-f", "csv"], out))
    # the input's f and df/d* are text columns now, renamed where they clash
    assert [r["in_f"] for r in rows] == ["2.0", "12.0"]
    assert [r["in_df/dx"] for r in rows] == ["2.0", "4.0"]
    assert [float(r["f"]) for r in rows] == [3.0, 7.0]


# ---- pass-through columns -----------------------------------------------------------------

def test_csv_pass_through_columns_in_csv_and_json() -> None:
    data = 'id,y,label,x\n007,1,"a, quoted",2\n8,3,plain,4\n'
    rows = list(csv.reader(io.StringIO(ok(["grad", "x*y", "--at", "-", "-f", "csv"], data))))
    assert rows[0] == ["id", "label", "x", "y", "f", "df/dx", "df/dy"]
    assert rows[1] == ["007", "a, quoted", "2.0", "1.0", "2.0", "1.0", "2.0"]
    recs = jsonl(ok(["grad", "x*y", "--at", "-", "-f", "json"], data))
    assert recs[1] == {"id": "8", "label": "plain", "at": {"x": 4.0, "y": 3.0}, "value": 12.0,
                       "grad": {"x": 3.0, "y": 4.0}}
    table = ok(["grad", "x*y", "--at", "-"], data)
    assert "007" in table and "a, quoted" in table


def test_json_pass_through_nested_members() -> None:
    data = ('{"run": "a", "meta": {"seed": 1}, "tags": [1, 2], "at": {"x": 2}}\n'
            '{"run": "b", "meta": null, "tags": [], "at": {"x": 3}}\n')
    recs = jsonl(ok(["grad", "x^3", "--at", "-", "-f", "json"], data))
    assert recs[0] == {"run": "a", "meta": {"seed": 1}, "tags": [1, 2], "at": {"x": 2.0},
                       "value": 8.0, "grad": {"x": 12.0}}
    assert recs[1]["meta"] is None and recs[1]["value"] == 27.0
    rows = csv_rows(ok(["grad", "x^3", "--at", "-", "-f", "csv"], data))
    # in CSV a nested member is its JSON text; null is an empty cell
    assert [r["meta"] for r in rows] == ['{"seed":1}', ""]
    assert [r["tags"] for r in rows] == ["[1,2]", "[]"]
    assert [float(r["df/dx"]) for r in rows] == [12.0, 27.0]


def test_json_object_itself_is_the_point_and_extra_at_members_pass_through() -> None:
    recs = jsonl(ok(["grad", "x^2", "--at", "-", "-f", "json"],
                    '{"id": 1, "x": 3}\n{"at": {"x": 1, "y": 5}}\n'))
    assert recs[0] == {"id": 1, "at": {"x": 3.0}, "value": 9.0, "grad": {"x": 6.0}}
    assert recs[1]["y"] == 5 and recs[1]["grad"] == {"x": 2.0}
    # a member named like a variable, beside "at", is kept under a free name
    [rec] = jsonl(ok(["grad", "x^2", "--at", "-", "-f", "json"], '{"at": {"x": 1}, "x": 2}\n'))
    assert rec["in_x"] == 2 and rec["at"] == {"x": 1.0}
    # one variable: "at" may be the number itself
    [rec] = jsonl(ok(["grad", "x^2", "--at", "-", "-f", "json"], '{"at": -2}\n'))
    assert rec["grad"] == {"x": -4.0}


def test_json_null_reads_back_as_nan() -> None:
    r = run_inprocess(["grad", "x^2", "--at", "-", "-f", "csv"], '{"at": {"x": null}}\n')
    assert r.code == 0 and "not finite" in r.err
    [row] = csv_rows(r.out)
    assert math.isnan(float(row["f"]))


# ---- errors -------------------------------------------------------------------------------

@pytest.mark.parametrize("data, message", [
    ('{"at": {"x": 1}}\n{"at": {"x": 2}\n', "stdin line 2: not valid JSON"),
    ('{"at": {"x": 1}}\n\n\n[1, 2]\n', "stdin line 4: expected a JSON object"),
    ('{"at": {"x": 1}}\n3\n', "stdin line 2: expected a JSON object"),
    ('{"at": {"x": 1}}\n{"at": {"y": 1}}\n', "stdin line 2: no value for x"),
    ('{"at": {"x": "1"}}\n', 'stdin line 1: x is "1", not a number'),
    ('{"at": {"x": true}}\n', "stdin line 1: x is true, not a number"),
    ('{"at": {"x": 1e999999}}\n', "stdin line 1"),
    ('{"x": 1}\n{"x": 2} {"x": 3}\n', "stdin line 2: not valid JSON"),
    ('{"at": {"x": 1e999999}}\n', "not a finite float64"),
    ('{"at": {"x": NaN}}\n', "not a finite float64"),
    ('{"at": {"x": 1, "y": 2}, "y": 3}\n', "y is both in \"at\" and beside it"),
])
def test_bad_json_lines_exit_2_with_the_line_number(data: str, message: str) -> None:
    err = bad(["grad", "x^2", "--at", "-", "-f", "csv"], data)
    assert message in err


def test_bad_json_line_after_many_good_ones() -> None:
    data = "".join(f'{{"at": {{"x": {k}}}}}\n' for k in range(70_000)) + '{"at": }\n'
    assert "stdin line 70001: not valid JSON" in bad(["grad", "x", "--at", "-", "-f", "csv"], data)


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    assert f"--at @{missing}: no such file" in bad(["grad", "x^2", "--at", f"@{missing}"])
    assert "is a directory" in bad(["grad", "x^2", "--at", f"@{tmp_path}"])
    assert "name a file after the @" in bad(["grad", "x^2", "--at", "@"])
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"x": 1}\n{"x": }\n')
    assert f"{broken} line 2: not valid JSON" in bad(["grad", "x^2", "--at", f"@{broken}"])
    short = tmp_path / "short.csv"
    short.write_text("x,y\n1,2\n3\n")
    assert f"{short} line 3: expected 2 column(s), found 1" in bad(
        ["grad", "x*y", "--at", f"@{short}"])


def test_stream_and_points_do_not_mix() -> None:
    assert "give it as the only --at" in bad(["grad", "x", "--at", "-", "--at", "1"], "1\n")
    assert "give one --at POINT" in bad(["grad", "x", "--at", "1", "--at", "2", "--trace"])


def test_csv_bad_cells_still_named_with_text_columns() -> None:
    err = bad(["grad", "x", "--at", "-", "-f", "csv"], "id,x\na,1\nb,oops\n")
    assert "stdin line 3: 'oops' is not a number" in err


# ---- options of one value -----------------------------------------------------------------

@pytest.mark.parametrize("argv, typed", [
    (["descend", "x^2", "--from", "1", "--from", "2"], "--from"),
    (["diff", "x*y", "--order", "1", "--order", "2"], "--order"),
    (["grad", "x*y", "--at", "x=1,y=1", "--wrt", "x", "--wrt=y"], "--wrt"),
    (["grad", "x", "--at", "1", "-f", "json", "--format", "csv"], "--format"),
])
def test_option_of_one_value_given_twice_is_an_error(argv: list[str], typed: str) -> None:
    assert f"{typed} is given twice" in bad(argv)


def test_option_given_twice_alike_is_accepted() -> None:
    assert ok(["grad", "x", "--at", "1", "-f", "csv", "--format", "csv"]).startswith("x,f,df/dx")


def test_diff_labels_each_partial_when_it_prints_several() -> None:
    # repeated --wrt: several derivatives, each line saying which (issue 12: none dropped)
    assert ok(["diff", "x*y", "--wrt", "x", "--wrt", "y"]) == "x: y\ny: x\n"
    assert ok(["diff", "x*y"]) == "x: y\ny: x\n"
    # the one derivative asked for is printed alone, so it passes on to grad
    assert ok(["diff", "x*y", "--wrt", "y"]) == "x\n"
    assert ok(["diff", "x^2"]) == "2*x\n"


# ---- the distribution ---------------------------------------------------------------------

def test_distribution_name_and_one_version() -> None:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    project = meta["project"]
    # "backprop" on the public index is another project; the command keeps the name
    assert project["name"] == "backprop-cli" and project["scripts"]["backprop"]
    assert "version" not in project and project["dynamic"] == ["version"]
    assert meta["tool"]["hatch"]["version"]["path"] == "src/backprop/__init__.py"
    import backprop

    assert ok(["--version"]) == f"backprop {backprop.__version__}\n"
    from importlib.metadata import version

    assert version("backprop-cli") == backprop.__version__


# ---- predict and evaluate read JSON Lines and --at @FILE too --------------------------------

@pytest.fixture(scope="module")
def surface_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import yaml

    d = tmp_path_factory.mktemp("surface")
    cfg = {"data": {"synthetic": {"expr": "x1 + 2*x2", "ranges": {"x1": [0, 10], "x2": [-5, 5]},
                                  "n": 200}, "target": "z"},
           "model": {"hidden": 4, "activation": "relu"},
           "training": {"epochs": 3, "seed": 1},
           "output": {"model": str(d / "m.npz")}}
    (d / "c.yaml").write_text(yaml.safe_dump(cfg))
    ok(["train", str(d / "c.yaml"), "--quiet", "--epochs", "4"])
    return d / "m.npz"


POINTS = [(1.0, 2.0), (3.5, -4.0), (9.0, 0.25)]


def test_predict_reads_json_lines_as_it_reads_csv(surface_model: Path, tmp_path: Path) -> None:
    as_csv = "x1,x2\n" + "".join(f"{a},{b}\n" for a, b in POINTS)
    expected = [float(r["z_pred"]) for r in csv_rows(ok(["predict", str(surface_model), "-",
                                                            "-f", "csv"], as_csv))]
    # grad's JSON output (x1, x2 in "at"; value and grad beside it) is predict's input
    grads = ok(["grad", "x1*x2", *sum((["--at", f"x1={a},x2={b}"] for a, b in POINTS), []),
                "-f", "json"])
    rows = csv_rows(ok(["predict", str(surface_model), "-", "-f", "csv"], grads))
    assert [float(r["z_pred"]) for r in rows] == expected
    assert [float(r["value"]) for r in rows] == [a * b for a, b in POINTS]
    assert [json.loads(r["grad"]) for r in rows] == [{"x1": b, "x2": a} for a, b in POINTS]
    pts = tmp_path / "pts.jsonl"
    pts.write_text(grads)
    rows = csv_rows(ok(["predict", str(surface_model), "--at", f"@{pts}", "-f", "csv"]))
    assert [float(r["z_pred"]) for r in rows] == expected
    err = bad(["predict", str(surface_model), "-"], '{"x1": 1, "x2": 2}\n{"x1": 1,\n')
    assert "stdin line 2: not valid JSON" in err
    assert "no such file" in bad(["predict", str(surface_model), "--at", f"@{tmp_path / 'no'}"])


def test_evaluate_reads_json_lines_as_it_reads_csv(surface_model: Path) -> None:
    rows = [(a, b, a + 2 * b) for a, b in POINTS]
    as_csv = "x1,x2,z\n" + "".join(f"{a},{b},{z}\n" for a, b, z in rows)
    as_jsonl = "".join(json.dumps({"at": {"x1": a, "x2": b}, "z": z}) + "\n" for a, b, z in rows)
    expected = ok(["evaluate", str(surface_model), "-", "-f", "json"], as_csv)
    assert ok(["evaluate", str(surface_model), "-", "-f", "json"], as_jsonl) == expected

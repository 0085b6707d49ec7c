"""`backprop hessian` reads points as `grad` does: repeated --at, `-` (CSV or JSON Lines),
@FILE, with the input's other columns passed through.

Expected values are hand formulas: f = x^2*y has gradient (2xy, x^2) and Hessian
[[2y, 2x], [2x, 0]].
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from clikit import run_inprocess


def expected_row(x: float, y: float) -> list[float]:
    return [x, y, x * x * y, 2 * x * y, x * x, 2 * y, 2 * x, 0.0]


def test_repeated_at_one_row_per_point() -> None:
    r = run_inprocess(["hessian", "x^2*y", "--at", "x=1,y=2", "--at", "x=3,y=-1", "-f", "csv"])
    assert r.code == 0, r.err
    rows = list(csv.reader(io.StringIO(r.out)))
    assert rows[0] == ["x", "y", "f", "df/dx", "df/dy", "d2f/dx2", "d2f/dxdy", "d2f/dy2"]
    assert [[float(c) for c in row] for row in rows[1:]] == [expected_row(1, 2),
                                                             expected_row(3, -1)]


def test_repeated_at_table_shows_each_matrix() -> None:
    r = run_inprocess(["hessian", "x^2*y", "--at", "x=1,y=2", "--at", "x=3,y=-1"])
    assert r.code == 0
    assert "at x = 1.0, y = 2.0" in r.out and "at x = 3.0, y = -1.0" in r.out


def test_stdin_csv_passes_other_columns_through() -> None:
    r = run_inprocess(["hessian", "x^2*y", "--at", "-", "-f", "csv"],
                      "id,x,note,y\na,1,first,2\nb,3,\"with, comma\",-1\n")
    assert r.code == 0, r.err
    rows = list(csv.reader(io.StringIO(r.out)))
    assert rows[0][:2] == ["id", "note"] and rows[0][2:4] == ["x", "y"]
    assert rows[1][:2] == ["a", "first"] and rows[2][:2] == ["b", "with, comma"]
    assert [float(c) for c in rows[2][2:]] == expected_row(3, -1)


def test_stdin_json_lines_keep_every_member() -> None:
    stdin = ('{"at": {"x": 1, "y": 2}, "id": 7, "tags": ["a"]}\n'
             '{"x": 3, "y": -1, "id": 8, "tags": []}\n')
    r = run_inprocess(["hessian", "x^2*y", "--at", "-", "-f", "json"], stdin)
    assert r.code == 0, r.err
    recs = [json.loads(ln) for ln in r.out.splitlines()]
    assert [(rec["id"], rec["tags"]) for rec in recs] == [(7, ["a"]), (8, [])]
    assert recs[1]["hessian"] == {"x": {"x": -2.0, "y": 6.0}, "y": {"x": 6.0, "y": 0.0}}


def test_grad_output_pipes_into_hessian_losing_nothing() -> None:
    g = run_inprocess(["grad", "x^2*y", "--at", "x=1,y=2", "-f", "json"])
    r = run_inprocess(["hessian", "x^2*y", "--at", "-", "-f", "json"], g.out)
    assert r.code == 0, r.err
    rec = json.loads(r.out)
    # grad's own value and grad come through renamed, beside hessian's
    assert rec["in_value"] == 2.0 and rec["in_grad"] == {"x": 4.0, "y": 1.0}
    assert rec["value"] == 2.0 and rec["hessian"]["x"] == {"x": 4.0, "y": 2.0}


def test_at_file(tmp_path: Path) -> None:
    points = tmp_path / "points.csv"
    points.write_text("x,y,label\n1,2,p\n")
    r = run_inprocess(["hessian", "x^2*y", "--at", f"@{points}", "-f", "csv"])
    assert r.code == 0, r.err
    rows = list(csv.reader(io.StringIO(r.out)))
    assert rows[0][0] == "label" and rows[1][0] == "p"
    assert [float(c) for c in rows[1][1:]] == expected_row(1, 2)


def test_stream_table_has_the_passed_columns() -> None:
    r = run_inprocess(["hessian", "x^2*y", "--at", "-"], "id,x,y\nq,1,2\n")
    assert r.code == 0 and r.out.split()[0] == "id" and " q " in r.out


def test_point_errors_exit_2(tmp_path: Path) -> None:
    for argv, stdin, needle in [
        (["--at", "-", "--at", "x=1,y=2"], "", "only --at"),
        (["--at", f"@{tmp_path / 'none.csv'}"], "", "no such file"),
        (["--at", "-"], "x,y\n1,2\n3\n", "line 3"),
        (["--at", "-"], '{"x": 1}\n', "no value for y"),
        (["--at", "x=1,y=2", "--at", "x=1"], "", "no value for y"),
    ]:
        r = run_inprocess(["hessian", "x^2*y", *argv], stdin)
        assert r.code == 2 and needle in r.err and len(r.err.strip().splitlines()) == 1, argv

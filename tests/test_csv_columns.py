"""A real CSV trains without a column list (issue 29): the columns of numbers are the
inputs, text columns are left out and named, ``data.exclude`` leaves out more,
``data.categorical`` one-hot encodes text (and predict encodes new rows the same
way), and a file separated by ';' is recognised."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from backprop.cli import main
from backprop.nn import config as settings
from backprop.nn import train as training
from backprop.nn.model import load_model

CITIES = ["Lyon", "Nice", "Paris"]


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def patients(path: Path, n: int = 90, delimiter: str = ",") -> None:
    """id (text), notes (text), age, dose, city (text), score = age/10 + 2 dose + city's shift."""
    rng = np.random.default_rng(3)
    shift = {"Lyon": -2.0, "Nice": 0.0, "Paris": 3.0}
    with path.open("w", newline="") as fh:
        w = csv.writer(fh, delimiter=delimiter)
        w.writerow(["patient_id", "age", "notes", "dose", "city", "score"])
        for i in range(n):
            age, dose, city = rng.uniform(20, 80), rng.uniform(0, 3), CITIES[i % 3]
            w.writerow([f"P{i:04d}", round(age, 3), "follow up" if i % 4 else "ok", round(dose, 3),
                        city, round(age / 10 + 2 * dose + shift[city], 4)])


def config(tmp_path: Path, **data: object) -> Path:
    cfg = {"data": {"csv": "p.csv", "target": "score", **data}, "model": {"hidden": 6},
           "training": {"epochs": 40, "seed": 2}, "output": {"model": str(tmp_path / "m.npz")}}
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


def test_text_columns_are_left_out_and_named_with_the_columns_used(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    patients(tmp_path / "p.csv")
    code, _, err = run_cli(["train", str(config(tmp_path)), "--quiet"], capsys)
    assert code == 0, err
    assert load_model(tmp_path / "m.npz")[0].input_names == ["age", "dose"]
    notes = [ln for ln in err.splitlines() if ln.startswith("warning: data:")]
    assert len(notes) == 1
    assert "inputs: age, dose (2 columns)" in notes[0]
    for left in ("patient_id (line 2: 'P0000')", "notes (line 2: 'ok')", "city (line 2: 'Lyon')"):
        assert left in notes[0]


def test_exclude_leaves_out_more_and_is_checked(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    patients(tmp_path / "p.csv")
    code, _, err = run_cli(["train", str(config(tmp_path, exclude=["dose"])), "--quiet"], capsys)
    assert code == 0, err
    assert load_model(tmp_path / "m.npz")[0].input_names == ["age"]
    code, _, err = run_cli(["train", str(config(tmp_path, exclude=["weight"])), "--quiet"], capsys)
    assert code == 2 and "data.exclude: " in err and "no column weight" in err
    code, _, err = run_cli(["train", str(config(tmp_path, exclude=["score"])), "--quiet"], capsys)
    assert code == 2 and "exclude: score is the target" in err
    code, _, err = run_cli(["train", str(config(tmp_path, exclude=["age"], inputs=["dose"])),
                            "--quiet"], capsys)
    assert code == 2 and "exclude" in err


def test_a_numeric_id_column_is_named_as_a_likely_id(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    rows = ["n,x,y"] + [f"{i + 1},{float(np.sin(i))!r},{float(np.cos(i))!r}" for i in range(40)]
    (tmp_path / "p.csv").write_text("\n".join(rows) + "\n")
    cfg = settings.validate({"data": {"csv": "p.csv"}})
    run = training.prepare(cfg, tmp_path)
    assert run.data.input_names == ["n", "x"]
    assert any("n looks like a row number or an id" in w and "data.exclude: [n]" in w
               for w in run.warnings)
    # distinct whole numbers spread wide (a measurement, such as a price) are not named
    rows = ["n,x,y"] + [f"{i * 37 + 1000},{float(np.sin(i))!r},{float(np.cos(i))!r}"
                        for i in range(40)]
    (tmp_path / "p.csv").write_text("\n".join(rows) + "\n")
    assert not [w for w in training.prepare(cfg, tmp_path).warnings if "looks like" in w]


def test_a_column_of_numbers_with_a_gap_is_an_error_that_says_how_to_leave_it_out(
        tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_text("a,b,y\n1,2,3\n4,,6\n7,8,9\n")
    cfg = settings.validate({"data": {"csv": "p.csv"}})
    with pytest.raises(Exception) as err:
        training.prepare(cfg, tmp_path)
    assert "line 3, column b: empty cell" in str(err.value)
    assert "data.exclude: [b]" in str(err.value)


def test_categorical_columns_are_one_hot_and_predict_applies_the_same_encoding(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    patients(tmp_path / "p.csv")
    code, _, err = run_cli(["train", str(config(tmp_path, categorical=["city"])), "--quiet"],
                           capsys)
    assert code == 0, err
    model, _ = load_model(tmp_path / "m.npz")
    assert model.input_names == ["age", "dose", "city=Lyon", "city=Nice", "city=Paris"]
    assert model.columns == ["age", "dose", "city"]
    # the one-hot columns by hand: the model's predictions on them are what predict prints
    new = tmp_path / "new.csv"
    new.write_text("city,age,dose\nParis,30,1\nNice,50,2\nRome,40,1\n")
    code, out, err = run_cli(["predict", str(tmp_path / "m.npz"), str(new), "--format", "csv"],
                             capsys)
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["city"] for r in rows] == ["Paris", "Nice", "Rome"]  # the cells as written
    X = np.array([[30, 1, 0, 0, 1], [50, 2, 0, 1, 0], [40, 1, 0, 0, 0]], dtype=float)
    np.testing.assert_allclose([float(r["score_pred"]) for r in rows], model.predict(X)[:, 0],
                               rtol=1e-12)
    assert err.count("warning") == 1
    assert "not seen in training, encoded as all zeros: column city: 1 row ('Rome')" in err
    code, out, err = run_cli(["predict", str(tmp_path / "m.npz"), str(new), "-q"], capsys)
    assert code == 0 and err == ""
    # evaluate encodes the same way (its figures from the same predictions)
    (tmp_path / "t.csv").write_text("age,dose,city,score\n30,1,Paris,9\n50,2,Nice,9\n")
    code, out, err = run_cli(["evaluate", str(tmp_path / "m.npz"), str(tmp_path / "t.csv"),
                              "--format", "json"], capsys)
    assert code == 0, err
    p = model.predict(X[:2])[:, 0]
    assert json.loads(out)["metrics"][0]["mse"] == pytest.approx(np.mean((p - 9) ** 2), rel=1e-12)
    code, _, err = run_cli(["predict", str(tmp_path / "m.npz"), "--at", "age=3,dose=1"], capsys)
    assert code == 2 and "one-hot" in err


def test_categorical_must_be_an_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    patients(tmp_path / "p.csv")
    code, _, err = run_cli(["train", str(config(tmp_path, categorical=["city"], inputs=["age"])),
                            "--quiet"], capsys)
    assert code == 2 and "data.categorical: city is not among data.inputs" in err
    code, _, err = run_cli(["train", str(config(tmp_path, categorical=["town"])), "--quiet"],
                           capsys)
    assert code == 2 and "data.categorical: " in err and "no column town" in err


def test_a_semicolon_file_is_recognised_and_said(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    patients(tmp_path / "p.csv", delimiter=";")
    code, _, err = run_cli(["train", str(config(tmp_path, exclude=["patient_id", "notes", "city"])),
                            "--quiet"], capsys)
    assert code == 0, err
    assert "separated by ';'" in err and 'data.delimiter: ";"' in err
    assert load_model(tmp_path / "m.npz")[0].input_names == ["age", "dose"]
    # a delimiter given is the one used: the header is then one column, and the message says so
    code, _, err = run_cli(["train", str(config(tmp_path, delimiter=",")), "--quiet"], capsys)
    assert code == 2 and "no column score" in err and 'set data.delimiter: ";"' in err
    # evaluate and predict find it in a file too; from stdin, the message names the option
    code, out, err = run_cli(["evaluate", str(tmp_path / "m.npz"), str(tmp_path / "p.csv"),
                              "--format", "json"], capsys)
    assert code == 0 and json.loads(out)["rows"] == 90, err
    code, out, err = run_cli(["predict", str(tmp_path / "m.npz"), str(tmp_path / "p.csv"),
                              "--format", "csv", "--only-predictions"], capsys)
    assert code == 0 and len(out.splitlines()) == 91, err
    monkeypatch.setattr("sys.stdin", io.StringIO((tmp_path / "p.csv").read_text()))
    code, _, err = run_cli(["evaluate", str(tmp_path / "m.npz"), "-"], capsys)
    assert code == 2 and "give --delimiter ';'" in err
    monkeypatch.setattr("sys.stdin", io.StringIO((tmp_path / "p.csv").read_text()))
    code, out, err = run_cli(["evaluate", str(tmp_path / "m.npz"), "-", "--delimiter", ";",
                              "--format", "json"], capsys)
    assert code == 0 and json.loads(out)["rows"] == 90


@pytest.mark.parametrize("text,found", [
    ("a\tb\ty\n1\t2\t3\n4\t5\t6\n", "\t"),
    ("a|b|y\n1|2|3\n4|5|6\n", "|"),
    ("a;b;y\n1;2;3\n", ";"),
    ('a,b,y\n1,"x;y",3\n', None),  # a comma in the header: commas, whatever the cells hold
    ("x\n1\n2\n", None),  # one column
])
def test_detect_delimiter(tmp_path: Path, text: str, found: str | None) -> None:
    from backprop.nn.data import detect_delimiter

    (tmp_path / "d.csv").write_text(text)
    assert detect_delimiter(tmp_path / "d.csv") == found
    assert detect_delimiter("-") is None and detect_delimiter(tmp_path / "absent.csv") is None


def test_column_lists_are_checked_with_the_config() -> None:
    from backprop.errors import InputError

    for data, message in (({"synthetic": {"expr": "x", "ranges": {"x": [0, 1]}},
                            "categorical": ["x"]}, "not synthetic"),
                          ({"csv": "d.csv", "categorical": ["c"], "exclude": ["c"]},
                           "also excluded"),
                          ({"csv": "d.csv", "categorical": ["y"]}, "is the target")):
        with pytest.raises(InputError, match=message):
            settings.validate({"data": data})


def test_a_model_file_whose_categories_do_not_fit_is_refused(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    patients(tmp_path / "p.csv")
    assert main(["train", str(config(tmp_path, categorical=["city"])), "--quiet"]) == 0
    with np.load(tmp_path / "m.npz", allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    assert json.loads(str(arrays["categories"])) == {"city": CITIES}
    arrays["categories"] = np.array(json.dumps({"city": ["Lyon", "Nice"]}))
    np.savez(tmp_path / "bad.npz", **arrays)
    code, _, err = run_cli(["predict", str(tmp_path / "bad.npz"), "--at", "1"], capsys)
    assert code == 2 and "corrupt" in err and "categories" in err

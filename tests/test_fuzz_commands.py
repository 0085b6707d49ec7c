"""Fuzzing diff, compare, descend, graph, train and predict through the real command line (issue 6).

Random and near-miss expressions as EXPR, random POINT strings for --at/--from,
random option values (0, negative, huge, nan, non-integers), random YAML and
mutations of the shipped configs for `train`, truncated and bit-flipped model
files and random stdin CSV for `predict`. Every run keeps the contract of
fuzzkit.check_contract: exit 0, 1 or 2, a message on stderr when not 0, never a
traceback nor an "internal error", strict JSON when JSON was asked for.

Most runs call backprop.cli.main in-process (fast); a few start real
subprocesses. The number of inputs each command survived is printed at the end
(the line FUZZ_COUNTS_COMMANDS, shown in pytest's summary). Inputs that once
broke something live in tests/corpus_commands/ and are replayed by
test_corpus_commands.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from clikit import Run, run_inprocess, run_subprocess
from fuzzkit import ERROR_LINE, TOKEN, check_contract, corpus_cases, near_miss

ROOT = Path(__file__).resolve().parent.parent


def decode_stdin(case: dict[str, Any]) -> bytes | None:
    """Corpus stdin: "stdin" (text) or "stdin_hex" (raw bytes)."""
    if "stdin_hex" in case:
        return bytes.fromhex(case["stdin_hex"])
    if "stdin" in case:
        return case["stdin"].encode("utf-8", "surrogateescape")
    return None

# A numpy RuntimeWarning would reach the user's stderr as noise: here it is an error
pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")
# FUZZ_SCALE=10 multiplies every example count, for a longer run by hand
SCALE = max(1, int(os.environ.get("FUZZ_SCALE", "1")))
FUZZ = settings(deadline=None, suppress_health_check=list(HealthCheck), derandomize=False)
CORPUS = Path(__file__).resolve().parent / "corpus_commands"
CONFIGS = ROOT / "configs"
COUNTS: dict[str, int] = {}


def _run(command: str, argv: list[str], stdin: bytes | str | None = None) -> Run:
    r = run_inprocess(argv, stdin)
    check_contract(r, error_after_progress=True)
    COUNTS[command] = COUNTS.get(command, 0) + 1
    return r


@pytest.fixture(scope="module", autouse=True)
def _report_counts(request: pytest.FixtureRequest) -> Any:
    yield
    line = (f"FUZZ_COUNTS_COMMANDS {dict(sorted(COUNTS.items()))} "
            f"total {sum(COUNTS.values())}")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if capture is not None:
        with capture.global_and_fixture_disabled():
            print("\n" + line)
    else:
        print(line)


# -- expressions --------------------------------------------------------------

VALID = [
    "2/sin(exp(-x))", "x^2*y + sin(y)", "-x^2", "2^3^2", "x^-2", "x**y", "max(x, y) - min(x, y)",
    "sigmoid(x)*(1-sigmoid(x))", "log(abs(x)+1e-9)", "sqrt(x^2 + y^2)", "atan(y/x)",
    "relu(x) + softplus(-x)", "pow(x, 3) + tanh(x)", "pi*e*x", "-(-(-x))", "1/(1+exp(-x))",
    "exp(x)", "1/exp(x)", "exp(exp(x))", "log(x)", "(x-3)^2", "(1-x)^2 + 100*(y-x^2)^2",
    "x^2 + 10*y^2", "sin(x)*sin(x) + x", "asin(x/2) + acos(x/2)", "3", "x - x", "w*a + b",
]
NOISE = ["(", ")", ",", "+", "-", "*", "/", "^", "**", "x", "y", "1", "0", "1e999", "1e308",
         ".", "e", "sin", "pow", "max", "pi", "=", ";", "'", '"', "[", "]", "__import__",
         "__class__", "\\", "#", "@", "!", "%", "|", "~", "é", "\t", "\ufeff", "1" * 400,
         "(" * 40, ")" * 40, "x" * 100, "nan", "inf", "exp(1000)", "1/exp(1000)", "-"]
VARIABLES = ("x", "y", "w", "a", "b")


def _near_miss(draw: st.DrawFn) -> str:
    return near_miss(draw, VALID, NOISE)


@st.composite
def expressions(draw: st.DrawFn) -> str:
    """A valid expression, a near miss of one, random text, or random bytes read as text."""
    kind = draw(st.sampled_from(["valid", "near", "near", "text", "bytes"]))
    if kind == "valid":
        return draw(st.sampled_from(VALID))
    if kind == "near":
        return _near_miss(draw)
    if kind == "text":
        return draw(st.text(max_size=40))
    return draw(st.binary(max_size=40)).decode("utf-8", "surrogateescape")


NUMBERS = ["0", "-0", "1", "-4.499", "0.5", "1000", "-1000", "1e308", "1e-320", "nan", "inf",
           "-inf", "1e999", "0x10", "1_0", " 2 ", "", "abc", "1,2", "+3"]


@st.composite
def points(draw: st.DrawFn, expr: str) -> str:
    """A POINT string: sometimes right for the expression, often not."""
    names = sorted(set(TOKEN.findall(expr)) & set(VARIABLES))
    kind = draw(st.sampled_from(["pairs", "pairs", "bare", "text"]))
    if kind == "bare":
        return draw(st.sampled_from(NUMBERS))
    if kind == "text":
        return draw(st.text(alphabet="xy=,.-+e0123456789 nai", max_size=20))
    chosen = draw(st.lists(st.sampled_from([*names, "x", "z", ""] if names else ["x", "z", ""]),
                           max_size=4)) or names
    return ",".join(f"{n}={draw(st.sampled_from(NUMBERS))}" for n in chosen) or ","


def _check_json_finite(r: Run) -> None:
    if r.code == 0 and "json" in r.argv:
        for line in r.out.splitlines():
            json.loads(line)  # strict parsing is in check_contract; here: one object a line


# -- diff ---------------------------------------------------------------------

@given(data=st.data())
@settings(FUZZ, max_examples=150 * SCALE)
def test_diff_random(data: st.DataObject) -> None:
    expr = data.draw(expressions())
    argv = ["diff", expr]
    if data.draw(st.booleans()):
        argv += ["--order", data.draw(st.sampled_from(["-1", "0", "1", "2", "3", "1.5", "x", ""]))]
    if data.draw(st.booleans()):
        argv += ["--max-size", data.draw(st.sampled_from(["-5", "0", "1", "7", "1000", "1e3"]))]
    if data.draw(st.booleans()):
        argv += ["--wrt", data.draw(st.sampled_from(["x", "y", "x,y", "z", ",", "x,x", ""]))]
    argv += ["--format", data.draw(st.sampled_from(["text", "json", "csv"]))]
    r = _run("diff", argv)
    _check_json_finite(r)


# -- compare ------------------------------------------------------------------

EPS = ["0", "-0", "-1e-3", "1e-8", "1e-300", "5e-324", "1e300", "nan", "inf", "-inf", "x", "1"]


@pytest.mark.slow  # a few seconds: in the slow group (docs/setup.md)
@given(data=st.data())
@settings(FUZZ, max_examples=120 * SCALE)
def test_compare_random(data: st.DataObject) -> None:
    expr = data.draw(expressions())
    argv = ["compare", expr, "--at", data.draw(points(expr))]
    if data.draw(st.booleans()):
        argv += ["--eps", data.draw(st.sampled_from(EPS))]
    if data.draw(st.integers(0, 4)) == 0:
        argv += ["--max-size", data.draw(st.sampled_from(["0", "1", "3", "-1"]))]
    if data.draw(st.integers(0, 5)) == 0:
        argv += ["--sweep"]
    if data.draw(st.booleans()):
        argv += ["--wrt", data.draw(st.sampled_from(["x", "y", "z", "x,y"]))]
    argv += ["--format", data.draw(st.sampled_from(["table", "json"]))]
    _run("compare", argv)


# -- descend ------------------------------------------------------------------

LR = ["0", "-0.1", "1e-3", "0.1", "1", "10", "1e300", "1e309", "nan", "inf", "abc"]
STEPS = ["0", "1", "5", "50", "-1", "1.5", "1e2", "x", ""]
MOMENTUM = ["0", "0.5", "0.9", "0.999", "1", "-0.1", "2", "nan"]
EVERY = ["1", "2", "7", "0", "-3", "0.5"]
TOL = ["0", "1e-8", "-1", "nan", "inf", "1e300"]


@given(data=st.data())
@settings(FUZZ, max_examples=150 * SCALE)
def test_descend_random(data: st.DataObject) -> None:
    expr = data.draw(expressions())
    argv = ["descend", expr, "--from", data.draw(points(expr)),
            "--steps", data.draw(st.sampled_from(STEPS))]
    for option, values in (("--lr", LR), ("--momentum", MOMENTUM), ("--every", EVERY),
                           ("--tol", TOL)):
        if data.draw(st.booleans()):
            argv += [option, data.draw(st.sampled_from(values))]
    argv += ["--format", data.draw(st.sampled_from(["table", "json", "csv"]))]
    _run("descend", argv)


# -- graph --------------------------------------------------------------------

@given(data=st.data())
@settings(FUZZ, max_examples=100 * SCALE)
def test_graph_random(data: st.DataObject) -> None:
    expr = data.draw(expressions())
    argv = ["graph", expr]
    if data.draw(st.booleans()):
        argv += ["--at", data.draw(points(expr))]
    fmt = data.draw(st.sampled_from(["dot", "mermaid", "dot", "mermaid", "svg", None]))
    if fmt is not None:
        argv += ["--format", fmt]
    with tempfile.TemporaryDirectory() as tmp:
        if fmt == "svg" or data.draw(st.booleans()):
            name = data.draw(st.sampled_from(["g.dot", "g.mmd", "g.svg", "g.txt", "g", "no/dir/g.dot"]))
            argv += ["-o", str(Path(tmp) / name)]
        r = _run("graph", argv)
        leftovers = [p.name for p in Path(tmp).rglob("*") if p.name.endswith(".tmp")]
        assert not leftovers, (argv, leftovers)
        if r.code != 0:
            assert not [p for p in Path(tmp).iterdir() if p.is_file()], argv  # nothing half-written


# -- POINT strings alone, on every command that takes one -----------------------

@pytest.mark.slow  # a few seconds: in the slow group (docs/setup.md)
@given(text=st.text(max_size=30), command=st.sampled_from(["compare", "descend", "graph"]),
       expr=st.sampled_from(["x^2*y + sin(y)", "exp(x)", "3", "(x-3)^2"]))
@settings(FUZZ, max_examples=150 * SCALE)
@example(text="x=1e999", command="descend", expr="exp(x)")
@example(text="x=nan", command="compare", expr="exp(x)")
@example(text=",", command="graph", expr="3")
def test_random_point_strings(text: str, command: str, expr: str) -> None:
    option = "--from" if command == "descend" else "--at"
    argv = [command, expr, option, text]
    if command == "descend":
        argv += ["--steps", "20"]
    _run(command, argv)


# -- train --------------------------------------------------------------------

SHIPPED = {p.stem: yaml.safe_load(p.read_text(encoding="utf-8")) for p in CONFIGS.glob("*.yaml")}
KEY_PATHS = [
    ("data", "csv"), ("data", "target"), ("data", "inputs"), ("data", "validation_split"),
    ("data", "standardize"), ("data", "synthetic"), ("data", "synthetic", "expr"),
    ("data", "synthetic", "ranges"), ("data", "synthetic", "n"), ("data", "synthetic", "noise"),
    ("data", "synthetic", "seed"), ("model", "hidden"), ("model", "activation"),
    ("training", "learning_rate"), ("training", "epochs"), ("training", "batch_size"),
    ("training", "optimizer"), ("training", "momentum"), ("training", "seed"),
    ("training", "early_stopping"), ("training", "early_stopping", "patience"),
    ("output", "model"), ("model",), ("training",), ("data",), ("surprise",), ("model", "extra"),
]
ODD_VALUES: list[Any] = [
    None, 0, -1, 1, 2, 3, 0.5, 1.5, 1e300, -1e300, float("nan"), float("inf"), True, "", "x",
    "sin(", "__import__('os')", "y", [], [1, 2], ["y", "y"], ["x", "y"], {}, {"x": [1, 0]},
    {"x": [-1, 1]}, {"x": [0, float("inf")]}, {"x": ["a", "b"]}, "relu", "sigmoid", "adam",
    "momentum", "data/nowhere.csv", "/etc/passwd", "../../x.npz", 10**30, "1e999", 1 << 64,
    10**12, {"x": [-1e308, 1e308]}, {"x": [0, 1e300]}, 1e308, "exp(1000*x)", "x*zz", ".",
    "c.yaml",
]
# Sizes past and at the documented limits are fuzzed for real (issue 25): the command
# must refuse them or answer within the limits of tests/clikit.py. Only epochs are made
# small: any number is valid by the README (a run the user asked for, which Ctrl-C stops),
# so a large one is time, not a size to refuse.
SIZE_VALUES: list[Any] = [100_000, 100_001, 10_000_000 + 1, 2**31, 2**63]
ODD_VALUES += SIZE_VALUES


def _tiny(cfg: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """The config made cheap: few rows and epochs, the model written under out_dir."""
    cfg = json.loads(json.dumps(cfg))
    data = cfg.get("data")
    if isinstance(data, dict):
        if isinstance(data.get("synthetic"), dict):
            data["synthetic"]["n"] = 60
        if data.get("csv") == "data/diabetes.csv":
            data["csv"] = str(CONFIGS / "data" / "diabetes.csv")
    if isinstance(cfg.get("model"), dict):
        cfg["model"]["hidden"] = 4
    training = cfg.get("training")
    if isinstance(training, dict):
        training["epochs"] = 3
    cfg["output"] = {"model": str(out_dir / "model.npz")}
    return cfg


def _check_train_outcome(r: Run) -> None:
    """What the README promises of train beyond check_contract: exit 2 for bad input names
    the config file, the data or the option at fault; exit 1 only for a failure it names
    (a divergence, a failed gradcheck, a size cap, a model no better than before training)."""
    if r.code == 2:
        line = next(ln for ln in r.err.splitlines() if ERROR_LINE.match(ln))
        # the file (c.yaml, d.csv, a model), a key of the config (data.target) or an option
        assert re.search(r"c\.yaml|\.csv|\.npz|\b(data|model|training|output)\b|--", line), r.err
    if r.code == 1:
        assert re.search(r"diverged|gradcheck failed|cap|too (many|large|big)|at most|"
                         r"worse than the loss of the weights as drawn", r.err), r.err


def _mutate(cfg: dict[str, Any], path: tuple[str, ...], value: Any, delete: bool) -> None:
    node: Any = cfg
    for k in path[:-1]:
        if not isinstance(node, dict):
            return
        node = node.setdefault(k, {})
    if not isinstance(node, dict):
        return
    if delete:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value


def _train(cfg_text: str, tmp: Path, extra: list[str] | None = None) -> Run:
    config = tmp / "c.yaml"
    config.write_text(cfg_text, encoding="utf-8", errors="surrogateescape")
    # from inside tmp: a mutated output path (data/nowhere.csv) is relative to the working
    # directory, which must not be the checkout the tests run from
    here = os.getcwd()
    (tmp / "work").mkdir(exist_ok=True)
    os.chdir(tmp / "work")
    try:
        r = _run("train", ["train", str(config), "--quiet", "--format", "json", *(extra or [])])
    finally:
        os.chdir(here)
    model = tmp / "model.npz"
    assert not [p.name for p in tmp.rglob("*.tmp")], r.argv  # no half-written model left
    if r.code == 0:
        summary = json.loads(r.out)
        assert summary["epochs_run"] >= 1
        if summary["model"] is not None:
            saved = tmp / "work" / summary["model"]  # a relative path: where train ran
            assert saved.is_file()
            with np.load(saved, allow_pickle=False) as z:
                # one hidden layer: W, b, V, c; several: W1, b1, W2, ... (nn/model.py)
                assert "W" in z.files or "W1" in z.files, z.files
    elif model.exists():
        # a failed run saves only a model from a finished epoch (a diverged run's best so far)
        with np.load(model, allow_pickle=False) as z:
            assert "W" in z.files or "W1" in z.files, z.files
    return r


@given(name=st.sampled_from(sorted(SHIPPED)), path=st.sampled_from(KEY_PATHS),
       value=st.sampled_from(ODD_VALUES), delete=st.booleans(), second=st.booleans(),
       path2=st.sampled_from(KEY_PATHS), value2=st.sampled_from(ODD_VALUES))
@settings(FUZZ, max_examples=80 * SCALE)
def test_train_mutated_configs(name: str, path: tuple[str, ...], value: Any, delete: bool,
                               second: bool, path2: tuple[str, ...], value2: Any) -> None:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        cfg = _tiny(SHIPPED[name], tmp)
        _mutate(cfg, path, value, delete)
        if second:
            _mutate(cfg, path2, value2, False)
        for p, v, on in ((path, value, True), (path2, value2, second)):
            if on and p[-1] == "epochs" and isinstance(v, (int, float)) and v > 50:
                _mutate(cfg, p, 7, False)  # any number of epochs is valid: not a loop forever
        if path[-1] == "output" or path2[-1] == "output" or path[0] == "output":
            cfg["output"] = {"model": str(tmp / "model.npz")}  # never write outside tmp
        _check_train_outcome(_train(yaml.safe_dump(cfg, allow_unicode=True), tmp))


@given(name=st.sampled_from(sorted(SHIPPED)), cuts=st.lists(
    st.tuples(st.integers(0, 2000), st.integers(0, 3), st.sampled_from(list(":-{}[]#&*!|>'\"%@`\t\n x0")))
    , min_size=1, max_size=3))
@settings(FUZZ, max_examples=60 * SCALE)
def test_train_text_mutations(name: str, cuts: list[tuple[int, int, str]]) -> None:
    """The YAML text itself damaged: characters inserted, deleted, replaced."""
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        text = yaml.safe_dump(_tiny(SHIPPED[name], tmp), sort_keys=False)
        out_line = f"output:\n  model: {tmp / 'model.npz'}\n"
        body = text.split("output:")[0]
        for at, kind, ch in cuts:
            at %= max(1, len(body))
            if kind == 0:
                body = body[:at] + ch + body[at:]
            elif kind == 1:
                body = body[:at] + body[at + 1:]
            else:
                body = body[:at] + ch + body[at + 1:]
        _check_train_outcome(_train(body + out_line, tmp))


@st.composite
def yaml_values(draw: st.DrawFn) -> Any:
    leaf = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=True),
                     st.text(max_size=8), st.sampled_from(["data", "csv", "synthetic", "expr"]))
    return draw(st.recursive(leaf, lambda kids: st.one_of(
        st.lists(kids, max_size=3),
        st.dictionaries(st.sampled_from(["data", "model", "training", "output", "csv",
                                         "synthetic", "expr", "ranges", "x", "n", "epochs"]),
                        kids, max_size=4)), max_leaves=10))


@given(doc=yaml_values(), raw=st.binary(max_size=60), use_raw=st.booleans())
@settings(FUZZ, max_examples=40 * SCALE)
@example(doc=None, raw=b"", use_raw=True)
@example(doc=None, raw=b"\xff\xfe", use_raw=True)
@example(doc=None, raw=b"a: &a [*a]", use_raw=True)
@example(doc=None, raw=b"!!python/object/apply:os.system ['echo pwned']", use_raw=True)
def test_train_random_yaml(doc: Any, raw: bytes, use_raw: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        config = tmp / "c.yaml"
        if use_raw:
            config.write_bytes(raw)
        else:
            config.write_text(yaml.safe_dump(doc), encoding="utf-8")
        # output.model may be anywhere a random document says: run from inside tmp, and the
        # default path runs/model.npz is relative to the current directory
        r = _run("train", ["train", str(config), "--quiet", "--epochs", "2",
                           "--out", str(tmp / "m.npz")])
        assert not (Path.cwd() / "pwned").exists()
        _check_train_outcome(r)


@given(text=st.text(max_size=80), header=st.sampled_from(
    ["x,y", "y,x", "x", "y", "x,y,z", "x,x,y", "\ufeffx,y", "", "1,2", "x;y"]),
    rows=st.lists(st.lists(st.sampled_from(["0", "1.5", "-2", "nan", "inf", "", "a", "1e999",
                                            " 3 ", "1e308", "-1e308", "1e200"]), max_size=4),
                  max_size=12),
    crlf=st.booleans(), use_text=st.booleans())
@settings(FUZZ, max_examples=60 * SCALE)
def test_train_random_csv(text: str, header: str, rows: list[list[str]],
                          crlf: bool, use_text: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        nl = "\r\n" if crlf else "\n"
        body = text if use_text else nl.join([header, *(",".join(r) for r in rows)]) + nl
        (tmp / "d.csv").write_text(body, encoding="utf-8", errors="surrogateescape")
        cfg = {"data": {"csv": "d.csv", "target": "y", "validation_split": 0.2},
               "model": {"hidden": 3}, "training": {"epochs": 2, "batch_size": 4},
               "output": {"model": str(tmp / "model.npz")}}
        _train(yaml.safe_dump(cfg), tmp)


@given(epochs=st.sampled_from(["0", "-1", "1.5", "x", "1"]), lr=st.sampled_from(LR),
       seed=st.sampled_from(["-1", "0", "1.5", "99999999999999999999"]))
@settings(FUZZ, max_examples=25 * SCALE)
def test_train_option_values(epochs: str, lr: str, seed: str) -> None:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        cfg = _tiny(SHIPPED["sine"], tmp)
        _train(yaml.safe_dump(cfg), tmp, ["--epochs", epochs, "--lr", lr, "--seed", seed])


# -- predict ------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("model")
    cfg = _tiny(SHIPPED["surface"], tmp)
    (tmp / "c.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    r = run_inprocess(["train", str(tmp / "c.yaml"), "--quiet"])
    assert r.code == 0, r.err
    return tmp / "model.npz"


@given(data=st.data())
@settings(FUZZ, max_examples=120 * SCALE)
def test_predict_damaged_model(trained: Path, data: st.DataObject) -> None:
    blob = bytearray(trained.read_bytes())
    kind = data.draw(st.sampled_from(["truncate", "flip", "flip", "zero", "empty", "garbage"]))
    if kind == "truncate":
        blob = blob[:data.draw(st.integers(0, len(blob) - 1))]
    elif kind == "flip":
        for _ in range(data.draw(st.integers(1, 8))):
            i = data.draw(st.integers(0, len(blob) - 1))
            blob[i] ^= 1 << data.draw(st.integers(0, 7))
    elif kind == "zero":
        i = data.draw(st.integers(0, len(blob) - 1))
        blob[i:i + 64] = bytes(len(blob[i:i + 64]))
    elif kind == "empty":
        blob = bytearray()
    else:
        blob = bytearray(data.draw(st.binary(max_size=200)))
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "m.npz"
        model.write_bytes(bytes(blob))
        at = data.draw(st.sampled_from(["x1=0.2,x2=-0.4", "0.5", None]))
        argv = ["predict", str(model), *(["--at", at] if at else []),
                "--format", data.draw(st.sampled_from(["table", "json", "csv"]))]
        _run("predict", argv, stdin="x1,x2\n0.1,0.2\n")


@st.composite
def csv_lines(draw: st.DrawFn) -> bytes:
    header = draw(st.sampled_from(["x1,x2", "x2,x1", "x1", "x1,x2,x3", "", "x1,x1", "\ufeffx1,x2",
                                   "0.1,0.2", "a,b"]))
    cell = st.sampled_from(["0", "0.5", "-1e308", "1e308", "nan", "inf", "", "x", " 1 ", "1e999"])
    rows = draw(st.lists(st.lists(cell, min_size=0, max_size=4), max_size=6))
    nl = draw(st.sampled_from(["\n", "\r\n"]))
    text = nl.join([header, *[",".join(r) for r in rows]]) + draw(st.sampled_from(["", nl]))
    raw = text.encode("utf-8")
    if draw(st.integers(0, 5)) == 0:
        raw += draw(st.binary(max_size=10))
    return raw


@given(stdin=csv_lines(), fmt=st.sampled_from(["table", "json", "csv"]))
@settings(FUZZ, max_examples=100 * SCALE)
@example(stdin=b"", fmt="csv")
@example(stdin=b"x1,x2\n" + b"1" * 100_000 + b",2\n", fmt="json")
def test_predict_random_stdin(trained: Path, stdin: bytes, fmt: str) -> None:
    r = _run("predict", ["predict", str(trained), "--format", fmt], stdin=stdin)
    if r.code == 0 and fmt == "csv":
        # every input column in the input's order, then the prediction
        header = next(csv.reader(io.StringIO(r.out)))
        assert header[-1] == "y_pred" and {"x1", "x2"} <= set(header[:-1])


# -- numbers: overflow, underflow, divergence: defined behaviour ----------------

def test_diff_of_overflowing_constants_is_an_expression() -> None:
    r = _run("diff", ["diff", "exp(1000)*x + 1/exp(1000)*x^2"])
    assert r.code == 0 and r.out.strip(), r.err
    # the derivative is printed, not evaluated: it parses again
    again = _run("grad", ["grad", r.out.strip(), "--at", "1", "--format", "json"])
    assert again.code == 0  # inf coefficients: the grad of an inf expression, a warning at most


def test_compare_overflow_warns_and_writes_null() -> None:
    r = _run("compare", ["compare", "exp(x)", "--at", "1000", "--format", "json"])
    assert r.code == 0
    result = json.loads(r.out)
    assert result["value"] is None  # inf is not JSON: null
    assert "not finite" in r.err and "exp" in r.err


def test_compare_underflow_value_is_zero_and_inf_times_zero_is_named() -> None:
    """1/exp(1000): the value underflows to an exact 0. The chain rule multiplies the local
    derivative -1/u^2 = -0 by exp(1000) = inf, which is nan in IEEE arithmetic: the
    gradient is null in JSON and a warning names exp(x); the differences give 0.0."""
    r = _run("compare", ["compare", "1/exp(x)", "--at", "1000", "--format", "json"])
    assert r.code == 0
    result = json.loads(r.out)
    assert result["value"] == 0.0
    assert result["methods"]["reverse_mode"]["grad"]["x"] is None
    assert result["methods"]["central_difference"]["grad"]["x"] == 0.0
    assert "gradient is not finite" in r.err and "exp(x)" in r.err


def test_compare_eps_zero_and_negative_are_bad_input() -> None:
    for eps in ("0", "-1e-3", "nan", "inf"):
        r = _run("compare", ["compare", "exp(x)", "--at", "1", "--eps", eps])
        assert r.code == 2, (eps, r.err)
        assert "eps" in r.err


def test_descend_overflow_is_divergence_with_the_last_finite_point() -> None:
    r = _run("descend", ["descend", "-exp(x)", "--from", "700", "--lr", "1", "--steps", "50",
                         "--format", "json"])
    assert r.code == 1
    assert "diverged" in r.err and "last finite point" in r.err
    summary = json.loads(r.out.splitlines()[-1])
    assert summary["converged"] is False and summary["reason"] == "diverged"
    assert summary["value"] is not None and math.isfinite(summary["value"])


def test_descend_non_finite_start_is_bad_input() -> None:
    r = _run("descend", ["descend", "exp(x)", "--from", "1000"])
    assert r.code == 2 and "not finite at the starting point" in r.err and "exp" in r.err


def test_descend_underflow_stalls_without_error() -> None:
    # exp(-x) underflows to 0 far right: the gradient is 0, below any tolerance: converged
    r = _run("descend", ["descend", "exp(-x)", "--from", "800", "--format", "json"])
    assert r.code == 0
    summary = json.loads(r.out.splitlines()[-1])
    assert summary["converged"] is True and summary["value"] == 0.0


@pytest.mark.parametrize("lr", ["1e300", "10", "1.5"])
def test_descend_diverging_learning_rate(lr: str) -> None:
    # x^2 with tau > 1 multiplies x by (1 - 2 tau) each step: |1 - 2 tau| > 1 grows without bound
    r = _run("descend", ["descend", "x^2", "--from", "1", "--lr", lr, "--steps", "5000"])
    assert r.code == 1
    assert "diverged" in r.err and "smaller learning rate" in r.err


@pytest.mark.parametrize("lr", ["0", "-0.1", "nan", "inf", "1e309"])
def test_descend_learning_rate_not_positive_finite(lr: str) -> None:
    r = _run("descend", ["descend", "x^2", "--from", "1", "--lr", lr])
    assert r.code == 2 and "learning rate" in r.err


@pytest.mark.parametrize("option,value", [("--steps", "1.5"), ("--steps", "-1"), ("--every", "0"),
                                          ("--momentum", "1"), ("--momentum", "-0.1"),
                                          ("--tol", "-1")])
def test_descend_bad_settings_are_bad_input(option: str, value: str) -> None:
    r = _run("descend", ["descend", "x^2", "--from", "1", option, value])
    assert r.code == 2 and r.err.strip()


def test_train_diverging_learning_rate_keeps_the_previous_model(tmp_path: Path) -> None:
    cfg = _tiny(SHIPPED["sine"], tmp_path)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    good = _run("train", ["train", str(tmp_path / "c.yaml"), "--quiet"])
    assert good.code == 0
    before = (tmp_path / "model.npz").read_bytes()
    bad = _run("train", ["train", str(tmp_path / "c.yaml"), "--quiet", "--lr", "1e300",
                         "--format", "json"])
    assert bad.code == 1
    assert "diverged" in bad.err and "smaller learning rate" in bad.err
    summary = json.loads(bad.out)
    assert summary["stopped"] == "diverged" and summary["epochs_run"] == 0
    after = (tmp_path / "model.npz").read_bytes()
    # no epoch finished: nothing saved, the previous model is intact
    assert summary["model"] is None and after == before


def test_train_diverging_after_some_epochs_saves_no_model_worse_than_before(tmp_path: Path) -> None:
    # tau = 1e30: the loss stays finite (huge) for an epoch or two, then overflows to inf.
    # Every finished epoch is far worse than the weights as drawn: nothing is saved (issue 29).
    cfg = _tiny(SHIPPED["sine"], tmp_path)
    cfg["training"]["epochs"] = 20
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    r = _run("train", ["train", str(tmp_path / "c.yaml"), "--quiet", "--lr", "1e30",
                       "--format", "json"])
    assert r.code == 1 and "diverged" in r.err
    summary = json.loads(r.out)
    assert summary["stopped"] == "diverged" and 1 <= summary["epochs_run"] < 20
    assert summary["model"] is None and "no model was saved" in r.err
    assert "worse than the loss of the weights as drawn" in r.err
    assert not list(tmp_path.rglob("*.npz"))


@pytest.mark.parametrize("lr", ["0", "-1", "nan", "inf"])
def test_train_learning_rate_not_positive_is_bad_input(tmp_path: Path, lr: str) -> None:
    cfg = _tiny(SHIPPED["sine"], tmp_path)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    r = _run("train", ["train", str(tmp_path / "c.yaml"), "--quiet", "--lr", lr])
    assert r.code == 2 and r.err.startswith("backprop: error: --lr: ")  # the option typed


# -- a few real processes -------------------------------------------------------

@pytest.mark.parametrize("argv", [
    ["diff", "exp(1000)*x", "--order", "2"],
    ["compare", "1/exp(x)", "--at", "1000", "--eps", "0"],
    ["descend", "x^2", "--from", "1", "--lr", "1e300"],
    ["graph", "exp(x)", "--at", "1000"],
    ["graph", "sin(", "--format", "mermaid"],
    ["predict", "/nonexistent/model.npz", "--at", "1"],
    ["train", "/nonexistent/c.yaml"],
])
def test_real_processes(argv: list[str]) -> None:
    r = run_subprocess(argv, timeout=60)
    check_contract(r, error_after_progress=True)
    COUNTS[argv[0]] = COUNTS.get(argv[0], 0) + 1


def test_real_process_train_and_predict(tmp_path: Path) -> None:
    cfg = _tiny(SHIPPED["sine"], tmp_path)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    r = run_subprocess(["train", str(tmp_path / "c.yaml"), "--quiet", "--format", "json"])
    check_contract(r, error_after_progress=True)
    assert r.code == 0
    blob = (tmp_path / "model.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(blob[: len(blob) // 2])
    p = run_subprocess(["predict", str(tmp_path / "cut.npz"), "--at", "0.5"])
    check_contract(p, error_after_progress=True)
    assert p.code == 2 and "model file" in p.err
    q = run_subprocess(["predict", str(tmp_path / "model.npz"), "--format", "csv"],
                       stdin=b"\xef\xbb\xbfx\r\n0.5\r\nnan\r\n\r\n")
    check_contract(q, error_after_progress=True)


# -- the regression corpus ------------------------------------------------------

def _corpus() -> list[dict[str, Any]]:
    return corpus_cases(CORPUS)


@pytest.mark.parametrize("case", _corpus(), ids=lambda c: c["name"])
def test_corpus_commands(case: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every input that once broke one of these commands, replayed in tmp_path.

    "files": {name: text} written into tmp_path first; "{tmp}" in argv is tmp_path;
    "then": a second case run afterwards in the same folder.
    """
    for name, text in case.get("files", {}).items():
        (tmp_path / name).write_text(text.replace("{tmp}", str(tmp_path)), encoding="utf-8")
    argv = [a.replace("{tmp}", str(tmp_path)).replace("{configs}", str(CONFIGS))
            for a in case["argv"]]
    monkeypatch.chdir(tmp_path)
    r = run_inprocess(argv, decode_stdin(case))
    check_contract(r, error_after_progress=True)
    if "expect_exit" in case:
        assert r.code == case["expect_exit"], (r.code, r.err)
    for text in case.get("expect_stderr", []):
        assert text.replace("{tmp}", str(tmp_path)) in r.err, r.err
    for text in case.get("expect_not_stderr", []):
        assert text not in r.err, r.err
    if case.get("expect_stderr_empty"):
        assert r.err == "", r.err
    if "then" in case:  # a second command on what the first one wrote
        test_corpus_commands({**case["then"], "name": case["name"] + "/then"}, tmp_path, monkeypatch)

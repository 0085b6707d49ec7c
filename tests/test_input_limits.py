"""Endless, huge and malformed input (issue 25, parts 3 and 4): every reader of user text.

Each case runs ``python -m backprop`` as a subprocess under a 4 GB address-space
limit and a time limit. Bad input must end in exit 2 with exactly one
``backprop: error:`` line naming the file (and the line), never "internal error",
a traceback, a MemoryError or a kill: stdin points, ``@FILE`` points, CSV and JSON
Lines data for train, predict and evaluate, and the YAML config.
"""

from __future__ import annotations

import json
import os
import random
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

import pytest

from backprop.lines import CHUNK_CHARS, MAX_LINE, take

ADDRESS_SPACE = 4 << 30  # bytes: what issue 25 allows a command
TIMEOUT = 60  # seconds: generous for 2 busy cores; a reader that grows memory never ends

ROOT = Path(__file__).resolve().parent.parent


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def _env() -> dict[str, str]:
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("BACKPROP_DEBUG", None)
    return env


def run(args: list[str], stdin: bytes | IO[Any] | None = None, cwd: Path | None = None,
        timeout: float = TIMEOUT) -> subprocess.CompletedProcess[bytes]:
    """``backprop ARGS`` under the address-space limit; stdin bytes, a file, or nothing."""
    feed = stdin if isinstance(stdin, bytes) else None
    return subprocess.run([sys.executable, "-m", "backprop", *args], input=feed,
                          stdin=None if feed is not None else (stdin or subprocess.DEVNULL),
                          capture_output=True, timeout=timeout, preexec_fn=_limit, env=_env(),
                          cwd=cwd)


def bad_input(result: subprocess.CompletedProcess[bytes], *expected: str) -> str:
    """Exit 2, one error line holding each of ``expected``, no trace of a crash."""
    err = result.stderr.decode("utf-8", "replace")
    assert result.returncode == 2, (result.returncode, err[-2000:])
    assert "internal error" not in err and "Traceback" not in err, err[-2000:]
    assert "MemoryError" not in err and "RecursionError" not in err, err[-2000:]
    assert err.count("backprop: error:") == 1, err[-2000:]
    line = next(ln for ln in err.splitlines() if ln.startswith("backprop: error:"))
    assert len(line) < 500, line[:600]  # a message, not the input quoted back
    for text in expected:
        assert text in line, (text, line)
    return line


TOO_LONG = f"longer than {MAX_LINE:,} characters"


# ---- a model to predict and evaluate with ---------------------------------------------------

@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("model")
    rows = "".join(f"{x / 10},{2 * x / 10 + 1}\n" for x in range(20))
    (folder / "data.csv").write_text("x,y\n" + rows, encoding="utf-8")
    (folder / "c.yaml").write_text("data:\n  csv: data.csv\n  target: y\nmodel:\n  hidden: 2\n"
                                   "training:\n  epochs: 2\noutput:\n  model: m.npz\n",
                                   encoding="utf-8")
    done = run(["train", "c.yaml", "--quiet"], cwd=folder)
    assert done.returncode == 0, done.stderr
    return folder / "m.npz"


# ---- endless input: a line longer than the limit is an error at that line (part 3) ----------

@pytest.mark.parametrize("args", [
    ["grad", "x", "--at", "@/dev/zero"],
    ["hessian", "x^2", "--at", "@/dev/zero"],
    ["grad", "x; x^2", "--at", "@/dev/zero"],
])
def test_points_from_an_endless_file(args: list[str]) -> None:
    bad_input(run(args), "/dev/zero line 1:", TOO_LONG)


def test_endless_bytes_without_a_newline_on_stdin() -> None:
    with open("/dev/zero", "rb") as zero:
        bad_input(run(["grad", "x", "--at", "-"], stdin=zero), "stdin line 1:", TOO_LONG)


def test_endless_digits_on_stdin_after_a_header() -> None:
    # a writer that never stops (no newline): the reader stops at the limit, not at the end
    feeder = subprocess.Popen([sys.executable, "-c", "import sys\nsys.stdout.write('x\\n')\n"
                               "while True: sys.stdout.write('1' * 65536)"],
                              stdout=subprocess.PIPE)
    try:
        bad_input(run(["grad", "x^2", "--at", "-", "--format", "csv"], stdin=feeder.stdout),
                  "stdin line 2:", TOO_LONG)
    finally:
        feeder.kill()
        feeder.wait()


def test_a_long_line_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("x,y\n1,2\n3," + "4" * (MAX_LINE + 10) + "\n5,6\n", encoding="utf-8")
    bad_input(run(["grad", "x*y", "--at", f"@{path}"]), f"{path} line 3:", TOO_LONG)


def test_a_line_at_the_limit_is_read(tmp_path: Path) -> None:
    # the limit is on the characters of a line, its end not counted: exactly MAX_LINE is fine
    path = tmp_path / "p.csv"
    cell = "0" * (MAX_LINE - 2) + ".5"
    path.write_text("x\n" + cell + "\r\n", encoding="utf-8", newline="")
    done = run(["grad", "x^2", "--at", f"@{path}", "--format", "csv"])
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().splitlines()[1] == "0.5,0.25,1.0"


def test_train_data_from_dev_zero(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("data:\n  csv: /dev/zero\n  target: y\noutput:\n  model: m.npz\n")
    bad_input(run(["train", str(cfg), "--quiet"], cwd=tmp_path), "/dev/zero line 1:", TOO_LONG)
    assert not (tmp_path / "m.npz").exists()


def test_predict_and_evaluate_from_dev_zero(model: Path) -> None:
    bad_input(run(["predict", str(model), "/dev/zero"]), "/dev/zero line 1:", TOO_LONG)
    bad_input(run(["predict", str(model), "--at", "@/dev/zero"]), "/dev/zero line 1:", TOO_LONG)
    bad_input(run(["evaluate", str(model), "/dev/zero"]), "/dev/zero line 1:", TOO_LONG)
    with open("/dev/zero", "rb") as zero:
        bad_input(run(["predict", str(model), "-"], stdin=zero), "stdin line 1:", TOO_LONG)


def test_a_quoted_cell_over_the_limit_names_its_line(model: Path, tmp_path: Path) -> None:
    # the cell spans lines 3 and 4, each under the line limit; it passes the cell limit on
    # line 4 (the csv module's line_num; the message once said one more)
    half = "a" * (MAX_LINE // 2 + 100)
    path = tmp_path / "d.csv"
    path.write_text(f"x,y,note\n1,2,ok\n3,4,\"{half}\n{half}\n{half}\"\n", encoding="utf-8")
    bad_input(run(["evaluate", str(model), str(path)]), f"{path} line 4:",
              "cell is longer than")
    bad_input(run(["predict", str(model), str(path)]), f"{path} line 4:", "cell is longer than")


# ---- train honours SIGINT and SIGTERM while it reads ------------------------------------------

@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("endless", [True, False], ids=["endless rows", "a silent pipe"])
def test_train_stops_on_a_signal_while_it_reads(tmp_path: Path, signum: int,
                                                endless: bool) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("data:\n  csv: \"-\"\n  target: y\ntraining:\n  epochs: 1\n"
                   "output:\n  model: m.npz\n")
    proc = subprocess.Popen([sys.executable, "-m", "backprop", "train", str(cfg), "--quiet"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, preexec_fn=_limit, env=_env(), cwd=tmp_path)
    assert proc.stdin is not None
    written = 0
    stop = threading.Event()

    def feed() -> None:
        nonlocal written
        try:
            assert proc.stdin is not None
            proc.stdin.write(b"x,y\n")
            proc.stdin.flush()
            block = b"1.5,2.5\n" * 8192
            while not stop.is_set():
                if endless or written < 4 * len(block):
                    proc.stdin.write(block)
                    written += len(block)
                else:
                    time.sleep(0.01)  # the pipe stays open and silent: the read blocks
        except (BrokenPipeError, ValueError, OSError):
            pass

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    # the process has read past the pipe's buffer, so it is reading the data: its handlers
    # are installed (they are before the config is read)
    deadline = time.monotonic() + TIMEOUT
    while written < 4 * 8 * 8192 + (1 << 20 if endless else 0):
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    time.sleep(0.2)
    proc.send_signal(signum)
    try:
        proc.wait(timeout=TIMEOUT)  # its output is a line or two: the pipes do not fill
        assert proc.stdout is not None and proc.stderr is not None
        out, err = proc.stdout.read(), proc.stderr.read()
    finally:
        stop.set()
        proc.kill()
        proc.wait()
    text = err.decode()
    assert proc.returncode == 130, (proc.returncode, text)
    assert "Traceback" not in text and "internal error" not in text, text
    assert text.strip().splitlines()[-1].startswith("backprop: interrupted before training"), text
    assert out == b""
    assert list(tmp_path.iterdir()) == [cfg]  # no model, no temporary file


# ---- CSV headers in linear time ---------------------------------------------------------------

@pytest.mark.slow
def test_a_header_of_100000_columns(tmp_path: Path, model: Path) -> None:
    # was quadratic (list.count and list.index per column): over 120 s; a few seconds now
    names = [f"c{k}" for k in range(100_000)]
    wide = tmp_path / "wide.csv"
    wide.write_text(",".join(["x", *names]) + "\n" + ",".join(["0.5"] + ["1"] * 100_000) + "\n",
                    encoding="utf-8")
    started = time.monotonic()
    done = run(["grad", "x^2", "--at", f"@{wide}", "--format", "csv"], timeout=30)
    assert done.returncode == 0, done.stderr[-500:]
    assert done.stdout.decode().splitlines()[1].endswith(",0.5,0.25,1.0")
    done = run(["predict", str(model), str(wide), "--format", "csv", "--only-predictions"],
               timeout=30)
    assert done.returncode == 0, done.stderr[-500:]
    # a repeated name is found too, at the right place, and named once
    dup = tmp_path / "dup.csv"
    dup.write_text(",".join(["x", *names, "c77777"]) + "\n", encoding="utf-8")
    bad_input(run(["grad", "x", "--at", f"@{dup}"], timeout=30), "names c77777 twice")
    bad_input(run(["predict", str(model), str(dup)], timeout=30), "c77777 more than once")
    # training reads such a header too (100,000 inputs, one hidden unit)
    cfg = tmp_path / "c.yaml"
    train = tmp_path / "train.csv"
    rows = "".join(",".join([str(r)] * 100_001) + "\n" for r in range(3))
    train.write_text(",".join(["y", *names]) + "\n" + rows, encoding="utf-8")
    cfg.write_text("data:\n  csv: train.csv\n  target: y\n  validation_split: 0\nmodel:\n"
                   "  hidden: 1\ntraining:\n  epochs: 1\noutput:\n  model: w.npz\n")
    done = run(["train", str(cfg), "--quiet", "--format", "json"], cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr[-500:]
    assert json.loads(done.stdout)["train_rows"] == 3
    assert time.monotonic() - started < 120


# ---- bad input: exit 2 and one message (part 4) -----------------------------------------------

def test_a_carriage_return_inside_a_cell() -> None:
    # the csv module's own error (uncaught before: internal error)
    bad_input(run(["grad", "x", "--at", "-", "--format", "csv"], stdin=b"x,id\n1,a\rb\n"),
              "stdin line 2:", "carriage return")
    bad_input(run(["grad", "x", "--at", "-"], stdin=b"x,i\rd\n1,a\n"), "stdin line 1:",
              "carriage return")


def test_a_carriage_return_in_data_for_evaluate(model: Path) -> None:
    bad_input(run(["evaluate", str(model), "-"], stdin=b"x,y\n1,2\n3,a\rb\n"),
              "stdin line 3:", "carriage return")


@pytest.mark.slow  # a few seconds: in the slow group (docs/setup.md)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_bytes(tmp_path: Path, seed: int, model: Path) -> None:
    junk = random.Random(seed).randbytes(100_000)
    path = tmp_path / "junk.bin"
    path.write_bytes(junk)
    for args in (["grad", "x", "--at", "-"], ["hessian", "x*y", "--at", "-"],
                 ["predict", str(model), "-"], ["evaluate", str(model), "-"]):
        bad_input(run(args, stdin=junk), "stdin", "not UTF-8")
    for args in (["grad", "x", "--at", f"@{path}"], ["predict", str(model), str(path)]):
        bad_input(run(args), str(path), "not UTF-8")


def test_random_text(tmp_path: Path, model: Path) -> None:
    # valid UTF-8, any character (controls, quotes, NUL, separators): still one message
    rng = random.Random(7)
    text = "".join(chr(rng.choice([rng.randrange(0, 128), rng.randrange(128, 0x2FFF)]))
                   for _ in range(100_000))
    data = text.encode("utf-8", "surrogatepass")
    for args in (["grad", "x", "--at", "-"], ["grad", "x*y", "--at", "-"],
                 ["predict", str(model), "-"], ["evaluate", str(model), "-"]):
        bad_input(run(args, stdin=data))


def _json_file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.slow  # a few seconds: in the slow group (docs/setup.md)
def test_json_lines_with_a_5000_digit_integer(tmp_path: Path, model: Path) -> None:
    first = _json_file(tmp_path, "big.jsonl", '{"x": 1, "y": ' + "7" * 5000 + "}\n")
    later = _json_file(tmp_path, "later.jsonl", '{"x": 1, "y": 1}\n{"x": 2, "y": 1, "id": ' + "7" * 5000 + "}\n")
    for path, n in ((first, 1), (later, 2)):
        for args in (["grad", "x", "--at", f"@{path}"], ["hessian", "x^2", "--at", f"@{path}"],
                     ["predict", str(model), "--at", f"@{path}"],
                     ["predict", str(model), str(path)], ["evaluate", str(model), str(path)]):
            bad_input(run(args), f"{path} line {n}:", "digits")


def test_json_lines_nested_100000_deep(tmp_path: Path, model: Path) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    path = _json_file(tmp_path, "deep.jsonl", '{"x": 1, "y": 1}\n{"x": 2, "y": 1, "n": ' + deep + "}\n")
    for args in (["grad", "x", "--at", f"@{path}"], ["hessian", "x^2", "--at", f"@{path}"],
                 ["predict", str(model), "--at", f"@{path}"],
                 ["predict", str(model), str(path)], ["evaluate", str(model), str(path)]):
        bad_input(run(args), f"{path} line 2:", "nested more than 100 levels")
    with open(path, "rb") as fh:
        bad_input(run(["grad", "x", "--at", "-"], stdin=fh), "stdin line 2:", "nested more than 100 levels")


def test_json_lines_nested_100_deep_pass_through(tmp_path: Path, model: Path) -> None:
    # the object and 99 arrays: 100 levels, the limit; brackets inside a string do not count
    nested = "[" * 99 + "]" * 99
    text = '{"x": 3, "s": "' + "[{" * 300 + '", "n": ' + nested + "}\n"
    path = _json_file(tmp_path, "d.jsonl", text)
    done = run(["grad", "x^2", "--at", f"@{path}", "--format", "json"])
    assert done.returncode == 0, done.stderr
    row = json.loads(done.stdout)
    assert row["grad"] == {"x": 6.0} and json.dumps(row["n"], separators=(",", ":")) == nested
    assert row["s"] == "[{" * 300
    for args in (["grad", "x^2", "--at", f"@{path}", "--format", "csv"],
                 ["predict", str(model), str(path), "--format", "json"]):
        done = run(args)
        assert done.returncode == 0 and nested.encode() in done.stdout, done.stderr
    # one level more is refused
    path = _json_file(tmp_path, "e.jsonl", text + '{"x": 3, "n": [' + nested + "]}\n")
    bad_input(run(["grad", "x^2", "--at", f"@{path}", "--format", "json"]), f"{path} line 2:",
              "nested more than 100 levels")


# ---- the YAML config --------------------------------------------------------------------------

def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_yaml_nested_100000_deep(tmp_path: Path) -> None:
    cfg = _config(tmp_path, "data: " + "[" * 100_000 + "]" * 100_000 + "\n")
    bad_input(run(["train", str(cfg)]), str(cfg), "nested")


def test_yaml_mapping_5000_deep(tmp_path: Path) -> None:
    cfg = _config(tmp_path, "data: " + "{a: " * 5000 + "1" + "}" * 5000 + "\n")
    bad_input(run(["train", str(cfg)]), f"{cfg} line 1:", "nested more than")
    # in block style (the indentation makes 1,300 levels 850 KB)
    block = "data:\n" + "".join(" " * (k + 1) + f"k{k}:\n" for k in range(1300))
    cfg = _config(tmp_path, block.rstrip("\n") + " 1\n")
    bad_input(run(["train", str(cfg)]), f"{cfg} line 65:", "nested more than 64 levels")


def test_yaml_aliases_that_expand_to_billions(tmp_path: Path) -> None:
    lines = ["a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    for k in range(1, 9):
        lines.append(f"a{k}: &a{k} [" + ", ".join([f"*a{k - 1}"] * 10) + "]")
    cfg = _config(tmp_path, "\n".join(lines) + "\ndata: *a8\n")
    bad_input(run(["train", str(cfg)]), str(cfg), "more than 1,000,000 values")


def test_yaml_integers_of_5000_digits(tmp_path: Path) -> None:
    # int() of more than 4,300 digits raised ValueError inside safe_load: internal error
    for value, line in (("7" * 5000, 4), ("1_" + "7" * 5000, 4), ("0x" + "f" * 5000, 4)):
        cfg = _config(tmp_path, f"data:\n  csv: d.csv\ntraining:\n  seed: {value}\n")
        bad_input(run(["train", str(cfg)]), f"{cfg} line {line}:", "a number of more than")
    # a long text of letters that are hex digits is text, not a number
    cfg = _config(tmp_path, "data:\n  csv: d.csv\n  target: " + "abcdef" * 300 + "\n")
    bad_input(run(["train", str(cfg)], cwd=tmp_path), "no such file")


def test_yaml_config_too_large_or_endless(tmp_path: Path) -> None:
    bad_input(run(["train", "/dev/zero"]), "/dev/zero:", "larger than 1,048,576 bytes")
    cfg = _config(tmp_path, "# padding\n" * 120_000 + "data:\n  csv: d.csv\n")
    bad_input(run(["train", str(cfg)]), str(cfg), "the limit for a config file")


def test_a_yaml_config_still_reads(tmp_path: Path) -> None:
    # anchors and aliases within the limits are YAML as usual
    (tmp_path / "d.csv").write_text("x,y\n" + "".join(f"{k},{2 * k}\n" for k in range(10)))
    cfg = _config(tmp_path, "defaults: &fast\n  epochs: 2\n  seed: 3\ndata:\n  csv: d.csv\n"
                  "  target: y\nmodel:\n  hidden: 2\ntraining: *fast\noutput:\n  model: m.npz\n")
    done = run(["train", str(cfg), "--quiet", "--format", "json"], cwd=tmp_path)
    assert done.returncode == 2 and "defaults: unknown key" in done.stderr.decode()
    cfg = _config(tmp_path, "data:\n  csv: d.csv\n  target: y\nmodel:\n  hidden: 2\n"
                  "training: &fast {epochs: 2, seed: 3}\noutput:\n  model: m.npz\n")
    done = run(["train", str(cfg), "--quiet", "--format", "json"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["epochs_run"] == 2


# ---- output cells read back -------------------------------------------------------------------

def test_predict_at_a_point_writes_the_number_as_text(model: Path, tmp_path: Path) -> None:
    done = run(["predict", str(model), "--at", "0.25", "--format", "csv"])
    assert done.returncode == 0, done.stderr
    header, row = done.stdout.decode().splitlines()
    assert header == "x,y_pred"
    assert row.split(",")[0] == "0.25"
    # the CSV reads back: as points (y_pred passing through) and as numbers
    path = tmp_path / "back.csv"
    path.write_bytes(done.stdout)
    again = run(["grad", "2*x", "--at", f"@{path}", "--format", "csv"])
    assert again.returncode == 0, again.stderr
    assert again.stdout.decode().splitlines()[1] == f"{row.split(',')[1]},0.25,0.5,2.0"


# ---- the chunk budget -------------------------------------------------------------------------

def test_a_chunk_of_long_lines_stays_within_its_budget() -> None:
    line = "1" * MAX_LINE + "\n"  # one string object: the test itself holds 1 MiB
    lines = iter([line] * 1000)
    batch = take(lines, 65_536)
    assert CHUNK_CHARS <= sum(map(len, batch)) <= CHUNK_CHARS + len(line)
    short = iter(["1\n"] * 70_000)
    assert len(take(short, 65_536)) == 65_536 and len(take(short, 65_536)) == 70_000 - 65_536


def test_data_that_does_not_fit_in_memory_is_a_message(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # an endless stream of valid rows fills the memory at last (training holds every row);
    # the allocation that fails is reported with the rows read, as a failure (exit 1)
    from backprop.errors import BackpropError, InputError
    from backprop.nn import data

    path = tmp_path / "d.csv"
    path.write_text("x,y\n" + "1,2\n" * 10 + "3,4\n", encoding="utf-8")
    real_numbers, real_chunks = data.numbers, data.CsvSource.chunks
    calls = []

    def numbers(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) > 2:  # the conversion of the second chunk's inputs
            raise MemoryError
        return real_numbers(*args, **kwargs)

    monkeypatch.setattr(data, "numbers", numbers)
    monkeypatch.setattr(data.CsvSource, "chunks", lambda self: real_chunks(self, 4))
    with pytest.raises(BackpropError) as caught:
        data.load_csv(path, ["y"])
    assert not isinstance(caught.value, InputError)
    assert str(caught.value) == (f"{path}: the data does not fit in memory (out of memory "
                                 "after 4 rows of 2 columns)")

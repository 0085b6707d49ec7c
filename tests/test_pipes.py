"""Streams through pipes (issue 28): each row answered as its line arrives from a slow producer.

A real subprocess reads a real pipe, written a line every 0.3 s; each output
row must arrive within 0.5 s of its line (before the next line is written, and
long before the 65,536 rows of a block). The first row also pays for the
process's warm-up (imports, on a machine that may be busy), so it is waited for
without a bound that short before the timed lines are written.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from clikit import BACKPROP, limit_resources, run_backprop

LATENCY_S = 0.5
GAP_S = 0.3
WARM_UP_S = 60.0


def _start(argv: list[str]) -> subprocess.Popen[bytes]:
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.Popen([*BACKPROP, *argv], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, preexec_fn=limit_resources)


class Rows:
    """The process's stdout lines with the time each arrived, read on a thread."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.got: list[tuple[float, str]] = []
        self._cond = threading.Condition()
        self._proc = proc
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            with self._cond:
                self.got.append((time.monotonic(), line.decode()))
                self._cond.notify_all()
        with self._cond:
            self.got.append((time.monotonic(), ""))  # the end
            self._cond.notify_all()

    def wait_for(self, count: int, timeout: float) -> list[tuple[float, str]]:
        with self._cond:
            self._cond.wait_for(lambda: len(self.got) >= count, timeout)
            return list(self.got)


def slow_producer(argv: list[str], warm: list[str], timed: list[str], head: int,
                  per_line: int = 1) -> tuple[list[float], list[str]]:
    """Write ``warm`` (its last line a row; and wait for the output up to that row's, after
    ``head`` header lines), then each line of ``timed`` ``GAP_S`` apart (a blank line has no
    row); the delay from each timed line to its (last) output row."""
    proc = _start(argv)
    rows = Rows(proc)
    assert proc.stdin is not None
    try:
        proc.stdin.write("".join(warm).encode())
        proc.stdin.flush()
        expected = head + per_line
        got = rows.wait_for(expected, WARM_UP_S)
        assert len(got) >= expected, (got, proc.stderr.read() if proc.poll() is not None else "")
        delays = []
        for line in timed:
            sent = time.monotonic()
            proc.stdin.write(line.encode())
            proc.stdin.flush()
            if not line.strip():
                time.sleep(GAP_S)
                continue
            expected += per_line
            got = rows.wait_for(expected, GAP_S + LATENCY_S + 5)
            assert len(got) >= expected, f"no row for {line!r} (got {got})"
            delays.append(got[expected - 1][0] - sent)
            time.sleep(max(0.0, GAP_S - (time.monotonic() - sent)))
        proc.stdin.close()
        proc.wait(60)
        assert proc.stderr is not None
        err = proc.stderr.read().decode()
        assert proc.returncode == 0, err
        out = [line for _, line in rows.wait_for(expected + 1, 10) if line]
        return delays, out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _check(delays: list[float]) -> None:
    late = [round(d, 3) for d in delays if d > LATENCY_S]
    assert not late, f"rows came {delays} s after their lines (limit {LATENCY_S} s)"


def test_grad_csv_rows_come_back_as_their_lines_arrive() -> None:
    delays, out = slow_producer(["grad", "x^2*y", "--at", "-", "--format", "csv"],
                                ["x,y,id\n", "1,2,a\n"], ["2,3,b\n", "3,0.5,c\n", "\n", "4,1,d\n"],
                                head=1)
    _check(delays)
    # d(x^2 y)/dx = 2xy, d/dy = x^2: by hand, pass-through column first
    assert out == ["id,x,y,f,df/dx,df/dy\n", "a,1.0,2.0,2.0,4.0,1.0\n",
                   "b,2.0,3.0,12.0,12.0,4.0\n", "c,3.0,0.5,4.5,3.0,9.0\n",
                   "d,4.0,1.0,16.0,8.0,16.0\n"]


def test_grad_json_lines_rows_come_back_as_their_lines_arrive() -> None:
    delays, out = slow_producer(["grad", "sin(x)", "--at", "-", "--format", "json"],
                                ['{"x": 0, "k": 1}\n'], ['{"x": 1, "k": 2}\n', '{"x": -2}\n'],
                                head=0)
    _check(delays)
    records = [json.loads(line) for line in out]
    import math

    assert [r.get("k") for r in records] == [1, 2, None]
    for r in records:
        x = r["at"]["x"]
        assert r["value"] == math.sin(x) and r["grad"]["x"] == math.cos(x)


def test_hessian_rows_come_back_as_their_lines_arrive() -> None:
    delays, out = slow_producer(["hessian", "x^3", "--at", "-", "--format", "json"],
                                ["1\n"], ["2\n", "3\n"], head=0)
    _check(delays)
    # f'' = 6x
    assert [json.loads(line)["hessian"]["x"]["x"] for line in out] == [6.0, 12.0, 18.0]


@pytest.fixture(scope="module")
def line_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from backprop.cli import main

    d = tmp_path_factory.mktemp("line")
    cfg = {"data": {"synthetic": {"expr": "2*x", "ranges": {"x": [0, 1]}, "n": 50},
                    "target": "y"},
           "model": {"hidden": 2, "activation": "tanh"},
           "training": {"epochs": 2, "seed": 1},
           "output": {"model": str(d / "m.npz")}}
    (d / "c.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["train", str(d / "c.yaml"), "--quiet"]) == 0
    return d / "m.npz"


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_predict_rows_come_back_as_their_lines_arrive(line_model: Path, fmt: str) -> None:
    from backprop.nn.model import load_model

    if fmt == "csv":
        warm, timed = ["x,id\n", "0.1,a\n"], ["0.5,b\n", "0.9,c\n"]
    else:
        warm, timed = ['{"x": 0.1, "id": "a"}\n'], ['{"x": 0.5, "id": "b"}\n',
                                                    '{"x": 0.9, "id": "c"}\n']
    delays, out = slow_producer(["predict", str(line_model), "-", "--format", fmt], warm, timed,
                                head=1 if fmt == "csv" else 0)
    _check(delays)
    net, _ = load_model(line_model)
    import numpy as np

    want = net.predict(np.array([[0.1], [0.5], [0.9]]))[:, 0].tolist()
    if fmt == "csv":
        assert out[0] == "x,id,y_pred\n"
        got: list[Any] = [float(line.split(",")[2]) for line in out[1:]]
    else:
        got = [json.loads(line)["y_pred"] for line in out]
    assert got == pytest.approx(want, rel=1e-12)


def test_a_closed_reader_still_ends_quietly() -> None:
    """The reader of the output goes away after the first row: exit 141, nothing on stderr."""
    proc = _start(["grad", "x", "--at", "-", "--format", "csv"])
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    proc.stdin.write(b"x\n1\n")
    proc.stdin.flush()
    assert proc.stdout.readline() == b"x,f,df/dx\n"
    assert proc.stdout.readline() == b"1.0,1.0,1.0\n"
    proc.stdout.close()  # the reader is gone: the next row meets a closed pipe
    try:
        for k in range(2, 200):
            proc.stdin.write(f"{k}\n".encode())
            proc.stdin.flush()
            time.sleep(0.02)
            if proc.poll() is not None:
                break
    except BrokenPipeError:
        pass
    proc.wait(60)
    assert proc.returncode == 141
    assert proc.stderr.read() == b""


def test_utf8_errors_on_a_pipe_keep_their_line() -> None:
    proc = run_backprop("grad", "x", "--at", "-", stdin=b"x\n1\n2\n\xff\n",
                        env={**os.environ, "PYTHONIOENCODING": "utf-8"})
    assert proc.returncode == 2
    assert "stdin near line 4: the bytes are not UTF-8 text" in proc.stderr


def test_a_fast_producer_gets_whole_blocks(tmp_path: Path) -> None:
    """Lines that are there faster than they are read come in full batches, not a batch per
    read of the pipe (the 1,000,000-line figures of bench_pipes.py part 1 rest on it)."""
    from backprop.core.arrival import ArrivingLines

    n, rows = 300_000, 65_536
    data = tmp_path / "lines.txt"
    data.write_text("".join(f"{k}\n" for k in range(n)))
    cat = subprocess.Popen(["cat", str(data)], stdout=subprocess.PIPE)
    assert cat.stdout is not None
    try:
        sizes = [len(b) for b in ArrivingLines(cat.stdout.fileno(), rows).batches()]
    finally:
        cat.stdout.close()
        cat.wait()
    assert sum(sizes) == n
    # a busy machine may pause cat now and then, so a few short batches are allowed
    assert sum(s for s in sizes if s == rows) >= n // 2, sizes


def test_lines_split_where_a_text_stream_splits_them() -> None:
    from backprop.core.arrival import split_lines

    for text in ["a\nb\n", "a\r\nb", "a\rb\n\x0bc\x0c\n\u2028d\n", "", "\n\n", "x\x85y\n"]:
        assert split_lines(text) == list(io.StringIO(text, newline="\n"))

"""JSON Lines at the speed of CSV (issue 28): the block writer and the column reader give
what the standard json module gives, byte for byte and value for value."""

from __future__ import annotations

import io
import json
import math
import struct
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backprop import parse
from backprop.core.points import read_points
from backprop.core.results import PassedThrough
from backprop.views.writers import CSV_BLOCK_MIN_ROWS, JsonLinesWriter

SPECIAL = [0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 2.225073858507201e-308,
           1.7976931348623157e308, -1.7976931348623157e308, 1e-5, 9.999999999999999e-5, 1e-4,
           0.00012345, 1e15, 1e16, 9999999999999998.0, 1.2345e16, 123456789.0, 1e22, 1e-7,
           0.1, 1 / 3, math.pi, float("nan"), float("inf"), float("-inf")]


def oracle(records: list[dict[str, Any]]) -> str:
    """The standard json module: nan and inf as null, the separators the writers use."""
    def clean(v: Any) -> Any:
        if isinstance(v, float):
            return v if math.isfinite(v) else None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, list):
            return [clean(x) for x in v]
        return v

    return "".join(json.dumps(clean(r), separators=(", ", ": "), allow_nan=False) + "\n"
                   for r in records)


def written(result: Any) -> str:
    buf = io.StringIO()
    JsonLinesWriter([], buf).write(result)
    return buf.getvalue()


def random_floats(n: int, seed: int) -> np.ndarray:
    """Random bit patterns: every class of float64 (subnormal, huge, tiny, nan, inf)."""
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2**64, n, dtype=np.uint64)
    return bits.view(np.float64)


def test_gradients_special_and_random_values() -> None:
    # x*y + z: the value and gradient are the inputs' own numbers (y, x, 1), so every
    # special value reaches the output
    f = parse("x*y + z")
    x = np.array(SPECIAL * 3 + random_floats(500, 1).tolist())
    y = np.concatenate([np.ones(len(SPECIAL)), -np.ones(len(SPECIAL)),
                        np.array(SPECIAL[::-1]), random_floats(500, 2)])
    z = np.zeros(len(x))
    g = f.gradients({"x": x, "y": y, "z": z})
    assert written(g) == oracle(g.records())
    # the records themselves, by hand: the value x*y + 0 and the gradient (y, x, 1)
    for r, a, b in zip(g.records()[:40], x, y):
        assert r["at"] == {"x": a, "y": b, "z": 0.0} or math.isnan(a) or math.isnan(b)


def test_hessians_whole_matrix() -> None:
    f = parse("x^2*y + sin(y)")
    rng = np.random.default_rng(3)
    h = f.hessians({"x": rng.standard_normal(200), "y": rng.standard_normal(200)})
    assert written(h) == oracle(h.records())


@pytest.mark.parametrize("cells", [
    ["a", "b\"c", "d\\e", "ü", "\u2028", "100%", "%s", "", "x,y", "😀"],
    [1, 2.5, None, True, {"k": [1, 2]}, "t", float("nan"), -0.0, 10**30, [None]],
])
def test_pass_through_members_text_and_any_json(cells: list[Any]) -> None:
    f = parse("x^2")
    n = 3 * CSV_BLOCK_MIN_ROWS
    x = np.linspace(-3, 3, n)
    g = f.gradients({"x": x})
    passed = [{"id": cells[k % len(cells)], "€%": cells[(k + 3) % len(cells)]} for k in range(n)]
    pt = PassedThrough(g, ("id", "€%"), passed)
    assert written(pt) == oracle(pt.records())


def test_pass_through_members_that_differ_by_row() -> None:
    """Rows with other members, or in another order: each row keeps its own (records())."""
    f = parse("x")
    n = 2 * CSV_BLOCK_MIN_ROWS
    g = f.gradients({"x": np.arange(n, dtype=np.float64)})
    passed = [({"a": k, "b": 1} if k % 3 else {"b": 2, "a": k, "value": "v"}) for k in range(n)]
    pt = PassedThrough(g, ("a", "b"), passed)
    assert written(pt) == oracle(pt.records())


def test_cli_json_equals_the_json_module_and_warns_on_nan() -> None:
    from clikit import run_inprocess

    rng = np.random.default_rng(4)
    xs = [*rng.uniform(-3, 3, 300).tolist(), -1.0, 0.0]
    r = run_inprocess(["grad", "log(x)", "--at", "-", "--format", "json"],
                      "x,id\n" + "".join(f"{v!r},r{k}\n" for k, v in enumerate(xs)))
    assert r.code == 0
    assert "warning" in r.err and "not finite" in r.err
    want = []
    for k, v in enumerate(xs):  # log and 1/x by hand; a nan value has a nan partial
        value = math.log(v) if v > 0 else (float("-inf") if v == 0 else float("nan"))
        slope = 1 / v if v > 0 else (float("inf") if v == 0 else float("nan"))
        want.append({"id": f"r{k}", "at": {"x": v}, "value": value, "grad": {"x": slope}})
    assert r.out == oracle(want)


# ---- reading ------------------------------------------------------------------------------

def read_all(text: str, variables: list[str]) -> tuple[np.ndarray, list[Any] | None]:
    stream = read_points(io.StringIO(text), variables, chunk_rows=50)
    values, passed = [], []
    any_passed = False
    for chunk in stream:
        values.append(np.column_stack([chunk[v] for v in variables]))
        if chunk.passed is not None:
            any_passed = True
            passed += chunk.passed
        else:
            passed += [{}] * chunk.rows
    return np.concatenate(values), (passed if any_passed else None)


def by_hand(lines: list[str], variables: list[str]) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """json.loads line by line; the point from "at" or the object itself."""
    values, passed = [], []
    for line in lines:
        obj = json.loads(line)
        point = obj["at"] if "at" in obj else obj
        values.append([math.nan if point[v] is None else float(point[v]) for v in variables])
        passed.append({k: x for k, x in obj.items() if k != "at" and ("at" in obj or
                                                                       k not in variables)})
    return np.array(values), passed


number = st.one_of(st.floats(allow_nan=False, allow_infinity=False),
                   st.integers(min_value=-10**30, max_value=10**30))
member = st.one_of(number, st.text(max_size=5), st.none(), st.booleans(),
                   st.lists(st.integers(), max_size=2))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(number, number, st.dictionaries(st.sampled_from(["id", "k", "w"]),
                                                          member, max_size=2),
                          st.booleans()), min_size=1, max_size=120))
def test_reader_equals_json_loads(rows: list[tuple[Any, Any, dict[str, Any], bool]]) -> None:
    lines = []
    for x, y, extra, nested in rows:
        obj = {"at": {"x": x, "y": y}, **extra} if nested else {"x": x, **extra, "y": y}
        lines.append(json.dumps(obj))
    got, passed = read_all("\n".join(lines) + "\n", ["x", "y"])
    want, want_passed = by_hand(lines, ["x", "y"])
    assert got.tobytes() == want.tobytes()  # to the bit, -0.0 included
    if passed is None:
        assert not any(want_passed)
    else:
        assert json.dumps(passed) == json.dumps(want_passed)


def test_reader_long_integers_and_many_digits() -> None:
    """orjson reads an integer beyond 64 bits as a float; json keeps it an int: the
    pass-through member must be the int (written back as written)."""
    lines = ['{"x": 1, "n": 123456789012345678901234567890, "m": -9223372036854775809}',
             '{"x": 0.1000000000000000055511151231257827, "n": 18446744073709551616}',
             '{"x": 123456789012345678901, "n": -1}']
    got, passed = read_all("\n".join(lines) + "\n", ["x"])
    want, want_passed = by_hand(lines, ["x"])
    assert got.tobytes() == want.tobytes()
    assert passed == want_passed
    assert type(passed[0]["n"]) is int


@pytest.mark.parametrize("line, message", [
    ('{"x": NaN}', "not a finite float64"),
    ('{"x": 1e400}', "not a finite float64"),
    ('{"x": true}', "is true, not a number"),
    ('{"x": "1"}', 'is "1", not a number'),
    ('{"y": 1}', "no value for x"),
    ('{"at": {"x": 1, "z": 2}, "z": 3}', 'z is both in "at" and beside it'),
    ('{"x": 1,}', "not valid JSON"),
])
def test_reader_errors_keep_their_line(line: str, message: str) -> None:
    from backprop.errors import InputError

    text = "".join('{"x": %d}\n' % k for k in range(70)) + line + "\n"
    with pytest.raises(InputError) as exc:
        read_all(text, ["x"])
    assert "line 71" in str(exc.value) and message in str(exc.value), str(exc.value)


def test_random_bits_round_trip_through_json_lines() -> None:
    """grad's JSON output read back by grad: every finite float64 to the bit."""
    values = [v for v in random_floats(2000, 5).tolist() if math.isfinite(v)]
    text = "".join(json.dumps({"x": v}) + "\n" for v in values)
    got, _ = read_all(text, ["x"])
    assert got[:, 0].tobytes() == np.array(values).tobytes()
    assert struct.pack("<d", got[0, 0]) == struct.pack("<d", values[0])

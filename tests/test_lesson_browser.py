"""The lesson page in a real browser: headless Chromium (Debian's `chromium` package)
driven by Playwright for Python, pointed at the system browser with executable_path
(no browser download). Skipped, with the reason, only where chromium is absent.

Each module's value is checked against math (an independent oracle) and, where the
claim is that the page and `backprop grad` agree, against the command's own output.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Iterator

import pytest
import sympy as sp

from backprop.cli import main

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium on the PATH (Debian: apt-get install chromium); "
    "the browser tests need the system browser, Playwright downloads none here")

SEED = "2/sin(exp(-x))"
X0 = -4.499


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield b
        b.close()


class Page:
    """One loaded lesson page, and every console error or uncaught exception it had."""

    def __init__(self, browser: object, path: Path) -> None:
        self.page = browser.new_page(viewport={"width": 1400, "height": 800})  # type: ignore[attr-defined]
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(path.as_uri())

    def step(self) -> int:
        return int(self.page.get_attribute("body", "data-step"))

    def press(self, key: str, times: int = 1) -> None:
        for _ in range(times):
            self.page.keyboard.press(key)

    def text(self, selector: str) -> str:
        return self.page.inner_text(selector)

    def visible_rows(self, table: str) -> list[object]:
        return self.page.query_selector_all(f"#{table} tbody tr:not([hidden])")


def make_page(tmp_path: Path, capsys: pytest.CaptureFixture[str], expr: str, at: str,
              *opts: str, name: str = "lesson.html") -> Path:
    out = tmp_path / name
    code = main(["graph", expr, "--at", at, *opts, "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    return out


def seed_values() -> list[float]:
    # the lecture's example by hand: a = -x, b = exp(a), c = sin(b), d = 2/c
    a = -X0
    b = math.exp(a)
    c = math.sin(b)
    return [a, b, c, 2 / c]


@pytest.mark.parametrize("use_dot", [
    pytest.param(True, marks=pytest.mark.skipif(shutil.which("dot") is None,
                                                reason="Graphviz's dot is not installed")),
    False])
def test_seed_steps_forward_then_backward_to_the_gradient(
        browser: object, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, use_dot: bool) -> None:
    if not use_dot:
        monkeypatch.setenv("PATH", str(tmp_path))  # Graphviz absent: the layered layout
    page = Page(browser, make_page(tmp_path, capsys, SEED, str(X0)))
    assert page.step() == 0
    assert page.page.is_hidden("#result")
    assert ("Graphviz's dot was not found" in page.text("#notice")) is (not use_dot)
    expected = seed_values()
    out_node = page.page.get_attribute("g.node:has(text:text-is('/'))", "data-node")
    for k in range(1, 5):
        page.press("ArrowRight")
        assert page.step() == k
        rows = page.visible_rows("fwd")
        assert len(rows) == k
        shown = float(rows[-1].get_attribute("data-value"))
        assert shown == pytest.approx(expected[k - 1], rel=1e-14)
        assert f"forward {k} of 4" in page.text("#where")
    # the output's box shows f to six digits, as `backprop graph` draws it
    assert page.page.text_content(f"g.node[data-node='{out_node}'] text.num") == \
        f"f = {expected[3]:.6g}"
    page.page.click("#next")
    assert page.step() == 5 and "backward 1 of 4" in page.text("#where")
    page.press("ArrowRight", 2)
    assert page.step() == 7 and page.page.is_hidden("#result")
    page.page.click("#next")
    assert page.step() == 8 and page.page.is_disabled("#next")
    assert len(page.visible_rows("bwd")) == 4
    result = page.text("#result")
    assert "df/dx = -80.3930566017643" in result  # the figure `grad` prints
    xs = sp.Symbol("x")
    exact = float(sp.diff(2 / sp.sin(sp.exp(-xs)), xs).subs(xs, X0))
    assert float(result.split("df/dx = ")[1]) == pytest.approx(exact, rel=1e-12)
    assert page.errors == []


def test_page_agrees_with_grad_to_the_last_digit(browser: object, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    expr, at = "sin(x)*sin(x) + x*y", "x=0.5,y=2"
    page = Page(browser, make_page(tmp_path, capsys, expr, at, "--angle", "deg"))
    assert main(["grad", expr, "--at", at, "--angle", "deg", "--trace", "--format", "json"]) == 0
    t = json.loads(capsys.readouterr().out)
    page.press("End")
    assert page.step() == len(t["forward"]) + len(t["backward"])
    values = [r.get_attribute("data-value") for r in page.visible_rows("fwd")]
    assert values == [repr(s["value"]) for s in t["forward"]]
    contributions = [r.get_attribute("data-contribution") for r in page.visible_rows("bwd")]
    assert contributions == [repr(b["contribution"]) for b in t["backward"]]
    lines = page.text("#result").splitlines()
    assert lines == [f"f = {t['value']!r}"] + [f"df/d{k} = {v!r}" for k, v in t["grad"].items()]
    # and the gradient is the right one: d/dx of sin(x°)^2 + x y
    xs, ys = sp.symbols("x y")
    f = sp.sin(xs * sp.pi / 180) ** 2 + xs * ys
    assert t["grad"]["x"] == pytest.approx(float(sp.diff(f, xs).subs({xs: 0.5, ys: 2})), rel=1e-12)
    assert page.errors == []


def test_shared_node_sums_its_contributions(browser: object, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    page = Page(browser, make_page(tmp_path, capsys, "sin(x)*sin(x) + x", "0.5"))
    s = math.sin(0.5)
    # forward: sin, *, +; backward: + -> *, + -> x, * -> sin twice, sin -> x
    page.press("ArrowRight", 3 + 4)
    explain = page.text("#explain")
    assert "received 2 contributions" in explain
    assert f"{s:.6g} + {s:.6g} = {2 * s:.6g}" in explain
    page.press("End")
    assert float(page.text("#result").split("df/dx = ")[1]) == pytest.approx(
        2 * s * math.cos(0.5) + 1, rel=1e-14)
    assert page.errors == []


def test_back_home_end_and_play(browser: object, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    page = Page(browser, make_page(tmp_path, capsys, SEED, str(X0)))
    page.press("End")
    assert page.step() == 8 and page.page.is_visible("#result")
    page.press("ArrowLeft")
    assert page.step() == 7 and page.page.is_hidden("#result")
    assert len(page.visible_rows("bwd")) == 3
    page.page.click("#first")
    assert page.step() == 0 and page.visible_rows("fwd") == []
    page.press("ArrowLeft")  # nothing before the start
    assert page.step() == 0
    page.page.click("#play")
    page.page.wait_for_function("document.body.dataset.step === '1'", timeout=3000)
    page.page.click("#play")  # pause
    held = page.step()
    page.page.wait_for_timeout(1000)  # longer than one tick of play (0.9 s)
    assert page.step() == held
    assert page.errors == []


def test_large_graph_page_says_so_and_still_steps(browser: object, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    expr = " + ".join(f"sin({k}*x)" for k in range(1, 120))
    page = Page(browser, make_page(tmp_path, capsys, expr, "0.3"))
    assert "compact layout" in page.text("#notice")
    page.press("End")
    exact = sum(k * math.cos(k * 0.3) for k in range(1, 120))
    assert float(page.text("#result").split("df/dx = ")[1]) == pytest.approx(exact, rel=1e-12)
    assert page.errors == []


def test_page_writes_numbers_as_python_does(browser: object, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """The panel's repr and the boxes' six digits against Python's own repr and '.6g'."""
    import random
    import struct

    rng = random.Random(16)
    values = [0.0, -0.0, 1.0, -1.0, 2.5, 1e16, 9999999999999998.0, 1e-4, 1e-5, 0.1, 123456.0,
              1234567.0, 999999.4, 1e22, 5e-324, 1.7976931348623157e308, -80.3930566017643,
              0.9242352370802196, 4.499, 100.0, 1e-7, 123.456e-9]
    values += [rng.uniform(-1e3, 1e3) for _ in range(100)]
    values += [struct.unpack("<d", struct.pack("<Q", rng.getrandbits(63)))[0] for _ in range(200)]
    values = [v for v in values if math.isfinite(v)]
    page = Page(browser, make_page(tmp_path, capsys, "x", "1"))
    got = page.page.evaluate("vs => vs.map(v => [lesson.repr(v), lesson.short(v)])", values)
    for v, (r, s) in zip(values, got):
        assert r == repr(v)
        # '.6g' rounds an exact tie to even, JavaScript away from zero: skip exact ties
        mantissa = f"{abs(v):.60e}".split("e")[0].replace(".", "")
        if not (mantissa[6] == "5" and set(mantissa[7:]) <= {"0"}):
            assert s == f"{v:.6g}", v
    assert page.page.evaluate("['nan', 'inf', '-inf'].map(lesson.repr)") == ["nan", "inf", "-inf"]
    assert page.errors == []

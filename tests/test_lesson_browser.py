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


# ---- the page fits its window and follows the step ----------------------------------------
# The sizes of a laptop, a small laptop or projector, and a phone. Each check measures the
# page as the browser lays it out (getBoundingClientRect), not the page's own view state.

SIZES = [(1024, 768), (1280, 800), (390, 844)]
SIGMOID = ("(sigmoid(w1*x1 + w2*x2 + b) - y)^2",
           {"w1": 0.5, "x1": 1.0, "w2": -0.3, "x2": 2.0, "b": 0.1, "y": 1.0})
NETWORK = ("v1*tanh(w11*x1 + w12*x2 + b1) + v2*tanh(w21*x1 + w22*x2 + b2) + c",
           {"v1": 1.0, "v2": 2.0, "w11": 0.1, "w12": 0.2, "w21": 0.3, "w22": 0.4, "x1": 1.0,
            "x2": 2.0, "b1": 0.0, "b2": 0.0, "c": 0.5})
SMALL = [(SEED, {"x": X0}), SIGMOID, ("x*y + 3*x - 3", {"x": 2.0, "y": -1.0}), NETWORK]
# 40 terms sharing x: 200 nodes, 397 steps, edges from x reaching across the picture
FORTY_TERMS = (" + ".join(f"sin({k}*x)*x" for k in range(1, 41)), {"x": 0.3})
LAYOUTS = [pytest.param("graphviz", marks=pytest.mark.skipif(
    shutil.which("dot") is None, reason="Graphviz's dot is not installed")), "layered"]

# JavaScript measuring the page: the part of the picture on the screen (the picture's box
# within the window), and whether a drawn element lies inside it and clear of the zoom control
MEASURE = """(() => {
window.__inView = function (el) {
  const p = document.getElementById('picture').getBoundingClientRect();
  const z = document.getElementById('zoom').getBoundingClientRect();
  const v = {left: Math.max(p.left, 0), top: Math.max(p.top, 0),
             right: Math.min(p.right, innerWidth), bottom: Math.min(p.bottom, innerHeight)};
  const r = el.getBoundingClientRect(), eps = 0.5;
  const inside = r.width > 0 && r.left >= v.left - eps && r.right <= v.right + eps &&
                 r.top >= v.top - eps && r.bottom <= v.bottom + eps;
  const underZoom = r.left < z.right && r.right > z.left && r.top < z.bottom && r.bottom > z.top;
  return inside && !underZoom;
};
})()"""


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    """Each test expression's page in each layout, written once for the module."""
    from backprop.core.function import parse
    from backprop.views.lesson import lesson_page

    out: dict[tuple[str, str], Path] = {}
    folder = tmp_path_factory.mktemp("pages")
    layouts = ["layered"] + (["graphviz"] if shutil.which("dot") else [])
    for expr, point in [*SMALL, FORTY_TERMS]:
        for layout in layouts:
            path = folder / f"p{len(out)}.html"
            path.write_text(lesson_page(parse(expr), point, layout=layout), encoding="utf-8")
            out[(expr, layout)] = path
    return out


def open_at(browser: object, path: Path, size: tuple[int, int], page: object = None) -> object:
    """``path`` in a page of the window size ``size`` (``page``, when given, is reused:
    a new page costs about a second on a loaded machine)."""
    if page is None:
        page = browser.new_page(viewport={"width": size[0], "height": size[1]})  # type: ignore[attr-defined]
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))  # type: ignore[attr-defined]
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)  # type: ignore[attr-defined]
        page.errors = errors  # type: ignore[attr-defined]
    page.goto(path.as_uri())  # type: ignore[attr-defined]
    page.evaluate(MEASURE)  # type: ignore[attr-defined]
    return page


def no_horizontal_overflow(page: object) -> bool:
    return page.evaluate(  # type: ignore[attr-defined]
        "document.documentElement.scrollWidth <= innerWidth && "
        "document.body.scrollWidth <= innerWidth")


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_every_node_is_in_the_picture_at_the_start(
        browser: object, pages: dict[tuple[str, str], Path], size: tuple[int, int]) -> None:
    page = None
    for (expr, layout), path in pages.items():
        if expr not in [e for e, _ in SMALL]:
            continue
        page = open_at(browser, path, size, page)
        outside = page.evaluate(
            "Array.from(document.querySelectorAll('svg.graph g.node'))"
            ".filter(g => !__inView(g)).map(g => g.textContent.trim())")
        assert outside == [], (expr, layout, size)
        # fitted: the drawing fills the picture's width or height, it is not left small
        # (a small graph is drawn at 125% at most)
        fill = page.evaluate("""(() => {
            const rs = Array.from(document.querySelectorAll('svg.graph g.node'))
                .map(g => g.getBoundingClientRect());
            const p = document.getElementById('picture').getBoundingClientRect();
            const w = Math.max(...rs.map(r => r.right)) - Math.min(...rs.map(r => r.left));
            const h = Math.max(...rs.map(r => r.bottom)) - Math.min(...rs.map(r => r.top));
            return Math.max(w / p.width, h / p.height);
        })()""")
        level = page.inner_text("#zoom-level")
        assert fill > 0.75 or level == "125%", (expr, layout, size, fill, level)
        assert no_horizontal_overflow(page), (expr, layout, size)
        page.keyboard.press("End")  # every row in the tables
        assert no_horizontal_overflow(page), (expr, layout, size)
    assert page is not None and page.errors == []
    page.close()


FOLLOW = """(steps) => {
  // each step: its module (forward) or its edge and the edge's two ends (backward) in view
  const bad = [];
  const picked = sel => Array.from(document.querySelectorAll(sel));
  for (const k of steps) {
    lesson.go(k);
    const miss = [];
    if (k >= 1 && k <= lesson.forward) {
      const cur = picked('g.node.current');
      if (!cur.length || !cur.some(__inView)) miss.push('module');
    } else if (k > lesson.forward) {
      const edge = picked('g.edge.bwd-active');
      if (edge.length !== 1 || !Array.from(edge[0].querySelectorAll('path, polygon'))
          .every(__inView)) miss.push('edge');
      if (!picked('g.node.bwd-head').some(__inView)) miss.push('module');
      if (!picked('g.node.bwd-tail').some(__inView)) miss.push('input');
    }
    if (miss.length) bad.push([k, miss.join('+')]);
  }
  return bad;
}"""


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_picture_follows_the_steps_of_a_large_graph(
        browser: object, pages: dict[tuple[str, str], Path], size: tuple[int, int]) -> None:
    page = None
    for (expr, layout), path in pages.items():
        if expr != FORTY_TERMS[0]:
            continue
        page = open_at(browser, path, size, page)
        total = page.evaluate("lesson.steps")
        assert page.evaluate("document.querySelectorAll('svg.graph g.node').length") >= 100
        # a sample (all 397 steps in both layouts take a minute on a loaded machine):
        # each 19th, step 300, and the turn from the forward pass to the backward pass
        forward = page.evaluate("lesson.forward")
        steps = sorted(set(range(0, total + 1, 19)) | {1, forward, forward + 1, 300, total})
        assert page.evaluate(FOLLOW, steps) == [], (layout, size)
        assert no_horizontal_overflow(page), (layout, size)
        # the reader zooms in further: the picture still pans to each step
        for _ in range(3):
            page.click("#zoom-in")
        assert page.evaluate(FOLLOW, list(range(total, 0, -61))) == [], (layout, size)
    assert page is not None and page.errors == []
    page.close()


def test_the_picture_follows_a_compact_graph_of_copied_nodes(
        browser: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    expr = " + ".join(f"sin({k}*x)*x" for k in range(1, 70))  # 344 nodes: compact
    page = open_at(browser, make_page(tmp_path, capsys, expr, "0.3"), (1280, 800))
    assert "compact layout" in page.inner_text("#notice")
    total = page.evaluate("lesson.steps")
    assert page.evaluate(FOLLOW, list(range(0, total + 1, 23))) == []
    assert page.errors == []
    page.close()


def test_zoom_and_pan_controls(browser: object, pages: dict[tuple[str, str], Path]) -> None:
    page = open_at(browser, pages[(SIGMOID[0], "layered")], (1280, 800))
    box = "document.querySelector('svg.graph g.node').getBoundingClientRect()"

    def first_node() -> dict[str, float]:
        return page.evaluate(f"(() => {{ const r = {box}; "
                             "return {x: r.x, y: r.y, w: r.width}; })()")

    fitted = first_node()
    page.click("#zoom-in")
    assert first_node()["w"] == pytest.approx(fitted["w"] * 1.25, rel=0.02)
    page.click("#zoom-out")
    page.click("#zoom-out")
    assert first_node()["w"] == pytest.approx(fitted["w"] * 0.8, rel=0.02)
    for _ in range(4):
        page.keyboard.press("+")
    zoomed = first_node()
    assert zoomed["w"] == pytest.approx(fitted["w"] * 0.8 * 1.25**4, rel=0.02)
    # dragging the picture moves the drawing with the pointer
    pic = page.evaluate("(() => { const r = document.getElementById('picture')"
                        ".getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()")
    page.mouse.move(pic[0], pic[1])
    page.mouse.down()
    page.mouse.move(pic[0] + 40, pic[1] + 30, steps=4)
    page.mouse.up()
    moved = first_node()
    assert (moved["x"] - zoomed["x"], moved["y"] - zoomed["y"]) == pytest.approx((40, 30), abs=1)
    # ctrl + wheel zooms (a touchpad's pinch), Fit gives back the whole graph
    page.mouse.move(pic[0], pic[1])
    page.keyboard.down("Control")
    page.mouse.wheel(0, -200)
    page.keyboard.up("Control")
    page.wait_for_function(f"{box}.width > {moved['w'] * 1.2}")
    page.click("#zoom-fit")
    assert first_node()["w"] == pytest.approx(fitted["w"], rel=0.01)
    assert page.evaluate("Array.from(document.querySelectorAll('svg.graph g.node'))"
                         ".every(__inView)")
    assert page.errors == []
    page.close()


@pytest.mark.parametrize("expr", [SIGMOID[0], NETWORK[0]], ids=["wide", "tall"])
def test_on_a_phone_the_tables_scroll_in_their_own_box(
        browser: object, pages: dict[tuple[str, str], Path], expr: str) -> None:
    page = open_at(browser, pages[(expr, "layered")], (390, 844))
    page.keyboard.press("End")
    assert no_horizontal_overflow(page)
    # nor does the panel scroll sideways as a whole: only each table, inside its own box
    assert page.evaluate("(() => { const p = document.getElementById('panel');"
                         " return p.scrollWidth <= p.clientWidth; })()")
    boxes = page.evaluate("""Array.from(document.querySelectorAll('.rows')).map(b => {
        const r = b.getBoundingClientRect();
        return {left: r.left, right: r.right, inner: b.clientWidth, table: b.scrollWidth,
                overflowX: getComputedStyle(b).overflowX};
    })""")
    assert len(boxes) == 2
    for b in boxes:
        assert 0 <= b["left"] and b["right"] <= 390 and b["overflowX"] == "auto"
    # the backward table is wider than a phone: it scrolls inside its box
    assert boxes[1]["table"] > boxes[1]["inner"]
    assert page.errors == []
    page.close()

"""`backprop graph --format html` (the lesson page) and the notebook display, without
a browser: what the page embeds and draws, that it fetches nothing, the options that
change its numbers, and the layering rule. The page in a real browser is
tests/test_lesson_browser.py.

Expected numbers come from SymPy or math, or, where the claim is that the page and
the command line agree, from `backprop grad --trace --format json` run beside it.
"""

from __future__ import annotations

import ast
import html
import json
import math
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import sympy as sp

from backprop.cli import main
from backprop.core.function import parse as core_parse
from backprop.views import drawing, lesson

SEED = "2/sin(exp(-x))"
HAVE_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAVE_DOT, reason="Graphviz's dot is not installed")
SRC = Path(__file__).resolve().parents[1] / "src" / "backprop"


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def embedded(page: str) -> dict:
    m = re.search(r'<script type="application/json" id="lesson-data">(.*?)</script>', page, re.S)
    assert m, "no embedded data"
    return json.loads(m.group(1))


def svg_of(page: str) -> ET.Element:
    m = re.search(r"<svg\b.*?</svg>", page, re.S)
    assert m
    return ET.fromstring(m.group(0))


def write_page(capsys: pytest.CaptureFixture[str], tmp_path: Path, expr: str, *opts: str) -> str:
    out = tmp_path / "lesson.html"
    code, _, err = cli(capsys, "graph", expr, *opts, "-o", str(out))
    assert code == 0, err
    return out.read_text(encoding="utf-8")


# ---- the page and the command line agree ------------------------------------------

@pytest.mark.parametrize("expr, at, opts", [
    (SEED, "-4.499", []),
    ("sin(x)*sin(x) + x*y", "x=0.5,y=2", []),
    ("sin(x)*sin(x) + x*y", "x=0.5,y=2", ["--wrt", "y"]),
    ("sin(x) + atan(x)", "30", ["--angle", "deg"]),
])
def test_page_embeds_exactly_the_trace_that_grad_prints(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, expr: str, at: str,
        opts: list[str]) -> None:
    page = write_page(capsys, tmp_path, expr, "--at", at, *opts)
    code, out, _ = cli(capsys, "grad", expr, "--at", at, "--trace", "--format", "json", *opts)
    assert code == 0
    assert embedded(page)["trace"] == json.loads(out)


def test_seed_page_has_four_forward_and_four_backward_steps_ending_on_the_gradient(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = embedded(write_page(capsys, tmp_path, SEED, "--at", "-4.499"))
    t = data["trace"]
    assert [s["module"] for s in t["forward"]] == ["neg", "exp", "sin", "/"]
    assert len(t["backward"]) == 4
    xs = sp.Symbol("x")
    exact = float(sp.diff(2 / sp.sin(sp.exp(-xs)), xs).subs(xs, -4.499))
    assert t["grad"]["x"] == pytest.approx(exact, rel=1e-12)
    assert repr(t["grad"]["x"]) == "-80.3930566017643"  # the figure the issue gives
    # the last backward row passes the whole gradient to x
    assert t["backward"][-1]["input"] == "x"
    assert t["backward"][-1]["contribution"] == t["grad"]["x"]


def test_angle_deg_changes_the_numbers_as_sympy_says(capsys: pytest.CaptureFixture[str],
                                                     tmp_path: Path) -> None:
    t = embedded(write_page(capsys, tmp_path, "sin(x)", "--at", "30", "--angle", "deg"))["trace"]
    assert t["value"] == pytest.approx(0.5, rel=1e-12)
    xs = sp.Symbol("x")
    exact = float(sp.diff(sp.sin(xs * sp.pi / 180), xs).subs(xs, 30))
    assert t["grad"]["x"] == pytest.approx(exact, rel=1e-12)


# ---- where each row is drawn ----------------------------------------------------------

@pytest.mark.parametrize("layout", [pytest.param("graphviz", marks=needs_dot), "layered"])
@pytest.mark.parametrize("expr, point", [
    (SEED, {"x": -4.499}), ("sin(x)*sin(x) + x", {"x": 0.5}), ("x^x", {"x": 1.5}),
    ("x*y + 3*x - 3", {"x": 2.0, "y": -1.0}),
])
def test_every_node_and_edge_is_tagged_and_every_row_has_its_edge(
        layout: str, expr: str, point: dict[str, float]) -> None:
    f = core_parse(expr)
    ls = lesson.build(f, point, layout=layout)
    root = ET.fromstring(ls.svg)
    tagged_nodes = {g.get("data-node") for g in root.iter("g") if g.get("class") == "node"}
    tagged_edges = [g.get("data-edge") for g in root.iter("g") if g.get("class") == "edge"]
    assert tagged_nodes == {str(i) for i in ls.nodes}
    assert sorted(tagged_edges, key=int) == [str(k) for k in range(len(ls.edges))]
    g = f.graph
    # each forward row is its module; each backward row the edge from its input to its module
    for row, i in zip(ls.trace.forward, ls.forward_nodes):
        assert ls.nodes[i]["name"] == row.node
    assert len(set(ls.backward_edges)) == len(ls.backward_edges)
    for row, k in zip(ls.trace.backward, ls.backward_edges):
        tail, head, slot = ls.edges[k]
        assert g.args[head][slot] == tail
        assert ls.nodes[head]["name"] == row.node and ls.nodes[tail]["name"] == row.input


@needs_dot
def test_between_150_and_300_nodes_the_boxes_keep_their_numbers_and_edges_get_theirs_later(
        ) -> None:
    expr = " + ".join(f"sin({k}*x)" for k in range(1, 60))  # 3 nodes a term
    f = core_parse(expr)
    assert lesson.DOT_EDGE_LABELS_UP_TO < f.size <= drawing.LARGE_GRAPH
    ls = lesson.build(f, {"x": 0.3}, layout="graphviz")
    root = ET.fromstring(ls.svg)
    for g in root.iter("g"):
        texts = [t.text for t in g.iter("text")]
        if g.get("class") == "node":
            node = ls.nodes[int(g.get("data-node"))]
            assert texts[0].split(" = ")[0] == node["label"]
            assert len(texts) == (1 if node["kind"] == "const" else 2)
        elif g.get("class") == "edge":
            assert texts == []  # the page writes the number at the middle of the path


def test_x_to_the_x_passes_back_along_both_of_its_edges() -> None:
    ls = lesson.build(core_parse("x^x"), {"x": 1.5}, layout="layered")
    slots = sorted(ls.edges[k][2] for k in ls.backward_edges)
    assert slots == [0, 1]
    # d(x^y)/dx = y x^(y-1) and d(x^y)/dy = ln(x) x^y at x = y = 1.5
    local = sorted(r.local_value for r in ls.trace.backward)
    assert local == pytest.approx(sorted([1.5 * 1.5**0.5, math.log(1.5) * 1.5**1.5]), rel=1e-12)


# ---- the page fetches nothing ---------------------------------------------------------

@pytest.mark.parametrize("use_dot", [pytest.param(True, marks=needs_dot), False])
def test_page_is_self_contained(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch, use_dot: bool) -> None:
    if not use_dot:
        monkeypatch.setenv("PATH", str(tmp_path))  # no dot on it
    page = write_page(capsys, tmp_path, SEED, "--at", "-4.499")
    assert "http" not in page.lower()
    for fetch in ("<link", "src=", "url(", "@import", "fetch(", "XMLHttpRequest", "<iframe"):
        assert fetch not in page
    assert ("Graphviz's dot was not found" in html.unescape(page)) is (not use_dot)


def test_user_text_cannot_break_out_of_the_page(capsys: pytest.CaptureFixture[str],
                                                tmp_path: Path) -> None:
    # a variable name is the only free text that reaches the page; make it look like markup
    page = write_page(capsys, tmp_path, "__SVG__ + x", "--at", "__SVG__=1,x=2")
    assert page.count("<script") == 2 and page.count("</script>") == 2
    assert embedded(page)["trace"]["grad"] == {"__SVG__": 1.0, "x": 1.0}
    assert page.count("<svg") == 1


def test_script_json_escapes_closing_tags() -> None:
    text = lesson._script_json({"s": "</script><script>alert(1)</script>"})
    assert "<" not in text and json.loads(text)["s"].startswith("</script>")


def test_non_finite_numbers_are_kept_as_strings(capsys: pytest.CaptureFixture[str],
                                                tmp_path: Path) -> None:
    out = tmp_path / "lesson.html"
    code, _, err = cli(capsys, "graph", "log(x)", "--at", "0", "-o", str(out))
    assert code == 0
    assert "the forward pass's a = log(x) is nan or infinite" in err
    t = embedded(out.read_text(encoding="utf-8"))["trace"]
    assert t["value"] == "-inf" and t["grad"]["x"] == "inf"


# ---- the command -----------------------------------------------------------------------

def test_extension_and_format_pick_html(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    for name in ("a.html", "b.HTM"):
        code, _, _ = cli(capsys, "graph", SEED, "--at", "-4.499", "-o", str(tmp_path / name))
        assert code == 0
        assert (tmp_path / name).read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    code, out, _ = cli(capsys, "graph", SEED, "--at", "-4.499", "--format", "html")
    assert code == 0 and out.startswith("<!DOCTYPE html>") and out.rstrip().endswith("</html>")


@pytest.mark.parametrize("argv, message", [
    (["graph", SEED, "--format", "html"], "give it with --at"),
    (["graph", SEED, "--at", "1", "--wrt", "x"], "--wrt applies to --format html"),
    (["graph", "x*y", "--at", "x=1,y=2", "--wrt", "z", "-f", "html"], "z is not a variable"),
])
def test_bad_input_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str],
                                          message: str) -> None:
    code, out, err = cli(capsys, *argv)
    assert code == 2 and out == ""
    assert message in err and len(err.strip().splitlines()) == 1


def test_failed_run_leaves_the_previous_file(capsys: pytest.CaptureFixture[str],
                                             tmp_path: Path) -> None:
    out = tmp_path / "lesson.html"
    out.write_text("before", encoding="utf-8")
    code, _, _ = cli(capsys, "graph", "x*y", "--at", "x=1", "-o", str(out))  # y missing
    assert code == 2
    assert out.read_text(encoding="utf-8") == "before"
    assert [p.name for p in tmp_path.iterdir()] == ["lesson.html"]


def test_large_graph_says_so_and_draws_compact(capsys: pytest.CaptureFixture[str],
                                               tmp_path: Path) -> None:
    expr = " + ".join(f"sin({k}*x)" for k in range(1, 120))  # 3 nodes per term
    f = core_parse(expr)
    assert f.size > drawing.LARGE_GRAPH
    out = tmp_path / "big.html"
    code, _, err = cli(capsys, "graph", expr, "--at", "0.3", "-o", str(out))
    assert code == 0
    assert f"{f.size:,} nodes" in err and "compact" in err
    page = out.read_text(encoding="utf-8")
    assert f"This graph has {f.size:,} nodes" in html.unescape(page)
    data = embedded(page)
    assert data["large"] is True
    exact = sum(k * math.cos(k * 0.3) for k in range(1, 120))
    assert data["trace"]["grad"]["x"] == pytest.approx(exact, rel=1e-12)


@pytest.mark.slow
def test_layered_layout_of_a_deep_chain_needs_no_recursion() -> None:
    depth = 20_000
    f = core_parse("sin(" * depth + "x" + ")" * depth)
    d = drawing.build(f, {"x": 0.1})
    svg = lesson.layered_svg(d, standalone=True)
    assert svg.count('class="node"') == depth + 1
    # each module one column right of its argument: x at the left, the output at the right
    xs = [float(m) for m in re.findall(r'<rect x="([\d.]+)"', svg)]
    assert xs == sorted(xs)


# ---- Jupyter --------------------------------------------------------------------------

@pytest.mark.parametrize("use_dot", [pytest.param(True, marks=needs_dot), False])
def test_parse_displays_as_its_graph(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                     use_dot: bool) -> None:
    from backprop import Function, parse

    if not use_dot:
        monkeypatch.setenv("PATH", str(tmp_path))
    f = parse("x*y + sin(x)")
    assert isinstance(f, Function)
    root = ET.fromstring(f._repr_svg_())
    texts = [t.text for t in root.iter() if t.tag.endswith("text")]
    for label in ("x", "y", "*", "sin", "+"):
        assert label in texts
    at = f.at(x=1.0, y=2.0)
    assert at.value == pytest.approx(2 + math.sin(1.0), rel=1e-15)
    assert at.grad == pytest.approx({"x": 2 + math.cos(1.0), "y": 1.0}, rel=1e-15)
    shown = " ".join(t.text or "" for t in ET.fromstring(at._repr_svg_()).iter()
                     if t.tag.endswith("text"))
    assert f"∂f/∂x = {2 + math.cos(1.0):.6g}" in shown
    assert at.html().startswith("<!DOCTYPE html>")


def test_at_takes_one_point() -> None:
    from backprop import InputError, parse

    with pytest.raises(InputError, match="one point"):
        parse("x^2").at(x=[1.0, 2.0])


def test_core_never_imports_the_views() -> None:
    for path in (SRC / "core").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.startswith("backprop.views") for n in names), path.name


def test_the_template_is_package_data() -> None:
    from importlib import resources

    text = resources.files("backprop.views").joinpath("lesson.html").read_text(encoding="utf-8")
    assert set(re.findall(r"@@([A-Z_]+)@@", text)) == {
        "TITLE", "EXPR", "AT", "NOTICE", "NOTICE_HIDDEN", "SVG", "DATA", "SHAPE"}


def test_a_huge_graph_gets_the_layered_layout_even_with_graphviz() -> None:
    expr = " + ".join(f"sin({k}*x)" for k in range(1, 900))
    f = core_parse(expr)
    assert f.size > drawing.HUGE_GRAPH
    page = lesson.lesson_page(f, {"x": 0.3})
    assert embedded(page)["layout"] == "layered"
    assert "the graph is drawn in a simple layered layout" in html.unescape(page)
    assert embedded(page)["trace"]["grad"]["x"] == pytest.approx(
        sum(k * math.cos(k * 0.3) for k in range(1, 900)), rel=1e-12)


# ---- a network's layout: inputs in the expression's order, layers left to right ----------

NETWORK = "v1*tanh(w11*x1 + w12*x2 + b1) + v2*tanh(w21*x1 + w22*x2 + b2) + c"


def _label_points(ls: lesson.Lesson) -> dict[int, tuple[float, float]]:
    """Where each node's label is written (x, y of its first text) in the SVG's units."""
    out: dict[int, tuple[float, float]] = {}
    for g in ET.fromstring(ls.svg).iter("g"):
        if g.get("class") == "node" and not g.get("data-copy"):
            text = next(t for t in g.iter("text"))
            out[int(g.get("data-node"))] = (float(text.get("x")), float(text.get("y")))
    return out


@pytest.mark.parametrize("layout", [pytest.param("graphviz", marks=needs_dot), "layered"])
def test_a_network_reads_left_to_right_in_the_order_of_its_expression(layout: str) -> None:
    f = core_parse(NETWORK)
    ls = lesson.build(f, {v: 0.5 for v in f.variables}, layout=layout)
    xy = _label_points(ls)
    for tail, head, _ in ls.edges:  # every edge runs left to right
        assert xy[tail][0] < xy[head][0], (ls.nodes[tail]["name"], ls.nodes[head]["name"])
    at = {ls.nodes[i]["name"]: p for i, p in xy.items() if ls.nodes[i]["kind"] == "var"}
    # the first layer's inputs in one column, top to bottom as the expression names them
    first = ["w11", "x1", "w12", "x2", "w21", "w22"]
    assert len({round(at[v][0]) for v in first}) == 1
    assert sorted(first, key=lambda v: at[v][1]) == first
    # the layers left to right: b beside the sums, V beside the tanh outputs, c last
    assert at["x1"][0] < at["b1"][0] < at["v1"][0] < at["c"][0]
    assert at["b1"][0] == pytest.approx(at["b2"][0]) and at["v1"][0] == pytest.approx(at["v2"][0])
    assert at["v1"][1] < at["v2"][1] and at["b1"][1] < at["b2"][1]


@pytest.mark.parametrize("layout", [pytest.param("graphviz", marks=needs_dot), "layered"])
@pytest.mark.parametrize("expr, order", [
    ("w2*x2 + w1*x1 + w3*x3", ["w2", "x2", "w1", "x1", "w3", "x3"]),
    ("x*y + sin(sin(sin(z)))", ["x", "y", "z"]),
    ("b + a*c", ["a", "c"]),  # b joins at the sum, a column later
])
def test_inputs_of_the_first_column_keep_the_expression_order(layout: str, expr: str,
                                                              order: list[str]) -> None:
    f = core_parse(expr)
    ls = lesson.build(f, {v: 0.5 for v in f.variables}, layout=layout)
    at = {ls.nodes[i]["name"]: p for i, p in _label_points(ls).items()
          if ls.nodes[i]["kind"] == "var"}
    assert len({round(at[v][0]) for v in order}) == 1
    assert sorted(order, key=lambda v: at[v][1]) == order
    left = min(x for x, _ in at.values())
    assert all(at[v][0] == pytest.approx(left) for v in order)

"""`backprop graph`: DOT, mermaid, SVG and PNG pictures of the computational graph.

The expected nodes, edges and numbers are worked out here from the expression
(by hand for the structure, with SymPy for the derivatives), never copied from
the command's own output.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
import zlib
from collections import Counter
from pathlib import Path

import pytest
import sympy as sp

from backprop.core.graph import GraphBuilder
from clikit import run_backprop, run_cli

SEED = "2/sin(exp(-x))"
SHARED = "sin(x)*sin(x) + x"
HAVE_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAVE_DOT, reason="Graphviz's dot is not installed")

_NODE = re.compile(r'^\s*(n[\w]+) \[label="((?:[^"\\]|\\.)*)"', re.M)
_EDGE = re.compile(r'^\s*(n[\w]+) -> (n[\w]+)(?: \[label="((?:[^"\\]|\\.)*)"\])?;', re.M)


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    return run_cli(list(argv), capsys)


def parse_dot(text: str) -> tuple[dict[str, list[str]], list[tuple[str, str, str | None]]]:
    """Node id -> label lines, and (tail, head, edge label) triples, read off DOT text."""
    nodes = {m.group(1): m.group(2).split("\\n") for m in _NODE.finditer(text)}
    edges = [(m.group(1), m.group(2), m.group(3)) for m in _EDGE.finditer(text)]
    return nodes, edges


def module_edges(text: str) -> Counter[tuple[str, str]]:
    nodes, edges = parse_dot(text)
    return Counter((nodes[t][0].split(" = ")[0], nodes[h][0]) for t, h, _ in edges)


# ---- structure --------------------------------------------------------------

def test_dot_structure_of_the_seed_chain(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "graph", SEED)
    assert code == 0
    assert "rankdir=LR" in out
    nodes, edges = parse_dot(out)
    # a = -x, b = exp(a), c = sin(b), d = 2 / c: six modules, five edges
    assert sorted(v[0] for v in nodes.values()) == sorted(["x", "neg", "exp", "sin", "2", "/"])
    assert module_edges(out) == Counter([("x", "neg"), ("neg", "exp"), ("exp", "sin"),
                                         ("sin", "/"), ("2", "/")])
    assert all(label is None for _, _, label in edges)  # no point: no numbers


def test_shared_node_is_drawn_once_with_all_its_out_edges(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "graph", SHARED)
    assert code == 0
    nodes, _ = parse_dot(out)
    assert sorted(v[0] for v in nodes.values()) == ["*", "+", "sin", "x"]
    assert module_edges(out) == Counter({("x", "sin"): 1, ("sin", "*"): 2, ("*", "+"): 1,
                                         ("x", "+"): 1})


def _numbers(label: str) -> float:
    return float(label.replace("←", "").strip())


def test_annotations_match_sympy_on_the_seed(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "graph", SEED, "--at", "-4.499")
    assert code == 0
    nodes, edges = parse_dot(out)
    xs = sp.Symbol("x")
    x0 = -4.499
    a, b = -xs, sp.exp(-xs)
    c = sp.sin(b)
    f = 2 / c
    # the gradient flowing back along each edge is df/d(tail) along that path
    expected = {("x", "neg"): sp.diff(f, xs), ("neg", "exp"): -2 / c**2 * sp.cos(b) * b,
                ("exp", "sin"): -2 / c**2 * sp.cos(b), ("sin", "/"): -2 / c**2}
    seen = {}
    for t, h, label in edges:
        key = (nodes[t][0].split(" = ")[0], nodes[h][0])
        if key == ("2", "/"):
            assert label is None  # no gradient flows to a constant
            continue
        seen[key] = _numbers(label)
    assert seen.keys() == expected.keys()
    for key, expr in expected.items():
        assert seen[key] == pytest.approx(float(expr.subs(xs, x0)), rel=1e-5), key  # 6 digits shown
    values = {v[0]: v for v in nodes.values()}
    assert float(values["exp"][1].lstrip("= ")) == pytest.approx(float(b.subs(xs, x0)), rel=1e-5)
    assert float(values["neg"][1].lstrip("= ")) == pytest.approx(float(a.subs(xs, x0)), rel=1e-5)
    out_line = values["/"][1]
    assert out_line.startswith("f = ")
    assert float(out_line[4:]) == pytest.approx(float(f.subs(xs, x0)), rel=1e-5)
    (x_label,) = [v for v in nodes.values() if v[0].startswith("x = ")]
    assert float(x_label[0][4:]) == x0
    assert x_label[1].startswith("∂f/∂x = ")
    assert float(x_label[1].split("= ")[1]) == pytest.approx(
        float(sp.diff(f, xs).subs(xs, x0)), rel=1e-5)


def test_shared_node_edges_sum_to_the_gradient(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "graph", SHARED, "--at", "0.5")
    assert code == 0
    nodes, edges = parse_dot(out)
    xs = sp.Symbol("x")
    s = math.sin(0.5)
    grads = Counter()
    for t, h, label in edges:
        key = (nodes[t][0].split(" = ")[0], nodes[h][0])
        grads[key] += _numbers(label)
        if key == ("sin", "*"):
            assert _numbers(label) == pytest.approx(s, rel=1e-5)  # d(s*s)/ds along one path is s
    assert grads[("x", "sin")] == pytest.approx(2 * s * math.cos(0.5), rel=1e-5)
    assert grads[("x", "+")] == 1.0
    exact = float(sp.diff(sp.sin(xs) * sp.sin(xs) + xs, xs).subs(xs, 0.5))
    # the multivariate chain rule: x's gradient is the sum over its out-edges
    assert grads[("x", "sin")] + grads[("x", "+")] == pytest.approx(exact, rel=1e-5)


def test_mermaid_has_one_line_per_edge(capsys: pytest.CaptureFixture[str]) -> None:
    for expr, n_nodes, n_edges in [(SEED, 6, 5), (SHARED, 4, 5), ("x^2*y + sin(y)", 7, 7)]:
        code, out, _ = cli(capsys, "graph", expr, "--format", "mermaid")
        assert code == 0
        lines = out.splitlines()
        assert "flowchart LR" in lines
        assert sum("-->" in ln for ln in lines) == n_edges, expr
        assert sum(bool(re.match(r"\s+n\d+[\[(]", ln)) for ln in lines) == n_nodes, expr
    code, out, _ = cli(capsys, "graph", SEED, "--at", "-4.499", "-f", "mermaid")
    assert sum('-->|"' in ln for ln in out.splitlines()) == 4  # every edge but the constant's


# ---- rendered files ------------------------------------------------------------

@needs_dot
def test_dot_text_parses_with_graphviz(capsys: pytest.CaptureFixture[str]) -> None:
    for args in ([SEED, "--at", "-4.499"], [SHARED], ["max(x, y) - x^y", "--at", "x=2,y=3"]):
        code, out, _ = cli(capsys, "graph", *args)
        assert code == 0
        p = subprocess.run(["dot", "-Tplain"], input=out.encode(), capture_output=True)
        assert p.returncode == 0, p.stderr
        assert p.stdout.startswith(b"graph ")


@needs_dot
def test_svg_is_xml_with_every_label(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "seed.svg"
    code, _, _ = cli(capsys, "graph", SEED, "--at", "-4.499", "-o", str(target))
    assert code == 0
    root = ET.parse(target).getroot()
    assert root.tag.endswith("svg")
    texts = [t.text or "" for t in root.iter() if t.tag.endswith("text")]
    for label in ["x = -4.499", "neg", "exp", "sin", "/", "2"]:
        assert label in texts, label
    assert "∂f/∂x = -80.3931" in texts  # the derivative: 2 cos(e^-x) e^-x / sin(e^-x)^2
    assert not [p for p in tmp_path.iterdir() if p.name != "seed.svg"]  # no temp file left


def _png_pixels(path: Path) -> tuple[int, int, int]:
    """Width, height and the number of distinct colours (via Pillow, as a viewer would)."""
    from PIL import Image

    with Image.open(path) as im:
        im.load()
        colours = im.convert("RGB").getcolors(maxcolors=1 << 20)
        return im.width, im.height, len(colours or [])


@needs_dot
def test_png_opens_and_is_not_blank(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "shared.png"
    code, _, _ = cli(capsys, "graph", SHARED, "--at", "0.5", "-o", str(target))
    assert code == 0
    data = target.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert width > 200 and height > 50
    assert zlib.crc32(data[12:29]) == struct.unpack(">I", data[29:33])[0]
    w, h, colours = _png_pixels(target)
    assert (w, h) == (width, height)
    assert colours > 10  # text, fills and edges, not one flat colour


@needs_dot
def test_format_follows_extension_unless_given(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.dot").write_text("old")
    assert cli(capsys, "graph", SEED, "-o", str(tmp_path / "a.dot"))[0] == 0
    assert (tmp_path / "a.dot").read_text().startswith("digraph")
    assert cli(capsys, "graph", SEED, "-o", str(tmp_path / "a.mmd"))[0] == 0
    assert "flowchart LR" in (tmp_path / "a.mmd").read_text()
    assert cli(capsys, "graph", SEED, "-f", "svg", "-o", str(tmp_path / "a.png"))[0] == 0
    assert (tmp_path / "a.png").read_bytes().lstrip().startswith(b"<?xml")
    code, out, err = cli(capsys, "graph", SEED, "-f", "svg")
    assert code == 0 and "<svg" in out
    code, _, err = cli(capsys, "graph", SEED, "-o", str(tmp_path / "a.txt"))
    assert code == 2 and "extension" in err and not (tmp_path / "a.txt").exists()


# ---- failures ------------------------------------------------------------------------

def test_missing_dot_says_how_to_install(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "BACKPROP_DEBUG"}
    env["PATH"] = str(empty)  # no dot on it; python is run by its absolute path
    for fmt in ("svg", "png"):
        target = tmp_path / f"g.{fmt}"
        p = run_backprop("graph", SEED, "-o", str(target), env=env, timeout=60)
        assert p.returncode == 1, p.stderr
        assert "Traceback" not in p.stderr
        assert "apt-get install graphviz" in p.stderr
        assert len(p.stderr.strip().splitlines()) == 1
        assert not target.exists()
    # the text formats need nothing installed
    p = run_backprop("graph", SEED, "-f", "mermaid", env=env, timeout=60)
    assert p.returncode == 0 and "flowchart LR" in p.stdout


def test_bad_input_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    for argv, needle in [(["graph", "x+y", "--at", "x=1"], "no value for y"),
                         (["graph", "sin(", "-f", "dot"], ""),
                         (["graph", SEED, "--at", "-"], "one point"),
                         (["graph", SEED, "-f", "jpeg"], "")]:
        code, out, err = cli(capsys, *argv)
        assert code == 2, argv
        assert needle in err
        assert out == ""


# ---- large and deep graphs ---------------------------------------------------

@needs_dot
def test_large_graph_says_its_size_and_renders(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    terms = 40  # sin(k*x + y)*exp(-k*y): 9 nodes a term, sharing x and y
    expr = " + ".join(f"sin({k}*x + y)*exp(-{k}*y)" for k in range(1, terms + 1))
    target = tmp_path / "big.svg"
    code, _, err = cli(capsys, "graph", expr, "--at", "x=0.1,y=0.2", "-o", str(target))
    assert code == 0
    n = int(re.search(r"has ([\d,]+) nodes", err).group(1).replace(",", ""))
    assert n > 300
    ET.parse(target)
    code, out, _ = cli(capsys, "graph", expr)
    nodes, edges = parse_dot(out)
    # every edge kept; a long one starts at a dashed copy naming the node it repeats
    from backprop.core.function import parse

    g = parse(expr).graph
    assert len(edges) == sum(len(g.args[i]) for i in g.reachable())
    originals = {k for k in nodes if re.fullmatch(r"n\d+", k)}
    assert any(t not in originals for t, _, _ in edges)  # some long edges were cut
    assert len(originals) == n
    for t, h, _ in edges:
        if not re.fullmatch(r"n\d+", t):
            ref = re.search(r"\(#(\d+)\)", nodes[t][0]).group(1)
            assert f"n{ref}" in originals and t.startswith(f"n{ref}_")


def test_deep_graph_draws_without_recursion() -> None:
    from backprop.views.drawing import Drawing, to_dot, to_mermaid
    from backprop.core.function import Function

    builder = GraphBuilder()
    node = builder.var("x")
    for _ in range(20_000):  # far deeper than Python's recursion limit
        node = builder.apply("sin", node)
    f = Function(builder.finish(node), "deep")
    from backprop.views.drawing import build

    d: Drawing = build(f, {"x": 0.5})
    assert to_dot(d).count(" -> ") == 20_000
    assert to_mermaid(d).count("-->") == 20_000

"""The lesson page: one self-contained HTML file that steps through both passes.

``backprop graph EXPR --at POINT -o lesson.html`` writes it. The page shows the
computational graph and walks it the way the lecture does: the forward pass,
one module at a time in the engine's order, each computing and caching its
value; then the backward pass, one edge at a time, each multiplying the
upstream gradient by the module's local derivative, with the contributions
that reach a shared node summed. A side panel shows the rows of
``backprop grad --trace`` up to the current step and, at the end, the gradient.

Every number on the page comes from the engine's recorded trace
(:func:`backprop.core.trace.trace`, the data behind ``grad --trace --format
json``), embedded as JSON: the page and the command line cannot disagree.

The picture is Graphviz's SVG where the ``dot`` program is installed (the same
DOT as ``backprop graph``), else a simple layered layout drawn here. Either way
the SVG is normalised to one shape that the page's script reads: each node a
``<g class="node" data-node="ID">`` whose second text line holds its number,
each edge a ``<g class="edge" data-edge="K">``, K indexing the embedded edge
list. The page fetches nothing: inline SVG, CSS and JavaScript only (the
template is ``lesson.html`` beside this module).

The page's script fits the drawing to its box at the start (every node in view),
lets the reader zoom and pan, and at each step pans (zooming out if it must) so
that the module computing, or the edge passing a gradient back and its two ends,
is in view; it places the picture beside the panel or above it, whichever draws
it larger in the window, and makes one column of a phone's screen.
"""

from __future__ import annotations

import html
import json
import math
import re
import shutil
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from importlib import resources
from typing import Any, Callable, Mapping, Sequence

from backprop.core.function import Function
from backprop.core.graph import CONST, VAR
from backprop.core.printer import format_number
from backprop.core.trace import Trace, trace
from backprop.errors import BackpropError
from backprop.views import drawing

# Up to this many nodes Graphviz places the edge labels itself; above it they
# cost most of dot's time, so
# the page writes each edge's number at the middle of its path instead.
DOT_EDGE_LABELS_UP_TO = 150
# Above drawing.LARGE_GRAPH nodes the page says so and draws the compact layout.

_SVG_NS = "{http://www.w3.org/2000/svg}"
_TEMPLATE = "lesson.html"


@dataclass
class Lesson:
    """What the page needs: the trace, how its rows map onto the drawing, the SVG."""

    trace: Trace
    svg: str
    layout: str  # "graphviz" or "layered"
    large: bool
    nodes: dict[int, dict[str, Any]]  # node -> name, label, kind; value of a leaf
    edges: list[tuple[int, int, int]]  # (tail, head, slot), as the SVG's data-edge indexes
    forward_nodes: list[int]  # the node of each forward step
    backward_edges: list[int]  # the edge of each backward step
    output: int
    wrt: list[str]


def _names(f: Function, t: Trace) -> dict[int, str]:
    """Each node's name in the trace: variables and constants as written, modules a, b, c...

    The trace lists the modules in the engine's order (the plan's order, leaves
    skipped), which is how its rows are matched to nodes here.
    """
    g = f.graph
    names: dict[int, str] = {}
    ops = [i for i in f.graph.reachable() if g.ops[i] not in (VAR, CONST)]
    if len(ops) != len(t.forward):
        raise BackpropError("internal error: the trace's forward pass does not match the graph")
    for i in f.graph.reachable():
        if g.ops[i] == VAR:
            names[i] = str(g.leaf[i])
        elif g.ops[i] == CONST:
            names[i] = format_number(float(g.leaf[i]))  # type: ignore[arg-type]
    for i, step in zip(ops, t.forward):
        names[i] = step.node
    return names


def _backward_edges(f: Function, t: Trace, names: Mapping[int, str],
                    edge_index: Mapping[tuple[int, int, int], int]) -> list[int]:
    """The edge of each backward row: the row's module, and the next unused argument
    slot holding the row's input (``x*x`` passes back along both of its edges)."""
    by_name = {}
    for i, name in names.items():
        if f.graph.ops[i] not in (VAR, CONST):
            by_name[name] = i
    used: set[tuple[int, int]] = set()
    out = []
    for row in t.backward:
        head = by_name.get(row.node)
        slot = None
        if head is not None:
            for k, j in enumerate(f.graph.args[head]):
                if (head, k) not in used and names.get(j) == row.input:
                    slot = k
                    break
        if head is None or slot is None:
            raise BackpropError("internal error: a backward row of the trace has no edge")
        used.add((head, slot))
        out.append(edge_index[(f.graph.args[head][slot], head, slot)])
    return out


def build(f: Function, point: Mapping[str, float], wrt: Sequence[str] | None = None,
          layout: str = "auto") -> Lesson:
    """Trace both passes at ``point`` and lay out the graph.

    ``layout``: "graphviz", "layered", or "auto" (Graphviz when ``dot`` is on
    the PATH and the graph has at most drawing.HUGE_GRAPH nodes). A graph of
    more than drawing.LARGE_GRAPH nodes is drawn compact.
    """
    names_wrt = list(f.variables) if wrt is None else list(wrt)
    t = trace(f, dict(point), names_wrt)
    d = drawing.build(f, point)
    names = _names(f, t)
    edges = [(e.tail, e.head, e.slot) for e in d.edges]
    edge_index = {e: k for k, e in enumerate(edges)}
    if layout == "auto":
        # above HUGE_GRAPH nodes Graphviz needs sfdp and seconds; the layered layout does not
        layout = ("graphviz" if shutil.which("dot") and not d.huge else "layered")
    if layout == "graphviz":
        svg = graphviz_svg(d, edge_index)
    elif layout == "layered":
        svg = layered_svg(d, standalone=False)
    else:
        raise ValueError(f"layout is graphviz, layered or auto, not {layout}")
    g = f.graph
    ops = [i for i in f.graph.reachable() if g.ops[i] not in (VAR, CONST)]
    return Lesson(
        trace=t, svg=svg, layout=layout, large=d.large,
        nodes={i: _node_info(f, i, names[i], d, point) for i in d.nodes},
        edges=edges, forward_nodes=ops,
        backward_edges=_backward_edges(f, t, names, edge_index),
        output=d.output, wrt=names_wrt)


def _node_info(f: Function, i: int, name: str, d: drawing.Drawing,
               point: Mapping[str, float]) -> dict[str, Any]:
    info: dict[str, Any] = {"name": name, "label": d.labels[i], "kind": d.kinds[i]}
    if d.kinds[i] == "var":
        info["value"] = _json_number(float(point[name]))
    elif d.kinds[i] == "const":
        info["value"] = _json_number(float(f.graph.leaf[i]))  # type: ignore[arg-type]
    return info


# ---- Graphviz's SVG, normalised ------------------------------------------------

def graphviz_svg(d: drawing.Drawing, edge_index: Mapping[tuple[int, int, int], int]) -> str:
    """dot's drawing of ``d`` as inline SVG for the page: no XML prolog, no namespaces
    (HTML5 needs none), no title; nodes and edges tagged with data-node / data-edge."""
    annotate = not d.large
    dot = drawing.to_dot(d, annotate=annotate, compact=d.large)
    if annotate and len(d.nodes) > DOT_EDGE_LABELS_UP_TO:
        dot = re.sub(r'^(\s*n\w+ -> n\w+) \[label="[^"\n]*"\];$', r"\1;", dot, flags=re.M)
    raw = drawing.render(dot, "svg").decode("utf-8")
    root = ET.fromstring(raw)
    for el in root.iter():  # drop the namespace: serialised as plain <svg>, <g>, ...
        if el.tag.startswith(_SVG_NS):
            el.tag = el.tag[len(_SVG_NS):]
        for key in [k for k in el.attrib if k.startswith("{")]:
            del el.attrib[key]
    graph = root.find("g")
    if graph is None:
        raise BackpropError("dot's SVG has no graph group")
    for child in list(graph):
        if child.tag in ("title", "text"):  # the graph's title: the page has its own
            graph.remove(child)
    edge_seen: dict[tuple[int, int], int] = {}
    edges_by_pair: dict[tuple[int, int], list[int]] = {}
    for (tail, head, slot), k in sorted(edge_index.items(), key=lambda kv: kv[1]):
        edges_by_pair.setdefault((tail, head), []).append(k)
    for el in list(graph.iter("g")):
        cls = el.get("class")
        title = el.find("title")
        name = (title.text or "") if title is not None else ""
        if title is not None:
            el.remove(title)
        el.attrib.pop("id", None)
        if cls == "node":
            m = re.fullmatch(r"n(\d+)(_\d+_\d+)?", name)
            if m:
                el.set("data-node", m.group(1))
                if m.group(2):
                    el.set("data-copy", "1")
            _tag_texts(el)
        elif cls == "edge":
            m = re.fullmatch(r"n(\d+)(?:_\d+_\d+)?->n(\d+)", name)
            if m:
                pair = (int(m.group(1)), int(m.group(2)))
                n = edge_seen.get(pair, 0)
                edge_seen[pair] = n + 1
                ks = edges_by_pair.get(pair, [])
                if n < len(ks):
                    el.set("data-edge", str(ks[n]))
            for text in el.iter("text"):
                text.set("class", "num edge-num")
    svg_w, svg_h = root.get("width", ""), root.get("height", "")
    root.attrib.pop("width", None)
    root.attrib.pop("height", None)
    root.set("class", "graph")
    root.set("style", f"width:{svg_w};height:{svg_h}")
    return ET.tostring(root, encoding="unicode")


def _tag_texts(node: ET.Element) -> None:
    texts = list(node.iter("text"))
    for k, text in enumerate(texts):
        text.set("class", "label" if k == 0 else "num")


# ---- the layered layout, for a machine without Graphviz ------------------------

_CHAR_W = 7.2  # DejaVu Sans at 12 px, an average glyph
_LINE_H = 15.0
_COL_GAP = 70.0
_ROW_GAP = 18.0


def _order_columns(d: drawing.Drawing, layer: Mapping[int, int]) -> list[list[int]]:
    """Nodes per column, ordered to cut crossings: a few barycentre sweeps. The first
    column keeps the order in which the expression names its inputs (as dot's drawing)."""
    ncols = max(layer.values()) + 1
    cols: list[list[int]] = [[] for _ in range(ncols)]
    for i in d.nodes:
        cols[layer[i]].append(i)
    nbrs: dict[int, list[int]] = {i: [] for i in d.nodes}
    for e in d.edges:
        nbrs[e.head].append(e.tail)
        nbrs[e.tail].append(e.head)
    pos = {i: float(k) for col in cols for k, i in enumerate(col)}
    for sweep in range(4):
        rng = range(1, ncols) if sweep % 2 == 0 else range(ncols - 2, 0, -1)
        for c in rng:
            side = c - 1 if sweep % 2 == 0 else c + 1

            def key(i: int) -> float:
                near = [pos[j] for j in nbrs[i] if layer[j] == side]
                return sum(near) / len(near) if near else pos[i]

            cols[c].sort(key=key)
            for k, i in enumerate(cols[c]):
                pos[i] = float(k)
    return cols


def _layered_lines(d: drawing.Drawing, i: int, annotate: bool) -> list[str]:
    label = d.labels[i]
    if not annotate:
        return [label]
    if d.kinds[i] == "var":
        return [f"{label} = {drawing.number(d.values[i])}",
                f"∂f/∂{label} = {drawing.number(d.grads.get(label, 0.0))}"]
    if d.kinds[i] == "const":
        return [label]
    head = "f = " if i == d.output else "= "
    return [label, head + drawing.number(d.values[i])]


def layered_svg(d: drawing.Drawing, standalone: bool = True) -> str:
    """A left-to-right layered drawing of ``d`` as SVG, written here (no Graphviz).

    Each input just left of its first user, each module right of its arguments; edges are
    curves from the right side of the argument to the left side of its user.
    ``standalone`` adds the xmlns a file or a notebook needs (inline HTML does not).
    """
    annotate = d.annotated and not d.large
    layer = drawing.columns(d)
    cols = _order_columns(d, layer)
    lines = {i: _layered_lines(d, i, annotate) for i in d.nodes}
    size: dict[int, tuple[float, float]] = {
        i: (max(len(s) for s in lines[i]) * _CHAR_W + 20, len(lines[i]) * _LINE_H + 12)
        for i in d.nodes}
    col_w = [max((size[i][0] for i in col), default=0.0) for col in cols]
    col_h = [sum(size[i][1] for i in col) + _ROW_GAP * max(len(col) - 1, 0) for col in cols]
    height = max(col_h) + 20
    xy: dict[int, tuple[float, float]] = {}
    x = 10.0
    for c, col in enumerate(cols):
        y = 10 + (height - 20 - col_h[c]) / 2
        for i in col:
            w, h = size[i]
            xy[i] = (x + (col_w[c] - w) / 2, y)
            y += h + _ROW_GAP
        x += col_w[c] + _COL_GAP
    width = x - _COL_GAP + 10
    esc = html.escape
    out = [f'<svg class="graph" viewBox="0 0 {width:.1f} {height:.1f}" '
           f'style="width:{width:.0f}px;height:{height:.0f}px"'
           + (' xmlns="http://www.w3.org/2000/svg"' if standalone else "")
           + ' font-family="DejaVu Sans, sans-serif" font-size="12">',
           '<rect width="100%" height="100%" fill="white"/>']
    # each edge leaves and enters a box at its own height: x*x draws two edges
    outs: dict[int, list[int]] = {}
    ins: dict[int, list[int]] = {}
    for k, e in enumerate(d.edges):
        outs.setdefault(e.tail, []).append(k)
        ins.setdefault(e.head, []).append(k)
    for ks in outs.values():
        ks.sort(key=lambda k: (xy[d.edges[k].head][1], d.edges[k].slot))
    leave = {k: (n + 1) / (len(ks) + 1) for ks in outs.values() for n, k in enumerate(ks)}
    enter = {k: (n + 1) / (len(ks) + 1) for ks in ins.values() for n, k in enumerate(ks)}
    for k, e in enumerate(d.edges):
        (tx, ty), (tw, th) = xy[e.tail], size[e.tail]
        (hx, hy), (_, hh) = xy[e.head], size[e.head]
        x0, y0, x1, y1 = tx + tw, ty + th * leave[k], hx - 6, hy + hh * enter[k]
        mid = (x0 + x1) / 2
        out.append(f'<g class="edge" data-edge="{k}">'
                   f'<path fill="none" stroke="black" d="M{x0:.1f},{y0:.1f} C{mid:.1f},{y0:.1f} '
                   f'{mid:.1f},{y1:.1f} {x1:.1f},{y1:.1f}"/>'
                   f'<polygon fill="black" stroke="black" points="{x1:.1f},{y1 - 3.5:.1f} '
                   f'{x1 + 6:.1f},{y1:.1f} {x1:.1f},{y1 + 3.5:.1f}"/></g>')
    for i in d.nodes:
        (x0, y0), (w, h) = xy[i], size[i]
        kind = d.kinds[i]
        fill = ("#fde0c5" if i == d.output else "#d9f0d3" if kind == "var"
                else "#f0f0f0" if kind == "const" else "#eef3fb")
        dash = ' stroke-dasharray="4,3"' if kind == "const" else ""
        width_attr = ' stroke-width="2"' if i == d.output else ""
        out.append(f'<g class="node" data-node="{i}"><rect x="{x0:.1f}" y="{y0:.1f}" '
                   f'width="{w:.1f}" height="{h:.1f}" rx="6" fill="{fill}" stroke="black"'
                   f'{dash}{width_attr}/>')
        for n, text in enumerate(lines[i]):
            ty = y0 + 6 + _LINE_H * (n + 0.8)
            cls = "label" if n == 0 else "num"
            out.append(f'<text class="{cls}" text-anchor="middle" x="{x0 + w / 2:.1f}" '
                       f'y="{ty:.1f}">{esc(text)}</text>')
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out)


def graph_svg(f: Function, point: Mapping[str, float] | None = None) -> str:
    """The graph of ``f`` (annotated at ``point``) as a standalone SVG document:
    Graphviz's drawing where ``dot`` is installed, else the layered layout."""
    d = drawing.build(f, point)
    if shutil.which("dot"):
        return drawing.render(drawing.to_dot(d), "svg").decode("utf-8")
    return layered_svg(d, standalone=True)


# ---- the page ------------------------------------------------------------------

def _json_number(v: float) -> float | str:
    """JSON has no nan or inf: the page reads them back from these strings."""
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v


def _finite_json(obj: Any) -> Any:
    if isinstance(obj, float):
        return _json_number(obj)
    if isinstance(obj, dict):
        return {k: _finite_json(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite_json(v) for v in obj]
    return obj


def page_data(lesson: Lesson) -> dict[str, Any]:
    """The JSON embedded in the page: the trace (as ``grad --trace --format json``
    gives it, non-finite numbers as strings) and where each of its rows is drawn."""
    return {
        "trace": _finite_json(lesson.trace.as_dict()),
        "nodes": {str(i): v for i, v in lesson.nodes.items()},
        "edges": [list(e) for e in lesson.edges],
        "forward_nodes": lesson.forward_nodes,
        "backward_edges": lesson.backward_edges,
        "output": lesson.output,
        "wrt": lesson.wrt,
        "layout": lesson.layout,
        "large": lesson.large,
    }


def _script_json(obj: Any) -> str:
    """JSON safe inside <script>: no '<' can close the element."""
    text = json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


# A picture more than this many times wider than tall starts above the panel, not beside
# it (the page's script then picks whichever draws it larger in the reader's window).
WIDE_ASPECT = 2.0


def _aspect(svg: str) -> float:
    """Width over height of the page's SVG (from the style it was given here)."""
    m = re.search(r'style="width:([\d.]+)(?:pt|px);height:([\d.]+)(?:pt|px)"', svg)
    if not m or float(m.group(2)) <= 0:
        return 1.0
    return float(m.group(1)) / float(m.group(2))


def _shorten(text: str, limit: int = 100) -> str:
    """An expression short enough for the page's heading (the panel has every module)."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def render_page(lesson: Lesson) -> str:
    """The HTML page for ``lesson``."""
    t = lesson.trace
    at = ", ".join(f"{k} = {v!r}" for k, v in t.point.items())
    n = len(lesson.nodes)
    notice = ""
    if lesson.large:
        notice = (f"This graph has {n:,} nodes (more than {drawing.LARGE_GRAPH}): it is drawn "
                  "in the compact layout, without numbers on the boxes and edges; the panel "
                  "has every step's numbers.")
    if lesson.layout == "layered":
        why = ("Graphviz's dot was not found: " if shutil.which("dot") is None
               else "Graphviz would take many seconds on this many nodes: "
               if n > drawing.HUGE_GRAPH else "")
        notice += (" " if notice else "") + f"{why}the graph is drawn in a simple layered layout."
    fields = {
        "TITLE": html.escape(f"f = {t.expression.strip()}" + (f" at {at}" if at else "")),
        "EXPR": html.escape(_shorten(t.expression.strip())),
        "AT": html.escape(at),
        "NOTICE": html.escape(notice),
        "NOTICE_HIDDEN": "" if notice else " hidden",
        "SVG": lesson.svg,
        "SHAPE": ("wide" if _aspect(lesson.svg) > WIDE_ASPECT else "tall")
                 + (" large" if lesson.large else ""),
        "DATA": _script_json(page_data(lesson)),
    }
    template = resources.files("backprop.views").joinpath(_TEMPLATE).read_text(encoding="utf-8")
    # one pass: text put in is never searched again for markers
    return re.sub(r"@@([A-Z_]+)@@", lambda m: fields[m.group(1)], template)


def lesson_page(f: Function, point: Mapping[str, float], wrt: Sequence[str] | None = None,
                layout: str = "auto", warn: Callable[[str], None] | None = None) -> str:
    """The whole self-contained page for ``f`` at ``point`` (the library call behind
    ``backprop graph --format html``). ``warn`` hears about a large graph."""
    lesson = build(f, point, wrt, layout)
    if warn is not None:
        if lesson.large:
            warn(f"the graph has {len(lesson.nodes):,} nodes: the page draws it in the compact "
                 "layout, without numbers on the picture (they are in its panel)")
        bad = non_finite_step(lesson.trace)
        if bad is not None:
            warn(f"{bad} is nan or infinite at this point (outside its domain, or overflow): "
                 "the page shows it as nan or inf")
    return render_page(lesson)


def non_finite_step(t: Trace) -> str | None:
    """The first row of the trace with a number that is nan or infinite, as text."""
    for s in t.forward:
        if not math.isfinite(s.value):
            return f"the forward pass's {s.node} = {s.computes}"
    for b in t.backward:
        if not (math.isfinite(b.local_value) and math.isfinite(b.contribution)):
            return f"the backward pass's d{b.node}/d{b.input} = {b.local}"
    return None

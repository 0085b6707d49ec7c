"""The computational graph as a picture: DOT (Graphviz) and Mermaid text.

One box per module (``exp``, ``sin``, ``/``, a variable or a constant), the
inputs at the left and the output at the right. A shared subexpression is one
node (the graph is hash-consed), drawn once with all its out-edges, so the
paths that the multivariate chain rule sums over are visible.

With a point, each node carries its forward value and each edge the gradient
flowing back along it: the upstream gradient of the edge's head times the local
derivative, which is exactly what that path adds to df/d(tail). The variables
carry the whole gradient (the sum over their out-edges).

Every pass here is a loop over the graph's topological order (no recursion).
Rendering to SVG or PNG runs Graphviz's ``dot`` program.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Mapping

from backprop.errors import BackpropError
from backprop.core.function import Function
from backprop.core.graph import CONST, VAR
from backprop.core.printer import module_label

# Above this many nodes a drawing drops its annotations and draws straight
# edges: edge labels become extra nodes in dot's layout and curved splines are
# routed one by one, which together take minutes on a few thousand nodes.
LARGE_GRAPH = 300
# dot's layout grows quadratically even so; above
# this many nodes the force-directed sfdp engine draws them in seconds instead.
HUGE_GRAPH = 2500
# Past this many nodes even sfdp takes minutes (10,000 nodes: 68 s on 2 busy cores, where
# 4,000 took 20 s): svg and png are refused; the DOT text can still be laid out elsewhere.
RENDER_LIMIT = 10_000

GRAPHVIZ_FORMATS = ("svg", "png")
INSTALL_GRAPHVIZ = "install Graphviz (Debian: apt-get install graphviz)"

# Modules whose argument order matters: dot keeps their in-edges in that order.
_ORDERED_LABELS = frozenset({"-", "/", "^", "max", "min"})

@dataclass(frozen=True)
class Edge:
    tail: int  # the argument node (left)
    head: int  # the module that uses it (right)
    slot: int  # which argument of head: 0 or 1


@dataclass
class Drawing:
    """What a picture of a graph shows, independent of the output language."""

    title: str
    nodes: list[int]  # reachable nodes, inputs first
    labels: dict[int, str]  # node -> its module
    kinds: dict[int, str]  # node -> "var", "const", "op"
    edges: list[Edge]
    output: int
    point: dict[str, float] | None = None
    values: dict[int, float] = field(default_factory=dict)  # forward value per node
    edge_grads: dict[Edge, float] = field(default_factory=dict)  # upstream * local
    grads: dict[str, float] = field(default_factory=dict)  # df/d(variable)

    @property
    def annotated(self) -> bool:
        return self.point is not None

    @property
    def large(self) -> bool:
        return len(self.nodes) > LARGE_GRAPH

    @property
    def huge(self) -> bool:
        return len(self.nodes) > HUGE_GRAPH

    @property
    def finite(self) -> bool:
        """Whether every value and gradient shown is a finite number."""
        return all(math.isfinite(v) for v in [*self.values.values(), *self.grads.values()])


def number(v: float) -> str:
    """A value short enough for a box: six significant digits."""
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return format(v, ".6g")


def build(f: Function, point: Mapping[str, float] | None = None) -> Drawing:
    """The nodes and edges of ``f``'s graph; with ``point``, both passes' numbers."""
    g = f.graph
    order = f.graph.reachable()
    kinds = {i: ("var" if g.ops[i] == VAR else "const" if g.ops[i] == CONST else "op")
             for i in order}
    edges = [Edge(j, i, k) for i in order for k, j in enumerate(g.args[i])]
    d = Drawing(title=(f.text or str(f)).strip(), nodes=order,
                labels={i: module_label(g, i) for i in order}, kinds=kinds, edges=edges,
                output=g.output)
    if point is None:
        return d
    d.point = {k: float(v) for k, v in point.items()}
    t = f.trace(point)
    d.values = t.node_values
    d.edge_grads = {Edge(*edge): v for edge, v in t.edge_grads.items()}
    d.grads = t.grad
    return d


def _node_lines(d: Drawing, i: int, annotate: bool) -> list[str]:
    label = d.labels[i]
    if not annotate or not d.annotated:
        return [label]
    v = number(d.values[i])
    if d.kinds[i] == "var":
        return [f"{label} = {v}", f"∂f/∂{label} = {number(d.grads.get(label, 0.0))}"]
    if d.kinds[i] == "const":
        return [label]
    if i == d.output:
        return [label, f"f = {v}"]
    return [label, f"= {v}"]


def _edge_text(d: Drawing, e: Edge, annotate: bool) -> str | None:
    if not annotate or e not in d.edge_grads:
        return None  # no point, or no gradient flows to a constant
    return "← " + number(d.edge_grads[e])  # the arrow: it flows backward


def _subtitle(d: Drawing, annotate: bool, compact: bool = False) -> str:
    title = d.title if len(d.title) <= 100 else d.title[:97] + "..."
    head = f"f = {title}"
    if d.annotated:
        at = ", ".join(f"{k} = {number(v)}" for k, v in (d.point or {}).items())
        head += f" at {at}" if at else ""
        if not annotate:  # the numbers are not on the boxes: the gradient goes here
            head += "\n" + ", ".join([f"f = {number(d.values[d.output])}"]
                                     + [f"∂f/∂{k} = {number(v)}" for k, v in d.grads.items()])
    if compact:
        head += (f"\n{len(d.nodes)} nodes; a dashed box is a copy of the node it names (#n), "
                 "drawn beside a distant user")
    if d.annotated and annotate:
        head += "\nboxes: forward value; edges: gradient flowing back (upstream × local)"
    return head


def _dot_quote(text: str) -> str:
    """A DOT string literal; newlines become centred line breaks."""
    s = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + s.replace("\r", "").replace("\n", "\\n") + '"'


def _dot_title(text: str) -> str:
    """A DOT string literal whose lines are all left-justified (each ends in \\l)."""
    s = text.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "")
    return '"' + s.replace("\n", "\\l") + '\\l"'


# In a compact drawing an edge spanning more than this many ranks is cut.
_LONG_EDGE = 2


def depth_to_output(d: Drawing) -> dict[int, int]:
    """Each node's longest distance to the output: its rank, output at 0.

    One sweep in reverse topological order. Every node but the output has a
    user exactly one rank to its right (the one that set its depth).
    """
    depth = {d.output: 0}
    users: dict[int, list[int]] = {}
    for e in d.edges:
        users.setdefault(e.tail, []).append(e.head)
    for i in reversed(d.nodes):
        if i != d.output:
            depth[i] = 1 + max(depth[u] for u in users[i])
    return depth


def columns(d: Drawing) -> dict[int, int]:
    """Each node's column, left to right: a module one right of its furthest module
    argument (column 1 when its arguments are all inputs); an input (variable or
    constant) one left of its nearest user. One pass each way (no recursion)."""
    users: dict[int, list[int]] = {i: [] for i in d.nodes}
    args: dict[int, list[int]] = {i: [] for i in d.nodes}
    for e in d.edges:
        users[e.tail].append(e.head)
        args[e.head].append(e.tail)
    column: dict[int, int] = {}
    for i in d.nodes:  # inputs first: every argument is placed before its user
        if d.kinds[i] == "op":
            placed = [column[j] for j in args[i] if d.kinds[j] == "op"]
            column[i] = 1 + max(placed) if placed else 1
    for i in d.nodes:
        if d.kinds[i] != "op":
            column[i] = min(column[u] for u in users[i]) - 1 if users[i] else 0
    return column


def to_dot(d: Drawing, annotate: bool | None = None, compact: bool | None = None) -> str:
    """Graphviz DOT text, inputs at the left, output at the right (each input in the
    column just left of its first user, as :func:`columns` says).

    ``annotate`` (default: with a point, and not a large graph) writes the
    numbers on the boxes and edges. ``compact`` (default: a large graph) cuts
    every edge that would span more than two ranks and draws, next to its
    user, a dashed copy of the argument that names the original (``#12``):
    long edges are what make dot slow (each becomes a chain of virtual nodes,
    quadratic in the graph's depth when a node is shared across it; dot even
    crashes on a few hundred ranks of them).
    """
    annotate = (d.annotated and not d.large) if annotate is None else annotate
    compact = d.large if compact is None else compact
    lines = [
        "digraph backprop {",
        "  rankdir=LR;",
        f"  label={_dot_title(_subtitle(d, annotate, compact))}; labelloc=t; labeljust=l;",
        '  fontname="DejaVu Sans"; fontsize=12;',
        '  node [shape=box, style="rounded,filled", fillcolor="#eef3fb", '
        'fontname="DejaVu Sans", fontsize=12];',
        '  edge [fontname="DejaVu Sans", fontsize=10, fontcolor="#b03020", arrowsize=0.7];',
    ]
    long_edges: set[Edge] = set()
    if compact:
        lines.append("  splines=false; nslimit=1;")  # straight edges; capped x-placement
        if d.huge:
            lines.append("  layout=sfdp; overlap=true; outputorder=edgesfirst;")
        depth = depth_to_output(d)
        long_edges = {e for e in d.edges if depth[e.tail] - depth[e.head] > _LONG_EDGE}
    referenced = {e.tail for e in long_edges}
    for i in d.nodes:
        tag = f" #{i}" if i in referenced else ""
        lines.append(f"  n{i} [{_dot_node_attrs(d, i, annotate, not compact, tag)}];")
    # The variables of the first column, top to bottom in the order the expression names
    # them (an invisible chain fixes their order); each other variable beside its first
    # user, so that a network's layers read left to right (V and c by the output layer,
    # not in a column with x, W and b, their edges crossing the picture).
    column = columns(d)
    first = [i for i in d.nodes if d.kinds[i] == "var" and column[i] == 0]
    if len(first) > 1 and not compact:
        lines.append("  { rank=same; " + " -> ".join(f"n{i}" for i in first)
                     + " [style=invis]; }")
    if d.kinds.get(d.output) == "op":
        lines.append(f"  {{ rank=max; n{d.output}; }}")
    for e in d.edges:
        tail = f"n{e.tail}"
        if e in long_edges:
            tail = f"n{e.tail}_{e.head}_{e.slot}"  # this use's copy
            attrs = _dot_node_attrs(d, e.tail, annotate, False, f" (#{e.tail})")
            lines.append(f"  {tail} [{attrs}, style=\"rounded,filled,dashed\", penwidth=1];")
        text = _edge_text(d, e, annotate)
        attr = f" [label={_dot_quote(text)}]" if text is not None else ""
        lines.append(f"  {tail} -> n{e.head}{attr};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_node_attrs(d: Drawing, i: int, annotate: bool, ordered: bool, tag: str = "") -> str:
    node_lines = _node_lines(d, i, annotate)
    node_lines[0] += tag
    attrs = [f"label={_dot_quote(chr(10).join(node_lines))}"]
    kind = d.kinds[i]
    if kind == "var":
        attrs.append('fillcolor="#d9f0d3"')
    elif kind == "const":
        attrs.append('fillcolor="#f0f0f0", style="rounded,filled,dashed"')
    if i == d.output:
        attrs.append('fillcolor="#fde0c5", penwidth=2')
    if ordered and kind == "op" and d.labels[i] in _ORDERED_LABELS:
        attrs.append("ordering=in")  # x - y: x drawn above y
    return ", ".join(attrs)


def _mermaid_text(text: str) -> str:
    """Text for a quoted mermaid label: entity codes for the characters it reads."""
    out = (text.replace("&", "#amp;").replace('"', "#quot;")
           .replace("<", "#lt;").replace(">", "#gt;"))
    return out.replace("\n", "<br/>")


def to_mermaid(d: Drawing, annotate: bool | None = None) -> str:
    """A mermaid flowchart (left to right): one line per node, then one per edge."""
    annotate = (d.annotated and not d.large) if annotate is None else annotate
    title = _subtitle(d, annotate).replace("\n", " — ")
    # JSON's double-quoted string is a YAML one: the title may hold ':' and '"'
    lines = ["---", f"title: {json.dumps(title, ensure_ascii=False)}", "---",
             "flowchart LR"]
    for i in d.nodes:
        text = _mermaid_text("\n".join(_node_lines(d, i, annotate)))
        shape = ('(["', '"])') if d.kinds[i] == "var" else ('["', '"]')
        lines.append(f"  n{i}{shape[0]}{text}{shape[1]}")
    for e in d.edges:
        label = _edge_text(d, e, annotate)
        arrow = f' -->|"{_mermaid_text(label)}"| ' if label is not None else " --> "
        lines.append(f"  n{e.tail}{arrow}n{e.head}")
    return "\n".join(lines) + "\n"


def graphviz_dot() -> str:
    """The path of Graphviz's ``dot`` program, or a BackpropError saying how to get it."""
    path = shutil.which("dot")
    if path is None:
        raise BackpropError(f"the dot program was not found: {INSTALL_GRAPHVIZ}")
    return path


def render(dot_text: str, fmt: str) -> bytes:
    """Lay out and draw DOT text with Graphviz: the SVG or PNG file's bytes."""
    if fmt not in GRAPHVIZ_FORMATS:
        raise ValueError(f"Graphviz renders {', '.join(GRAPHVIZ_FORMATS)}, not {fmt}")
    exe = graphviz_dot()
    try:
        done = subprocess.run([exe, f"-T{fmt}"], input=dot_text.encode("utf-8"),
                              capture_output=True, check=False)
    except OSError as exc:
        raise BackpropError(f"could not run {exe}: {exc.strerror or exc}") from None
    if done.returncode != 0 or not done.stdout:
        err = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise BackpropError(f"dot failed (exit {done.returncode})"
                            + (f": {err[0]}" if err else ""))
    return done.stdout

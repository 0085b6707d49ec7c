"""``backprop graph``: the computational graph as a picture (DOT, SVG, PNG, mermaid)."""

from __future__ import annotations

import os
import sys
from enum import Enum
from typing import Optional

import typer

from backprop.cli import app
from backprop.cli.common import ANGLE_HELP, EXPR_HELP, VARS_HELP, Angle, parse_expr


class GraphFormat(str, Enum):
    dot = "dot"
    svg = "svg"
    png = "png"
    mermaid = "mermaid"
    html = "html"


EXTENSIONS = {".dot": GraphFormat.dot, ".gv": GraphFormat.dot, ".svg": GraphFormat.svg,
              ".png": GraphFormat.png, ".mmd": GraphFormat.mermaid,
              ".mermaid": GraphFormat.mermaid, ".html": GraphFormat.html,
              ".htm": GraphFormat.html}


@app.command(
    epilog="Examples:\n\n"
    "  backprop graph \"2/sin(exp(-x))\" --at -4.499 -o graph.svg\n\n"
    "  backprop graph \"sin(x)*sin(x) + x\" --at 0.5 -o shared.png\n\n"
    "  backprop graph \"x^2*y + sin(y)\" --format mermaid\n\n"
    "  backprop graph \"2/sin(exp(-x))\" --at -4.499 -o lesson.html\n\n"
    "  backprop graph \"2/sin(exp(-x))\" | dot -Tpdf -o graph.pdf",
)
def graph(
    expr: str = typer.Argument(..., help=EXPR_HELP, metavar="EXPR", show_default=False),
    at: Optional[str] = typer.Option(None, "--at", metavar="POINT", help="Annotate the picture "
                                     "at this point (-4.499, or x=1,y=2): each box with its "
                                     "forward value, each edge with the gradient flowing back "
                                     "along it, each input with its whole gradient."),
    format: Optional[GraphFormat] = typer.Option(
        None, "--format", "-f", show_default=False,
        help="dot or mermaid (text, nothing to install), svg or png (Graphviz's dot program), "
        "html (a page that steps through the forward and backward passes; needs --at). "
        "Default: from the extension of -o (.dot .gv .svg .png .mmd .html), else dot."),
    output: Optional[str] = typer.Option(None, "--output", "-o", metavar="FILE",
                                         help="Write the picture to FILE (default: stdout)."),
    angle: Angle = typer.Option(Angle.rad, "--angle", help=ANGLE_HELP),
    declared: Optional[str] = typer.Option(None, "--vars", help=VARS_HELP, metavar="VARS"),
    wrt: Optional[str] = typer.Option(None, "--wrt", metavar="VARS", help="html: pass back "
                                      "only the gradient of these variables, e.g. x,y "
                                      "(default: every variable)."),
) -> None:
    """Draw the computational graph of EXPR, with values and gradients when --at is given.

    Inputs at the left, output at the right, one box per module; a shared
    subexpression is drawn once, with all its out-edges.
    """
    from backprop.core.points import parse_point_or_empty
    from backprop.errors import InputError
    from backprop.views import drawing
    from backprop.views.writers import warn

    fmt = _choose_format(format, output)
    if output is not None:
        from backprop.files import check_output

        check_output(output, "-o")  # before any work: the folder, a device, the permissions
    if fmt is GraphFormat.png and output is None and sys.stdout.isatty():
        raise InputError("png is binary: write it to a file with -o FILE.png")
    f = parse_expr(expr, angle, declared)
    point = None
    if at is not None:
        if at.strip() == "-":
            raise InputError("graph draws one point: give it with --at, not on stdin")
        point = parse_point_or_empty(at, f.variables)
    if fmt is GraphFormat.html or wrt is not None:
        from backprop.cli.common import split_names
        from backprop.views.lesson import lesson_page

        if fmt is not GraphFormat.html:
            raise InputError("--wrt applies to --format html (the lesson page) only")
        if point is None:
            raise InputError("the html page steps through both passes at a point: give it "
                             "with --at, e.g. --at -4.499 or --at x=1,y=2")
        page = lesson_page(f, point, split_names(wrt, "--wrt", f.variables), warn=warn)
        data = page.encode("utf-8")
        _emit(data, output)
        return
    d = drawing.build(f, point)
    if fmt in (GraphFormat.svg, GraphFormat.png) and len(d.nodes) > drawing.RENDER_LIMIT:
        raise InputError(f"the graph has {len(d.nodes):,} nodes: Graphviz draws {fmt.value} of "
                         f"at most {drawing.RENDER_LIMIT:,} in reasonable time; write --format "
                         "dot (or mermaid) and lay it out with your own tools")
    if d.large:
        how = ("a force-directed layout (sfdp)" if d.huge and fmt is not GraphFormat.mermaid
               else "no numbers on boxes and edges, and long edges cut (a dashed box "
               "repeats the node it names)" if fmt is not GraphFormat.mermaid
               else "no numbers on boxes and edges")
        warn(f"the graph has {len(d.nodes):,} nodes and {len(d.edges):,} edges: drawn with "
             f"{how}" + ("; the gradient is in the title" if d.annotated else ""))
    if point is not None and not d.finite:
        found = f.diagnose(point, what="value")
        if found is not None:
            warn(found.message())
    if fmt is GraphFormat.mermaid:
        data = drawing.to_mermaid(d).encode("utf-8")
    else:
        text = drawing.to_dot(d)
        data = text.encode("utf-8") if fmt is GraphFormat.dot else drawing.render(text, fmt.value)
    _emit(data, output)


def _emit(data: bytes, output: str | None) -> None:
    """The drawing's bytes to stdout, or to OUTPUT (:func:`backprop.files.write_output`:
    a regular file replaced atomically, a device or FIFO written directly)."""
    if output is None:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        from backprop.files import write_output

        write_output(output, data)


def _choose_format(format: GraphFormat | None, output: str | None) -> GraphFormat:
    from backprop.errors import InputError

    if format is not None:
        return format
    if output is None:
        return GraphFormat.dot
    ext = os.path.splitext(output)[1].lower()
    if not ext:
        from backprop.files import is_written_directly

        if is_written_directly(output):  # /dev/stdout, a FIFO: text, as on stdout
            return GraphFormat.dot
    if ext not in EXTENSIONS:
        raise InputError(f"-o {output}: cannot tell the format from the extension "
                         f"{ext or '(none)'}: use one of {', '.join(EXTENSIONS)} or give --format")
    return EXTENSIONS[ext]

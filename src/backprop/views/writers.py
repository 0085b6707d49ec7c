"""The one output layer: tables, JSON Lines and CSV for every command.

Nothing here computes; it only turns result objects into text. A result (see
:mod:`backprop.core.results`) offers ``columns``, ``rows()`` and ``records()``;
a writer is opened once per command and fed results as they come:

* ``csv``: the standard :mod:`csv` writer; floats as ``repr`` (the shortest text
  that reads back to the same float); a large block of finite float64 (a stream
  of points) is formatted at once by orjson's shortest round-trip formatter and
  rewritten to ``repr``'s notation (:func:`csv_block`), the same bytes,
* ``json``: strict JSON, one object per line; JSON has no NaN or Infinity, so a
  non-finite number is written as ``null`` (the command warns on stderr),
* ``table``: a rich table (rich is imported only when a table is drawn), or for
  a stream of points plain right-aligned columns written as the rows arrive.

Progress, warnings and errors go to stderr; colour only on a terminal, and
never with NO_COLOR set.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import sys
from json.encoder import encode_basestring_ascii as _encode_text  # json.dumps's own, in C
from typing import Any, Iterable, Iterator, Protocol, Sequence

from backprop.studies.tables import fmt


class Result(Protocol):
    """What a writer reads from a result object."""

    @property
    def columns(self) -> list[str]: ...

    def rows(self) -> list[list[Any]]: ...

    def records(self) -> list[dict[str, Any]]: ...


# ---- cells --------------------------------------------------------------------------------

def finite_or_none(v: Any) -> Any:
    """For JSON: floats stay, nan and inf become None; containers are walked."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {k: finite_or_none(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [finite_or_none(x) for x in v]
    if hasattr(v, "item"):  # numpy scalar
        return finite_or_none(v.item())
    return v


def has_non_finite(v: Any) -> bool:
    if isinstance(v, float):
        return not math.isfinite(v)
    if isinstance(v, dict):
        return any(has_non_finite(x) for x in v.values())
    if isinstance(v, (list, tuple)):
        return any(has_non_finite(x) for x in v)
    return False


def json_line(obj: Any) -> str:
    """One strict JSON object on one line (jq-parseable)."""
    return json.dumps(finite_or_none(obj), allow_nan=False, separators=(", ", ": "))


def _csv_cell(c: Any) -> Any:
    # the csv module writes a float with repr; a numpy scalar's repr is not a
    # number (np.float64(1.0)), so it becomes a Python float first
    if hasattr(c, "item") and not isinstance(c, (str, bytes)):
        try:
            return float(c)
        except (TypeError, ValueError):
            return str(c)
    return c


def csv_writer(out: Any) -> Any:
    """The standard csv writer, with the line ending the commands use."""
    return csv.writer(out, lineterminator="\n")


def csv_line(cells: Iterable[Any]) -> str:
    """One CSV row as text (no line ending), through the csv module."""
    buf = io.StringIO()
    csv_writer(buf).writerow([_csv_cell(c) for c in cells])
    return buf.getvalue()[:-1]


# ---- terminals ----------------------------------------------------------------------------

def use_color(stream: Any = None) -> bool:
    stream = sys.stdout if stream is None else stream
    if os.environ.get("NO_COLOR"):
        return False
    return bool(getattr(stream, "isatty", lambda: False)())


def console(stderr: bool = False) -> Any:
    """A rich Console that colours only a terminal and respects NO_COLOR.

    Its width is the terminal's; off a terminal, COLUMNS, else rich's 80: tables
    are laid out to fit it (:mod:`backprop.views.layout`), never cut.
    """
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    color = use_color(stream)
    return Console(file=stream, no_color=not color, highlight=False,
                   force_terminal=color if color else None)


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]],
          right_align_from: int = 0, caption: str | None = None, *,
          full_precision: bool = False, width: int | None = None) -> Any:
    """A table that fits ``width`` (the console's): every column, every number whole.

    Floats are shown with :func:`fmt`, or with fewer significant digits (never under
    4, and never with ``full_precision``) when the table would not fit otherwise;
    a line under it then says so. See :func:`backprop.views.layout.fit`.
    """
    from rich.console import Group
    from rich.text import Text

    from backprop.views.layout import fit, shortened_note

    if width is None:
        width = console().width
    layout = fit(list(columns), [list(r) for r in rows], width, right_align_from, caption,
                 full_precision)
    parts: list[Any] = []
    if title is not None:
        # the title on a line of its own: a table's own title would wrap at the table's width
        parts.append(Text(title, style="bold"))
    parts += layout.parts
    if layout.shortened and layout.digits is not None:
        parts.append(Text(shortened_note(layout.digits, width)))
    return Group(*parts)


def print_table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]],
                right_align_from: int = 0, caption: str | None = None, *,
                full_precision: bool = False) -> None:
    console().print(table(title, columns, rows, right_align_from, caption,
                          full_precision=full_precision))


def warn(message: str) -> None:
    """A warning on stderr (yellow on a terminal)."""
    prefix = "\x1b[33mwarning:\x1b[0m" if use_color(sys.stderr) else "warning:"
    sys.stderr.write(f"{prefix} {message}\n")
    sys.stderr.flush()


class ColumnWriter:
    """Right-aligned columns written as the rows arrive.

    For streams of points, where a rich table (a fraction of a millisecond a
    row, and nothing shown before a whole chunk is laid out) would be too slow.
    The widths are those of the header and the first rows. Columns wider than the
    terminal (COLUMNS off one, else 80) are not cut: each row is then written as a
    paragraph of ``name = value`` items, every digit kept; so is a later row that
    would not fit the columns.
    """

    def __init__(self, columns: Sequence[str], first_rows: Sequence[Sequence[Any]], out: Any,
                 width: int | None = None) -> None:
        self.out = out
        self.columns = list(columns)
        self.width = console().width if width is None else width
        sample = first_rows[:1000]
        self.widths = [max([len(c), *(len(fmt(r[k])) for r in sample)]) for k, c in enumerate(columns)]
        self.records = sum(self.widths) + 2 * (len(self.widths) - 1) > self.width
        if not self.records:
            out.write(self._line(columns) + "\n")
            out.write("  ".join("-" * w for w in self.widths) + "\n")

    def _line(self, cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) for c, w in zip(cells, self.widths))

    def _record(self, cells: Sequence[str]) -> str:
        lines: list[str] = []
        current = ""
        for name, value in zip(self.columns, cells):
            item = f"{name} = {value}"
            if current and len(current) + 3 + len(item) > self.width:
                lines.append(current)
                current = item
            else:
                current = f"{current}   {item}" if current else item
        lines.append(current)
        return "\n".join(lines) + "\n\n"

    def _row(self, cells: list[str]) -> str:
        if not self.records:
            line = self._line(cells)
            if len(line) <= self.width:
                return line + "\n"
        return self._record(cells)

    def write(self, rows: Iterable[Sequence[Any]]) -> None:
        self.out.write("".join(self._row([fmt(v) for v in r]) for r in rows))


# ---- writers: one per output format -------------------------------------------------------

class Writer:
    """Writes results in one format; ``write`` may be called once per block of rows."""

    def __init__(self, columns: Sequence[str], out: Any = None) -> None:
        self.columns = list(columns)
        self.out = sys.stdout if out is None else out

    def write(self, result: Result) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Called once after the last result."""


class CsvWriter(Writer):
    """A header, then every result's rows."""

    def __init__(self, columns: Sequence[str], out: Any = None) -> None:
        super().__init__(columns, out)
        self._csv = csv_writer(self.out)
        self._csv.writerow(self.columns)

    def write(self, result: Result) -> None:
        text = None
        block = getattr(result, "number_block", None)
        parts = getattr(result, "cells_and_block", None)
        if (block or parts) and len(result) >= CSV_BLOCK_MIN_ROWS:  # type: ignore[arg-type]
            if block is not None:
                text = csv_block(block())
            else:
                found = parts()  # type: ignore[misc]
                text = None if found is None else csv_cells_and_block(*found)
        if text is not None:
            self.out.write(text)
            self.out.flush()
            return
        # a result's rows hold Python numbers and strings (its rows() says so)
        self.write_rows(result.rows())

    def write_rows(self, rows: Iterable[Sequence[Any]]) -> None:
        # formatted into memory, then one write: a write per row to a text stream
        # costs more than the formatting
        buf = io.StringIO()
        csv_writer(buf).writerows(rows)
        self.out.write(buf.getvalue())
        self.out.flush()


# orjson writes 1e-05 as 0.00001 and 1e+16 as 1e16: rewritten to repr's notation, which is
# scientific below 1e-4 and from 1e16 on, with a signed exponent of at least two digits
_TINY = re.compile(r"0\.0000(0*)([1-9])(\d*)")  # a literal first: a fast scan
_EXPONENT = re.compile(r"e(-?)(\d+)")
CSV_BLOCK_MIN_ROWS = 64  # below, the csv module's own formatting is as fast


def _tiny_as_repr(m: re.Match[str]) -> str:
    start = m.start()
    if start and m.string[start - 1] in "0123456789.":
        return m.group(0)  # the tail of a larger number (10.00001): left as it is
    digits = m.group(3)  # a sign before the match stays where it is
    return f"{m.group(2)}{'.' + digits if digits else ''}e-{len(m.group(1)) + 5:02d}"


def _exponent_as_repr(m: re.Match[str]) -> str:
    return f"e{m.group(1) or '+'}{m.group(2).rjust(2, '0')}"


def csv_block(data: Any) -> str | None:
    """CSV rows of a 2-d float64 array, byte for byte what ``csv.writer`` writes for its
    ``tolist()``; None where that path must be taken (no orjson, a nan or inf, few rows).

    csv.writer writes a float as ``repr`` and quotes a field only when it holds the
    delimiter, a quote or a line break, which a number's text never does; so the
    rows are the numbers' shortest round-trip texts joined by commas. orjson
    formats a whole array in C (about 15x the csv module's speed); its notation is
    rewritten to ``repr``'s (tests/test_fast_io.py checks every float64 class).
    """
    import numpy as np

    if data.ndim != 2 or data.dtype != np.float64 or len(data) < CSV_BLOCK_MIN_ROWS \
            or data.shape[1] == 0:
        return None
    if not np.isfinite(data).all():  # orjson writes nan and inf as null
        return None
    return shortest_rows(data)


def shortest_rows(data: Any) -> str | None:
    """The rows of a 2-d float64 array as ``repr``'s texts joined by commas, a line per row
    (non-finite numbers as ``null``); None without orjson."""
    import numpy as np

    try:
        import orjson
    except ImportError:  # pragma: no cover - orjson is a dependency; the slow paths suffice
        return None
    text = orjson.dumps(np.ascontiguousarray(data), option=orjson.OPT_SERIALIZE_NUMPY).decode()
    text = text[2:-2].replace("],[", "\n")  # [[a,b],[c,d]] -> a,b\nc,d
    if "0.0000" in text:
        text = _TINY.sub(_tiny_as_repr, text)
    if "e" in text:
        text = _EXPONENT.sub(_exponent_as_repr, text)
    return text + "\n"


def _json_template(keys: Sequence[str], layout: dict[str, Any]) -> tuple[str, list[int]]:
    """A record as a %-format (a ``%s`` per key, then per leaf of the layout) and the
    layout's column indices in the order of their ``%s``; the separators of :func:`json_line`."""
    order: list[int] = []

    def key(k: str) -> str:
        return json.dumps(k).replace("%", "%%") + ": "

    # nested dicts walked without recursion: a stack of (dict's items, parts of its text)
    out: list[str] = [", ".join(key(k) + "%s" for k in keys)]
    stack: list[tuple[Iterator[tuple[str, Any]], list[str]]] = [(iter(layout.items()), [])]
    while stack:
        items, parts = stack[-1]
        for k, v in items:
            if isinstance(v, dict):
                parts.append(key(k))
                stack.append((iter(v.items()), []))
                break
            order.append(v)
            parts.append(key(k) + "%s")
        else:
            stack.pop()
            text = "{" + ", ".join(parts) + "}"
            if stack:
                stack[-1][1][-1] += text
            else:
                out.append(text[1:-1])
    body = ", ".join(p for p in out if p)
    return "{" + body + "}\n", order


def _json_values(values: list[Any]) -> list[str]:
    """Pass-through values as :func:`json_line` writes them inside a record."""
    if all(type(v) is str for v in values):
        return list(map(_encode_text, values))
    return [json.dumps(finite_or_none(v), allow_nan=False, separators=(", ", ": "))
            for v in values]


def json_block(parts: Any) -> str | None:
    """The JSON Lines of a block of records (a :class:`backprop.core.results.JsonParts`), byte
    for byte what :func:`json_line` writes for each record; None where that path must be taken.

    The numbers are formatted at once as for CSV (:func:`shortest_rows`; a nan or inf is
    ``null``, as JSON has no other spelling) and put in a %-format of the record, repeated.
    """
    import numpy as np

    template, order = _json_template(parts.keys, parts.layout)
    n = len(parts.block)
    if not order or n == 0:
        return None
    text = shortest_rows(parts.block[:, order])
    if text is None:
        return None
    numbers = text[:-1].replace("\n", ",").split(",")
    width = len(parts.keys) + len(order)
    table = np.empty((n, width), dtype=object)
    if parts.keys:
        if len(parts.cells) != n:
            return None
        flat = _json_values([v for row in parts.cells for v in row])
        table[:, :len(parts.keys)] = np.array(flat, dtype=object).reshape(n, len(parts.keys))
    table[:, len(parts.keys):] = np.array(numbers, dtype=object).reshape(n, len(order))
    return (template * n) % tuple(table.ravel().tolist())


def csv_cells_and_block(cells: list[list[str]], data: Any) -> str | None:
    """CSV rows of text cells followed by the numbers of a 2-d float64 array, byte for byte
    what ``csv.writer`` writes for ``[*cells[i], *data[i].tolist()]``; None where that path
    must be taken (a cell the csv module would quote, rows of several widths, see
    :func:`csv_block`).

    The csv module quotes a text cell only when it holds the delimiter, a quote or a
    line break: counted over all the cells at once, none of them may.
    """
    if len(cells) != len(data) or len(set(map(len, cells))) > 1:
        return None
    width = len(cells[0]) if cells else 0
    lines = list(map(",".join, cells)) if width else []
    if lines:  # the cells are checked before the numbers are formatted
        joined = "\n".join(lines)
        if (joined.count(",") != len(cells) * (width - 1)
                or joined.count("\n") != len(cells) - 1 or '"' in joined or "\r" in joined):
            return None
    numbers = csv_block(data)
    if numbers is None or not lines:
        return numbers
    return "\n".join(map(",".join, zip(lines, numbers.split("\n")))) + "\n"


class JsonLinesWriter(Writer):
    """One strict JSON object per record, one per line."""

    def write(self, result: Result) -> None:
        parts = getattr(result, "json_parts", None)
        if parts is not None and len(result) >= CSV_BLOCK_MIN_ROWS:  # type: ignore[arg-type]
            found = parts()
            text = None if found is None else json_block(found)
            if text is not None:
                self.out.write(text)
                self.out.flush()
                return
        self.write_records(result.records())

    def write_records(self, records: Iterable[Any]) -> None:
        self.out.write("".join([json_line(r) + "\n" for r in records]))
        self.out.flush()


class TableWriter(Writer):
    """A rich table per result, under a title (for a person reading a few rows)."""

    def __init__(self, columns: Sequence[str], out: Any = None, title: str | None = None,
                 full_precision: bool = False) -> None:
        super().__init__(columns, out)
        self.title = title
        self.full_precision = full_precision

    def write(self, result: Result) -> None:
        console().print(table(self.title, self.columns, result.rows(),
                              full_precision=self.full_precision))
        self.out.flush()


class StreamTableWriter(Writer):
    """Plain aligned columns, written chunk by chunk (see :class:`ColumnWriter`)."""

    _columns: ColumnWriter | None = None

    def write(self, result: Result) -> None:
        rows = result.rows()
        if self._columns is None:
            self._columns = ColumnWriter(self.columns, rows, self.out)
        self._columns.write(rows)
        self.out.flush()


def open_writer(format: str, columns: Sequence[str], *, title: str | None = None,
                streaming: bool = False, out: Any = None, full_precision: bool = False) -> Writer:
    """The writer of ``format`` ("table", "json" or "csv"); CSV writes its header at once.

    ``full_precision``: the table never shortens a number to fit (grad's values)."""
    if format == "csv":
        return CsvWriter(columns, out)
    if format == "json":
        return JsonLinesWriter(columns, out)
    if streaming:
        return StreamTableWriter(columns, out)
    return TableWriter(columns, out, title, full_precision)


def write_results(results: Iterable[Any], writer: Writer) -> None:
    """Write each result as it comes; warn once, at the first that is not finite.

    A result's ``diagnosis()`` says which module made it non-finite (see
    :class:`backprop.core.results.NonFinite`).
    """
    warned = False
    left_out: dict[str, None] = {}
    for result in results:
        if not warned:
            found = result.diagnosis()
            if found is not None:
                warned = True
                warn(found.message())
        if not isinstance(writer, JsonLinesWriter) and hasattr(result, "unlisted"):
            # members of JSON input that only later lines have: a CSV header or a table
            # is fixed by the first line, so say what is not shown
            new = [n for n in result.unlisted() if n not in left_out]
            if new:
                left_out.update(dict.fromkeys(new))
                warn(f"{', '.join(new)}: only in later input lines, not the first, so left out "
                     f"of the {'CSV' if isinstance(writer, CsvWriter) else 'table'}'s columns "
                     "(--format json keeps them)")
        writer.write(result)
    writer.close()


# ---- the trace of both passes -------------------------------------------------------------

def write_trace(t: Any, format: str) -> None:
    """The forward and backward passes, step by step (a :class:`backprop.core.trace.Trace`)."""
    if format == "json":
        JsonLinesWriter(t.columns).write(t)
        return
    if format == "csv":
        CsvWriter(t.columns).write(t)
        return
    at = ", ".join(f"{k} = {v!r}" for k, v in t.point.items())
    print_table(f"Forward pass of f = {t.expression.strip()} at {at}: compute and cache",
                ["node", "module", "computes", "value"],
                [(s.node, s.module, f"{s.node} = {s.computes}", s.value) for s in t.forward],
                right_align_from=3)
    # short headers, explained in the caption, so that the table fits 80 columns whole
    print_table("Backward pass: upstream gradient x local derivative, summed over paths",
                ["node", "upstream", "input", "local", "= value", "contribution"],
                [(b.node, b.upstream, b.input, b.local, b.local_value, b.contribution)
                 for b in t.backward],
                right_align_from=1,
                caption="upstream: df/d(node); local: d(node)/d(input); contribution: their "
                        "product, summed over the node's paths into df/d(input)")
    lines = [f"f = {t.value!r}"] + [f"df/d{k} = {v!r}" for k, v in t.grad.items()]
    console().print("\n".join(lines))


# ---- gradient descent ---------------------------------------------------------------------

def write_descent_end(followed: Any, writer: Writer, format: str, title: str) -> None:
    """After the rows: the summary record (JSON), a note on stderr (CSV), or the table."""
    outcome = followed.outcome
    if format == "json":
        JsonLinesWriter(writer.columns, writer.out).write_records([followed.summary()])
        return
    if format == "csv":
        if outcome.reason == "diverged":
            return  # the error message on stderr says how
        # CSV holds only rows; how it ended goes to stderr.
        sys.stderr.write(f"backprop: {'converged' if outcome.converged else 'not converged'}: "
                         f"{outcome.detail}\n")
        for note in getattr(outcome, "notes", ()):
            sys.stderr.write(f"backprop: note: {note}\n")
        return
    con = console()
    con.print(title)
    kept = followed.kept
    con.print(table(None, [*kept.columns[:-1], "|grad|"], kept.rows()))
    if outcome.reason == "diverged":
        return  # the error message on stderr says how, and where it was last finite
    if outcome.converged:
        con.print(f"converged after {outcome.steps} steps: {outcome.detail}")
    else:
        con.print(f"not converged: {outcome.detail}")
    best = outcome.last_finite or outcome.last
    at = ",".join(f"{k}={v!r}" for k, v in best.point.items())
    con.print(f"at {at}: f = {best.value!r}, |grad| = {best.grad_norm!r}")
    for note in getattr(outcome, "notes", ()):
        con.print(f"note: {note}")


# ---- progress -----------------------------------------------------------------------------

PROGRESS_AFTER_S = 0.5  # show a progress bar (on a terminal) once a run takes this long


class ProgressBar:
    """A transient progress bar on stderr, shown only on a terminal once the run takes a while.

    A context manager; ``update(done)`` is cheap until the bar is shown.
    """

    def __init__(self, total: int, label: str) -> None:
        import time

        self.total, self.label = total, label
        self._clock = time.perf_counter
        self.t0 = self._clock()
        self.bar: Any = None
        self.task: Any = None
        self.enabled = sys.stderr.isatty() and total > 0

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            if self._clock() - self.t0 < PROGRESS_AFTER_S:
                return
            from rich.progress import Progress

            self.bar = Progress(console=console(stderr=True), transient=True)
            self.bar.start()
            self.task = self.bar.add_task(self.label, total=self.total)
        self.bar.update(self.task, completed=done)

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.stop()


# ---- second order and several outputs -----------------------------------------------------

def significant(v: float, digits: int = 6) -> str:
    """A number with ``digits`` significant digits, for a person reading a matrix."""
    return f"{v:.{digits}g}"


class HessianTableWriter(Writer):
    """At each point: the value, then the gradient and the Hessian as a matrix whose rows
    and columns are named by the variables (6 significant digits)."""

    def __init__(self, title: str, out: Any = None) -> None:
        super().__init__([], out)
        self.title = title

    def write(self, result: Any) -> None:
        from rich.console import Group
        from rich.text import Text

        wrt = list(result.wrt)
        con = console()
        for p in range(len(result)):
            at = ", ".join(f"{k} = {fmt(float(v))}" for k, v in zip(result.variables,
                                                                     result.points[p]))
            head = Text(f"{self.title}  at {at}" if at else self.title, style="bold")
            value = Text(f"value {significant(float(result.value[p]), 10)}")
            if not wrt:
                con.print(Group(head, value))
                continue
            rows = [[u, significant(float(result.grad[p, i])),
                     *(significant(float(result.hessian[p, i, j])) for j in range(len(wrt)))]
                    for i, u in enumerate(wrt)]
            con.print(Group(head, value, Text("the gradient, and the Hessian: row u, column v "
                                              "holds d2f/dudv"),
                            table(None, ["", "gradient", *wrt], rows, right_align_from=1)))
        self.out.flush()


class JacobianTableWriter(Writer):
    """At one point: one row per output: the expression, its value, its gradient."""

    def __init__(self, title: str, out: Any = None) -> None:
        super().__init__([], out)
        self.title = title

    def write(self, result: Any) -> None:
        columns = ["output", "f", *(f"df/d{v}" for v in result.wrt)]
        for p in range(len(result)):
            at = ", ".join(f"{k} = {fmt(float(v))}" for k, v in zip(result.variables,
                                                                     result.points[p]))
            title = f"{self.title}  at {at}" if at else self.title
            # grad's values: every digit, the layout changes instead
            console().print(table(title, columns, result.output_rows(p), right_align_from=1,
                                  full_precision=True))
        self.out.flush()


def write_mode(mode: str, explanation: str, format: str) -> None:
    """Which mode a Jacobian was computed in, and why (``grad --trace`` of several outputs)."""
    if format == "json":
        sys.stdout.write(json_line({"mode": mode, "explanation": explanation}) + "\n")
    elif format == "csv":
        sys.stderr.write(f"backprop: {explanation}\n")  # CSV holds only rows
    else:
        console().print(explanation)

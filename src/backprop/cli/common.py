"""Pieces shared by the commands: option types, the EXPR argument, lists of names."""

from __future__ import annotations

from contextlib import contextmanager
from enum import Enum
from typing import TYPE_CHECKING, Any, Iterator, Literal, Sequence, overload

import typer

from backprop.errors import InputError

if TYPE_CHECKING:
    from backprop.core.function import Function
    from backprop.core.function import VectorFunction


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


class Angle(str, Enum):
    rad = "rad"
    deg = "deg"


EXPR_HELP = ("The expression, e.g. \"2/sin(exp(-x))\". One that begins with '-' "
             "(\"-x^2\") is taken as the expression, not an option.")
AT_HELP = ("The point: a number when EXPR has one variable (-4.499), name=value pairs "
           "(x=1,y=2); repeat --at for one row per point. '-' reads points from stdin and "
           "@FILE from a file: CSV with a header x,y (or one number per line), or JSON Lines "
           "such as backprop's own --format json ({\"at\": {\"x\": 1}, ...}), or Parquet "
           "(@FILE.parquet, the extra parquet); other columns and members pass through to "
           "the output.")
ANGLE_HELP = "rad, or deg: sin/cos/tan take degrees and asin/acos/atan return degrees."


VARS_HELP = ("The expression's variables, e.g. x,y: any other name is then an error "
             "(a typo such as 'sinx' for sin(x) cannot become a variable).")


@overload
def parse_expr(text: str, angle: Angle | str = ..., vars: str | None = ...,
               several: Literal[False] = ...) -> Function: ...


@overload
def parse_expr(text: str, angle: Angle | str, vars: str | None,
               several: Literal[True]) -> VectorFunction: ...


def parse_expr(text: str, angle: Angle | str = "rad", vars: str | None = None,
               several: bool = False) -> Function | VectorFunction:
    """EXPR parsed (a Function; with ``several``, expressions separated by ';' as a
    VectorFunction); warnings about names that look like typos go to stderr."""
    declared = None
    if vars is not None:
        declared = [n.strip() for n in vars.split(",") if n.strip()]
        if not declared:
            raise InputError("--vars is empty: name the variables, e.g. --vars x,y")
    angle_name = angle.value if isinstance(angle, Angle) else angle
    try:
        if several:
            from backprop.core.function import parse_vector

            f = parse_vector(text, angle_name, vars=declared, warn=False)
        else:
            from backprop.core.function import parse

            f = parse(text, angle=angle_name, vars=declared, warn=False)
    except InputError as exc:
        if vars is not None and str(exc).startswith("vars: "):
            raise InputError("--vars: " + str(exc)[len("vars: "):]) from None
        raise
    if f.warnings:
        from backprop.views.writers import warn

        for w in f.warnings:
            warn(w)
    return f


def split_names(text: str | None, option: str, variables: Sequence[str]) -> list[str] | None:
    """``--wrt x,y``: the names, checked against the expression's variables."""
    if text is None:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise InputError(f"{option} is empty: name one or more variables, e.g. {option} x,y")
    from backprop.core.points import check_variables

    check_variables(names, variables, f"{option}: ")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputError(f"{option}: {', '.join(dup)} is named twice")
    return names


class StreamFormat(str, Enum):
    """The formats of commands that write a row per point (Parquet to a file only)."""

    table = "table"
    json = "json"
    csv = "csv"
    parquet = "parquet"


OUTPUT_HELP = ("Write the rows to this file instead of stdout (csv, json or parquet), "
               "complete or not at all: a regular file is replaced when done; a device or "
               "FIFO is written through.")
# The -o of the commands that write a row per point (grad, hessian, predict): one option.
OUTPUT_OPTION = typer.Option(None, "--output", "-o", help=OUTPUT_HELP, metavar="FILE",
                             show_default=False)


@contextmanager
def output_stream(output: str | None, format: StreamFormat) -> Iterator[Any]:
    """Where the rows go: stdout, or ``output`` written atomically (binary for Parquet).

    Parquet never goes to stdout; a table goes only there.
    """
    import sys

    if output is None:
        if format is StreamFormat.parquet:
            from backprop.views.parquet import refuse_terminal

            refuse_terminal(sys.stdout)
        yield None
        return
    if format is StreamFormat.table:
        raise InputError("-o writes csv, json or parquet: add --format csv (or json, parquet)")
    if format is StreamFormat.parquet:
        from backprop.core.parquet import pyarrow_modules

        pyarrow_modules("--format parquet")  # before any work: the extra is there
    from pathlib import Path

    from backprop.files import check_output, open_output

    target = check_output(Path(output), "-o")  # before any work; a device or FIFO written through
    with open_output(target, "wb" if format is StreamFormat.parquet else "w") as fh:
        yield fh


def stream_writer(format: StreamFormat, columns: Sequence[str], out: Any, *,
                  title: str | None = None, streaming: bool = False,
                  full_precision: bool = False) -> Any:
    """The writer of ``format`` (see :func:`backprop.views.writers.open_writer`), Parquet's too."""
    if format is StreamFormat.parquet:
        from backprop.views.parquet import ParquetWriter

        return ParquetWriter(columns, out)
    from backprop.views.writers import open_writer

    return open_writer(format.value, columns, title=title, streaming=streaming, out=out,
                       full_precision=full_precision)


GLOB_CHARS = "*?["


def wants_partitions(at: Sequence[str], scheduler: str | None) -> bool:
    """A file per partition (cli/distributed.py): ``--scheduler`` given, or one
    ``--at @PATTERN`` with a glob character."""
    if scheduler is not None:
        return True
    if len(at) != 1 or not at[0].strip().startswith("@"):
        return False
    from pathlib import Path

    path = at[0].strip()[1:]
    return any(ch in path for ch in GLOB_CHARS) and not Path(path).exists()


def thread_count(threads: int | None) -> int | None:
    """``--threads N`` (or BACKPROP_THREADS when it is not given), checked and capped at
    :func:`backprop.threads.max_threads` with a warning; None: the cores."""
    from backprop import threads as threads_
    from backprop.views.writers import warn

    if threads is None:
        n, note = threads_.threads_from_environment()
    else:
        n, note = threads_.capped_threads(threads, "--threads")
    if note:
        warn(note)
    return n

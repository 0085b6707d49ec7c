"""Lines of user text, each of bounded length: how every stream of input is read.

A stream with no newline (``/dev/zero``, a pipe of endless bytes) or with one
huge line would otherwise be read whole into memory before anything could be
checked. The readers of user text (points on stdin or in an ``@FILE``, CSV
and JSON Lines data for ``train``, ``predict`` and ``evaluate``) read through
:class:`Lines`: a line longer than :data:`MAX_LINE` characters stops with its
source and line number (exit 2) once that many characters have been read, no
more. A CSV cell has the same limit (:func:`csv_reader`), and a chunk of lines
converted at once holds about :data:`CHUNK_CHARS` characters at most
(:func:`take`), however long its lines.
"""

from __future__ import annotations

import csv
from functools import partial
from itertools import islice
from typing import IO, Any, Iterable, Iterator, Sequence

from backprop.errors import InputError

MAX_LINE = 1 << 20  # characters in one line, or in one CSV cell (1 MiB of ASCII text)
CHUNK_CHARS = 1 << 25  # characters of text split into cells at a time (32 Mi; ~20 bytes a
# character once split into cells of one or two digits: well under a GB)


def too_long(source: str, lineno: int, what: str = "line") -> InputError:
    return InputError(f"{source} line {lineno}: the {what} is longer than {MAX_LINE:,} "
                      f"characters (the limit for a {what})")


def not_utf8(source: str, lineno: int, exc: UnicodeDecodeError) -> InputError:
    return InputError(f"{source} near line {lineno}: the bytes are not UTF-8 text ({exc.reason} "
                      f"at byte 0x{exc.object[exc.start]:02x})")


class Lines:
    """The lines of a text stream, each at most :data:`MAX_LINE` characters (without its end).

    Bytes that are not UTF-8 (under a strict decoder) and a longer line are
    reported as bad input with ``source`` and the line number. ``lines`` is the
    number of lines read so far.
    """

    def __init__(self, stream: IO[str], source: str) -> None:
        self._stream = stream
        self._source = source
        self.lines = 0

    def _check(self, line: str, lineno: int) -> None:
        if len(line.rstrip("\r\n")) > MAX_LINE:
            raise too_long(self._source, lineno)

    def readline(self) -> str:
        try:
            # MAX_LINE + 2: a line of MAX_LINE characters and its "\r\n" come whole
            line = self._stream.readline(MAX_LINE + 2)
        except UnicodeDecodeError as exc:
            raise not_utf8(self._source, self.lines + 1, exc) from None
        if line:
            self.lines += 1
            if len(line) > MAX_LINE:
                self._check(line, self.lines)
        return line

    def __iter__(self) -> Iterator[str]:
        # readline with a limit, called from C (iter over a partial): as fast as the
        # stream's own iteration, which has no limit
        read = iter(partial(self._stream.readline, MAX_LINE + 2), "")
        n = self.lines  # counted in a local: an attribute's update per line costs more
        try:
            for n, line in enumerate(read, n + 1):
                if len(line) > MAX_LINE:
                    self._check(line, n)
                yield line
        except UnicodeDecodeError as exc:
            # the decoder works on blocks of bytes ahead of the lines: "near"
            raise not_utf8(self._source, n + 1, exc) from None
        finally:
            self.lines = n


def take(lines: Iterator[str], rows: int) -> list[str]:
    """The next ``rows`` lines of ``lines``, fewer once they hold :data:`CHUNK_CHARS` characters.

    Lines are taken in C batches (islice), each so short that a chunk passes
    the budget by one line of :data:`MAX_LINE` at most (lines of 1 MiB cannot
    make a chunk of 65,536 lines 64 GiB).
    """
    if rows <= 1:
        return list(islice(lines, rows))
    batch: list[str] = []
    size = 0
    while len(batch) < rows and size < CHUNK_CHARS:
        step = min(rows - len(batch), max(1, (CHUNK_CHARS - size) // MAX_LINE))
        more = list(islice(lines, step))
        if not more:
            break
        batch += more
        size += sum(map(len, more))
    return batch


def shown(text: str, limit: int = 60) -> str:
    """``text`` quoted for a message, cut to about ``limit`` characters (a cell may hold a MiB)."""
    if len(text) <= limit:
        return repr(text)
    return repr(text[:limit]) + f"... ({len(text):,} characters)"


def listed(names: Sequence[str], most: int = 20) -> str:
    """Names for a message: the first ``most`` of them, and how many in all."""
    if len(names) <= most:
        return ", ".join(names)
    return ", ".join(names[:most]) + f", ... ({len(names):,} in all)"


def csv_reader(lines: Iterable[str], **options: Any) -> Any:
    """``csv.reader`` with cells of up to :data:`MAX_LINE` characters (its default is 128 Ki)."""
    if csv.field_size_limit() != MAX_LINE:
        csv.field_size_limit(MAX_LINE)
    return csv.reader(lines, **options)


def csv_error(source: str, lineno: int, exc: csv.Error) -> InputError:
    """A csv module error as bad input: ``lineno`` is the reader's ``line_num`` (the line it was
    reading when it failed)."""
    text = str(exc)
    if text.startswith("field larger than field limit"):
        return too_long(source, lineno, "cell")
    if text.startswith("new-line character seen in unquoted field"):
        text = "a carriage return (\\r) inside a cell that is not quoted"
    return InputError(f"{source} line {lineno}: not a readable CSV ({text})")

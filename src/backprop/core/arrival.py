"""Lines of a pipe as they arrive: whole blocks from a fast producer, at once from a slow one.

A text stream's iteration blocks until a block of rows is full, so behind
``tail -f`` nothing would come out for minutes. Here the file descriptor is
read directly (``os.read`` of what is there, up to 1 MiB) and the lines are
handed out in batches: a batch ends when it has ``batch_rows`` lines, or when
no more input comes within :data:`IDLE_S` (the producer is slower than the
reader), or at the latest :data:`LATEST_S` after its first line arrived (a
producer that trickles without a pause). A producer faster than the reader
fills the pipe, so its batches are full blocks, as before.

The bytes are decoded as the text stream would have decoded them (its encoding
and error handler), and lines end at ``\\n`` only, as the stream's own do.
"""

from __future__ import annotations

import codecs
import io
import os
import select
import stat
import time
from typing import IO, Iterator

from backprop.errors import InputError
from backprop.lines import CHUNK_CHARS, MAX_LINE, too_long

IDLE_S = 0.005  # no input for this long: the producer is waiting, so answer what is here
LATEST_S = 0.05  # a batch's first line waits at most this long for the rest of the batch
READ_BYTES = 1 << 20


def arriving_fd(stream: IO[str]) -> int | None:
    """The file descriptor of ``stream`` when it is a pipe, socket or terminal; None for a
    regular file (always ready: reading it as it arrives gains nothing) or a stream without
    one (tests' buffers).

    Nothing may have been read from ``stream`` before: what its buffers hold would be skipped.
    """
    try:
        fd = stream.fileno()
        mode = os.fstat(fd).st_mode
    except (AttributeError, OSError, ValueError):
        return None
    if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode)):
        return None
    return fd


# str.splitlines also ends lines at these; a text stream's lines end at "\n" only
_OTHER_LINE_ENDS = ("\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")


def split_lines(text: str) -> list[str]:
    """``text``'s lines, each with its ``\n``, as a text stream's iteration gives them."""
    if any(ch in text for ch in _OTHER_LINE_ENDS):
        return list(io.StringIO(text, newline="\n"))
    return text.splitlines(True)  # the fastest split, where it splits at "\n" only


class ArrivingLines:
    """The lines of a file descriptor, in batches of what has arrived (see the module).

    ``readline()`` gives one line (for the first line, that says the format);
    ``batches()`` the rest; iterating gives the lines one by one. ``cut`` is true
    while the line last given ends a batch (or, from ``readline()``, ends what
    was held): a reader of rows then answers the rows it holds.
    """

    def __init__(self, fd: int, batch_rows: int, source: str = "stdin", encoding: str = "utf-8",
                 errors: str = "strict") -> None:
        self._fd = fd
        self._rows = max(1, batch_rows)
        self._source = source
        self._decoder = codecs.getincrementaldecoder(encoding)(errors)
        self._lines: list[str] = []  # complete lines read, not yet handed out
        self._tail = ""  # text after the last line ending
        self._eof = False
        self._given = 0  # lines handed out (for messages)
        self._held = 0  # characters of the lines held (a batch holds about CHUNK_CHARS at most)
        self.cut = False

    @classmethod
    def of(cls, stream: IO[str], batch_rows: int, source: str = "stdin") -> ArrivingLines | None:
        """For a pipe or terminal (see :func:`arriving_fd`), else None."""
        fd = arriving_fd(stream)
        if fd is None:
            return None
        return cls(fd, batch_rows, source, getattr(stream, "encoding", None) or "utf-8",
                   getattr(stream, "errors", None) or "strict")

    def ready(self, timeout: float = 0.0) -> bool:
        """Whether a line is held or input is there to read (waiting up to ``timeout`` s)."""
        return bool(self._lines) or self._eof or self._ready(timeout)

    def _ready(self, timeout: float) -> bool:
        try:
            ready, _, _ = select.select([self._fd], [], [], max(0.0, timeout))
        except (OSError, ValueError):
            return True  # cannot wait on it: read, which blocks
        return bool(ready)

    def _read(self) -> None:
        """One read of what is there (blocking until something is): lines and tail grow."""
        try:
            data = os.read(self._fd, READ_BYTES)
        except InterruptedError:  # pragma: no cover - retried by Python itself (PEP 475)
            return
        try:
            text = self._tail + self._decoder.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            near = self._given + len(self._lines) + data[:exc.start].count(b"\n") + 1
            raise InputError(f"{self._source} near line {near}: the bytes are not UTF-8 text "
                             f"({exc.reason} at byte 0x{exc.object[exc.start]:02x})") from None
        if not data:
            self._eof = True
            self._tail = ""
            if text:
                self._lines.append(text)
            return
        lines = split_lines(text)
        self._tail = lines.pop() if lines and not lines[-1].endswith("\n") else ""
        # the same limit as every reader of lines (backprop/lines.py): a line without an
        # end (/dev/zero through a pipe) stops here, not when memory runs out
        if len(self._tail) > MAX_LINE or (lines and max(map(len, lines)) > MAX_LINE + 2):
            longest = next((k for k, ln in enumerate(lines) if len(ln) > MAX_LINE + 2), len(lines))
            raise too_long(self._source, self._given + len(self._lines) + longest + 1)
        self._lines.extend(lines)
        self._held += len(text) - len(self._tail)

    def readline(self) -> str:
        """The next line ('' at the end of the input)."""
        while not self._lines and not self._eof:
            self._read()
        if not self._lines:
            return ""
        self._given += 1
        line = self._lines.pop(0)
        self._held -= len(line)
        self.cut = not self._lines  # nothing more held: a row made of it is answered at once
        return line

    def unread(self, lines: list[str]) -> None:
        """Put ``lines`` (given by :meth:`readline`) back in front of the next batch."""
        self._lines[:0] = lines
        self._given -= len(lines)
        self._held += sum(map(len, lines))

    def batches(self) -> Iterator[list[str]]:
        """The remaining lines: at most ``batch_rows`` a batch, each as soon as it is due."""
        rows = self._rows
        while True:
            while not self._lines and not self._eof:
                self._read()  # nothing held: wait as long as it takes
            if not self._lines:
                return
            due = time.monotonic() + LATEST_S
            while len(self._lines) < rows and self._held < CHUNK_CHARS and not self._eof:
                wait = min(IDLE_S, due - time.monotonic())
                if not self._ready(wait):
                    break  # the producer is slower than this reader: answer now
                self._read()
            batch, self._lines = self._lines[:rows], self._lines[rows:]
            self._given += len(batch)
            self._held = sum(map(len, self._lines))
            yield batch

    def __iter__(self) -> Iterator[str]:
        for batch in self.batches():
            self.cut = False
            last = batch.pop()
            yield from batch
            self.cut = True
            yield last

"""Text to graph. The only module that knows about Lark.

The LALR parser calls the transformer's methods as it reduces each rule, so no
parse tree is ever built and nothing recurses: a 100,000-deep expression is a
100,000-deep parser stack (a Python list), not a Python call stack.
"""

from __future__ import annotations

import hashlib
import math
import os
import stat
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from lark import __version__ as LARK_VERSION
from lark import Lark, Token, Transformer, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput

from backprop.errors import ExpressionError
from backprop.core.ops import CONSTANTS, FUNCTIONS
from backprop.core.graph import Graph, GraphBuilder

# Characters. Lark's LALR parser costs ~15 us and ~400 bytes per token, and the
# worst text is one token per character ("----...x"): at 1,000,000 characters that
# is ~15 s and ~450 MB on a small machine; past it we refuse at once rather than
# spend minutes and gigabytes (a limit documented in SECURITY.md and the README).
MAX_TEXT = 1_000_000

_DEG = math.pi / 180.0


def _grammar_path() -> Path:
    # Installed wheel: a copy inside the package. Source checkout: grammars/ at the top.
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "grammars" / "expr.lark", here.parent.parent / "grammars" / "expr.lark"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("grammar expr.lark not found beside the package nor in grammars/")


class _ToGraph(Transformer):
    """Reduces each rule straight into the graph builder (hash-consed nodes)."""

    def __init__(self) -> None:
        super().__init__(visit_tokens=False)
        self.b = GraphBuilder()
        self.deg = False
        self.text = ""

    def _error(self, token: Token, message: str) -> ExpressionError:
        return ExpressionError(message, _caret(self.text, token.start_pos or 0))

    def start(self, c: list) -> list[int]:
        return list(c)

    # leaves
    def number(self, c: list) -> int:
        return self.b.const(float(c[0]))

    def name(self, c: list) -> int:
        tok: Token = c[0]
        if tok in CONSTANTS:
            return self.b.const(CONSTANTS[str(tok)])
        if tok in FUNCTIONS:
            raise self._error(tok, f"'{tok}' is a function: call it as {tok}(...)")
        return self.b.var(str(tok))

    # operators
    def add(self, c: list) -> int:
        return self.b.apply("add", c[0], c[1])

    def sub(self, c: list) -> int:
        return self.b.apply("sub", c[0], c[1])

    def mul(self, c: list) -> int:
        return self.b.apply("mul", c[0], c[1])

    def div(self, c: list) -> int:
        return self.b.apply("div", c[0], c[1])

    def pow(self, c: list) -> int:
        return self.b.apply("pow", c[0], c[2])

    def neg(self, c: list) -> int:
        return self.b.apply("neg", c[0])

    def pos(self, c: list) -> int:
        return c[0]

    def arguments(self, c: list) -> list:
        return list(c)

    def call(self, c: list) -> int:
        tok: Token = c[0]
        args: list[int] = c[1]
        fn = FUNCTIONS.get(str(tok))
        if fn is None:
            if tok in CONSTANTS:
                raise self._error(tok, f"'{tok}' is a constant, not a function")
            known = ", ".join(sorted(FUNCTIONS))
            raise self._error(tok, f"unknown function '{tok}' (known: {known})")
        if len(args) != fn.arity:
            s = "" if fn.arity == 1 else "s"
            raise self._error(tok, f"{tok} takes {fn.arity} argument{s}, got {len(args)}")
        b = self.b
        if self.deg and fn.angle_in:  # degrees in: sin(u) is sin(u * pi/180)
            args = [b.apply("mul", args[0], b.const(_DEG))]
        node = b.apply(fn.name, *args)
        if self.deg and fn.angle_out:  # degrees out: asin(u) is asin(u) * 180/pi
            node = b.apply("mul", node, b.const(1.0 / _DEG))
        return node


def _caret(text: str, pos: int, span: int = 40) -> str:
    """The line around ``pos`` with a caret under it (long lines are windowed)."""
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    end = len(text) if end < 0 else end
    lo, hi = max(start, pos - span), min(end, pos + span)
    prefix = "..." if lo > start else ""
    suffix = "..." if hi < end else ""
    line = prefix + text[lo:hi] + suffix
    return f"  {line}\n  {' ' * (len(prefix) + pos - lo)}^"


_lock = threading.Lock()
_parser: Lark | None = None
_transformer: _ToGraph | None = None


def _get_parser() -> tuple[Lark, _ToGraph]:
    global _parser, _transformer
    if _parser is None:
        _transformer = _ToGraph()
        text = _grammar_path().read_text(encoding="utf-8")
        _parser = _build_parser(text, _transformer, _cache_file(text))
    assert _transformer is not None
    return _parser, _transformer


# ---- the parser tables, cached per user --------------------------------------------------
# Building the LALR tables from the grammar costs ~25 ms at every start; Lark can
# save them (its `cache=` option) and load them in a few. The file lives in the
# user's own cache directory, private (0700): Lark's cache is a pickle, so only
# its owner may be able to write it. Its name carries a digest of the grammar,
# Lark's version and Python's, so a change of any makes a new file (Lark also
# checks the same key inside the file and rebuilds on a mismatch). With no usable
# directory (no home, read-only, someone else's) the tables are built as before.
# Beside the file, parser.lock serialises the processes that load or write it.


def cache_dir() -> Path | None:
    """``$XDG_CACHE_HOME/backprop`` or ``~/.cache/backprop``, created private; None if unusable."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    try:
        # the XDG spec: a relative XDG_CACHE_HOME is invalid and ignored
        root = Path(base) if os.path.isabs(base) else Path.home() / ".cache"
        path = root / "backprop"
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.mkdir(mode=0o700, exist_ok=True)
        if not _private(path, stat.S_ISDIR):
            return None
    except (OSError, RuntimeError, KeyError):  # no home directory, read-only, ...
        return None
    return path


def _private(path: Path, kind: Callable[[int], bool]) -> bool:
    """Whether ``path`` is of ``kind`` (``stat.S_ISDIR``...), ours, and writable by no one else."""
    st = path.stat()
    mine = not hasattr(os, "getuid") or st.st_uid == os.getuid()
    return kind(st.st_mode) and mine and not st.st_mode & 0o022


def _cache_file(grammar: str) -> Path | None:
    folder = cache_dir()
    if folder is None:
        return None
    key = f"{grammar}\0{LARK_VERSION}\0{sys.version_info[:2]}".encode()
    return folder / f"expr-{hashlib.sha256(key).hexdigest()[:16]}.lark-cache"


def _build_parser(grammar: str, transformer: _ToGraph, cache: Path | None) -> Lark:
    options = {"parser": "lalr", "transformer": transformer, "propagate_positions": False}
    if cache is None:
        return Lark(grammar, **options)
    try:
        usable = _private(cache, stat.S_ISREG)
    except FileNotFoundError:
        usable = True  # Lark makes it
    except OSError:
        usable = False
    if not usable:  # someone else's file, or writable by others: do not read it
        return Lark(grammar, **options)
    # Lark writes its cache with a plain open() (and rewrites a stale or corrupt
    # one, having caught the error): one process at a time, so none reads or
    # writes half a file. (Lark's key includes the path: no temporary name.)
    with _locked(cache.parent / "parser.lock"):
        parser = Lark(grammar, cache=str(cache), **options)
        try:
            if stat.S_IMODE(cache.stat().st_mode) != 0o600:
                os.chmod(cache, 0o600)
        except OSError:  # not written (read-only): it only costs time
            pass
    return parser


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` for the block (none where fcntl or the file is missing)."""
    try:
        import fcntl

        fd: int | None = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except (ImportError, OSError):
        fd = None
    if fd is None:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _describe(exc: UnexpectedInput, text: str) -> str:
    if isinstance(exc, UnexpectedEOF):
        return "the expression ends too early"
    if isinstance(exc, UnexpectedCharacters):
        ch = text[exc.pos_in_stream] if exc.pos_in_stream < len(text) else ""
        if ch and not ch.isascii():
            return f"character {ch!r} is not part of the language (ASCII only)"
        return f"unexpected character {ch!r}"
    tok = getattr(exc, "token", None)
    if tok is None or tok.type == "$END":
        return "the expression ends too early"
    before = text[: tok.start_pos].rstrip()[-1:] if tok.start_pos else ""
    if tok.type in ("NAME", "NUMBER", "LPAR") and (before.isalnum() or before in "_.)"):
        # a value right after a value: the classic "2x"
        return f"unexpected '{tok}': there is no implicit multiplication (write '*')"
    return f"unexpected '{tok}'"


def parse_graph(text: str, angle: str = "rad", several: bool = False) -> Graph:
    """Parse ``text`` into a :class:`Graph`. ``angle="deg"`` makes trig take degrees.

    ``several``: accept expressions separated by ';', one output each (``graph.outputs``).
    """
    if angle not in ("rad", "deg"):
        raise ValueError(f"angle must be 'rad' or 'deg', not {angle!r}")
    if len(text) > MAX_TEXT:
        raise ExpressionError(f"the expression is {len(text):,} characters long; the limit is {MAX_TEXT:,}")
    if not text.strip():
        raise ExpressionError("the expression is empty")
    with _lock:
        parser, t = _get_parser()
        t.b, t.deg, t.text = GraphBuilder(), angle == "deg", text
        try:
            out = parser.parse(text)
        except UnexpectedInput as exc:
            pos = exc.pos_in_stream if exc.pos_in_stream is not None else len(text)
            if isinstance(exc, UnexpectedEOF):
                pos = len(text.rstrip())
            raise ExpressionError(_describe(exc, text), _caret(text, pos)) from None
        except ExpressionError:
            raise
        except Exception as exc:  # lark wraps callback errors in VisitError on some paths
            inner = getattr(exc, "orig_exc", None)
            if isinstance(inner, ExpressionError):
                raise inner from None
            raise
        if len(out) > 1 and not several:
            raise ExpressionError(f"';' separates {len(out)} expressions; one is expected here "
                                  "(only grad takes several, for their Jacobian)",
                                  _caret(text, text.index(";")))
        graph = t.b.finish(out[-1], tuple(out))
        t.b = GraphBuilder()  # drop the reference; the graph is the caller's now
        return graph

"""Text to graph. The only module that knows about Lark.

The LALR parser calls the transformer's methods as it reduces each rule, so no
parse tree is ever built and nothing recurses: a 100,000-deep expression is a
100,000-deep parser stack (a Python list), not a Python call stack.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import math
import os
import re
import stat
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

from lark import __version__ as LARK_VERSION
from lark import Lark, Token, Transformer, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput

from backprop.errors import ExpressionError
from backprop.core.ops import ALIASES, CONSTANTS, FUNCTIONS
from backprop.core.graph import CONST, Graph, GraphBuilder
from backprop.core.normalize import caret, normalize

# Characters. Lark's LALR parser's time and memory grow with the tokens, and the worst
# text is one token per character ("----...x"): at this length that is already seconds
# and hundreds of MB on a small machine; past it we refuse at once rather than spend
# minutes and gigabytes (a limit documented in SECURITY.md and the README).
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
        self.text = ""  # what the user typed (carets are drawn under it)
        self.parsed = ""  # the ASCII text the parser reads (normalize's output)
        self.origin: list[int] | None = None  # parsed position -> typed position
        self.vars: frozenset[str] | None = None  # the declared variables (--vars), if any
        self.first_seen: dict[str, int] = {}  # each variable's first position (parsed text)
        self.notes: list[str] = []  # names read in another case ("'Tanh' is read as ...")
        self.notes_seen: set[str] = set()

    def where(self, pos: int) -> int:
        """A position in the parsed text as a position in the typed text."""
        return pos if self.origin is None else self.origin[min(pos, len(self.origin) - 1)]

    def _error(self, token: Token, message: str) -> ExpressionError:
        return ExpressionError(message, caret(self.text, self.where(token.start_pos or 0)))

    def start(self, c: list) -> list[int]:
        return list(c)

    # leaves
    def number(self, c: list) -> int:
        value = float(c[0])
        if math.isinf(value):  # only digits reach here: an overflow, never a deliberate inf
            raise self._error(c[0], f"the number {c[0]} is too large for a float64 "
                                    f"(the largest is about 1.8e308)")
        return self.b.const(value)

    def name(self, c: list) -> int:
        tok: Token = c[0]
        if tok in CONSTANTS:
            return self.b.const(CONSTANTS[str(tok)])
        if tok in FUNCTIONS or tok in ALIASES:
            raise self._error(tok, f"'{tok}' is a function: call it as {tok}(...)")
        name = str(tok)
        if self.vars is not None and name not in self.vars:
            declared = ", ".join(sorted(self.vars)) or "none"
            guess = typo_guess(name, self.vars)
            hint = f"; did you mean {guess}?" if guess else ""
            raise self._error(tok, f"'{name}' is not one of the declared variables "
                                   f"({declared}){hint}")
        if name not in self.first_seen:
            self.first_seen[name] = tok.start_pos or 0
        return self.b.var(name)

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

    def bars(self, c: list) -> int:  # |u| is abs(u)
        return self.b.apply("abs", c[0])

    def call(self, c: list) -> int:
        return self._call(c[0], str(c[0]), c[1])

    def call_power(self, c: list) -> int:
        """sin^2(x): sin(x)^2, the textbook's power of a function's value."""
        tok: Token = c[0]
        m = _FUNC_POWER.fullmatch(str(tok))
        assert m is not None  # the grammar's FUNC_POWER
        name, exponent = m["name"], int(m["exponent"])
        if self._resolve(tok, name, quiet=True) is None:  # x^2(y): a power, then '('
            raise ExpressionError("unexpected '(': there is no implicit multiplication (write '*')",
                                  caret(self.text, self.where((tok.start_pos or 0) + len(str(tok)) - 1)))
        if exponent < 0:
            inverse = _INVERSES.get(self._resolve(tok, name, quiet=True) or "")
            shown = f"{name}^{m['exponent']}(...)"
            if exponent == -1 and inverse:
                raise self._error(tok, f"{shown} is the inverse function in textbooks: write "
                                       f"{inverse}(...) (or 1/{name}(...) for the reciprocal)")
            raise self._error(tok, f"{shown} is ambiguous: write {name}(...)^{exponent} for the "
                                   "power of its value")
        node = self._call(tok, name, c[1])
        return self.b.apply("pow", node, self.b.const(float(exponent)))

    def _resolve(self, tok: Token, name: str, quiet: bool = False) -> str | None:
        """The function (or rewrite) that ``name`` calls, or None; notes a name read in
        another case (no note for the common spellings ReLU, Softplus, Abs, Max, Min)."""
        if name in FUNCTIONS or name in ALIASES or name in REWRITES:
            return name
        if self.vars is not None and name in self.vars:
            return None  # a declared variable keeps its name: x(...) is then x*(...)
        if name == "sigma":  # the slides' σ(a), spelt out
            return "sigmoid"
        low = name.lower()
        if low == "sigma" or low in FUNCTIONS or low in ALIASES or low in REWRITES:
            if not quiet and name not in _QUIET_SPELLINGS and name not in self.notes_seen:
                self.notes_seen.add(name)
                self.notes.append(f"'{name}' is read as the function {low}")
            return "sigmoid" if low == "sigma" else low
        return None

    def _call(self, tok: Token, name: str, args: list[int]) -> int:
        resolved = self._resolve(tok, name)
        if resolved is None:
            if tok in CONSTANTS:
                raise self._error(tok, f"'{tok}' is a constant, not a function")
            raise self._error(tok, self._unknown_function(tok))
        b = self.b
        if resolved in REWRITES:  # a function the language lacks, by its definition
            outer, inner = REWRITES[resolved]
            self._arity(tok, 1, args)
            if outer == "atan":  # acot(u) = atan(1/u)
                return self._apply("atan", [b.apply("div", b.const(1.0), args[0])])
            return b.apply("div", b.const(1.0), self._apply(inner, args))
        fn = FUNCTIONS[ALIASES.get(resolved, resolved)]
        if fn.name == "log" and len(args) == 2:  # log(x, b): the logarithm to base b
            base = b.graph.leaf[args[1]] if b.graph.ops[args[1]] == CONST else None
            if base == 2.0 or base == 10.0:
                return self._apply(f"log{int(base)}", [args[0]])
            return b.apply("div", self._apply("log", [args[0]]), self._apply("log", [args[1]]))
        if fn.name in ("max", "min") and len(args) > 2:  # max(a, b, c) = max(max(a, b), c)
            node = args[0]
            for a in args[1:]:
                node = b.apply(fn.name, node, a)
            return node
        self._arity(tok, fn.arity, args)
        return self._apply(fn.name, args)

    def _arity(self, tok: Token, arity: int, args: list[int]) -> None:
        if len(args) != arity:
            s = "" if arity == 1 else "s"
            raise self._error(tok, f"{tok} takes {arity} argument{s}, got {len(args)}")

    def _apply(self, name: str, args: list[int]) -> int:
        fn, b = FUNCTIONS[name], self.b
        if self.deg and fn.angle_in:  # degrees in: sin(u) is sin(u * pi/180)
            args = [b.apply("mul", args[0], b.const(_DEG))]
        node = b.apply(fn.name, *args)
        if self.deg and fn.angle_out:  # degrees out: asin(u) is asin(u) * 180/pi
            node = b.apply("mul", node, b.const(1.0 / _DEG))
        return node

    def _unknown_function(self, tok: Token) -> str:
        declared = self.vars is not None and str(tok) in self.vars
        close = [] if declared else difflib.get_close_matches(str(tok), [*FUNCTIONS, *ALIASES],
                                                               n=1, cutoff=0.75)
        if close:
            return f"unknown function '{tok}'; did you mean {close[0]}?"
        # most likely a variable times a parenthesis: x(x+1) meant x*(x+1)
        group = _parenthesised(self.parsed, tok.end_pos or 0)
        product = f"{tok}*{group}" if group and len(group) <= 40 else f"{tok}*(...)"
        what = f"'{tok}' is a declared variable, not a function" if declared \
            else f"unknown function '{tok}'"
        return f"{what}; did you mean {product}? (there is no implicit multiplication)"


# Functions the language lacks, by their definition: name -> (outer, inner);
# sec(u) = 1/cos(u), ..., and acot(u) = atan(1/u) (the convention of SymPy, in (-pi/2, pi/2]).
REWRITES: dict[str, tuple[str, str]] = {
    "sec": ("1/", "cos"), "csc": ("1/", "sin"), "cot": ("1/", "tan"),
    "sech": ("1/", "cosh"), "csch": ("1/", "sinh"), "coth": ("1/", "tanh"),
    "acot": ("atan", "1/"),
}
# Spellings of another case read without a note: the deep-learning slides' ReLU and
# Softplus, and SymPy's printed Abs, Max, Min.
_QUIET_SPELLINGS = frozenset({"ReLU", "Softplus", "SoftPlus", "Abs", "Max", "Min"})
_INVERSES = {"sin": "asin", "cos": "acos", "tan": "atan", "sinh": "asinh", "cosh": "acosh",
             "tanh": "atanh", "arcsin": "asin", "arccos": "acos", "arctan": "atan"}
_FUNC_POWER = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)[ \t]*(?:\^|\*\*)[ \t]*"
                         r"(?P<exponent>[-+]?[0-9]+)[ \t]*\(")


def _parenthesised(text: str, pos: int) -> str:
    """The balanced ``( ... )`` that starts at or after ``pos`` (after spaces), or ''."""
    i = pos
    while i < len(text) and text[i] in " \t\r\n\f\v":
        i += 1
    if i >= len(text) or text[i] != "(":
        return ""
    depth = 0
    for k in range(i, min(len(text), i + 200)):
        depth += {"(": 1, ")": -1}.get(text[k], 0)
        if depth == 0:
            return text[i:k + 1]
    return ""


# ---- names that look like typos --------------------------------------------------------------
# A variable is warned about when its name is a known function (or pi) glued to what
# is most likely its argument: "sinx" is sin(x), "pix" is pi*x. The argument part must be
#   (1) a variable that the expression also uses on its own ("x*expx", "cost + t"), or
#   (2) x, a letter followed by digits (t0, x1) or the name of a Greek letter (theta),
#       optionally after a number ("sin2x" is sin(2*x)).
# So real words stay quiet: cost (cos+t), sine (sin+e), expected, exponent, cosmic, tangent,
# logit, pixel, signal, steps, cosy: what follows the function's name is not an argument
# by rule (2), and is not a variable of the expression. The constant e is never a prefix
# (ex, ey, eta, epsilon are ordinary names). With declared variables (--vars), rule (1)
# reads the declared names. Tested against a list of real names in tests/test_input.py.
_GREEK_NAMES = ("alpha", "beta", "gamma", "delta", "epsilon", "theta", "phi", "psi", "omega",
                "lambda", "mu", "sigma", "rho", "tau")
_ARGUMENT = re.compile(r"(?P<num>[0-9]+(?:\.[0-9]+)?)?(?P<arg>[A-Za-z_][A-Za-z0-9_]*)")
_LIKELY_ARGUMENT = re.compile(r"x[0-9]*|[A-Za-z][0-9]+|(?:%s)[0-9]*" % "|".join(_GREEK_NAMES))


@functools.cache  # the table does not change; typo_guess runs for every variable of every parse
def _prefixes() -> tuple[tuple[str, bool], ...]:
    """(name, is_function) for every one-argument function, alias and pi; longest first."""
    names = [(n, True) for n, p in FUNCTIONS.items() if p.arity == 1]
    names += [(a, True) for a, n in ALIASES.items() if FUNCTIONS[n].arity == 1]
    names.append(("pi", False))
    return tuple(sorted(names, key=lambda t: -len(t[0])))


def typo_guess(name: str, variables: Iterable[str]) -> str | None:
    """What a variable called ``name`` most likely meant ("sin(x)", "pi*x"), or None."""
    others = set(variables) - {name}
    for prefix, is_function in _prefixes():
        if not name.startswith(prefix) or len(name) == len(prefix):
            continue
        m = _ARGUMENT.fullmatch(name, len(prefix))
        if m is None:
            continue
        arg, num = m["arg"], m["num"]
        if arg in others or _LIKELY_ARGUMENT.fullmatch(arg):
            inner = f"{num}*{arg}" if num else arg
            return f"{prefix}({inner})" if is_function else f"{prefix}*{inner}"
    return None


def typo_warnings(variables: Sequence[str]) -> list[str]:
    """One warning per variable whose name reads as a function glued to its argument."""
    out = []
    for v in variables:
        guess = typo_guess(v, variables)
        if guess is not None:
            out.append(f"'{v}' is read as one variable; did you mean {guess}?")
    return out




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
# Building the LALR tables from the grammar is a large part of a start; Lark can save
# them (its `cache=` option) and load them far faster (docs/performance.md). The file lives in the
# user's own cache directory, private (0700): Lark's cache is a pickle, so only
# its owner may be able to write it. Its name carries a digest of the grammar,
# Lark's version and Python's, so a change of any makes a new file (Lark also
# checks the same key inside the file and rebuilds on a mismatch). With no usable
# directory (no home, read-only, someone else's) the tables are built from the grammar.
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
    unpaired = text.count("|") % 2 == 1
    if isinstance(exc, UnexpectedEOF):
        return "the expression ends too early" + (": a '|' is not closed" if unpaired else "")
    if isinstance(exc, UnexpectedCharacters):
        ch = text[exc.pos_in_stream] if exc.pos_in_stream < len(text) else ""
        if ch and not ch.isascii():
            return f"character {ch!r} is not part of the language (ASCII only)"
        return f"unexpected character {ch!r}"
    tok = getattr(exc, "token", None)
    if tok is None or tok.type == "$END":
        return "the expression ends too early" + (": a '|' is not closed" if unpaired else "")
    if tok == "|":
        if unpaired:
            return "unexpected '|': bars come in pairs (|x - 3| is abs(x - 3))"
        return ("unexpected '|': there is no implicit multiplication (write |a|*|b|, "
                "or abs(...) where bars are hard to read)")
    before = text[: tok.start_pos].rstrip()[-1:] if tok.start_pos else ""
    if tok.type in ("NAME", "NUMBER") and before.isalnum():
        # "sin x": a function's name, then its argument without parentheses
        word = re.search(r"([A-Za-z_][A-Za-z0-9_]*)\s*$", text[: tok.start_pos])
        called = word.group(1) if word else ""
        if called in FUNCTIONS or called in ALIASES or called.lower() in FUNCTIONS \
                or called in REWRITES or called == "sigma":
            return (f"unexpected '{tok}': did you mean {called}({tok})? "
                    "(a function's argument goes in parentheses)")
    if tok.type in ("NAME", "NUMBER", "LPAR") and (before.isalnum() or before in "_.)|"):
        # a value right after a value: the classic "2x"
        return f"unexpected '{tok}': there is no implicit multiplication (write '*')"
    return f"unexpected '{tok}'"


@dataclass(frozen=True)
class Parsed:
    """A parsed expression: the graph, and warnings about names that look like typos."""

    graph: Graph
    warnings: tuple[str, ...] = ()


def parse_graph(text: str, angle: str = "rad", several: bool = False) -> Graph:
    """Parse ``text`` into a :class:`Graph`. ``angle="deg"`` makes trig take degrees.

    ``several``: accept expressions separated by ';', one output each (``graph.outputs``).
    """
    return parse_text(text, angle, several=several).graph


def check_declared(names: Iterable[str], what: str = "vars") -> frozenset[str]:
    """Declared variable names, each a NAME of the language that is not a function or constant."""
    out = []
    for n in names:
        n = n.strip()
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", n):
            raise ExpressionError(f"{what}: {n!r} is not a variable name (letters, digits, _)")
        if n in FUNCTIONS or n in ALIASES or n in CONSTANTS:
            kind = "constant" if n in CONSTANTS else "function"
            raise ExpressionError(f"{what}: '{n}' is a {kind}, not a variable name")
        out.append(n)
    return frozenset(out)


def parse_text(text: str, angle: str = "rad", vars: Iterable[str] | None = None,
               several: bool = False) -> Parsed:
    """Parse ``text``: the graph and the typo warnings.

    ``vars``: the declared variables; any other free name is an error (with a
    caret) instead of a variable, and no typo is guessed at. ``several``: accept
    expressions separated by ';', one output each (``graph.outputs``).
    """
    if angle not in ("rad", "deg"):
        raise ValueError(f"angle must be 'rad' or 'deg', not {angle!r}")
    if len(text) > MAX_TEXT:
        raise ExpressionError(f"the expression is {len(text):,} characters long; the limit is {MAX_TEXT:,}")
    if not text.strip():
        raise ExpressionError("the expression is empty")
    declared = None if vars is None else check_declared(vars)
    parsed, origin = normalize(text)
    with _lock:
        parser, t = _get_parser()
        t.b, t.deg, t.text = GraphBuilder(), angle == "deg", text
        t.parsed, t.origin, t.vars, t.first_seen = parsed, origin, declared, {}
        t.notes, t.notes_seen = [], set()
        try:
            out = parser.parse(parsed)
        except UnexpectedInput as exc:
            pos = exc.pos_in_stream if exc.pos_in_stream is not None else len(parsed)
            if isinstance(exc, UnexpectedEOF):
                pos = len(parsed.rstrip())
            raise ExpressionError(_describe(exc, parsed), caret(text, t.where(pos))) from None
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
                                  caret(text, text.index(";")))
        if vars is not None:
            # a declared variable is a variable even where the text does not use it:
            # its partial derivative is 0 (grad --vars x,y of x^2 gives df/dy = 0)
            for name in dict.fromkeys(n.strip() for n in vars):
                if name not in t.first_seen:
                    t.b.var(name)
        graph = t.b.finish(out[-1], tuple(out))
        t.b = GraphBuilder()  # drop the reference; the graph is the caller's now
        notes = tuple(t.notes)
    warnings = notes if declared is not None else notes + tuple(typo_warnings(graph.variables))
    return Parsed(graph, warnings)

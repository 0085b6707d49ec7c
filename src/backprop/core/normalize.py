"""The notation people paste, rewritten into the ASCII expression language.

Slides, PDFs and word processors give ``π·x² − 1``; the grammar
(grammars/expr.lark) is ASCII. :func:`normalize` rewrites the accepted
characters before parsing and keeps, for every character of the rewritten
text, the position of the character it came from, so a caret drawn under an
error still stands under what the user typed. Every rewrite is listed in the
grammar file's header and in the README:

    π -> pi      × · ⋅ ∙ ∗ -> *      ÷ ∕ -> /      − ‐ ‑ ‒ – -> -
    x² x⁻¹ (superscript digits, optional ⁺ or ⁻ first) -> x^2 x^-1
    √(x) -> sqrt(x);  √x and √2 (a name or a number right after √) -> sqrt(x), sqrt(2)
    σ( -> sigmoid(  (the slides' σ(a); a σ that is not called is refused, as other letters)
    no-break and other Unicode spaces -> a space

Any other non-ASCII character is refused (exit 2) with a caret, and with a
suggestion where there is an obvious one (Greek letters by name, ``—`` -> ``-``,
full-width ``ｘ`` -> ``x``, curly quotes).
"""

from __future__ import annotations

import re
import unicodedata

from backprop.errors import ExpressionError

_SIMPLE: dict[str, str] = {
    "\u00d7": "*", "\u00b7": "*", "\u22c5": "*", "\u2219": "*", "\u2217": "*",  # × · ⋅ ∙ ∗
    "\u00f7": "/", "\u2215": "/",  # ÷ ∕
    "\u2212": "-", "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-",  # − ‐ ‑ ‒ –
}
_SUPERSCRIPT: dict[str, str] = {
    "\u2070": "0", "\u00b9": "1", "\u00b2": "2", "\u00b3": "3", "\u2074": "4",
    "\u2075": "5", "\u2076": "6", "\u2077": "7", "\u2078": "8", "\u2079": "9",
}
_SUPERSCRIPT_SIGN = {"\u207a": "+", "\u207b": "-"}  # ⁺ ⁻
_SUPERSCRIPT_RUN = re.compile("[\u207a\u207b]?[\u2070\u00b9\u00b2\u00b3\u2074-\u2079]+")
_ATOM_AFTER_ROOT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
                              r"(?:[eE][+-]?[0-9]+)?")
_IDENT = re.compile(r"[A-Za-z0-9_]")
_CALL_AFTER = re.compile(r"[ \t]*\(")

_GREEK = {
    "α": "alpha", "β": "beta", "γ": "gamma", "δ": "delta", "ε": "epsilon", "ζ": "zeta",
    "η": "eta", "θ": "theta", "ι": "iota", "κ": "kappa", "λ": "lambda", "μ": "mu",
    "ν": "nu", "ξ": "xi", "ρ": "rho", "σ": "sigma", "τ": "tau", "υ": "upsilon",
    "φ": "phi", "ϕ": "phi", "χ": "chi", "ψ": "psi", "ω": "omega",
}
_HINTS = {
    "\u2014": "write '-' for minus",  # — em dash
    "\u2044": "write '/'",  # ⁄ fraction slash
    "\u02c6": "write '^'",  # ˆ
    "\u2018": "quotes are not part of the language", "\u2019": "quotes are not part of the language",
    "\u201c": "quotes are not part of the language", "\u201d": "quotes are not part of the language",
    "\u221e": "there is no infinity in the language",  # ∞
    "\u00b0": "write the angle in radians, or use --angle deg",  # °
}


def _suggestion(ch: str) -> str:
    if ch in _HINTS:
        return _HINTS[ch]
    low = ch.lower()
    if low in _GREEK:
        return f"write the letter's name, e.g. {_GREEK[low]}"
    if ch in "ⁿˣʸᶻ⁽⁾":
        return "write the power with '^', e.g. x^n"
    folded = unicodedata.normalize("NFKC", ch)
    if folded != ch and folded.isascii() and folded.strip():
        return f"did you mean {folded!r}?"
    return ""


def refuse(text: str, pos: int) -> ExpressionError:
    """The error for a character the language does not have, with a hint where there is one."""

    ch = text[pos]
    name = unicodedata.name(ch, "").lower()
    what = f"character {ch!r}" + (f" ({name})" if name else "")
    hint = _suggestion(ch)
    message = f"{what} is not part of the language" + (f": {hint}" if hint else "")
    return ExpressionError(message, caret(text, pos))


def normalize(text: str) -> tuple[str, list[int] | None]:
    """``text`` rewritten into ASCII, and where each character came from.

    Returns ``(ascii_text, origin)``: ``origin[i]`` is the index in ``text`` of
    the character that produced ``ascii_text[i]``, with one more entry for the
    end. ``origin`` is None when nothing was rewritten (ASCII text: the fast,
    common path). Raises ExpressionError for a character it cannot rewrite.
    """
    if text.isascii():
        return text, None
    out: list[str] = []
    origin: list[int] = []

    def emit(s: str, at: int) -> None:
        out.append(s)
        origin.extend([at] * len(s))

    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isascii():
            emit(ch, i)
            i += 1
        elif ch in _SIMPLE:
            emit(_SIMPLE[ch], i)
            i += 1
        elif ch == "\u03c0":  # π: a space on each side that touches a name or number, so
            # "2π" and "πr" are the usual "no implicit multiplication" error, not a variable
            if out and _IDENT.match(out[-1][-1:] or " "):
                emit(" ", i)
            emit("pi", i)
            if i + 1 < n and _IDENT.match(text[i + 1]):
                emit(" ", i)
            i += 1
        elif ch in _SUPERSCRIPT or ch in _SUPERSCRIPT_SIGN:
            m = _SUPERSCRIPT_RUN.match(text, i)
            if m is None:  # a lone ⁺ or ⁻
                raise refuse(text, i)
            emit("^", i)
            for k in range(m.start(), m.end()):
                c = text[k]
                emit(_SUPERSCRIPT_SIGN.get(c) or _SUPERSCRIPT[c], k)
            i = m.end()
        elif ch == "\u221a":  # √
            j = i + 1
            while j < n and text[j] in " \t":
                j += 1
            m = _ATOM_AFTER_ROOT.match(text, j) if j < n and text[j] != "(" else None
            emit("sqrt", i)
            if m is not None:  # √x: the root of the name or number right after it
                emit("(", i)
                for k in range(m.start(), m.end()):
                    emit(text[k], k)
                emit(")", m.end() - 1)
                i = m.end()
            else:
                i += 1
        elif ch == "\u03c3" and _CALL_AFTER.match(text, i + 1):  # σ(x): the slides' sigmoid
            emit("sigmoid", i)
            i += 1
        elif unicodedata.category(ch) == "Zs" or ch in "\u200b\ufeff":  # spaces, zero-width
            emit(" ", i)
            i += 1
        else:
            raise refuse(text, i)
    origin.append(n)
    return "".join(out), origin


def caret(text: str, pos: int, span: int = 40) -> str:
    """The line around ``pos`` with a caret under it (long lines are windowed)."""
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    end = len(text) if end < 0 else end
    lo, hi = max(start, pos - span), min(end, pos + span)
    prefix = "..." if lo > start else ""
    suffix = "..." if hi < end else ""
    line = prefix + text[lo:hi] + suffix
    return f"  {line}\n  {' ' * (len(prefix) + pos - lo)}^"

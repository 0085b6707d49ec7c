"""Coverage-guided fuzz target (atheris / libFuzzer) for the expression parser.

For every input text it checks what the tests cannot enumerate:

* parse_graph either returns a Graph or raises ExpressionError (bad input) --
  any other exception is a crash, and libFuzzer saves the input;
* the printer's text of a parsed graph parses again, and printing that graph
  gives the same text (to_text is a fixed point after one round trip), with
  the same number of nodes;
* under --angle deg the printed text (which carries the degree factors as
  constants) parses in radians to the same text.

Run it through fuzz/run_short.sh (about a minute) or as fuzz/README.md says.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    import lark  # noqa: F401  (instrumented: the lexer and LALR tables drive coverage)

    from backprop.errors import BackpropError, ExpressionError
    from backprop.core.parser import parse_graph
    from backprop.core.printer import to_text


def check(text: str, angle: str) -> None:
    try:
        graph = parse_graph(text, angle)
    except ExpressionError as exc:
        str(exc)  # the message with its caret must render too
        return
    try:
        printed = to_text(graph)
    except BackpropError:  # over the printer's size limit: a refusal, not a crash
        return
    again = parse_graph(printed, "rad")  # must not raise: the printer writes the language
    reprinted = to_text(again)
    if reprinted != printed:
        raise AssertionError(f"printer is not a fixed point:\n{text!r}\n{printed!r}\n{reprinted!r}")
    if len(again.reachable()) != len(graph.reachable()):
        raise AssertionError(f"round trip changed the node count: {text!r} -> {printed!r}")


def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    angle = "deg" if fdp.ConsumeBool() else "rad"
    text = fdp.ConsumeUnicodeNoSurrogates(fdp.remaining_bytes())
    check(text, angle)


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()

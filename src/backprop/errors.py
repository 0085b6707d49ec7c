"""The project's exceptions. The command line maps them to exit codes."""

from __future__ import annotations


class BackpropError(Exception):
    """A failure that is not the user's input: exit code 1."""

    exit_code = 1


class InputError(BackpropError):
    """Bad input (expression, point, option, file): exit code 2."""

    exit_code = 2


class ExpressionError(InputError):
    """An expression that does not parse, with the text and a caret under the fault."""

    def __init__(self, message: str, context: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.context = context

    def __str__(self) -> str:
        return f"{self.message}\n{self.context}".rstrip("\n") if self.context else self.message


class Interrupted(BackpropError):
    """Stopped by Ctrl-C or SIGTERM: exit code 130; the message says what was kept."""

    exit_code = 130


class NotAnalyticError(InputError):
    """The complex step met a module at its kink (abs, relu, sign, step at 0; max, min at a
    tie): the function is not analytic there. ``primitive`` names the module."""

    def __init__(self, message: str, primitive: str) -> None:
        super().__init__(message)
        self.primitive = primitive

"""The command line: one module per command, each thin.

``common`` holds what the commands share (option types, the EXPR argument, the
parse of an expression), ``distributed`` the runs of a file per partition (Dask);
one module per command: ``grad``, ``hessian``, ``diff``, ``compare``, ``descend``,
``graph``, ``train``, ``predict``, ``evaluate``.

A command parses its options, calls ONE library function (the ``Function``
façade in ``core.function``, ``methods``, ``symbolic``, ``studies``, ``nn``)
and picks a writer from ``views.writers``. No arithmetic, no loops over data,
no numpy, and never the passes or the grammar directly (they are private to
``core``). Each command module is listed in :data:`COMMANDS` and imported only
when its command runs (or its ``--help``); each imports the library inside its
function, so ``backprop --help`` and the
start-up of one command load only what that command needs.

Exit codes: 0 success, 1 failure, 2 bad input (usage, expression, point,
file), 130 interrupted, 141 a closed output pipe.
"""

from __future__ import annotations

import errno
import os
import re
import sys
from typing import Any, Sequence

import typer
from typer.core import TyperGroup

from backprop.errors import BackpropError, InputError, Interrupted


# Every command and the line `backprop --help` shows for it (the first paragraph of
# its own help), in the order of the listing: the lecture's order.
COMMANDS: dict[str, str] = {
    "grad": "The value of EXPR and its exact gradient at POINT, by backpropagation.",
    "hessian": "The value of EXPR, its gradient and its Hessian (every second partial) at POINT.",
    "diff": "The symbolic derivative of EXPR, printed in the same language.",
    "compare": "Reverse mode, forward mode, symbolic and numeric gradients of EXPR side by side.",
    "descend": "Minimise EXPR from POINT: gradient descent, W = W - tau * grad E(W), or Newton's method.",
    "graph": "Draw the computational graph of EXPR, with values and gradients when --at is given.",
    "train": "Train a network a = Wx + b, h = sigma(a), ..., y_hat = Vh + c by gradient descent.",
    "predict": "Predict from raw inputs with a trained model (its standardisation applied).",
    "evaluate": "Score a trained model on data with the true targets, as scikit-learn's metrics do.",
}


def _import_command(name: str) -> None:
    """Import the module of command ``name``; it registers itself with ``@app.command()``.

    To add a command: a line in COMMANDS and a line here (plain import statements:
    nothing is imported by a computed name).
    """
    if name == "grad":
        from backprop.cli import grad  # noqa: F401
    elif name == "hessian":
        from backprop.cli import hessian  # noqa: F401
    elif name == "diff":
        from backprop.cli import diff  # noqa: F401
    elif name == "compare":
        from backprop.cli import compare  # noqa: F401
    elif name == "descend":
        from backprop.cli import descend  # noqa: F401
    elif name == "graph":
        from backprop.cli import graph  # noqa: F401
    elif name == "train":
        from backprop.cli import train  # noqa: F401
    elif name == "predict":
        from backprop.cli import predict  # noqa: F401
    elif name == "evaluate":
        from backprop.cli import evaluate  # noqa: F401


# Other spellings of a choice's value: --angle degrees is --angle deg.
_CHOICE_ALIASES = {"degrees": "deg", "degree": "deg", "radians": "rad", "radian": "rad"}


def _forgiving_choices(cmd: Any) -> None:
    """Every choice option of ``cmd`` ignores case (--format JSON, --angle Deg) and takes
    the long names of the angle units (--angle degrees, radians)."""
    for param in getattr(cmd, "params", ()):
        kind = param.type
        choices = getattr(kind, "choices", None)
        if choices is None or not hasattr(kind, "case_sensitive"):
            continue
        kind.case_sensitive = False
        if any(v in choices for v in _CHOICE_ALIASES.values()):
            convert = kind.convert

            def aliased(value: Any, param: Any, ctx: Any, convert: Any = convert) -> Any:
                if isinstance(value, str):
                    value = _CHOICE_ALIASES.get(value.strip().lower(), value)
                return convert(value, param, ctx)

            kind.convert = aliased


class _LazyGroup(TyperGroup):
    """The root command: a command's module is imported only when that command is used.

    typer would otherwise build click commands for all the commands at each start
    (and each module imports what its options need); `backprop --help` lists them
    from :data:`COMMANDS` without importing any.
    """

    def list_commands(self, ctx: Any) -> list[str]:
        return [*COMMANDS, *(name for name in self.commands if name not in COMMANDS)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        cmd = self.commands.get(cmd_name)
        if cmd is None and cmd_name in COMMANDS:
            _import_command(cmd_name)
            # typer builds click commands for what is registered so far: the imported ones
            cmd = typer.main.get_command(app).commands.get(cmd_name)  # type: ignore[attr-defined]
            if cmd is not None:
                _forgiving_choices(cmd)
                self.commands[cmd_name] = cmd
        return cmd

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        rows = list(COMMANDS.items())
        rows += [(name, cmd.get_short_help_str()) for name, cmd in self.commands.items()
                 if name not in COMMANDS and not cmd.hidden]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        try:
            return super().resolve_command(ctx, args)
        except Exception as exc:  # click's UsageError (typer vendors click: match by attribute)
            message = getattr(exc, "message", None)
            if isinstance(message, str) and args and "No such command" in message:
                from difflib import get_close_matches

                matches = get_close_matches(args[0], self.list_commands(ctx))
                if matches:
                    exc.message = (message.rstrip(".") + ". Did you mean "  # type: ignore[attr-defined]
                                   + ", ".join(repr(m) for m in matches) + "?")
            raise


app = typer.Typer(
    name="backprop",
    cls=_LazyGroup,
    add_completion=True,  # --install-completion and --show-completion (bash, zsh, fish, PowerShell)
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Plain help text: rich (and the markdown and syntax modules typer's rich help
    # brings) is loaded only where a table or a progress bar is drawn: a start pays for it.
    rich_markup_mode=None,
    suggest_commands=False,  # _LazyGroup suggests from every command, loaded or not
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from backprop import __version__

        sys.stdout.write(f"backprop {__version__}\n")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit.",
                                 callback=_version, is_eager=True),
) -> None:
    """Backpropagation you can run: exact gradients of any expression, and networks
    (regression, classification) trained by forward/backward layers.

    Example: backprop grad "2/sin(exp(-x))" --at -4.499
    """


_command: Any = None


def _click_command() -> Any:
    """The root click command, built once per process (no subcommand built yet)."""
    global _command
    if _command is None:
        _command = typer.main.get_command(app)
    return _command


def _option_arity(argv0: str) -> dict[str, bool]:
    """The options of a command, each mapped to whether it takes a value."""
    # Typer builds on click (vendored in some releases): read the command's
    # parameters by their attributes rather than import click's classes.
    cmd = _click_command().get_command(None, argv0)
    if cmd is None:
        return {}
    out: dict[str, bool] = {"-h": False, "--help": False}  # click adds help separately
    for p in cmd.params:
        if getattr(p, "param_type_name", "") == "option":
            for name in (*p.opts, *p.secondary_opts):
                out[name] = not p.is_flag and not p.count
    return out


def given_twice(argv: Sequence[str]) -> None:
    """Refuse an option that takes one value given twice with different values.

    click would keep the last one silently (``--from x=0 --from x=1``,
    ``grad --wrt x --wrt y``). Options that take a list (``--at``) are
    repeatable; a value given twice alike loses nothing and is accepted.
    """
    if not argv:
        return
    cmd = _click_command().get_command(None, argv[0])
    if cmd is None:
        return
    single: dict[str, Any] = {}  # option string -> its parameter, for options of one value
    for p in cmd.params:
        if (getattr(p, "param_type_name", "") == "option" and not p.is_flag and not p.count
                and not p.multiple):
            for name in p.opts:
                single[name] = p
    seen: dict[str, tuple[str, str]] = {}  # parameter name -> (option as typed, value)
    i = 1
    while i < len(argv):
        tok = argv[i]
        if tok == "--":
            break
        name, eq, value = tok.partition("=")
        p = single.get(name) if name.startswith("--") else single.get(tok[:2])
        if p is None:
            i += 1
            continue
        if eq and name.startswith("--"):
            i += 1
        elif not name.startswith("--") and len(tok) > 2:  # -fjson
            value = tok[2:]
            i += 1
        else:
            value = argv[i + 1] if i + 1 < len(argv) else ""
            i += 2
        typed = name if name.startswith("--") else tok[:2]
        if p.name in seen and seen[p.name][1] != value:
            first, before = seen[p.name]
            hint = (f"; name several in one, e.g. {typed} x,y" if p.name == "wrt" else "")
            raise InputError(f"{typed} is given twice ({first} {before} and {typed} {value}): "
                             f"it takes one value{hint}")
        seen.setdefault(p.name, (typed, value))


_LONG_OPTION = re.compile(r"^--[A-Za-z][\w-]*(=.*)?$")


def expression_first(argv: Sequence[str]) -> list[str]:
    """Let an EXPR that starts with '-' (``-x^2``) be an expression, not an option.

    The expression is moved after a ``--``, where click takes it as the
    positional argument; options, and the values of options, stay as they are.
    """
    argv = list(argv)
    if not argv or argv[0].startswith("-"):
        return argv
    if "--" in argv:
        # `grad -- -x^2 --at 2`: what follows the expression is options again
        k = argv.index("--")
        return argv[:k] + argv[k + 2:] + argv[k:k + 2] if k + 2 < len(argv) else argv
    options = _option_arity(argv[0])
    if not options:
        return argv
    i, positional = 1, False
    while i < len(argv):
        tok = argv[i]
        name = tok.split("=", 1)[0]
        if name in options:
            i += 2 if options[name] and "=" not in tok else 1
            continue
        if positional and "-" + name in options and len(name) > 2:
            # `grad x -at 3`: after EXPR, a long option with one dash is a slip, not a
            # second expression (click would report the real option as missing)
            raise InputError(f"no such option '{name}': did you mean '-{name}'?")
        if tok.startswith("-") and len(tok) > 1 and not _LONG_OPTION.match(tok):
            return argv[:i] + argv[i + 1:] + ["--", tok]
        positional = positional or not tok.startswith("-")
        i += 1
    return argv


def _quiet_stdout() -> None:
    # After a broken pipe, point stdout at /dev/null so the interpreter's final
    # flush does not raise again (the recipe in Python's signal documentation).
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _strict_stdin() -> None:
    # Under the C or C.UTF-8 locale Python decodes stdin with surrogateescape: bytes that
    # are not text would reach the readers as stray characters (a misleading CSV error, or
    # passed through); strict decoding makes them the readers' one "not UTF-8 text" error.
    try:
        if getattr(sys.stdin, "errors", "strict") == "surrogateescape":
            sys.stdin.reconfigure(errors="strict")  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``backprop`` script and of ``python -m backprop``."""
    code = 0
    _strict_stdin()
    try:
        # bare `backprop`: the help, exit 0 (click's no_args_is_help would exit 2)
        args = expression_first(sys.argv[1:] if argv is None else argv) or ["--help"]
        given_twice(args)
        # what app(...) does, without building the click command a second time
        result = _click_command().main(args=args, prog_name="backprop", standalone_mode=False)
        if isinstance(result, int):
            code = result
            if code == 130:  # typer turned a Ctrl-C into a silent exit 130
                sys.stderr.write("backprop: interrupted\n")
        sys.stdout.flush()
    except BrokenPipeError:
        _quiet_stdout()
        code = 141
    except SystemExit as exc:
        # Typer catches a broken pipe itself and exits 1; a closed pipe is 141 here.
        ctx = exc.__context__
        if isinstance(ctx, OSError) and ctx.errno == errno.EPIPE:
            _quiet_stdout()
            code = 141
        else:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Interrupted as exc:
        sys.stdout.flush()
        sys.stderr.write(f"backprop: {exc}\n")
        code = exc.exit_code
    except BackpropError as exc:
        sys.stdout.flush()
        sys.stderr.write(f"backprop: error: {exc}\n")
        code = exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("backprop: interrupted\n")
        code = 130
    except OSError as exc:
        if exc.errno == errno.EPIPE:
            _quiet_stdout()
            code = 141
        else:
            sys.stderr.write(f"backprop: error: {exc.strerror or exc}"
                             + (f": {exc.filename}" if exc.filename else "") + "\n")
            code = 1
    except Exception as exc:  # click's own usage errors and aborts
        code = _click_exit(exc)
    return code


def _click_exit(exc: BaseException) -> int:
    if isinstance(exc, typer.Abort):
        sys.stderr.write("backprop: interrupted\n")
        return 130
    if isinstance(exc, typer.Exit):
        return int(exc.exit_code)
    if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):  # click's usage errors
        ctx = getattr(exc, "ctx", None)
        where = ctx.command_path if ctx is not None else "backprop"
        hint = f" (see '{where} --help')" if ctx is not None else ""
        sys.stderr.write(f"{where}: error: {exc.format_message()}{hint}\n")
        return int(exc.exit_code)
    if os.environ.get("BACKPROP_DEBUG"):
        raise exc
    sys.stderr.write(f"backprop: internal error: {type(exc).__name__}: {exc}\n"
                     "(set BACKPROP_DEBUG=1 to see where; please report it)\n")
    return 1

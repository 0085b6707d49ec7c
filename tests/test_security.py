"""Security review, kept true by tests (issue 6; SECURITY.md says the same in prose).

1. The source tree has no eval/exec/compile/__import__ of text, no pickle (nor
   dill/shelve/marshal), no yaml.load without SafeLoader, no allow_pickle=True,
   no os.system/os.popen, no shell=True. The scan reads Python *tokens*, so a
   comment that says "no pickle" is not a finding and code cannot hide in one.
2. An expression cannot read files, import modules or run code: the grammar has
   no strings, attributes, subscripts, lambdas or comprehensions, and a call
   is only to a primitive of the table.
"""

from __future__ import annotations

import io
import tokenize
from pathlib import Path

import pytest

from clikit import run_inprocess, run_subprocess
from fuzzkit import check_contract

SRC = Path(__file__).resolve().parent.parent / "src"

BANNED_NAMES = {"pickle", "cPickle", "_pickle", "dill", "shelve", "marshal", "cloudpickle"}
BANNED_BUILTINS = {"eval", "exec", "compile", "__import__", "execfile"}
BANNED_ATTRS = {("os", "system"), ("os", "popen"), ("os", "execv"), ("os", "execvp"),
                ("os", "execl"), ("yaml", "unsafe_load"), ("yaml", "full_load"),
                ("yaml", "UnsafeLoader"), ("yaml", "FullLoader"), ("importlib", "import_module")}


def scan(source: str) -> list[str]:
    """Findings in Python source: ``"line N: what"`` for each banned construct."""
    toks = [t for t in tokenize.generate_tokens(io.StringIO(source).readline)
            if t.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
                              tokenize.DEDENT)]
    lines = source.splitlines()
    found: list[str] = []
    for k, t in enumerate(toks):
        prev = toks[k - 1].string if k > 0 else ""
        nxt = toks[k + 1].string if k + 1 < len(toks) else ""
        where = f"line {t.start[0]}"
        if t.type != tokenize.NAME:
            continue
        if t.string in BANNED_NAMES:
            found.append(f"{where}: {t.string}")
        if t.string in BANNED_BUILTINS and prev != "." and prev != "def":
            found.append(f"{where}: {t.string}")
        if prev == "." and k >= 2 and (toks[k - 2].string, t.string) in BANNED_ATTRS:
            found.append(f"{where}: {toks[k - 2].string}.{t.string}")
        if prev == "." and k >= 2 and toks[k - 2].string == "yaml" and t.string == "load" \
                and "SafeLoader" not in lines[t.start[0] - 1]:
            found.append(f"{where}: yaml.load without SafeLoader")
        if t.string in ("allow_pickle", "shell") and nxt == "=" and k + 2 < len(toks) \
                and toks[k + 2].string == "True":
            found.append(f"{where}: {t.string}=True")
    return found


def test_the_scanner_finds_what_it_looks_for() -> None:
    """The scan can fail: each banned construct planted in code is found; in comments it is not."""
    planted = {
        "eval('1')": "eval", "exec(code)": "exec", "import pickle": "pickle",
        "from pickle import loads": "pickle", "yaml.load(f)": "yaml.load",
        "np.load(p, allow_pickle=True)": "allow_pickle=True", "os.system('ls')": "os.system",
        "subprocess.run(c, shell=True)": "shell=True", "__import__('os')": "__import__",
        "yaml.unsafe_load(f)": "yaml.unsafe_load", "compile(s, 'f', 'exec')": "compile",
    }
    for code, what in planted.items():
        found = scan(code + "\n")
        assert found and what in found[0], (code, found)
    harmless = ("# no pickle, no eval(, no yaml.load(\nx = re.compile('a')\n"
                "y = yaml.load(f, Loader=yaml.SafeLoader)\nnp.load(p, allow_pickle=False)\n"
                "s = 'eval(1)'\nm.evaluate(x)\n")
    assert scan(harmless) == []


def test_the_source_tree_has_no_unsafe_constructs() -> None:
    files = sorted(SRC.rglob("*.py"))
    assert len(files) > 10
    findings = [f"{p.relative_to(SRC)} {f}" for p in files for f in scan(p.read_text(encoding="utf-8"))]
    assert findings == []


ATTACKS = [
    "__import__('os')", "__import__(\"os\").system(\"id\")", "x.__class__", "x.__class__.__bases__",
    "open('/etc/passwd')", "open(x)", "eval(x)", "exec(x)", "getattr(x, y)", "globals()",
    "lambda: x", "[x for x in y]", "x if y else x", "x[0]", "x; import os", "import os",
    "os.system('touch /tmp/backprop-pwned')", "sin.__globals__", "().__class__", "x @ y",
    "{x: y}", "f'{x}'", "x or y", "x and y", "not x", "x == y", "x := 1", "`id`", "$(id)",
    "x # comment", "breakpoint()", "input()", "print(x)", "exp(x).real", "1 .__class__",
]


@pytest.mark.parametrize("expr", ATTACKS)
def test_expressions_cannot_reach_python(expr: str) -> None:
    r = run_inprocess(["grad", expr, "--at", "x=1,y=2", "--format", "json"])
    check_contract(r)
    assert r.code == 2, (expr, r.out, r.err)
    assert r.err.startswith("backprop: error:")


def test_dunder_names_are_only_variable_names(tmp_path: Path) -> None:
    """`__class__` is a NAME like `x`: a variable whose value the user gives, nothing more."""
    r = run_inprocess(["grad", "__class__ * __import__", "--at", "__class__=3,__import__=5",
                       "--format", "json"])
    check_contract(r, allowed=(0,))
    assert r.out.strip() == ('{"at": {"__class__": 3.0, "__import__": 5.0}, "value": 15.0, '
                             '"grad": {"__class__": 5.0, "__import__": 3.0}}')


def test_nothing_is_run_in_a_real_process(tmp_path: Path) -> None:
    canary = tmp_path / "pwned"
    for expr in (f"__import__('os').system('touch {canary}')", f"open('{canary}', 'w')",
                 f"os.system('touch {canary}')"):
        r = run_subprocess(["grad", expr, "--at", "1"])
        check_contract(r)
        assert r.code == 2
    assert not canary.exists()


def test_the_grammar_has_only_the_documented_tokens() -> None:
    """No string, attribute, subscript or keyword token can exist in the language."""
    from backprop.core.parser import _get_parser

    parser, _ = _get_parser()
    kinds = {t.name for t in parser.terminals}
    # SEMICOLON separates the expressions of a function with several outputs (grad's Jacobian);
    # VBAR is |x|; FUNC_POWER is sin^2( (a name, a power by a whole number, a parenthesis)
    assert kinds <= {"NAME", "NUMBER", "POW", "WS", "LPAR", "RPAR", "COMMA", "PLUS", "MINUS",
                     "STAR", "SLASH", "SEMICOLON", "VBAR", "FUNC_POWER"}, kinds


def test_calls_reach_only_the_primitive_table() -> None:
    from backprop.core.ops import FUNCTIONS, PRIMITIVES

    for name in ("open", "print", "getattr", "system", "__import__", "globals", "object"):
        assert name not in FUNCTIONS and name not in PRIMITIVES
        r = run_inprocess(["grad", f"{name}(x)", "--at", "1"])
        assert r.code == 2 and "unknown function" in r.err, r.err

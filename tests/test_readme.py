"""The README stays true: every console example in it runs and prints what it
shows, its Python example too, and CI runs the set-up commands it gives.

Console examples are found by Sybil (its Markdown lexer and its Region/Example
machinery): in every fenced block without a language (or ``console``), a line
starting with ``$ `` is a command, run by bash, and the lines up to the next
``$ `` are its expected output (stdout and stderr together, as a terminal shows them). Each
command is one test item, named by its README line and the command.

Machine-dependent figures are masked on both sides before comparing (see
``_mask``): durations (a number followed by ns, µs, ms or s, and compare's time in
forward passes after one), JSON
``"seconds"`` values and the train summary's ``time (s)`` row. Where a
figure was masked the table layout depends on its width, so in such an
example runs of spaces and of the rule character ``─`` compare as one.
Trailing spaces and trailing blank lines are ignored (the README cannot show
them). An example that does not print ``exit $?`` must exit 0.

Every other figure is compared to the bit, but in the examples of trained models: an
example whose command runs ``backprop train``, ``predict`` or ``evaluate`` (see
``_FROM_A_TRAINED_MODEL``) prints figures that went through matrix products, whose
last digits depend on the order in which the BLAS kernel of the machine sums (OpenBLAS
picks one per CPU: Haswell and SkylakeX differ in the last 1-3 of 17 digits). There the
text around the numbers must match exactly, integers too (epochs, rows, counts), and
each number with a decimal point or an exponent must agree with the README's to
``RELATIVE_TOLERANCE``, or to one unit in its last printed digit (a figure rounded to 6
digits for a table can flip its last digit when the 16th moves). A gradcheck's
"largest relative error" is rounding error itself (the difference of two computations
of the same gradient): its figure and the parameter it names are masked like times;
the run still fails when it exceeds its tolerance.

Commands run in a temporary folder holding a copy of ``configs/`` and an
empty ``docs/``: training writes its models under ``runs/`` there, and the
``--plot docs/...`` / ``-o docs/...`` examples draw there, never over the
committed pictures. The examples share the folder in README order (``predict``
reads the model ``train`` wrote above it, so select both with ``-k`` to rerun
one). The README's Python block is compared with its "Printed:" block below.
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from clikit import check_ended_well, limit_resources
from sybil import Document, Example, Region, Sybil
from sybil.example import SybilFailure
from sybil.parsers.markdown.lexers import FencedCodeBlockLexer

ROOT = Path(__file__).resolve().parents[1]
README_PATH = ROOT / "README.md"
README = README_PATH.read_text(encoding="utf-8")
# README.md and every page of docs/: their examples run alike, each page in a folder of its own
DOCUMENTS = [README_PATH, *sorted((ROOT / "docs").glob("*.md"))]
PROMPT = "$ "
TIMEOUT_S = 300


@dataclass(frozen=True)
class ConsoleExample:
    command: str
    expected: str


def _console_examples(document: Document) -> Iterator[Region]:
    """One Region per ``$ `` command of each fenced block without a language (or ``console``)."""
    for block in FencedCodeBlockLexer(language="(?:console)?")(document):
        source = block.lexemes["source"]
        start = block.start + source.offset
        pos, current, lines = 0, None, []
        for line in source.splitlines(keepends=True):
            if line.startswith(PROMPT):
                if current is not None:
                    yield _region(current, lines, start, pos)
                current, lines = pos, [line]
            elif current is not None:
                lines.append(line)
            pos += len(line)
        if current is not None:
            yield _region(current, lines, start, pos)


def _region(offset: int, lines: list[str], block_start: int, end: int) -> Region:
    example = ConsoleExample(lines[0][len(PROMPT):].strip(), "".join(lines[1:]))
    return Region(block_start + offset, block_start + end, example, _run_console_example)


# A duration as the tables print it: "268.5 µs", "1.02 ms", "3.45 s", "1,443 ms"; with
# compare's time in forward passes after it, "3.3 µs (1.95×)", a measured figure too.
_DURATION = re.compile(r"(?<![\w.,])\d+(?:,\d{3})*(?:\.\d+)? ?(?:ns|µs|us|ms|s)\b"
                       r"(?: \(\d+(?:,\d{3})*(?:\.\d+)?×\))?")
_JSON_SECONDS = re.compile(r'("(?:loop_)?seconds": )[-+0-9.eE]+')
_TIME_ROW = re.compile(r"(time \(s\)\s+)[0-9.]+")
_TIME = "<time>"


# A gradcheck's largest relative error, with the parameter it names ("(network: dE/db)")
_GRADCHECK_LINE = re.compile(r"(largest relative error )\S+ \([^)]*\)")
_GRADCHECK_JSON = re.compile(r'("gradcheck_max_rel_error": )[-+0-9.eE]+')
_ROUNDOFF = "<rounding error>"


def _mask(text: str) -> tuple[str, bool]:
    """Machine-dependent figures replaced by <time> (or <rounding error>); True when one was."""
    masked = _DURATION.sub(_TIME, text)
    masked = _JSON_SECONDS.sub(rf"\g<1>{_TIME}", masked)
    masked = _TIME_ROW.sub(rf"\g<1>{_TIME}", masked)
    masked = _GRADCHECK_LINE.sub(rf"\g<1>{_ROUNDOFF}", masked)
    masked = _GRADCHECK_JSON.sub(rf"\g<1>{_ROUNDOFF}", masked)
    return masked, masked != text


# The commands whose figures come from a trained model (matrix products: see the top)
_FROM_A_TRAINED_MODEL = re.compile(r"\bbackprop (train|predict|evaluate)\b")
RELATIVE_TOLERANCE = 1e-9
# A number on its own (not the 1 of "x1" or the 0 of "class_0"): sign, digits, exponent
_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![\w.])")
_NUMBER_MARK = "<number>"


def _last_digit_unit(token: str) -> float:
    """The value of one unit in the last printed digit of a number: 0.0104 -> 1e-4."""
    mantissa, _, exponent = token.lower().partition("e")
    decimals = len(mantissa.split(".", 1)[1]) if "." in mantissa else 0
    return 10.0 ** (int(exponent or 0) - decimals)


def _significant_digits(token: str) -> int:
    return len(token.lower().partition("e")[0].lstrip("-+").replace(".", "").lstrip("0"))


def _numbers_agree(want: str, got: str) -> bool:
    """Equal text; or, for numbers with a point or an exponent, equal to the tolerance.

    One unit in the last digit is allowed for a figure rounded for print (3 to 12
    significant digits: tables and charts), not for JSON's and CSV's shortest round-trip
    form (``1.0`` is exactly 1, ``0.9642857142857143`` carries every digit).
    """
    if want == got:
        return True
    if not any(c in want + got for c in ".eE"):
        return False  # integers (epochs, rows, counts) are exact
    a, b = float(want), float(got)
    rounded = 3 <= _significant_digits(want) <= 12
    allowed = max(RELATIVE_TOLERANCE * max(abs(a), abs(b)),
                  # (the unit times 1 + 1e-9: 0.0103969 - 0.0103968 is 1.00000000000001e-07)
                  _last_digit_unit(want) * (1 + 1e-9) if rounded else 0.0)
    return abs(a - b) <= allowed


def _differences(want: list[str], got: list[str], tolerant: bool) -> list[str]:
    """The lines (of a unified diff) where the run differs from the README; [] if none.

    ``tolerant``: numbers compared as ``_numbers_agree`` says, the rest of the text exactly.
    """
    if tolerant and len(want) == len(got):
        same = True
        for w, g in zip(want, got):
            w_numbers, g_numbers = _NUMBER.findall(w), _NUMBER.findall(g)
            same = (_NUMBER.sub(_NUMBER_MARK, w) == _NUMBER.sub(_NUMBER_MARK, g)
                    and len(w_numbers) == len(g_numbers)
                    and all(map(_numbers_agree, w_numbers, g_numbers)))
            if not same:
                break
        if same:
            return []
    if want == got:
        return []
    return list(difflib.unified_diff(want, got, "README.md (expected)", "actual run", lineterm=""))


def compare_output(command: str, expected: str, actual: str) -> list[str]:
    """The README's output of ``command`` against a run's: the differences, [] if none."""
    expected, masked_expected = _mask(expected)
    actual, _ = _mask(actual)
    tolerant = bool(_FROM_A_TRAINED_MODEL.search(command))
    # a masked figure or a rounded number can change the width of a table's column
    loose = masked_expected or tolerant
    return _differences(_normalise(expected, loose), _normalise(actual, loose), tolerant)


def _normalise(text: str, loose_layout: bool) -> list[str]:
    lines = [line.rstrip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    if loose_layout:
        lines = [re.sub(r"─+", "─", re.sub(r" +", " ", line)).strip() for line in lines]
    return lines


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("COLUMNS", "LINES", "FORCE_COLOR", "CLICOLOR_FORCE")}
    # the backprop (and python3) of the interpreter running the tests
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["NO_COLOR"] = "1"
    return env


def _run_console_example(example: Example) -> str | None:
    parsed: ConsoleExample = example.parsed
    workdir: Path = example.namespace["workdir"]
    run = subprocess.run(["bash", "-c", parsed.command], cwd=workdir, env=_environment(),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         timeout=TIMEOUT_S, preexec_fn=limit_resources)
    check_ended_well(parsed.command, run.returncode, run.stdout, "")
    differences = compare_output(parsed.command, parsed.expected, run.stdout)
    # an example that does not print its exit status ("; echo "exit $?"") must succeed
    status_ok = run.returncode == 0 or "$?" in parsed.command
    if not differences and status_ok:
        return None
    status = f"exit status {run.returncode}" + ("" if status_ok else " (expected 0)")
    diff = "\n".join(differences)
    how = (f"numbers to {RELATIVE_TOLERANCE:g} relative, " if _FROM_A_TRAINED_MODEL.search(parsed.command)
           else "")
    return (f"{_document_name(example)} line {example.line}: $ {parsed.command}\n{status}\n"
            + (f"output differs ({how}figures masked as {_TIME}):\n{diff}\n" if diff else "")
            + "Update the README from a real run of the command.")


_SYBIL = Sybil(parsers=[_console_examples])
EXAMPLES_BY_DOCUMENT = {path: list(_SYBIL.parse(path).examples()) for path in DOCUMENTS}
CONSOLE_EXAMPLES = [e for examples in EXAMPLES_BY_DOCUMENT.values() for e in examples]


def _document_name(example: Example) -> str:
    return str(Path(example.path).relative_to(ROOT))


def _example_id(example: Example) -> str:
    return f"{_document_name(example)}:{example.line}: {example.parsed.command[:70]}"


@pytest.fixture(scope="module")
def workdirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One folder per document, made at its first example: a page's examples share it in order."""
    return {}


def _workdir(example: Example, workdirs: dict[str, Path],
             tmp_path_factory: pytest.TempPathFactory) -> Path:
    name = _document_name(example)
    if name not in workdirs:
        folder = tmp_path_factory.mktemp("docs-example")
        shutil.copytree(ROOT / "configs", folder / "configs")
        (folder / "docs").mkdir()
        workdirs[name] = folder
    return workdirs[name]


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_command_line_of_a_document_is_an_example(path: Path) -> None:
    commands = [example.parsed.command for example in EXAMPLES_BY_DOCUMENT[path]]
    assert all("backprop" in command for command in commands)
    # a "$ " line in a block of another language would otherwise go unrun
    prompts = [line for line in path.read_text(encoding="utf-8").splitlines()
               if line.startswith(PROMPT)]
    assert len(prompts) == len(commands)


def test_the_documents_hold_the_examples() -> None:
    assert len(CONSOLE_EXAMPLES) >= 100
    for page in ("tutorial", "language", "grad", "hessian", "diff", "compare", "descend",
                 "graph", "train"):
        assert EXAMPLES_BY_DOCUMENT[ROOT / "docs" / f"{page}.md"], page  # every page shows real runs
    assert len(README.splitlines()) < 400  # the README stays short: the reference is in docs/


@pytest.mark.parametrize("example", CONSOLE_EXAMPLES, ids=_example_id)
def test_readme_console_example(example: Example, workdirs: dict[str, Path],
                                tmp_path_factory: pytest.TempPathFactory) -> None:
    command = example.parsed.command
    if re.search(r"-o \S+\.(png|svg)|--format (png|svg)", command) and not shutil.which("dot"):
        pytest.skip("Graphviz's dot is not installed")
    example.namespace["workdir"] = _workdir(example, workdirs, tmp_path_factory)
    try:
        example.evaluate()
        return
    except SybilFailure as failure:
        message = failure.result
    pytest.fail(message, pytrace=False)  # the message is the diff; a traceback adds nothing


def test_masking_hides_times_and_only_times() -> None:
    masked, changed = _mask('  reverse mode   1   268.5 µs\n{"seconds": 0.133, "steps": 20}\n'
                            "  time (s)     1.24\nstopped after 40 steps in 3.45 s; 1,443 ms")
    assert changed
    assert masked == ('  reverse mode   1   <time>\n{"seconds": <time>, "steps": 20}\n'
                      "  time (s)     <time>\nstopped after 40 steps in <time>; <time>")
    assert _mask("x,f,df/dx\n3.0,-9.0,-6.0\nexit 2") == ("x,f,df/dx\n3.0,-9.0,-6.0\nexit 2", False)


def test_tolerant_comparison_rules() -> None:
    """Numbers of trained models: 1e-9 relative, a rounded figure's last digit; integers,
    words and the shortest round-trip form of JSON exact."""
    train = "backprop predict m.npz --format json"
    assert compare_output(train, '{"y": 0.6860128344990953}', '{"y": 0.6860128344990968}') == []
    assert compare_output(train, '{"y": 0.6860128344990953}', '{"y": 0.6860128444990953}')
    assert compare_output(train, "  final MSE   0.0103968", "  final MSE    0.0103969") == []
    assert compare_output(train, "  final MSE   0.0103968", "  final MSE   0.0103970")
    assert compare_output(train, '{"epochs_run": 86}', '{"epochs_run": 87}')
    assert compare_output(train, '{"accuracy": 1.0}', '{"accuracy": 0.9912280701754386}')
    assert compare_output(train, "class_0,0.5", "class_1,0.5")
    assert compare_output(train, "x1 0.5", "x2 0.5")
    # any other command: to the bit
    assert compare_output("backprop grad x --at 1", "0.6860128344990953", "0.6860128344990968")
    # a gradcheck's largest error is rounding error: masked, with the parameter it names
    assert compare_output("backprop train c.yaml --gradcheck",
                          "gradcheck: largest relative error 7.8e-10 (network: dE/db), tolerance 1e-06",
                          "gradcheck: largest relative error 9.01e-10 (network: dE/dW), tolerance 1e-06"
                          ) == []


def _nudged(model: Path, ulps: int) -> None:
    """Every weight of the saved model moved ``ulps`` units in the last place (away from 0)."""
    with np.load(model, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    for key in ("W", "b", "V", "c"):
        value = arrays[key]
        for _ in range(ulps):
            value = np.nextafter(value, np.copysign(np.inf, value))
        arrays[key] = value
    with open(model, "wb") as f:  # np.savez on a path would add ".npz" to none
        np.savez(f, **arrays)


@pytest.mark.slow  # over ten seconds on 2 busy cores (README, "Tests")
def test_trained_model_examples_hold_a_few_ulps_but_not_another_seed(tmp_path: Path) -> None:
    """The README's predictions of runs/sine/model.npz still compare equal when every weight
    moves by 4 units in the last place (what another BLAS kernel does to a trained model),
    and compare different when the model is trained from another seed (a real change)."""
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    examples = [e for e in CONSOLE_EXAMPLES if "predict runs/sine/model.npz" in e.parsed.command]
    assert len(examples) >= 2

    def runs() -> list[str]:
        return [subprocess.run(["bash", "-c", e.parsed.command], cwd=tmp_path, env=_environment(),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               timeout=TIMEOUT_S, preexec_fn=limit_resources).stdout
                for e in examples]

    def train(*options: str) -> None:
        subprocess.run(["backprop", "train", "configs/sine.yaml", "--quiet", *options], check=True,
                       cwd=tmp_path, env=_environment(), capture_output=True, timeout=TIMEOUT_S,
                       preexec_fn=limit_resources)

    train()
    model = tmp_path / "runs" / "sine" / "model.npz"
    exact = runs()
    for e, out in zip(examples, exact):
        assert compare_output(e.parsed.command, e.parsed.expected, out) == [], e.parsed.command
    _nudged(model, 4)
    nudged = runs()
    assert nudged != exact  # the nudge reaches the printed digits: the exact text differs
    for e, out in zip(examples, nudged):
        assert compare_output(e.parsed.command, e.parsed.expected, out) == [], out
    train("--seed", "1")
    for e, out in zip(examples, runs()):
        assert compare_output(e.parsed.command, e.parsed.expected, out), out


def _blocks(text: str, heading: str) -> list[tuple[str, str]]:
    """The fenced code blocks of a document's section: (language, text)."""
    section = text.split(heading, 1)[1].split("\n## ", 1)[0]
    blocks, lang, lines = [], None, []
    for line in section.splitlines():
        if line.startswith("```"):
            if lang is None:
                lang, lines = line[3:].strip(), []
            else:
                blocks.append((lang, "\n".join(lines)))
                lang = None
        elif lang is not None:
            lines.append(line)
    return blocks


@pytest.mark.slow  # over ten seconds on 2 busy cores (README, "Tests")
@pytest.mark.parametrize("document, heading", [("README.md", "## Python API"),
                                               ("docs/api.md", "# Python API")])
def test_python_api_example_prints_what_the_readme_shows(tmp_path: Path, document: str,
                                                         heading: str) -> None:
    text = (ROOT / document).read_text(encoding="utf-8")
    (lang, code), (_, shown) = _blocks(text, heading)[:2]
    assert lang == "python"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == shown.strip()


def test_ci_runs_the_readme_set_up_commands() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert 'pip install ".[dev]" && python -m pytest -q' in README
    assert 'pip install . && backprop grad "2/sin(exp(-x))" --at -4.499' in README
    assert 'pip install ".[dev]"\n' in ci and "\nstep python -m pytest -q\n" in ci
    assert "\nstep python -m pytest -q -m slow\n" in ci  # README, "Tests": the slow group

"""The README stays true: every console example in it runs and prints what it
shows, its Python example too, and CI runs the set-up commands it gives.

Console examples are found by Sybil (its Markdown lexer and its Region/Example
machinery): in every fenced block without a language (or ``console``), a line
starting with ``$ `` is a command, run by bash, and the lines up to the next
``$ `` are its expected output (stdout and stderr together, as a terminal shows them). Each
command is one test item, named by its README line and the command.

Machine-dependent figures are masked on both sides before comparing (see
``_mask``): durations (a number followed by ns, µs, ms or s), JSON
``"seconds"`` values and the train summary's ``time (s)`` row. Where a
figure was masked the table layout depends on its width, so in such an
example runs of spaces and of the rule character ``─`` compare as one.
Trailing spaces and trailing blank lines are ignored (the README cannot show
them). An example that does not print ``exit $?`` must exit 0.

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

import pytest
from sybil import Document, Example, Region, Sybil
from sybil.example import SybilFailure
from sybil.parsers.markdown.lexers import FencedCodeBlockLexer

ROOT = Path(__file__).resolve().parents[1]
README_PATH = ROOT / "README.md"
README = README_PATH.read_text(encoding="utf-8")
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


# A duration as the tables print it: "268.5 µs", "1.02 ms", "3.45 s", "1,443 ms".
_DURATION = re.compile(r"(?<![\w.,])\d+(?:,\d{3})*(?:\.\d+)? ?(?:ns|µs|us|ms|s)\b")
_JSON_SECONDS = re.compile(r'("(?:loop_)?seconds": )[-+0-9.eE]+')
_TIME_ROW = re.compile(r"(time \(s\)\s+)[0-9.]+")
_TIME = "<time>"


def _mask(text: str) -> tuple[str, bool]:
    """Machine-dependent figures replaced by <time>; True when one was."""
    masked = _DURATION.sub(_TIME, text)
    masked = _JSON_SECONDS.sub(rf"\g<1>{_TIME}", masked)
    masked = _TIME_ROW.sub(rf"\g<1>{_TIME}", masked)
    return masked, masked != text


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
                         timeout=TIMEOUT_S)
    expected, masked_expected = _mask(parsed.expected)
    actual, _ = _mask(run.stdout)
    want = _normalise(expected, masked_expected)
    got = _normalise(actual, masked_expected)
    # an example that does not print its exit status ("; echo "exit $?"") must succeed
    status_ok = run.returncode == 0 or "$?" in parsed.command
    if want == got and status_ok:
        return None
    status = f"exit status {run.returncode}" + ("" if status_ok else " (expected 0)")
    diff = "\n".join(difflib.unified_diff(want, got, "README.md (expected)", "actual run",
                                          lineterm=""))
    return (f"README.md line {example.line}: $ {parsed.command}\n{status}\n"
            + (f"output differs (figures masked as {_TIME}):\n{diff}\n" if diff else "")
            + "Update the README from a real run of the command.")


_DOCUMENT = Sybil(parsers=[_console_examples]).parse(README_PATH)
CONSOLE_EXAMPLES = list(_DOCUMENT.examples())


def _example_id(example: Example) -> str:
    return f"line{example.line}: {example.parsed.command[:70]}"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("readme")
    shutil.copytree(ROOT / "configs", folder / "configs")
    (folder / "docs").mkdir()
    return folder


def test_every_command_line_of_the_readme_is_an_example() -> None:
    commands = [example.parsed.command for example in CONSOLE_EXAMPLES]
    assert len(commands) >= 30, commands
    assert all("backprop" in command for command in commands)
    # a "$ " line in a block of another language would otherwise go unrun
    prompts = [line for line in README.splitlines() if line.startswith(PROMPT)]
    assert len(prompts) == len(commands)


@pytest.mark.parametrize("example", CONSOLE_EXAMPLES, ids=_example_id)
def test_readme_console_example(example: Example, workdir: Path) -> None:
    command = example.parsed.command
    if re.search(r"-o \S+\.(png|svg)|--format (png|svg)", command) and not shutil.which("dot"):
        pytest.skip("Graphviz's dot is not installed")
    example.namespace["workdir"] = workdir
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


def _blocks(heading: str) -> list[tuple[str, str]]:
    """The fenced code blocks of a README section: (language, text)."""
    section = README.split(heading, 1)[1].split("\n## ", 1)[0]
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


def test_python_api_example_prints_what_the_readme_shows(tmp_path: Path) -> None:
    (lang, code), (_, shown) = _blocks("## Python API")[:2]
    assert lang == "python"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == shown.strip()


def test_ci_runs_the_readme_set_up_commands() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert 'pip install ".[dev]" && python -m pytest -q' in README
    assert 'pip install . && backprop grad "2/sin(exp(-x))" --at -4.499' in README
    assert 'pip install ".[dev]"\n' in ci and "\npython -m pytest -q\n" in ci

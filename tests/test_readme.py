"""The README stays true: its Python example runs and prints what it shows, and
CI runs the set-up commands it gives."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


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

"""The shape of the source: no function too long to read in one screen."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "backprop"
MAX_LINES = 80


def test_no_function_in_src_is_over_80_lines() -> None:
    long = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1  # type: ignore[operator]
                if lines > MAX_LINES:
                    long.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name} ({lines})")
    assert not long, long


def test_each_package_docstring_names_its_modules() -> None:
    missing = []
    for init in sorted(SRC.rglob("__init__.py")):
        if init.parent == SRC:
            continue  # the package itself: its docstring is the user's first example
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
        for module in sorted(init.parent.glob("*.py")):
            name = module.stem
            if name.startswith("__"):
                continue
            if f"``{name}``" not in doc and f".{name}`" not in doc:
                missing.append(f"{init.parent.relative_to(SRC)}: {name}")
    assert not missing, missing

"""The shape of the source: no function too long to read in one screen."""

from __future__ import annotations

import ast
import re
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
    """Every package's docstring (the top-level one included) names each of its modules
    and subpackages, and names no module it does not hold."""
    missing, stale = [], []
    for init in sorted(SRC.rglob("__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
        package = init.parent
        names = {m.stem for m in package.glob("*.py") if not m.stem.startswith("__")}
        names |= {d.name for d in package.iterdir() if (d / "__init__.py").is_file()}
        for name in sorted(names):
            if f"``{name}``" not in doc and f".{name}`" not in doc:
                missing.append(f"{package.relative_to(SRC.parent)}: {name}")
        # a module named as backprop.x.y must exist
        for dotted in re.findall(r"backprop(?:\.\w+)+", doc):
            parts = dotted.split(".")[1:]
            while parts and not (SRC.joinpath(*parts).with_suffix(".py").is_file()
                                 or SRC.joinpath(*parts, "__init__.py").is_file()):
                parts.pop()  # backprop.core.function.Function: the module is core.function
            if not parts:
                stale.append(f"{package.relative_to(SRC.parent)}: {dotted}")
    assert not missing, missing
    assert not stale, stale


# Layers, bottom up: a module imports only from its own layer or the layers below it.
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"errors", "files", "lazy", "lines", "threads", "vector_math"}),  # shared utilities
    frozenset({"core"}),  # the primitives, the graph, the passes, the Function façade
    frozenset({"symbolic", "methods", "nn"}),  # the methods above the façade
    frozenset({"studies", "dask"}),
    frozenset({"views"}),
    frozenset({"cli"}),
    frozenset({"__init__", "__main__"}),
)
RANK = {name: rank for rank, layer in enumerate(LAYERS) for name in layer}
# Known imports that run up the layers: none. Add a pair (file, layer) only with a reason.
UPWARD_KNOWN: set[tuple[str, str]] = set()


def _imported_parts(path: Path, tree: ast.AST) -> list[tuple[str, str]]:
    """(the top-level part of backprop it imports, the module imported) for each import."""
    package = ["backprop", *path.relative_to(SRC).parent.parts]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = (package[:len(package) - node.level + 1] if node.level else [])
            module = ".".join(base + ([node.module] if node.module else []))
            # from backprop import numeric: the names may be modules themselves
            modules = ([f"{module}.{a.name}" for a in node.names] if module == "backprop"
                       else [module])
        else:
            continue
        for module in modules:
            parts = module.split(".")
            if parts[0] == "backprop" and len(parts) > 1:
                found.append((parts[1], module))
    return found


def test_no_import_runs_up_the_layers() -> None:
    upward = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        own = rel.parts[0] if len(rel.parts) > 1 else path.stem
        assert own in RANK, f"{rel}: not in LAYERS; place it in a layer"
        for part, module in _imported_parts(path, ast.parse(path.read_text(encoding="utf-8"))):
            if part in RANK and RANK[part] > RANK[own] and (rel.as_posix(), part) not in UPWARD_KNOWN:
                upward.append(f"{rel} imports {module}")
    assert not upward, upward


def test_the_core_never_imports_the_methods() -> None:
    """methods/ sits on the façade: the core must not reach up to it, even lazily."""
    for path in sorted((SRC / "core").glob("*.py")):
        parts = {p for p, _ in _imported_parts(path, ast.parse(path.read_text(encoding="utf-8")))}
        assert not parts & {"methods", "symbolic", "nn", "studies", "views", "cli"}, path.name

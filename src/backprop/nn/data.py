"""The data: a CSV file or a synthetic function, split and standardised.

A CSV must be complete: a missing, empty or non-numeric cell stops with the
line and the column; no row is ever dropped silently.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from backprop.errors import InputError
from backprop.nn.config import DataConfig, SyntheticConfig
from backprop.nn.layers import Array


@dataclass
class Dataset:
    X: Array  # (N, D) raw inputs
    Y: Array  # (N, K) raw targets
    input_names: list[str]
    target_names: list[str]
    source: str


def load_csv(path: str | Path, targets: Sequence[str], inputs: Sequence[str] | None = None,
             key: str = "data") -> Dataset:
    """Every row of a CSV with a header; ``targets`` are columns, ``inputs`` default to the rest."""
    p = Path(path)
    try:
        f = p.open(newline="", encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{key}.csv: no such file: {p}") from None
    except OSError as exc:
        raise InputError(f"{key}.csv: cannot read {p} ({exc.strerror})") from None
    with f:
        reader = csv.reader(f)
        try:
            header = next(reader, None)
        except (csv.Error, UnicodeDecodeError) as exc:
            raise InputError(f"{p} line 1: not a readable CSV ({exc})") from None
        if not header or not any(h.strip() for h in header):
            raise InputError(f"{p}: empty file; expected a header line naming the columns")
        header = [h.strip() for h in header]
        if any(not h for h in header):
            raise InputError(f"{p} line 1: the header has an empty column name")
        dup = sorted({h for h in header if header.count(h) > 1})
        if dup:
            raise InputError(f"{p} line 1: the header names {', '.join(dup)} more than once")
        missing = [t for t in targets if t not in header]
        if missing:
            raise InputError(f"{key}.target: {p} has no column {', '.join(missing)} "
                             f"(its columns: {', '.join(header)})")
        if inputs is None:
            inputs = [h for h in header if h not in targets]
        else:
            absent = [c for c in inputs if c not in header]
            if absent:
                raise InputError(f"{key}.inputs: {p} has no column {', '.join(absent)} "
                                 f"(its columns: {', '.join(header)})")
            both = [c for c in inputs if c in targets]
            if both:
                raise InputError(f"{key}.inputs: {', '.join(both)} is also a target")
        if not inputs:
            raise InputError(f"{key}: {p} has no input columns besides the target")
        rows: list[list[float]] = []
        width = len(header)
        try:
            for row in reader:
                line = reader.line_num
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue  # a blank line is not a row
                if len(row) != width:
                    raise InputError(f"{p} line {line}: expected {width} cells, found {len(row)}")
                values = []
                for name, cell in zip(header, row):
                    text = cell.strip()
                    if not text:
                        raise InputError(f"{p} line {line}, column {name}: empty cell")
                    try:
                        v = float(text)
                    except ValueError:
                        raise InputError(f"{p} line {line}, column {name}: {text!r} is not a number") from None
                    if not math.isfinite(v):
                        raise InputError(f"{p} line {line}, column {name}: {text!r} is missing "
                                         "or infinite; every cell must be a finite number")
                    values.append(v)
                rows.append(values)
        except (csv.Error, UnicodeDecodeError) as exc:
            raise InputError(f"{p} line {reader.line_num}: not a readable CSV ({exc})") from None
    if len(rows) < 2:
        raise InputError(f"{p}: {len(rows)} data row(s); training needs at least 2")
    table = np.array(rows, dtype=np.float64)
    col = {h: k for k, h in enumerate(header)}
    return Dataset(table[:, [col[c] for c in inputs]], table[:, [col[t] for t in targets]],
                   list(inputs), list(targets), str(p))


def synthetic(cfg: SyntheticConfig, seed: int, target: str = "y", key: str = "data.synthetic") -> Dataset:
    """n points uniform in the ranges, y = expr(x) + noise * N(0, 1)."""
    from backprop.errors import ExpressionError
    from backprop.core.function import parse

    try:
        f = parse(cfg.expr)
    except ExpressionError as exc:
        raise InputError(f"{key}.expr: {exc}") from None
    names = list(f.variables)
    if not names:
        raise InputError(f"{key}.expr: {cfg.expr!r} has no variables; a regression needs inputs")
    missing = [v for v in names if v not in cfg.ranges]
    if missing:
        raise InputError(f"{key}.ranges: no range for {', '.join(missing)} "
                         f"(give one per variable of the expression: {', '.join(names)})")
    extra = [v for v in cfg.ranges if v not in names]
    if extra:
        raise InputError(f"{key}.ranges: {', '.join(extra)} is not a variable of the expression "
                         f"(its variables: {', '.join(names)})")
    rng = np.random.default_rng(cfg.seed if cfg.seed is not None else seed)
    columns = {v: rng.uniform(*cfg.ranges[v], size=cfg.n) for v in names}
    with np.errstate(all="ignore"):
        y = np.broadcast_to(np.asarray(f(**columns), dtype=np.float64), (cfg.n,)).copy()
    bad = ~np.isfinite(y)
    if bad.any():
        i = int(np.argmax(bad))
        at = ", ".join(f"{v}={float(columns[v][i])!r}" for v in names)
        raise InputError(f"{key}.expr: not finite at {at} ({int(bad.sum())} of {cfg.n} points); "
                         "narrow the ranges to the expression's domain")
    with np.errstate(over="ignore"):  # checked just below
        y += cfg.noise * rng.standard_normal(cfg.n)
    if not np.all(np.isfinite(y)):
        raise InputError(f"{key}.noise: {cfg.noise!r} is so large that the targets overflow")
    X = np.column_stack([columns[v] for v in names])
    return Dataset(X, y[:, None], names, [target], f"synthetic: {cfg.expr}")


def load(cfg: DataConfig, base: Path, seed: int) -> Dataset:
    """The data a config names; a relative csv path is relative to ``base`` (the config's folder)."""
    if cfg.csv is not None:
        path = Path(cfg.csv)
        return load_csv(path if path.is_absolute() else base / path, cfg.targets, cfg.inputs)
    assert cfg.synthetic is not None
    if len(cfg.targets) != 1:
        raise InputError("data.target: synthetic data has one target; give one name")
    return synthetic(cfg.synthetic, seed, cfg.targets[0])


def split(n: int, validation_split: float, rng: np.random.Generator) -> tuple[Array, Array]:
    """Shuffled row indices for training and validation."""
    order = rng.permutation(n)
    n_val = int(round(validation_split * n))
    if validation_split > 0:
        n_val = max(n_val, 1)
    if n - n_val < 1:
        raise InputError(f"data.validation_split: {validation_split} leaves no rows to train on "
                         f"({n} rows)")
    return np.sort(order[n_val:]), np.sort(order[:n_val])

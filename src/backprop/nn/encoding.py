"""From the cells of a CSV row to the network's inputs: numbers as they are, text one-hot.

A categorical column (``data.categorical: [city]``) becomes one input per
category seen in training, named ``city=Paris``: 1 in the column of the row's
category, 0 elsewhere. The categories travel in the model file, so ``predict``
and ``evaluate`` encode new rows the same way; a category training never saw
is encoded as all zeros and counted, for one warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from backprop.nn.layers import Array


@dataclass
class Encoding:
    """The raw input columns, in order, and the categories of those that hold text."""

    columns: list[str]
    categories: dict[str, list[str]] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        """The network's inputs: a numeric column's name, or ``column=category`` per category."""
        out: list[str] = []
        for c in self.columns:
            out += [f"{c}={k}" for k in self.categories[c]] if c in self.categories else [c]
        return out

    @classmethod
    def learn(cls, columns: Sequence[str], texts: dict[str, list[str]]) -> "Encoding":
        """The categories of each categorical column (``texts``: its stripped cells), sorted."""
        return cls(list(columns), {name: sorted(set(t)) for name, t in texts.items()})

    def one_hot(self, name: str, texts: Sequence[str],
                unknown: dict[str, dict[str, int]] | None = None) -> Array:
        """(N, categories of ``name``) zeros and ones; unknown categories all zeros, counted."""
        cats = self.categories[name]
        where = {c: i for i, c in enumerate(cats)}
        pos = np.fromiter((where.get(t, -1) for t in texts), dtype=np.int64, count=len(texts))
        out = np.zeros((len(texts), len(cats)))
        known = pos >= 0
        out[np.flatnonzero(known), pos[known]] = 1.0
        if unknown is not None and not known.all():
            seen = unknown.setdefault(name, {})
            for i in np.flatnonzero(~known):
                seen[texts[i]] = seen.get(texts[i], 0) + 1
        return out

    def numeric_index(self, index: Sequence[int]) -> tuple[list[int], list[int]]:
        """Where the numeric columns are: among the cells (``index``) and among the encoded inputs."""
        cells, inputs, k = [], [], 0
        for name, j in zip(self.columns, index):
            cats = self.categories.get(name)
            if cats is None:
                cells.append(j)
                inputs.append(k)
                k += 1
            else:
                k += len(cats)
        return cells, inputs


def unknown_message(unknown: dict[str, dict[str, int]]) -> str | None:
    """One warning for every category the model has not seen, by column."""
    if not unknown:
        return None
    parts = []
    for name, seen in unknown.items():
        rows = sum(seen.values())
        shown = ", ".join(repr(k) for k in sorted(seen)[:3]) + (" ..." if len(seen) > 3 else "")
        parts.append(f"column {name}: {rows} row{'s' if rows != 1 else ''} ({shown})")
    return ("categories not seen in training, encoded as all zeros: " + "; ".join(parts))

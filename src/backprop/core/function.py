"""A parsed expression as a differentiable function: the library's front door."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import numpy as np

from backprop.core import engine
from backprop.errors import InputError
from backprop.core.ops import Value
from backprop.core.graph import Graph
from backprop.core.parser import parse_graph
from backprop.core.printer import to_text


def _as_input(name: str, v: Any) -> Value:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return np.float64(v)  # IEEE arithmetic: 1/0 is inf, not ZeroDivisionError
    try:
        arr = np.asarray(v, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"the value of {name} is not a number: {v!r}") from None
    return arr[()] if arr.ndim == 0 else arr


def _shape(v: Value | None) -> tuple[int, ...]:
    return np.shape(v) if v is not None else ()


@dataclass
class Function:
    """An expression parsed into a computational graph.

    >>> f = parse("2/sin(exp(-x))")
    >>> f.variables
    ('x',)
    >>> value, grad = f.value_and_grad(x=-4.499)
    """

    graph: Graph
    text: str = ""
    angle: str = "rad"
    _plan: engine.Plan = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._plan = engine.Plan.of(self.graph)

    @property
    def variables(self) -> tuple[str, ...]:
        """Variable names in order of first appearance."""
        return self.graph.variables

    @property
    def plan(self) -> engine.Plan:
        return self._plan

    @property
    def size(self) -> int:
        """Nodes in the graph (each shared subexpression counted once)."""
        return len(self._plan.order)

    def __str__(self) -> str:
        return to_text(self.graph)

    def _inputs(self, values: Mapping[str, Any]) -> dict[str, Value]:
        missing = [v for v in self.variables if v not in values]
        if missing:
            raise InputError(f"no value given for {', '.join(missing)}")
        extra = [k for k in values if k not in self.variables]
        if extra:
            known = ", ".join(self.variables) or "none"
            raise InputError(f"{', '.join(extra)} is not a variable of the expression (its variables: {known})")
        return {k: _as_input(k, v) for k, v in values.items()}

    def _broadcast(self, x: Value, inputs: Mapping[str, Value]) -> Value:
        shape = np.broadcast_shapes(*(_shape(v) for v in inputs.values())) if inputs else ()
        if shape == () and np.ndim(x) == 0:
            return float(x)
        if np.shape(x) == shape and isinstance(x, np.ndarray):
            return x
        return np.broadcast_to(np.asarray(x, dtype=np.float64), shape).copy()

    def forward(self, **values: Any) -> list[Value | None]:
        """The forward pass: every node's value, cached (indexed by node)."""
        return engine.forward(self.graph, self._plan, self._inputs(values))

    def __call__(self, **values: Any) -> Value:
        inputs = self._inputs(values)
        vals = engine.forward(self.graph, self._plan, inputs)
        return self._broadcast(vals[self.graph.output], inputs)  # type: ignore[arg-type]

    evaluate = __call__

    def value_and_grad(
        self, wrt: Iterable[str] | None = None, **values: Any
    ) -> tuple[Value, dict[str, Value]]:
        """Forward pass, then backward pass: the value and the gradient.

        ``wrt`` limits the partial derivatives computed (default: all variables).
        """
        inputs = self._inputs(values)
        names = self._check_wrt(wrt)
        vals = engine.forward(self.graph, self._plan, inputs)
        grads = engine.backward(self.graph, self._plan, vals, names)
        value = self._broadcast(vals[self.graph.output], inputs)  # type: ignore[arg-type]
        return value, {k: self._broadcast(g, inputs) for k, g in grads.items()}

    def grad(self, wrt: Iterable[str] | None = None, **values: Any) -> dict[str, Value]:
        return self.value_and_grad(wrt, **values)[1]

    def forward_mode_grad(self, wrt: Iterable[str] | None = None, **values: Any) -> dict[str, Value]:
        """The gradient by forward mode: one tangent pass per variable."""
        inputs = self._inputs(values)
        names = self._check_wrt(wrt)
        vals = engine.forward(self.graph, self._plan, inputs)
        return {
            v: self._broadcast(engine.tangent(self.graph, self._plan, vals, {v: 1.0}), inputs)
            for v in names
        }

    def _check_wrt(self, wrt: Iterable[str] | None) -> list[str]:
        if wrt is None:
            return list(self.variables)
        names = list(wrt)
        bad = [v for v in names if v not in self.variables]
        if bad:
            known = ", ".join(self.variables) or "none"
            raise InputError(f"cannot differentiate with respect to {', '.join(bad)}: "
                             f"not a variable of the expression (its variables: {known})")
        return names

    def node_text(self, i: int, max_chars: int = 60) -> str:
        """A node's subexpression as text, shortened for messages."""
        from backprop.core.printer import tree_size

        if tree_size(self.graph, i, cap=max_chars + 1) > max_chars:
            from backprop.core.printer import module_label

            return f"{module_label(self.graph, i)}(...)"
        t = to_text(self.graph, i)
        return t if len(t) <= max_chars else t[: max_chars - 3] + "..."


def parse(text: str, angle: str = "rad") -> Function:
    """Parse an expression into a differentiable :class:`Function`.

    ``angle="deg"``: sin, cos and tan take degrees, asin, acos and atan return
    degrees, and the derivatives are scaled to match.
    """
    return Function(parse_graph(text, angle), text, angle)

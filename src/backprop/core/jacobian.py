"""Jacobians of several outputs (``"x*y; x+y"``): reverse mode or forward mode, whichever
costs fewer passes.

Reverse mode gives one row (one output's gradient) per backward pass; forward
mode one column (every output's derivative along one variable) per tangent
pass. With m outputs and n variables, reverse mode costs m passes and forward
mode n, so m <= n picks reverse (a tie goes to backpropagation). The forward
passes are run together, all directions as one leading array axis.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Iterable, Iterator, Mapping, Sequence

from backprop.core import engine
from backprop.core.graph import Graph
from backprop.core.ops import Value

REVERSE, FORWARD = "reverse", "forward"


def choose_mode(outputs: int, variables: int) -> str:
    """Reverse mode (one pass per output) unless forward mode (one per variable) needs fewer."""
    return REVERSE if outputs <= variables else FORWARD


def describe_mode(mode: str, outputs: int, variables: int) -> str:
    """One sentence for --trace: which mode, and why."""
    o = f"{outputs} output{'s' if outputs != 1 else ''}"
    v = f"{variables} variable{'s' if variables != 1 else ''}"
    if mode == REVERSE:
        return (f"reverse mode: {outputs} backward pass{'es' if outputs != 1 else ''} (one per "
                f"output) for {o} and {v}; forward mode would take {variables}")
    return (f"forward mode: {variables} tangent pass{'es' if variables != 1 else ''} (one per "
            f"variable, run together) for {o} and {v}; reverse mode would take {outputs}")


@dataclass(frozen=True)
class JacobianPlan:
    graph: Graph
    outputs: tuple[int, ...]
    plan: engine.Plan  # every node some output needs

    @classmethod
    def of(cls, graph: Graph) -> JacobianPlan:
        outputs = graph.outputs or (graph.output,)
        return cls(graph, tuple(outputs), engine.Plan.of(graph, list(outputs)))


@dataclass
class Jacobian:
    values: list[Value]  # one per output
    grads: list[dict[str, Value]]  # one per output: d output / d variable
    mode: str  # REVERSE or FORWARD
    vals: list[Value | None]  # the forward pass (for messages)


def jacobian(jp: JacobianPlan, inputs: Mapping[str, Value], wrt: Sequence[str],
             mode: str | None = None) -> Jacobian:
    """One forward pass, then the Jacobian's rows by reverse mode or its columns by forward mode."""
    wrt = list(wrt)
    mode = mode or choose_mode(len(jp.outputs), len(wrt))
    g, plan = jp.graph, jp.plan
    vals = engine.forward(g, plan, inputs)
    values = [vals[o] for o in jp.outputs]
    if mode == REVERSE:
        grads = [engine.backward(dataclasses.replace(g, output=o), plan, vals, wrt)
                 for o in jp.outputs]
    else:
        steps = engine.tangent_steps(g, plan.order, wrt)
        tan = engine.tangents(steps, plan.var_nodes, wrt, vals)
        grads = []
        for o in jp.outputs:
            t = tan[o]
            grads.append({v: 0.0 if t is None else t[k] for k, v in enumerate(wrt)})
    return Jacobian(values, grads, mode, vals)  # type: ignore[arg-type]


class VectorFunction:
    """Several expressions separated by ';', parsed into one graph (shared nodes computed once).

    >>> f = parse_vector("x*y; x+y")
    >>> values, grads = f.jacobian(x=1.0, y=2.0)
    >>> values, grads
    ([2.0, 3.0], [{'x': 2.0, 'y': 1.0}, {'x': 1.0, 'y': 1.0}])
    """

    def __init__(self, graph: Graph, text: str = "", angle: str = "rad",
                 warnings: tuple[str, ...] = ()) -> None:
        from backprop.core.function import Function

        self.graph = graph
        self.text = text
        self.angle = angle
        self.warnings = warnings  # names that look like typos ("sinx"): the caller shows them
        self._jp = JacobianPlan.of(graph)
        # the whole graph as one Function: its checks of points and names, its node texts
        self._f = Function.from_graph(graph, text, angle)
        parts = [p.strip() for p in text.split(";")] if text else []
        self.outputs: tuple[str, ...] = (tuple(parts) if len(parts) == len(self._jp.outputs)
                                         else tuple(f"f{k + 1}" for k in range(len(self._jp.outputs))))

    @property
    def variables(self) -> tuple[str, ...]:
        return self._f.variables

    def mode(self, wrt: Sequence[str] | None = None) -> str:
        """The mode that takes fewer passes for these variables."""
        n = len(self.variables) if wrt is None else len(wrt)
        return choose_mode(len(self.outputs), n)

    def describe_mode(self, wrt: Sequence[str] | None = None) -> str:
        n = len(self.variables) if wrt is None else len(wrt)
        return describe_mode(self.mode(wrt), len(self.outputs), n)

    def point(self, text: str, what: str = "--at") -> dict[str, float]:
        return self._f.point(text, what)

    def check_names(self, names: Sequence[str], prefix: str = "") -> None:
        self._f.check_names(names, prefix)

    def jacobian(self, wrt: Sequence[str] | None = None, mode: str | None = None,
                 **values: object) -> tuple[list[Value], list[dict[str, Value]]]:
        """Each output's value and gradient at one point (or at arrays of points)."""
        import numpy as np

        inputs = self._f._inputs(values)
        names = self._f._check_wrt(wrt)
        j = jacobian(self._jp, inputs, names, mode)
        shape = np.broadcast_shapes(*(np.shape(v) for v in inputs.values())) if inputs else ()
        return ([self._f._broadcast(v, shape) for v in j.values],
                [{k: self._f._broadcast(g, shape) for k, g in row.items()} for row in j.grads])

    def jacobians(self, points: Mapping[str, object] | None = None,
                  wrt: Sequence[str] | None = None, mode: str | None = None) -> object:
        """A :class:`backprop.core.results.Jacobians` block at one point or 1-d arrays of points."""
        import numpy as np

        names = self._f._check_wrt(wrt)
        chunk = {k: np.atleast_1d(np.asarray(v, dtype=np.float64)) for k, v in (points or {}).items()}
        return self._block(chunk, names, mode)

    def stream(self, chunks: Iterable[Mapping[str, object]], wrt: Sequence[str] | None = None,
               mode: str | None = None) -> Iterator[object]:
        names = self._f._check_wrt(wrt)
        for chunk in chunks:
            yield self._block(chunk, names, mode)

    def _block(self, chunk: Mapping[str, object], wrt: list[str], mode: str | None) -> object:
        import numpy as np

        from backprop.core.results import Jacobians

        inputs = self._f._inputs(chunk)
        j = jacobian(self._jp, inputs, wrt, mode)
        p = len(next(iter(chunk.values()))) if chunk else 1  # type: ignore[arg-type]
        m, n = len(self.outputs), len(wrt)
        points = np.empty((p, len(self.variables)))
        for k, v in enumerate(self.variables):
            points[:, k] = chunk[v]  # type: ignore[index]
        values = np.empty((p, m))
        jac = np.empty((p, m, n))
        for r in range(m):
            values[:, r] = j.values[r]
            for c, v in enumerate(wrt):
                jac[:, r, c] = j.grads[r][v]
        f, plan, vals = self._f, self._jp.plan, j.vals

        def diagnose(what: str) -> object:
            from backprop.core.results import NonFinite

            i = engine.first_non_finite(self.graph, plan, vals)
            k = engine.first_non_finite_local(self.graph, plan, vals)
            return NonFinite(what, None if i is None else f.node_text(i),
                             None if k is None else f.node_text(k))

        return Jacobians(tuple(self.variables), tuple(wrt), self.outputs, points, values, jac,
                         j.mode, diagnose)


def parse_vector(text: str, angle: str = "rad", vars: Iterable[str] | None = None) -> VectorFunction:
    """Parse expressions separated by ';' (one or more) into a :class:`VectorFunction`.

    ``vars`` and the typo warnings (``VectorFunction.warnings``) as for :func:`parse`.
    """
    from backprop.core.parser import parse_text

    parsed = parse_text(text, angle, vars, several=True)
    return VectorFunction(parsed.graph, text, angle, parsed.warnings)

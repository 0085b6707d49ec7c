"""Jacobians of several outputs (``"x*y; x+y"``): reverse mode or forward mode, whichever
costs fewer passes.

Reverse mode gives one row (one output's gradient) per backward pass; forward
mode one column (every output's derivative along one variable) per tangent
pass. With m outputs and n variables, reverse mode costs m passes and forward
mode n, so m <= n picks reverse (a tie goes to backpropagation). The forward
passes are run together, all directions as one leading array axis.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from backprop.core import engine
from backprop.core.graph import Graph
from backprop.core.ops import Value
from backprop.core.passes import tangent_steps

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
        grads = [engine.backward(g, plan, vals, wrt, output=o) for o in jp.outputs]
    else:
        steps = tangent_steps(g, plan.order, wrt, engine.NUMPY.partials)
        ndim = max((np.ndim(v) for v in inputs.values()), default=0)
        tan = engine.tangents(engine.masked(steps, plan.var_nodes, wrt, ndim), plan.var_nodes,
                              wrt, vals)
        grads = []
        for o in jp.outputs:
            t = tan[o]
            grads.append({v: 0.0 if t is None else t[k] for k, v in enumerate(wrt)})
    return Jacobian(values, grads, mode, vals)  # type: ignore[arg-type]

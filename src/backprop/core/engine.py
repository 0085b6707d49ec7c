"""The passes on numpy: arrays over blocks of points, and numpy scalars at one point.

The loops are those of :mod:`backprop.core.passes`, compiled here with numpy's
forwards and local derivatives (``NUMPY``): IEEE arithmetic (1/0 is inf, not an
exception) in one error-state context, so one pass handles any number of points
at once and says inf or nan where the math module's passes raise. This module
adds what arrays need: the plan of a graph with its compiled programs, sin's and
cos's local derivatives from the forward's own computation, the tangent pass's
representations of many directions, and large batches block by block over the
threads.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from backprop import threads as threads_
from backprop.core.graph import CONST, VAR, Graph
from backprop.core.ops import PRIMITIVES, Partial, Primitive, Value, _minus_one, _one, _zero
from backprop.core.passes import (MINUS_ONE, ONE, Arithmetic, Program, TangentSteps,
                                  by_direction, directions, run_tangents,
                                  unit_directions)


_SCALARS = (float, np.float64)
_isfinite = math.isfinite


def _as_float64(v: Any) -> Any:
    # a Python float would raise on 1/0 in a local derivative: IEEE numpy scalars instead
    return np.float64(v) if type(v) is float else v


def _ignore_errors() -> Any:
    return np.errstate(all="ignore")  # a fresh one per pass: numpy's may not be entered twice


NUMPY = Arithmetic("numpy", lambda p: p.forward, lambda p: p.partials,
                   # numpy scalars, not Python floats: 1/0 is then inf (IEEE), not an exception
                   lambda c: np.float64(c), _ignore_errors, _as_float64)


class _Fused:
    """A module whose forward over arrays gives its local derivative in the same
    computation (sin and cos: one sincos), for a program whose backward pass follows.

    The forward keeps (argument, value, local derivative) for this thread; the
    partial returns the kept local derivative when called on that very argument and
    value (the same arrays, by identity), and computes it otherwise. The numbers are
    the same bits either way.
    """

    def __init__(self, prim: Primitive) -> None:
        self.both = prim.forward_and_partial
        self.plain, self.partial_apart = prim.forward, prim.partials[0]
        self.kept = threading.local()  # blocks run forward then backward in one thread

    def forward(self, x: Value) -> Value:
        if type(x) is not np.ndarray:
            return self.plain(x)
        value, local = self.both(x)  # type: ignore[misc]
        self.kept.last = (x, value, local)
        return value

    def partial(self, ans: Value, x: Value) -> Value:
        last = getattr(self.kept, "last", None)
        if last is not None and last[0] is x and last[1] is ans:
            self.kept.last = None
            return last[2]
        return self.partial_apart(ans, x)


def _fuse(prim: Primitive, node: int) -> tuple[Callable[..., Any], tuple[Partial, ...]] | None:
    if prim.forward_and_partial is None:
        return None
    fused = _Fused(prim)
    return fused.forward, (fused.partial,)


@dataclass(frozen=True)
class Plan:
    """A graph's reachable nodes, and its numpy programs compiled on first use."""

    graph: Graph
    order: tuple[int, ...]  # reachable nodes, inputs first
    var_nodes: dict[str, int]  # variable name -> its node
    roots: tuple[int, ...] | None
    _programs: dict[tuple[str, ...] | None, Program] = field(default_factory=dict, compare=False)

    @classmethod
    def of(cls, graph: Graph, roots: Sequence[int] | None = None) -> Plan:
        """``roots``: the nodes to compute (default: the graph's output)."""
        order = graph.reachable(roots)
        ops, leaf = graph.ops, graph.leaf
        var_nodes = {str(leaf[i]): i for i in order if ops[i] == VAR}
        return cls(graph, tuple(order), var_nodes, None if roots is None else tuple(roots))

    def program(self, wrt: Sequence[str] | None = None) -> Program:
        """The forward pass alone (``wrt`` None), or forward and backward for ``wrt`` (sin
        and cos fused: the backward pass will read their local derivatives)."""
        key = None if wrt is None else tuple(wrt)
        found = self._programs.get(key)
        if found is None:
            found = self._programs[key] = Program(
                self.graph, NUMPY, () if key is None else key, self.roots,
                None if key is None else _fuse)
        return found



def forward(graph: Graph, plan: Plan, inputs: Mapping[str, Value]) -> list[Value | None]:
    """The forward pass: every node's value, cached (indexed by node)."""
    return plan.program().forward(inputs)


Recorder = Callable[[int, int, int, Value, Value, Value | None], None]


def backward(graph: Graph, plan: Plan, vals: Sequence[Value | None], wrt: Sequence[str],
             record: Recorder | None = None, output: int | None = None) -> dict[str, Value]:
    """Reverse mode: the gradient of ``output`` (default: the graph's) with respect to
    each name in ``wrt``, from a forward pass's ``vals``; ``record`` sees every step."""
    program = plan.program(wrt)
    return dict(zip(program.wrt, program.gradient(program.backward(vals, output, record))))


def value_and_grad(plan: Plan, inputs: Mapping[str, Value], wrt: Sequence[str]
                   ) -> tuple[list[Value | None], list[Value]]:
    """Forward then backward on one program: every node's value, and the partials in
    ``wrt``'s order."""
    return plan.program(wrt).value_and_grad(inputs)


def first_non_finite(graph: Graph, plan: Plan, vals: Sequence[Value | None]) -> int | None:
    """The first node (in evaluation order) to produce nan or inf from finite inputs."""
    for i in plan.order:
        v = vals[i]
        if v is None or np.all(np.isfinite(v)):
            continue
        if all(np.all(np.isfinite(vals[j])) for j in graph.args[i]):  # type: ignore[arg-type]
            return i
    return None


def first_non_finite_local(graph: Graph, plan: Plan, vals: Sequence[Value | None]) -> int | None:
    """The first node whose local derivative is nan or inf where its value is finite."""
    with np.errstate(all="ignore"):
        for i in plan.order:
            op = graph.ops[i]
            if op in (VAR, CONST) or not np.all(np.isfinite(vals[i])):  # type: ignore[arg-type]
                continue
            argvals = [vals[j] for j in graph.args[i]]
            for partial in PRIMITIVES[op].partials:
                if not np.all(np.isfinite(partial(vals[i], *argvals))):
                    return i
    return None


# ---- the tangent pass over arrays: how a tangent holds its directions ------------------------

def stacked(n: int, shape: tuple[int, ...]) -> Callable[[Any, Any, Any], Any]:
    """Tangents of ``n`` directions as a leading array axis, (n, *shape). A variable's unit
    tangent is its direction's number k (an int), never multiplied out: its local
    derivative is added into row k of the sum."""
    full = (n,) + shape

    def add(total: Any, local: Any, t: Any) -> Any:
        if type(t) is int:
            total = np.zeros(full) if total is None else total.copy()
            total[t] += local
            return total
        c = t if local is ONE else -t if local is MINUS_ONE else t * local
        return c if total is None else total + c

    return add


def _bits(mask: int, n: int) -> list[bool]:
    """A direction mask of :func:`passes.directions` as n booleans."""
    return [bool(mask >> k & 1) for k in range(n)]


def _only_in(partial: Partial, mask: np.ndarray) -> Partial:
    """``partial``'s local derivative in the directions of ``mask``, 0 in the others."""

    def local(*args: Value) -> Value:
        found = partial(*args)
        if type(found) in _SCALARS and _isfinite(found):  # one point, finite: 0 stays 0
            return found
        return np.where(mask, found, 0.0)

    return local


def _only_in_rows(partial: Partial, mask: np.ndarray) -> Partial:
    """For a group of modules (:class:`LevelPlan`): each one's local derivative in the
    directions of its row of ``mask`` (modules, directions), 0 in the others."""

    def local(*args: Value) -> Value:
        return np.where(mask, np.reshape(partial(*args), (-1, 1)), 0.0)

    return local


def masked(steps: TangentSteps, var_nodes: Mapping[str, int], wrt: Sequence[str],
           ndim: int) -> TangentSteps:
    """``steps`` for dense tangents (:func:`tangents`) at points of ``ndim`` dimensions:
    on an edge from an argument that depends on only some of the variables, the local
    derivative is 0 in the other directions, so that a nan or inf local derivative
    (x^y's in y at x < 0) never multiplies the zeros there (see :func:`passes.directions`)."""
    n = len(wrt)
    every = (1 << n) - 1
    dirs = directions(steps, var_nodes, wrt)
    units = set(var_nodes.values())  # a variable's unit tangent is added into its own row
    masks: dict[int, np.ndarray] = {}
    out = []
    for i, edges in steps:
        kept = []
        for j, p, x, y in edges:
            d = dirs.get(j, every)
            if d != every and j not in units and p not in (_one, _minus_one, _zero):
                mask = masks.get(d)
                if mask is None:
                    mask = masks[d] = np.array(_bits(d, n)).reshape((n,) + (1,) * ndim)
                p = _only_in(p, mask)
            kept.append((j, p, x, y))
        out.append((i, tuple(kept)))
    return tuple(out)


def tangents(steps: TangentSteps, var_nodes: Mapping[str, int], wrt: Sequence[str],
             vals: Sequence[Value | None],
             free: Sequence[Sequence[int]] | None = None) -> list[Value | None]:
    """Forward mode along every ``wrt`` direction at once, as a leading array axis: one
    pass gives what one pass per direction gives (None: a zero tangent). ``steps`` from
    :func:`masked`, for the points' number of dimensions."""
    shape = np.broadcast_shapes(*(np.shape(vals[j]) for j in var_nodes.values())) \
        if var_nodes else ()
    tan = unit_directions(var_nodes, wrt, len(vals), int)
    with np.errstate(all="ignore"):
        run_tangents(steps, vals, tan, stacked(len(wrt), shape), free)
    eye = np.eye(len(wrt)).reshape((len(wrt), len(wrt)) + (1,) * len(shape))
    for j in var_nodes.values():  # the variables' own tangents, spelled out
        if type(tan[j]) is int:
            tan[j] = eye[tan[j]]
    return tan


def tangents_by_direction(steps: TangentSteps, var_nodes: Mapping[str, int],
                          wrt: Sequence[str], vals: Sequence[Value | None],
                          free: Sequence[Sequence[int]] | None = None
                          ) -> list[dict[int, Value] | None]:
    """The same pass, each tangent kept as {direction: array}: for many points, a module
    carries only the directions it depends on (see :func:`passes.by_direction`)."""
    tan = unit_directions(var_nodes, wrt, len(vals), lambda k: {k: 1.0})
    with np.errstate(all="ignore"):
        run_tangents(steps, vals, tan, by_direction, free)
    return tan


def _add_rows(total: Any, local: Any, t: Any) -> Any:
    # local: one number per module, or (modules, directions) where masked
    c = t if local is ONE else -t if local is MINUS_ONE else t * (
        local if np.ndim(local) == 2 else np.reshape(local, (-1, 1)))
    return c if total is None else total + c


@dataclass(frozen=True)
class LevelPlan:
    """The tangent pass at one point, vectorised across nodes as well as directions.

    At a single point every value is a scalar, so a pass node by node spends its
    time in numpy's per-call overhead. Here the modules are grouped by level
    (longest path from a variable) and by primitive, and the same tangent loop runs
    over the groups: a group's nodes are an index array into one array of values
    and into the rows of one (slots, directions) matrix of tangents, so its local
    derivatives are one call of the primitive's partial, and its tangents one gather,
    multiply and scatter. Worth it when the groups are wide.
    """

    slots: dict[int, int]  # node -> its slot: its value's position, its tangent's row
    var_rows: tuple[tuple[int, int], ...]  # (slot, direction) of each variable's unit tangent
    used: tuple[int, ...]  # the node in each slot
    groups: TangentSteps  # (slots of the modules, ((argument slots, partial, x, y), ...))

    @classmethod
    def of(cls, steps: TangentSteps, var_nodes: Mapping[str, int],
           wrt: Sequence[str], min_width: float = 0.0) -> LevelPlan | None:
        """None when the groups would average fewer than ``min_width`` modules."""
        slots: dict[int, int] = {}
        var_rows = []
        level: dict[int, int] = {}
        for k, name in enumerate(wrt):
            j = var_nodes.get(name)
            if j is not None:
                var_rows.append((slots.setdefault(j, len(slots)), k))
                level[j] = 0
        buckets: dict[tuple, list[tuple[int, Any]]] = {}
        for i, edges in steps:
            lv = 1 + max(level[j] for j, *_ in edges)
            level[i] = lv
            key = (lv, tuple((p, y is None) for _, p, _, y in edges))
            buckets.setdefault(key, []).append((i, edges))
        if len(steps) < min_width * max(1, len(buckets)):
            return None

        def pos(nodes: list[int]) -> Any:
            return np.array([slots.setdefault(n, len(slots)) for n in nodes], dtype=np.intp)

        n, dirs = len(wrt), directions(steps, var_nodes, wrt)
        every = (1 << n) - 1
        groups = []
        for (_, shape), members in sorted(buckets.items(), key=lambda kv: kv[0][0]):
            out = pos([i for i, _ in members])
            parts = []
            for e in range(len(shape)):
                first = members[0][1][e]
                p = first[1]
                # as in masked(): each module's local derivative only in the directions its
                # argument carries
                rows = [dirs.get(edges[e][0], 0) for _, edges in members]
                if any(d != every for d in rows) and p not in (_one, _minus_one, _zero):
                    p = _only_in_rows(p, np.array([_bits(d, n) for d in rows]))
                parts.append((pos([edges[e][0] for _, edges in members]), p,
                              pos([edges[e][2] for _, edges in members]),
                              None if first[3] is None
                              else pos([edges[e][3] for _, edges in members])))
            groups.append((out, tuple(parts)))
        used = tuple(sorted(slots, key=slots.__getitem__))
        return cls(slots, tuple(var_rows), used, tuple(groups))

    def run(self, vals: Sequence[Value | None], n: int) -> np.ndarray:
        """The tangent matrix: row ``slots[node]`` is that node's tangent (all directions)."""
        v = np.array([vals[i] for i in self.used], dtype=np.float64)
        t = np.zeros((len(self.used), n))
        for r, k in self.var_rows:
            t[r, k] = 1.0
        with np.errstate(all="ignore"):
            run_tangents(self.groups, v, t, _add_rows)
        return t


# ---- large batches: block by block, over the cores ------------------------------------------

# How many rows a block has. A block's forward pass caches one array of its rows per node,
# so a block of R rows of an expression of N nodes keeps about 8*N*R bytes: the largest
# power of two of rows whose block fits in the last-level cache (read from the system),
# between 4,096 rows (below, Python's per-node overhead shows) and 65,536: a block that
# spills out of the cache is paid for in memory traffic at every node (bench/bench_grad.py
# --part 5 measures every size; docs/performance.md keeps the figures). Every primitive is
# elementwise, so a block's rows are computed exactly as in one whole-array pass (bit for
# bit), whatever its size.
MIN_BLOCK_ROWS, MAX_BLOCK_ROWS = 4_096, 65_536
# Batches of more rows than this run block by block over the threads; shorter ones are
# one pass (a thread's hand-over would cost more than it saves).
BLOCKED_FROM = 16_384
# Fixed rows per block instead of the rule above (tests set it to cross block boundaries).
BLOCK_ROWS: int | None = None


def rows_per_block(arrays: int) -> int:
    """Rows per block for passes that keep ``arrays`` arrays of a block's rows at once."""
    if BLOCK_ROWS is not None:
        return BLOCK_ROWS
    fits = threads_.cache_bytes() // (8 * max(arrays, 1))
    return min(MAX_BLOCK_ROWS, max(MIN_BLOCK_ROWS, 1 << max(fits.bit_length() - 1, 0)))


def block_bounds(n: int, threads: int = 1, block_rows: int | None = None,
                 min_rows: int = 1, arrays: int = 1) -> list[tuple[int, int]]:
    """The blocks of a batch of ``n`` points: ``block_rows`` rows, else
    :func:`rows_per_block` of ``arrays`` (see :func:`backprop.threads.block_bounds`)."""
    rows = rows_per_block(arrays) if block_rows is None else block_rows
    return threads_.block_bounds(n, rows, threads, min_rows)


def value_and_grad_blocked(
    graph: Graph, plan: Plan, inputs: Mapping[str, Value], wrt: Sequence[str], n: int,
    out: np.ndarray, value_col: int, grad_cols: Sequence[int],
    threads: int = 1, block_rows: int | None = None,
) -> None:
    """Forward and backward passes over ``n`` points, ``block_rows`` at a time.

    Inputs are 1-d arrays of length ``n`` or scalars (the same at every point).
    The value goes to ``out[:, value_col]``, df/d``wrt[m]`` to ``out[:, grad_cols[m]]``.
    With ``threads`` > 1 the blocks are spread over a thread pool: numpy releases
    the GIL inside its ufuncs, and each block writes only its own rows of ``out``.
    The nodes that do not depend on the rows (constants, scalar inputs) are the
    same in every block, so the results equal one whole-array pass bit for bit.
    """
    sliced = [(k, v) for k, v in inputs.items() if np.ndim(v) == 1]
    fixed = {k: v for k, v in inputs.items() if np.ndim(v) != 1}
    output = graph.output

    def run(start: int, stop: int) -> None:
        block = dict(fixed)
        for k, v in sliced:
            block[k] = v[start:stop]
        vals, grads = value_and_grad(plan, block, wrt)
        out[start:stop, value_col] = vals[output]
        for g, c in zip(grads, grad_cols):
            out[start:stop, c] = g

    threads_.run_blocks(run, block_bounds(n, threads, block_rows, arrays=len(plan.order)),
                        threads)


# ---- one point, numpy scalars -----------------------------------------------------------------

def point_passes(graph: Graph, wrt: Sequence[str]
                 ) -> Callable[[Mapping[str, float]], tuple[float, list[float]]]:
    """Forward and backward passes at one point on numpy scalars, compiled once for a loop:
    where the float passes (the math module) raise or a result is not finite, these give
    IEEE inf and nan."""
    program = Program(graph, NUMPY, wrt)
    output = graph.output

    def at(point: Mapping[str, float]) -> tuple[float, list[float]]:
        vals, grads = program.value_and_grad(point)
        return float(vals[output]), [float(g) for g in grads]

    return at

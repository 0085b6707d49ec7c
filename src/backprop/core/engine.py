"""Forward pass, backward pass (reverse mode) and tangent pass (forward mode).

All three walk the graph's topological order in a plain loop and read the one
table of primitives in :mod:`backprop.core.ops`. Values are numpy arrays (or Python
floats for constants), so one pass handles any number of points at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from backprop.core.graph import CONST, VAR, Graph
from backprop.core.ops import PRIMITIVES, Partial, Value, _minus_one, _one
from backprop import threads as threads_

# The gradient of the output with respect to itself; compared by identity.
_SEED = 1.0


@dataclass(frozen=True)
class Plan:
    """A graph's reachable nodes resolved once, so each pass is a tight loop."""

    order: tuple[int, ...]  # reachable nodes, inputs first
    var_nodes: dict[str, int]  # variable name -> its node
    consts: tuple[tuple[int, np.float64], ...]  # constant nodes and their values
    steps: tuple[tuple[int, Callable[..., Value], tuple[int, ...]], ...]  # module nodes
    backward_steps: tuple[tuple[int, tuple[tuple[int, int, int, int, Partial], ...]], ...]  # reversed
    # module nodes whose forward can give its local derivative too (one argument)
    fused: dict[int, Callable[[Value], tuple[Value, Value]]] = field(default_factory=dict,
                                                                     compare=False)
    _needs: dict[tuple[str, ...], bytearray] = field(default_factory=dict, compare=False)

    @classmethod
    def of(cls, graph: Graph, roots: Sequence[int] | None = None, backward: bool = True) -> Plan:
        """``roots``: the nodes to compute (default: the graph's output); ``backward=False``:
        a plan for the forward pass only."""
        order = graph.reachable(roots)
        ops, leaf, args = graph.ops, graph.leaf, graph.args
        var_nodes = {str(leaf[i]): i for i in order if ops[i] == VAR}
        # numpy scalars, not Python floats: 1/0 is then inf (IEEE), not an exception
        consts = tuple((i, np.float64(leaf[i])) for i in order if ops[i] == CONST)  # type: ignore[arg-type]
        steps = tuple((i, PRIMITIVES[ops[i]].forward, args[i]) for i in order
                      if ops[i] != VAR and ops[i] != CONST)
        # per module, one edge per argument: (k, argument, x, y, local derivative), where x
        # and y index the module's arguments (y = -1 for a function of one argument)
        backward_steps = tuple(
            (i, tuple((k, j, a[0], a[1] if len(a) > 1 else -1, PRIMITIVES[ops[i]].partials[k])
                      for k, j in enumerate(a)))
            for i, _, a in reversed(steps)) if backward else ()
        fused = {i: PRIMITIVES[ops[i]].forward_and_partial for i, _, _ in steps
                 if PRIMITIVES[ops[i]].forward_and_partial is not None} if backward else {}
        return cls(tuple(order), var_nodes, consts, steps, backward_steps, fused)  # type: ignore[arg-type]

    def needs(self, graph: Graph, wrt: Sequence[str]) -> bytearray:
        """Nodes whose value depends on a variable in ``wrt`` (cached per ``wrt``)."""
        key = tuple(wrt)
        found = self._needs.get(key)
        if found is None:
            found = depends_on(graph, self, [self.var_nodes[v] for v in wrt if v in self.var_nodes])
            self._needs[key] = found
        return found


def forward(graph: Graph, plan: Plan, inputs: Mapping[str, Value],
            cached_locals: dict[int, Value] | None = None) -> list[Value | None]:
    """Evaluate every node in topological order and cache its value.

    With ``cached_locals`` (a backward pass will follow), the modules whose forward gives their
    local derivative in the same computation (``forward_and_partial``: sin and cos of
    arrays) put it there, for :func:`backward` to use; the values are the same bits.
    """
    vals: list[Value | None] = [None] * len(graph)
    for i, c in plan.consts:
        vals[i] = c
    for name, i in plan.var_nodes.items():
        v = inputs[name]
        # a Python float would raise on 1/0 in a local derivative: IEEE numpy scalars instead
        vals[i] = np.float64(v) if type(v) is float else v
    fused = plan.fused if cached_locals is not None else None
    with np.errstate(all="ignore"):
        for i, fn, a in plan.steps:
            if fused and i in fused and type(vals[a[0]]) is np.ndarray:
                vals[i], cached_locals[i] = fused[i](vals[a[0]])  # type: ignore[index]
            else:
                vals[i] = fn(vals[a[0]]) if len(a) == 1 else fn(vals[a[0]], vals[a[1]])
    return vals


def depends_on(graph: Graph, plan: Plan, nodes: Sequence[int]) -> bytearray:
    """Marks the nodes whose value depends on any of ``nodes`` (a forward sweep)."""
    needs = bytearray(len(graph))
    for j in nodes:
        needs[j] = 1
    args = graph.args
    for i in plan.order:
        for j in args[i]:
            if needs[j]:
                needs[i] = 1
                break
    return needs


def _times(upstream: Value, local: Value) -> Value | None:
    """upstream * local, skipping the multiplications by 1, -1 and 0."""
    if type(local) is float:
        if local == 1.0:
            return upstream
        if local == 0.0:
            return None
        if local == -1.0:
            return -upstream
    if type(upstream) is float and upstream == 1.0:
        return local
    return upstream * local


Recorder = Callable[[int, int, int, Value, Value, Value | None], None]


def backward(
    graph: Graph,
    plan: Plan,
    vals: Sequence[Value | None],
    wrt: Sequence[str],
    record: Recorder | None = None,
    cached_locals: Mapping[int, Value] | None = None,
) -> dict[str, Value]:
    """Reverse mode: gradient of the output with respect to each name in ``wrt``.

    Starts from the output with gradient 1 and walks the nodes in reverse
    topological order; each node passes ``upstream * local derivative`` to each
    argument, and an argument used by several nodes sums what it receives.
    ``record(node, k, arg, local, upstream, contribution)`` sees every step.
    ``cached_locals``: local derivatives the forward pass computed already (see
    :func:`forward`).
    """
    known = cached_locals or {}
    needs = plan.needs(graph, wrt)
    grads: list[Value | None] = [None] * len(graph)
    if needs[graph.output]:
        grads[graph.output] = _SEED
    # The hot loop: local derivatives that are the constants 1 and -1 (add, sub,
    # neg) cost no call, and the output's own gradient 1 costs no multiplication.
    with np.errstate(all="ignore"):
        for i, edges in plan.backward_steps:
            g = grads[i]
            if g is None:
                continue
            ans = vals[i]
            for k, j, x, y, p in edges:
                if not needs[j]:
                    continue
                if p is _one:
                    local, contrib = 1.0, g
                elif p is _minus_one:
                    local, contrib = -1.0, -g
                else:
                    local = known.get(i) if known else None
                    if local is None:
                        local = p(ans, vals[x]) if y < 0 else p(ans, vals[x], vals[y])
                    contrib = local if g is _SEED else g * local
                if record is not None:
                    record(i, k, j, local, g, contrib)
                prev = grads[j]
                grads[j] = contrib if prev is None else prev + contrib
            grads[i] = None  # passed on: an intermediate's gradient is not needed again
    result: dict[str, Value] = {}
    for v in wrt:
        j = plan.var_nodes.get(v)
        result[v] = 0.0 if j is None or grads[j] is None else grads[j]  # type: ignore[assignment]
    return result


def tangent(
    graph: Graph, plan: Plan, vals: Sequence[Value | None], seed: Mapping[str, Value]
) -> Value:
    """Forward mode: the directional derivative along ``seed`` (a tangent per variable).

    One pass from the inputs to the output, each node's tangent being the sum
    over its arguments of local derivative * argument's tangent: the same local
    derivatives as reverse mode, multiplied in the other order.
    """
    tan: list[Value | None] = [None] * len(graph)
    for name, t in seed.items():
        j = plan.var_nodes.get(name)
        if j is not None:
            tan[j] = t
    ops, args = graph.ops, graph.args
    with np.errstate(all="ignore"):
        for i in plan.order:
            op = ops[i]
            if op == VAR or op == CONST:
                continue
            a = args[i]
            total: Value | None = None
            partials = None
            for k, j in enumerate(a):
                t = tan[j]
                if t is None:
                    continue
                if partials is None:
                    partials = PRIMITIVES[op].partials
                    argvals = [vals[m] for m in a]
                contrib = _times(t, partials[k](vals[i], *argvals))
                if contrib is not None:
                    total = contrib if total is None else total + contrib
            tan[i] = total
    t_out = tan[graph.output]
    return 0.0 if t_out is None else t_out


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


TangentSteps = tuple[tuple[int, tuple[tuple[int, Partial, int, int], ...]], ...]


def tangent_steps(graph: Graph, order: Sequence[int], wrt: Sequence[str],
                  keep: Callable[[int], bool] | None = None,
                  partials_of: Callable[[Any], tuple[Callable[..., Any], ...]] | None = None
                  ) -> TangentSteps:
    """The modules a vectorised tangent pass visits: those depending on a ``wrt`` variable
    (and, with ``keep``, only those it accepts), each with the edges that carry a tangent:
    (argument, local derivative, x, y) with y = -1 for a function of one argument.
    ``partials_of(primitive)``: which local derivatives (default: numpy's)."""
    ops, args, leaf = graph.ops, graph.args, graph.leaf
    wanted = set(wrt)
    dep = bytearray(len(graph))
    steps = []
    for i in order:
        op = ops[i]
        if op == VAR:
            dep[i] = leaf[i] in wanted
            continue
        if op == CONST:
            continue
        a = args[i]
        if not any(dep[j] for j in a):
            continue
        dep[i] = 1
        if keep is not None and not keep(i):
            continue
        p = PRIMITIVES[op].partials if partials_of is None else partials_of(PRIMITIVES[op])
        steps.append((i, tuple((j, p[k], a[0], a[1] if len(a) > 1 else -1)
                               for k, j in enumerate(a) if dep[j])))
    return tuple(steps)


def last_uses(steps: TangentSteps, keep: Sequence[int]) -> tuple[tuple[int, ...], ...]:
    """For each step, the tangents no later step reads (and not in ``keep``): freed after it."""
    last: dict[int, int] = {}
    for s, (_, edges) in enumerate(steps):
        for j, *_ in edges:
            last[j] = s
    for j in keep:
        last.pop(j, None)
    free: list[list[int]] = [[] for _ in steps]
    for j, s in last.items():
        free[s].append(j)
    return tuple(tuple(f) for f in free)


def tangents(steps: TangentSteps, var_nodes: Mapping[str, int], wrt: Sequence[str],
             vals: Sequence[Value | None],
             free: Sequence[Sequence[int]] | None = None) -> list[Value | None]:
    """Forward mode along every ``wrt`` direction at once, as a leading array axis.

    Variable number k gets the unit tangent e_k (shaped to broadcast against the
    points); every module in ``steps`` the sum over its arguments of local
    derivative * argument's tangent. One pass gives what ``tangent`` gives in
    len(wrt) passes; None stands for a zero tangent. ``free`` (from
    :func:`last_uses`) drops each tangent after its last reader, so that at many
    points only the live ones take memory.

    At arrays of points a unit tangent is never multiplied out: its local
    derivative is added into row k of the sum (half the memory traffic for n = 2).
    """
    n = len(wrt)
    tan: list[Value | None] = [None] * len(vals)
    shape = np.broadcast_shapes(*(np.shape(vals[j]) for j in var_nodes.values())) if var_nodes else ()
    eye = np.eye(n).reshape((n, n) + (1,) * len(shape))
    unit: dict[int, int] = {}  # variable node -> k, where its tangent is e_k
    for k, name in enumerate(wrt):
        j = var_nodes.get(name)
        if j is not None:
            tan[j] = eye[k]
            if shape:
                unit[j] = k
    with np.errstate(all="ignore"):
        for s, (i, edges) in enumerate(steps):
            total = None
            owned = False  # total is an array of this node's own, safe to add into
            ans = vals[i]
            for j, p, x, y in edges:
                t = tan[j]
                if t is None:
                    continue
                if p is _one:
                    local: Value = 1.0
                elif p is _minus_one:
                    local = -1.0
                else:
                    local = p(ans, vals[x]) if y < 0 else p(ans, vals[x], vals[y])
                    if type(local) is float and local == 0.0:
                        continue
                k = unit.get(j)
                if k is not None:
                    if total is None:
                        total = np.zeros((n,) + shape)
                    elif not owned:
                        total = total.copy()
                    owned = True
                    total[k] += local
                    continue
                if type(local) is float and local == 1.0:
                    c, fresh = t, False
                elif type(local) is float and local == -1.0:
                    c, fresh = -t, True
                else:
                    c, fresh = t * local, True
                if total is None:
                    total, owned = c, fresh
                elif owned and total.shape == np.broadcast_shapes(total.shape, c.shape):
                    total += c
                else:
                    total, owned = total + c, True
            tan[i] = total
            if free is not None:
                for j in free[s]:
                    tan[j] = None
    return tan


@dataclass(frozen=True)
class LevelPlan:
    """The tangent pass at one point, vectorised across nodes as well as directions.

    At a single point every value is a scalar, so the per-node pass spends its
    time in numpy's per-call overhead. Here the modules are grouped by level
    (longest path from a variable) and by primitive: one group's local
    derivatives are one call of the primitive's partial on arrays of its
    modules' values, and its tangents one gather, multiply and scatter in a
    (rows, directions) matrix. Worth it when the groups are wide.
    """

    rows: dict[int, int]  # node -> row of the tangent matrix
    var_rows: tuple[tuple[int, int], ...]  # (row, direction) of each variable's unit tangent
    used: tuple[int, ...]  # the nodes whose values the groups read, in one array
    # (rows, value positions of the modules, then per carrying argument:
    #  (argument rows, partial, x positions, y positions or None))
    groups: tuple[tuple[Any, Any, tuple[tuple[Any, Partial, Any, Any], ...]], ...]

    @classmethod
    def of(cls, steps: TangentSteps, var_nodes: Mapping[str, int],
           wrt: Sequence[str], min_width: float = 0.0) -> LevelPlan | None:
        """None when the groups would average fewer than ``min_width`` modules."""
        rows: dict[int, int] = {}
        var_rows = []
        level: dict[int, int] = {}
        for k, name in enumerate(wrt):
            j = var_nodes.get(name)
            if j is not None:
                rows[j] = len(rows)
                var_rows.append((rows[j], k))
                level[j] = 0
        buckets: dict[tuple, list[tuple[int, tuple]]] = {}
        for i, edges in steps:
            lv = 1 + max(level[j] for j, *_ in edges)
            level[i] = lv
            rows[i] = len(rows)
            key = (lv, tuple((p, y < 0) for _, p, _, y in edges))
            buckets.setdefault(key, []).append((i, edges))
        if len(steps) < min_width * max(1, len(buckets)):
            return None
        used: dict[int, int] = {}

        def pos(nodes: list[int]) -> Any:
            return np.array([used.setdefault(n, len(used)) for n in nodes], dtype=np.intp)

        groups = []
        for (_, shape), members in sorted(buckets.items(), key=lambda kv: kv[0][0]):
            nodes = [i for i, _ in members]
            parts = []
            for e in range(len(shape)):
                arg_rows = np.array([rows[edges[e][0]] for _, edges in members], dtype=np.intp)
                p = members[0][1][e][1]
                xs = pos([edges[e][2] for _, edges in members])
                ys = None if members[0][1][e][3] < 0 else pos([edges[e][3] for _, edges in members])
                parts.append((arg_rows, p, xs, ys))
            groups.append((np.array([rows[i] for i in nodes], dtype=np.intp), pos(nodes),
                           tuple(parts)))
        return cls(rows, tuple(var_rows), tuple(used), tuple(groups))

    @property
    def width(self) -> float:
        """Modules per group: how much one call of numpy does."""
        return (len(self.rows) - len(self.var_rows)) / max(1, len(self.groups))

    def run(self, vals: Sequence[Value | None], n: int) -> np.ndarray:
        """The tangent matrix: row ``rows[node]`` is that node's tangent (all directions)."""
        v = np.array([vals[i] for i in self.used], dtype=np.float64)
        t = np.zeros((len(self.rows), n))
        for r, k in self.var_rows:
            t[r, k] = 1.0
        with np.errstate(all="ignore"):
            for out_rows, ans_pos, parts in self.groups:
                ans = v[ans_pos]
                total = None
                for arg_rows, p, xs, ys in parts:
                    if p is _one:
                        c = t[arg_rows]
                    elif p is _minus_one:
                        c = -t[arg_rows]
                    else:
                        local = p(ans, v[xs]) if ys is None else p(ans, v[xs], v[ys])
                        if type(local) is float and local == 0.0:
                            continue
                        c = t[arg_rows] * np.reshape(local, (-1, 1))
                    total = c if total is None else total + c
                if total is not None:
                    t[out_rows] = total
        return t


def tangents_by_direction(steps: TangentSteps, var_nodes: Mapping[str, int],
                          wrt: Sequence[str], vals: Sequence[Value | None],
                          free: Sequence[Sequence[int]] | None = None
                          ) -> list[dict[int, Value] | None]:
    """The same pass as :func:`tangents`, each tangent kept as {direction: array}.

    For many points: a module that depends on only some of the variables (x^2,
    exp(-y)) carries only those directions, and no direction is ever a row of
    zeros, so the work is that of the nonzero partials alone.
    """
    tan: list[dict[int, Value] | None] = [None] * len(vals)
    for k, name in enumerate(wrt):
        j = var_nodes.get(name)
        if j is not None:
            tan[j] = {k: 1.0}
    with np.errstate(all="ignore"):
        for s, (i, edges) in enumerate(steps):
            total: dict[int, Value] | None = None
            ans = vals[i]
            for j, p, x, y in edges:
                t = tan[j]
                if t is None:
                    continue
                if p is _one:
                    local: Value = 1.0
                elif p is _minus_one:
                    local = -1.0
                else:
                    local = p(ans, vals[x]) if y < 0 else p(ans, vals[x], vals[y])
                    if type(local) is float and local == 0.0:
                        continue
                if total is None:
                    total = {}
                for k, v in t.items():
                    if type(local) is float and local == 1.0:
                        c = v
                    elif type(v) is float and v == 1.0:
                        c = local
                    else:
                        c = v * local
                    prev = total.get(k)
                    total[k] = c if prev is None else prev + c
            tan[i] = total
            if free is not None:
                for j in free[s]:
                    tan[j] = None
    return tan


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
        cached: dict[int, Value] = {}
        vals = forward(graph, plan, block, cached)
        grads = backward(graph, plan, vals, wrt, cached_locals=cached)
        out[start:stop, value_col] = vals[output]
        for v, c in zip(wrt, grad_cols):
            out[start:stop, c] = grads[v]

    threads_.run_blocks(run, block_bounds(n, threads, block_rows, arrays=len(plan.order)),
                        threads)


# ---- one point, lean -------------------------------------------------------------------------

def point_passes(graph: Graph, wrt: Sequence[str]
                 ) -> Callable[[Mapping[str, float]], tuple[float, list[float]]]:
    """Forward and backward passes at one point on numpy scalars, compiled once for a loop.

    The loop of :class:`backprop.core.scalar.PointPasses` with numpy's forwards and
    local derivatives: the same steps as :func:`forward` and :func:`backward`, in the
    same order and on the same numpy scalars (so the same numbers bit for bit, and
    IEEE arithmetic: 1/0 is inf, not an exception), in one error-state context. The
    float passes (the math module) answer first where they can; these answer where
    math raises or a result is not finite.
    """
    from backprop.core.scalar import PointPasses

    passes = PointPasses(graph, wrt, lambda p: (p.forward, *p.partials), number=np.float64)
    run, partials, output, names = passes.run, passes.partials, passes.output, passes.var_slots
    f64 = np.float64
    errstate = np.errstate  # a fresh one per call: numpy's may not be entered twice

    def at(point: Mapping[str, float]) -> tuple[float, list[float]]:
        inputs = {name: f64(v) if type(v) is float else v
                  for name, v in ((name, point[name]) for name, _ in names)}
        with errstate(all="ignore"):
            vals, grads = run(inputs)
        return float(vals[output]), partials(grads)

    return at

"""Symbolic differentiation: the derivative as an expression tree, built in canonical form.

The rules come from the one table of primitives (:mod:`backprop.core.ops`): each
primitive's ``derivative`` templates (``"cos(x)"``, ``"y"``/``"x"`` for mul,
``"1/y"``/``"-x/y^2"`` for div) are parsed once and instantiated with the
argument subexpressions, and the chain rule multiplies each by the argument's
own derivative and sums. The product and quotient rules fall out of the
templates; higher derivatives differentiate the printed derivative again.

Every node is made through the canonical constructors, so the result is
simplified as it is built. It is still a *tree* as printed: nothing is computed
once and reused, which is why symbolic derivatives swell (the lecture's point
about the cost of symbolic differentiation). The store's size cap stops the
work at once, with the size reached and the step, long before memory runs out.

Every pass is a loop over nodes in topological order; nothing recurses over
the expression.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from backprop.core.graph import CONST, VAR, Graph
from backprop.core.ops import PRIMITIVES
from backprop.core.printer import tree_size
from backprop.errors import BackpropError, InputError
from backprop.symbolic import canonical as cf
from backprop.symbolic.printer import graph_text, lower_mapped
from backprop.symbolic.rational import Shortener
from backprop.symbolic.store import NUM, SATURATE, SizeCap, Store, collector_paused

DEFAULT_MAX_SIZE = 1_000_000
# The largest --max-size: a derivative grown to this many tree nodes held 360 MB in diff
# and prints to tens of MB; the tree itself took 3.4 GB (compare --scaling builds it only
# up to 3,000,000 nodes).
MAX_SIZE_CEILING = 10_000_000
# The highest order asked for (--order): the derivative's names are kept, one per step.
MAX_ORDER = 100_000
# The most steps differentiated while the derivative is not 0, each a pass over it (exp(x)
# to order 100,000 took 57 s); a polynomial reaches 0 sooner and is answered at any order.
MAX_STEPS = 1_000


def check_max_size(max_size: int) -> None:
    if not 1 <= max_size <= MAX_SIZE_CEILING:
        raise InputError(f"--max-size must be 1 to {MAX_SIZE_CEILING:,} nodes, not {max_size:,}")


class OrderCapError(BackpropError):
    """More than :data:`MAX_STEPS` differentiations and the derivative is not 0 (exit code 1)."""

    def __init__(self, order: int) -> None:
        self.order = order
        super().__init__(
            f"the derivative of order {order:,} was not computed: after {MAX_STEPS:,} "
            f"differentiations it is still not 0, and at most {MAX_STEPS:,} are taken (an order "
            "above that is answered only where the derivative becomes 0 first, as a polynomial's "
            "does)")


class SizeCapError(BackpropError):
    """The derivative grew past the size cap (exit code 1)."""

    def __init__(self, size: int, cap: int, step: int, steps: int, order: int, orders: int,
                 module: str) -> None:
        self.size, self.cap, self.step, self.steps = size, cap, step, steps
        self.order, self.orders, self.module = order, orders, module
        where = f"step {step:,} of {steps:,} (differentiating '{module}')"
        if orders > 1:
            where += f", derivative {order} of {orders}"
        grown = f"{size:,}" if size < SATURATE else f"over {SATURATE:,}"
        super().__init__(
            f"the symbolic derivative grew past the size cap of {cap:,} nodes: it had reached "
            f"{grown} nodes at {where}. Symbolic differentiation does not reuse shared "
            f"subexpressions; backpropagation (backprop grad) does. "
            + ("Raise --max-size to go on." if cap < MAX_SIZE_CEILING else
               f"--max-size is at its ceiling ({MAX_SIZE_CEILING:,})."))


@dataclass(frozen=True)
class Derivative:
    """A derivative: ``graph`` holds it, ``root`` is its node, ``size`` its printed tree's size."""

    graph: Graph
    root: int
    size: int
    wrt: str  # the last variable differentiated in
    order: int
    names: tuple[str, ...] = ()  # every variable differentiated in, in turn (d2f/dxdy: x, y)

    def text(self) -> str:
        """The derivative in the expression language (it parses again)."""
        return graph_text(self.graph, self.root)

    def latex(self) -> str:
        """The derivative as LaTeX math (no surrounding ``$``)."""
        from backprop.symbolic.latex import to_latex

        return to_latex(self.graph, self.root)

    def as_graph(self) -> Graph:
        """The same nodes with ``root`` as the output, ready for the forward pass."""
        return Graph(self.graph.ops, self.graph.args, self.graph.leaf, self.root)


# ---- templates ----------------------------------------------------------------

_TEMPLATES: dict[str, tuple[tuple[Graph, list[int]], ...]] = {}


def _templates(op: str) -> tuple[tuple[Graph, list[int]], ...]:
    """The primitive's derivative templates, each parsed once (with its node order)."""
    t = _TEMPLATES.get(op)
    if t is None:
        from backprop.core.parser import parse_graph

        graphs = [parse_graph(text) for text in PRIMITIVES[op].derivative]
        t = tuple((g, g.reachable()) for g in graphs)
        _TEMPLATES[op] = t
    return t


def _instantiate(s: Store, template: tuple[Graph, list[int]], argnodes: Sequence[int]) -> int:
    """The template with x and y replaced by the argument subexpressions."""
    g, order = template
    if len(order) == 1 and g.ops[order[0]] == VAR:  # "x" or "y" (mul's templates): the argument
        return argnodes[0 if g.leaf[order[0]] == "x" else 1]
    m = [-1] * len(g)
    for i in order:
        op = g.ops[i]
        if op == CONST:
            m[i] = cf.constant(s, float(g.leaf[i]))  # type: ignore[arg-type]
        elif op == VAR:
            m[i] = argnodes[0 if g.leaf[i] == "x" else 1]
        else:
            m[i] = cf.call(s, op, [m[j] for j in g.args[i]])
    return m[g.output]


# ---- sums built lazily: a chain a + b + c + ... is collected once, not once per + ----------


class _Sums:
    """Values of graph nodes, where a sum used only by another sum stays a list of parts.

    A 10,000-term sum written as a chain of ``+`` would otherwise build 10,000
    ever larger canonical sums (quadratic time); its parts are gathered and the
    sum is made once, when something other than a ``+`` uses it.
    """

    def __init__(self, s: Store, uses: list[int]) -> None:
        self.s = s
        self.uses = uses
        self.done: dict[int, int | None] = {}
        self.parts: dict[int, list[int]] = {}

    def get(self, j: int) -> int | None:
        if j in self.parts:
            parts = self.parts.pop(j)
            self.done[j] = cf.add(self.s, parts) if parts else None
        return self.done.get(j)

    def take(self, j: int, negate: bool) -> list[int]:
        """The parts of ``j`` for a sum that uses it (the list itself if nothing else will)."""
        if j in self.parts and self.uses[j] == 1:
            parts = self.parts.pop(j)
        else:
            v = self.get(j)
            parts = [] if v is None else [v]
        return [cf.neg(self.s, p) for p in parts] if negate else parts

    def set_sum(self, i: int, a: int, b: int, negate_b: bool) -> None:
        pa, pb = self.take(a, False), self.take(b, negate_b)
        if len(pa) < len(pb):
            pa, pb = pb, pa
        pa.extend(pb)
        self.parts[i] = pa


def _uses(graph: Graph, order: list[int]) -> list[int]:
    uses = [0] * len(graph)
    for i in order:
        for j in graph.args[i]:
            uses[j] += 1
    uses[order[-1]] += 1
    return uses


def canonical_of(s: Store, graph: Graph, order: list[int],
                 known: dict[int, int] | None = None) -> _Sums:
    """The nodes of ``graph`` (in ``order``) as canonical nodes of ``s``: ``.get(i)`` for node i.

    A sum used only by another sum has no node of its own (its parts went into that sum).
    ``known``: graph nodes lowered from canonical nodes of ``s``, taken as they are.
    """
    vals = _Sums(s, _uses(graph, order))
    ops, args, leaf = graph.ops, graph.args, graph.leaf
    done, get = vals.done, vals.get
    known = known or {}
    for i in order:
        op = ops[i]
        if i in known:
            done[i] = known[i]
        elif op == CONST:
            done[i] = cf.constant(s, float(leaf[i]))  # type: ignore[arg-type]
        elif op == VAR:
            done[i] = cf.sym(s, str(leaf[i]))
        elif op == "add" or op == "sub":
            vals.set_sum(i, args[i][0], args[i][1], op == "sub")
        else:
            done[i] = cf.call(s, op, [get(j) for j in args[i]])  # type: ignore[misc]
    return vals


@dataclass
class _Progress:
    done: int = 0
    step: int = 0
    module: str = ""


def _steps(graph: Graph, order: list[int], wrt: str) -> int:
    """How many modules depend on ``wrt``: the steps of one differentiation."""
    dep = bytearray(len(graph))
    n = 0
    for i in order:
        op = graph.ops[i]
        if op == VAR:
            dep[i] = graph.leaf[i] == wrt
        elif op != CONST and any(dep[j] for j in graph.args[i]):
            dep[i] = 1
            n += 1
    return n


def _differentiate(s: Store, capped: Store, graph: Graph, order: list[int], wrt: str,
                   progress: _Progress, known: dict[int, int] | None = None) -> int:
    """The derivative of ``graph``'s output with respect to ``wrt``, as a canonical node.

    Forward accumulation over the nodes in topological order: d[i] is the
    derivative of node i, the sum over its arguments of (the template for that
    argument, with the argument subexpressions put in) times (the argument's
    derivative). The expression is stored without the cap, its derivative with it.
    """
    e = canonical_of(s, graph, order, known)
    d = _Sums(capped, _uses(graph, order))
    ops, args, leaf = graph.ops, graph.args, graph.leaf
    for i in order:
        op = ops[i]
        if op == VAR:
            if leaf[i] == wrt:
                d.done[i] = cf.num(capped, 1)
            continue
        if op == CONST:
            continue
        a = args[i]
        if op in ("add", "sub"):
            d.set_sum(i, a[0], a[1], op == "sub")
            if not d.parts[i]:
                del d.parts[i]
            else:
                progress.done += 1
            continue
        derivs = [d.get(j) for j in a]
        if all(dj is None for dj in derivs):
            continue
        progress.step = progress.done + 1
        progress.module = op
        terms = []
        templates = _templates(op)
        argnodes = [e.get(j) for j in a]
        for k, dj in enumerate(derivs):
            if dj is not None:
                key = (op, k, *argnodes)  # the same local derivative comes back at the next order
                local = capped.memo.get(key)
                if local is None:
                    local = capped.memo[key] = _instantiate(capped, templates[k], argnodes)
                terms.append(cf.mul(capped, [local, dj]))
        progress.done += 1
        total = cf.add(capped, terms)
        d.done[i] = None if cf.value(capped, total) == 0 else total
    out = d.get(graph.output)
    return cf.num(capped, 0) if out is None else out


def derivative(graph: Graph, wrt: str, order: int = 1, max_size: int = DEFAULT_MAX_SIZE) -> Derivative:
    """The ``order``-th derivative of ``graph``'s output with respect to ``wrt``, simplified.

    Raises :class:`SizeCapError` as soon as any node of the derivative would be
    larger than ``max_size`` nodes as a tree.
    """
    check_order(order)
    return partial(graph, [wrt] * order, max_size)


def check_order(order: int) -> None:
    if not 1 <= order <= MAX_ORDER:
        raise InputError(f"--order must be 1 to {MAX_ORDER:,}, not {order:,}")


def partial(graph: Graph, names: Sequence[str], max_size: int = DEFAULT_MAX_SIZE) -> Derivative:
    """The partial derivative of ``graph``'s output with respect to each of ``names`` in turn
    (``["x", "y"]``: d2f/dxdy), simplified.

    Each step differentiates the simplified result of the one before; the result
    is shortened once, at the end. Raises :class:`SizeCapError` as soon as any
    node would be larger than ``max_size`` nodes as a tree.
    """
    if not names:
        raise InputError("name one or more variables to differentiate with respect to")
    if len(names) > MAX_ORDER:
        check_order(len(names))
    check_max_size(max_size)
    with collector_paused():
        return _partial(graph, names, max_size)


def second_partials(graph: Graph, names: Sequence[str],
                    max_size: int = DEFAULT_MAX_SIZE) -> dict[tuple[str, str], Derivative]:
    """Every second partial d2f/dudv, ``u`` not after ``v`` in ``names`` (the Hessian's upper
    triangle), each exactly as :func:`partial` computes ``[u, v]``.

    The first step, df/du, is taken once per ``u``; each ``v`` goes on from a copy of the
    store as that step left it, so every entry sees what a call of its own would see.
    """
    check_max_size(max_size)
    out: dict[tuple[str, str], Derivative] = {}
    with collector_paused():
        for i, u in enumerate(names):
            first: list[_Resume] = []
            out[(u, names[i])] = _partial(graph, [u, names[i]], max_size, first_step=first)
            for v in names[i + 1:]:
                out[(u, v)] = _partial(graph, [u, v], max_size, resume=first[0].copy())
    return out


@dataclass(frozen=True)
class _Resume:
    """Where a multi-step partial stands after its first step: the store, and the first
    derivative as a graph with its nodes' numbers in the store."""

    store: Store
    graph: Graph
    root: int
    known: dict[int, int]

    def copy(self) -> "_Resume":
        return _Resume(self.store.copy(), self.graph, self.root, self.known)


def _partial(graph: Graph, names: Sequence[str], max_size: int,
             first_step: list[_Resume] | None = None, resume: _Resume | None = None) -> Derivative:
    # ``first_step`` receives a copy of the state after the first of several steps;
    # ``resume`` starts from such a state, at the second step (names[0] was its first).
    s = Store() if resume is None else resume.store
    capped = s.with_cap(max_size)
    shorten = Shortener(s)
    current, root = (graph, graph.output) if resume is None else (resume.graph, resume.root)
    # after the first step: the graph's nodes in the store
    known: dict[int, int] | None = None if resume is None else resume.known
    result: Derivative | None = None
    order = len(names)
    for n in range(1 if resume is None else 2, order + 1):
        if n > MAX_STEPS:
            raise OrderCapError(order)  # not 0 after MAX_STEPS steps (a 0 ends the loop below)
        wrt = names[n - 1]
        g = Graph(current.ops, current.args, current.leaf, root)
        reach = g.reachable(root)
        progress = _Progress()  # the number of steps is counted only for an error's message
        try:
            r = _differentiate(s, capped, g, reach, wrt, progress, known)
        except SizeCap as cap:
            raise SizeCapError(cap.size, max_size, max(progress.step, 1), max(_steps(g, reach, wrt), 1),
                               n, order, progress.module) from None
        # 0: so is every later derivative, whatever the names still to come
        # (not for second_partials' shared first step, which goes on from a lowered graph)
        zero = n < order and first_step is None and s.kind(r) == NUM and s.data(r) == 0
        if n == order or zero:  # the parts of earlier orders are canonical already; one shortening at the end
            r = shorten(r)
            lowered, lroot = shorten.lowered(r)  # lowered already, to measure it
        else:
            lowered, lroot, known = lower_mapped(s, r)
        size = tree_size(lowered, lroot, cap=SATURATE)
        if n == 1 and first_step is not None and size <= max_size:
            first_step.append(_Resume(s.copy(), lowered, lroot, known))  # type: ignore[arg-type]
        if size > max_size:
            steps = max(_steps(g, reach, wrt), 1)
            raise SizeCapError(size, max_size, steps, steps, n, order, progress.module or "the sum")
        if zero:
            result = Derivative(lowered, lroot, size, names[-1], order, tuple(names))
            break
        result = Derivative(lowered, lroot, size, wrt, n, tuple(names[:n]))
        current, root = lowered, lroot
    assert result is not None
    return result


def derivatives(graph: Graph, wrt: Sequence[str], order: int = 1,
                max_size: int = DEFAULT_MAX_SIZE) -> dict[str, Derivative]:
    """The derivative with respect to each name in ``wrt``."""
    return {v: derivative(graph, v, order, max_size) for v in wrt}


def simplify(graph: Graph, root: int | None = None) -> Derivative:
    """The expression at ``root`` in canonical form (one bottom-up pass, then printed as a graph).

    >>> from backprop.core.parser import parse_graph
    >>> simplify(parse_graph("x*x^2 + x + x - (2 + 1)")).text()
    'x^3 + 2*x - 3'
    """
    root = graph.output if root is None else root
    s = Store()
    with collector_paused():
        r = canonical_of(s, graph, graph.reachable(root)).get(root)
        shorten = Shortener(s)
        r = shorten(r)
        lowered, lroot = shorten.lowered(r)
    return Derivative(lowered, lroot, tree_size(lowered, lroot, cap=SATURATE), "", 0, ())

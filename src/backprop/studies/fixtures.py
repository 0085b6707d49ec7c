"""The graph families the studies, the tests and the benchmarks share.

* the lecture's example, 2/sin(exp(-x)) at x = -4.499;
* E = Σ sin(w_i)·w_{i+1} (cyclic, w_{n+1} = w_1): n parameters, about 4n nodes,
  every partial needs the whole sum's forward pass (the gradient's cost study);
* f_0 = x, f_{k+1} = f_k·sin(f_k): 2k + 1 nodes, a derivative tree that doubles
  (and more) at each level (the symbolic swell);
* :func:`expand_tree`, which copies a shared DAG into the tree it stands for.

Each family is given both as text (what a user types) and as a graph built
directly (what the studies time: building a 100,000-term sum through the parser
would measure the parser).
"""

from __future__ import annotations

from backprop.core.graph import VAR, Graph, GraphBuilder

LECTURE_EXAMPLE = "2/sin(exp(-x))"
LECTURE_POINT = -4.499

SUM_OF_SINES = "E = Σ sin(w_i)·w_{i+1}"
NESTED = "f_0 = x, f_{k+1} = f_k·sin(f_k)"


def sines_variables(n: int) -> list[str]:
    return [f"w{i}" for i in range(1, n + 1)]


def sines_text(n: int) -> str:
    """Σ sin(w_i)·w_{i+1} as an expression: sin(w1)*w2 + ... + sin(wn)*w1."""
    w = sines_variables(n)
    return " + ".join(f"sin({w[i]})*{w[(i + 1) % n]}" for i in range(n))


def sines_point(n: int) -> dict[str, float]:
    """w_i = i/n: a point with every partial different."""
    return {v: (i + 1) / n for i, v in enumerate(sines_variables(n))}


def sines_graph(n: int) -> Graph:
    """The graph of :func:`sines_text` (the same nodes as parsing it, variables first), built
    without the parser."""
    b = GraphBuilder()
    ws = [b.var(v) for v in sines_variables(n)]
    total = b.apply("mul", b.apply("sin", ws[0]), ws[1 % n])
    for i in range(1, n):
        total = b.apply("add", total, b.apply("mul", b.apply("sin", ws[i]), ws[(i + 1) % n]))
    return b.finish(total)


def nested_text(depth: int) -> str:
    t = "x"
    for _ in range(depth):
        t = f"{t if t == 'x' else f'({t})'}*sin({t})"
    return t


def nested_graph(depth: int) -> Graph:
    """f_0 = x, f_{k+1} = f_k * sin(f_k): a graph of 2*depth + 1 nodes."""
    b = GraphBuilder()
    f = b.var("x")
    for _ in range(depth):
        f = b.apply("mul", f, b.apply("sin", f))
    return b.finish(f)


DEFAULT_N = {"lecture": 1, "sines": 100, "nested": 6}


def text_length(name: str, n: int) -> int:
    """The length of the example's text at size ``n``, counted without building it
    (nested doubles at each level: depth 50 would be 9 * 10^15 characters)."""
    if name == "nested":
        return (1 << (n + 3)) - 8  # |f_0| = 1, |f_{k+1}| = 2|f_k| + 8 from f_1 on (|f_1| = 8)
    if name == "sines":
        # "sin(wI)*wJ" per term, " + " between terms
        digits = sum(len(str(i)) for i in range(1, n + 1))
        return 8 * n + 2 * digits + 3 * (n - 1)
    return len(LECTURE_EXAMPLE)


def largest_n(name: str, limit: int) -> int:
    """The largest size of the example whose text is at most ``limit`` characters."""
    lo, hi = 1, 1
    while text_length(name, hi) <= limit:
        lo, hi = hi, hi * 2
    while hi - lo > 1:  # text_length(lo) <= limit < text_length(hi)
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if text_length(name, mid) <= limit else (lo, mid)
    return lo


def example(name: str, n: int | None = None) -> tuple[str, dict[str, float]]:
    """(expression, point) of a named example; an :class:`InputError` when its text at
    size ``n`` would be longer than an expression may be (checked before it is built)."""
    if name == "lecture":
        return LECTURE_EXAMPLE, {"x": LECTURE_POINT}
    k = DEFAULT_N[name] if n is None else n
    from backprop.core.parser import MAX_TEXT
    from backprop.errors import InputError

    if text_length(name, k) > MAX_TEXT:
        what = f"at depth {k}" if name == "nested" else f"with {k:,} variables"
        raise InputError(f"--n {k}: the {name} example {what} is {text_length(name, k):,} "
                         f"characters long; an expression is at most {MAX_TEXT:,}, so --n is "
                         f"at most {largest_n(name, MAX_TEXT):,} for {name}")
    if name == "sines":
        return sines_text(k), sines_point(k)
    if name == "nested":
        return nested_text(k), {"x": 0.5}
    raise KeyError(name)


def expand_tree(graph: Graph, root: int | None = None) -> Graph:
    """The tree the DAG stands for: every use of a shared node gets its own copy.

    Only a variable stays one node (the forward pass gives each name one
    node); so the tree's modules and constants are the tree size the symbolic
    derivative reports, less its variable leaves, and a forward pass over it
    costs what evaluating the printed formula costs. Iterative (post-order with
    an explicit stack); the caller bounds the size.
    """
    root = graph.output if root is None else root
    ops, args, leaf = graph.ops, graph.args, graph.leaf
    out = Graph()
    o_ops, o_args, o_leaf = out.ops, out.args, out.leaf
    done: list[int] = []  # copies of finished children, consumed by their parent
    variables: dict[str, int] = {}
    stack: list[tuple[int, bool]] = [(root, False)]
    while stack:
        i, expanded = stack.pop()
        a = args[i]
        if not a and ops[i] == VAR:
            name = str(leaf[i])
            if name not in variables:
                o_ops.append(VAR)
                o_args.append(())
                o_leaf.append(name)
                variables[name] = len(o_ops) - 1
            done.append(variables[name])
            continue
        if expanded or not a:
            k = len(a)
            children = tuple(done[len(done) - k:]) if k else ()
            if k:
                del done[len(done) - k:]
            o_ops.append(ops[i])
            o_args.append(children)
            o_leaf.append(leaf[i])
            done.append(len(o_ops) - 1)
            continue
        stack.append((i, True))
        for j in reversed(a):  # pushed last-first: the first argument is copied first
            stack.append((j, False))
    out.output = done[-1]
    return out



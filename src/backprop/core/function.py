"""A parsed expression as a differentiable function: the library's front door.

Everything above the core (the methods, the studies, the views, the commands)
differentiates through :class:`Function`; the engine's passes stay private to
``core/``. What a caller may ask for:

* the value and gradient at one point or at arrays of points
  (:meth:`Function.value_and_grad`, :meth:`Function.gradients`),
* the same over a stream of chunks of points (:meth:`Function.stream`),
* the value, gradient and Hessian likewise (:meth:`Function.hessian`,
  :meth:`Function.hessians`, ``stream(..., order=2)``),
* the gradient by forward mode or by the complex step
  (:meth:`Function.forward_mode_grad`, :meth:`Function.complex_step_grad`),
* the recorded forward and backward passes (:meth:`Function.trace`),
* which module first produced a nan or inf (:meth:`Function.diagnose`),
* the function at one point, drawn in a notebook (:meth:`Function.at`).

One point of Python floats (``value_and_grad(x=1.0)``, points typed with
``--at``, ``hessian(x=1.0, y=2.0)``) runs the float passes first, with the math
module and no numpy. The private one-point methods (``_value_at``,
``_value_and_grad_at``, ``_gradient_at_fn``, ``_value_grad_hessian_at``) are for
the loops inside the library (descend, Newton, compare) that take thousands of steps.

:class:`VectorFunction` (several outputs) and :class:`Function` (one) share a
private base, :class:`_Expression`: the graph, its variables and the checks of
points and names.
"""

from __future__ import annotations

import math
import warnings as python_warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping, Sequence

from backprop.core.graph import Graph
from backprop.core.ops import Value
from backprop.core.parser import parse_text
from backprop.core.passes import tangent_steps
from backprop.core.points import check_variables
from backprop.core.printer import to_text
from backprop.core.results import Gradients, Hessians, NonFinite, SecondOrderNonFinite, passing_through
from backprop.errors import BackpropError, InputError
from backprop.lazy import numpy_on_first_use
from backprop.threads import default_threads, run_blocks

if TYPE_CHECKING:
    import numpy as np

    from backprop.core import engine
    from backprop.core.scalar import FloatPasses
    from backprop.core.trace import Trace
else:
    # One point of floats runs the float passes (core/scalar.py): parsing and that
    # need neither numpy nor the engine, so a one-point command starts faster.
    np = numpy_on_first_use(globals())

    class _EngineOnFirstUse:
        def __getattr__(self, name: str) -> Any:
            from backprop.core import engine as loaded

            globals()["engine"] = loaded
            return getattr(loaded, name)

    engine = _EngineOnFirstUse()


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


def _as_chunk(points: Mapping[str, Any] | None) -> dict[str, np.ndarray]:
    """Numbers or 1-d arrays of points as a chunk of 1-d float64 arrays (one point: length 1)."""
    return {k: np.atleast_1d(np.asarray(v, dtype=np.float64)) for k, v in (points or {}).items()}


def _points_shape(inputs: Mapping[str, Value]) -> tuple[int, ...]:
    return np.broadcast_shapes(*(_shape(v) for v in inputs.values())) if inputs else ()


# The Hessian's limits, checked before its passes allocate anything: k variables give k^2
# entries to hold and print, and the tangent pass carries 1 + k numbers a node for each point.
MAX_HESSIAN_VARIABLES = 1_000
MAX_SECOND_ORDER_NUMBERS = 50_000_000  # 400 MB of float64 for one point


def check_hessian_variables(k: int) -> None:
    """A BackpropError (exit 1) for a Hessian of more than MAX_HESSIAN_VARIABLES variables."""
    if k > MAX_HESSIAN_VARIABLES:
        raise BackpropError(
            f"the Hessian of {k:,} variables has {k * k:,} entries; the limit is "
            f"{MAX_HESSIAN_VARIABLES:,} variables: choose its rows and columns with "
            "--wrt (backprop grad gives the gradient of any number)")


def check_hessian(f: "Function", wrt: Sequence[str] | None = None) -> None:
    """Before any output: ``f``'s Hessian in ``wrt`` is within MAX_HESSIAN_VARIABLES and
    MAX_SECOND_ORDER_NUMBERS (a BackpropError otherwise); its passes are then built."""
    f._second_order_plan(f._check_wrt(wrt))


@dataclass
class _Expression:
    """What :class:`Function` and :class:`VectorFunction` share: the graph, its text, the
    variables, and the checks of points and names before a pass runs."""

    graph: Graph
    text: str = ""
    angle: str = "rad"
    warnings: tuple[str, ...] = ()  # names that look like typos ("sinx"): the caller shows them
    _variables: tuple[str, ...] = field(init=False, repr=False, default=(), compare=False)

    def __post_init__(self) -> None:
        self._variables = self.graph.variables  # a scan of every node: once

    @property
    def variables(self) -> tuple[str, ...]:
        """Variable names in order of first appearance."""
        return self._variables

    def __str__(self) -> str:
        return to_text(self.graph)

    def _inputs(self, values: Mapping[str, Any]) -> dict[str, Value]:
        missing = [v for v in self.variables if v not in values]
        if missing:
            raise InputError(f"no value given for {', '.join(missing)}")
        check_variables(list(values), self.variables)
        return {k: _as_input(k, v) for k, v in values.items()}

    def _check_wrt(self, wrt: Iterable[str] | None) -> list[str]:
        if wrt is None:
            return list(self.variables)
        names = list(wrt)
        check_variables(names, self.variables, "cannot differentiate with respect to: ")
        return names

    @staticmethod
    def _broadcast(x: Value, inputs: Mapping[str, Value] | tuple[int, ...]) -> Value:
        """``x`` shaped like the points; ``inputs`` may be the points' shape, found once."""
        shape = inputs if isinstance(inputs, tuple) else _points_shape(inputs)
        if shape == () and np.ndim(x) == 0:
            return float(x)
        if np.shape(x) == shape and isinstance(x, np.ndarray):
            return x
        return np.broadcast_to(np.asarray(x, dtype=np.float64), shape).copy()

    def _node_text(self, i: int, max_chars: int = 60) -> str:
        """A node's subexpression as text, shortened for messages."""
        from backprop.core.printer import tree_size

        if tree_size(self.graph, i, cap=max_chars + 1) > max_chars:
            from backprop.core.printer import module_label

            return f"{module_label(self.graph, i)}(...)"
        t = to_text(self.graph, i)
        return t if len(t) <= max_chars else t[: max_chars - 3] + "..."


@dataclass
class Function(_Expression):
    """An expression parsed into a computational graph: one output.

    >>> f = parse("2/sin(exp(-x))")
    >>> f.variables
    ('x',)
    >>> value, grad = f.value_and_grad(x=-4.499)
    """

    _planned: engine.Plan | None = field(init=False, repr=False, default=None, compare=False)
    _reachable: tuple[int, ...] | None = field(init=False, repr=False, default=None, compare=False)
    # the float passes at one point, per wrt (core/scalar.py), built on first use
    _float_passes_by_wrt: dict[tuple[str, ...], FloatPasses] = field(
        init=False, repr=False, default_factory=dict, compare=False)
    # forward mode at one point of Python floats, per wrt, built on first use
    _float_tangents: dict[tuple[str, ...], Callable[[Mapping[str, float]], list[float] | None]] = \
        field(init=False, repr=False, default_factory=dict, compare=False)
    # second-order plans (the backward pass built as a graph), one per wrt, built on first use
    _second: dict[tuple[str, ...], Any] = field(init=False, repr=False, default_factory=dict)
    _at_every_variable: Callable[[dict[str, float]], tuple[float, list[float]]] | None = field(
        init=False, repr=False, default=None, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        """What pickles (a Function shipped to Dask's workers): the graph, its text and angle;
        the plans and passes built on first use hold the primitives' functions, and are
        built again where they are used."""
        state = dict(self.__dict__)
        state.update(_planned=None, _reachable=None, _float_passes_by_wrt={}, _float_tangents={},
                     _second={}, _at_every_variable=None)
        return state

    @property
    def _plan(self) -> engine.Plan:
        plan = self._planned
        if plan is None:
            plan = self._planned = engine.Plan.of(self.graph)
        return plan

    @property
    def _order(self) -> tuple[int, ...]:
        """The graph's reachable nodes, inputs first (the forward pass's order)."""
        plan = self._planned
        if plan is not None:
            return plan.order
        if self._reachable is None:  # no engine (nor numpy) to print the graph
            self._reachable = tuple(self.graph.reachable())
        return self._reachable

    @property
    def size(self) -> int:
        """Nodes in the graph (each shared subexpression counted once)."""
        return len(self._order)

    def _forward(self, **values: Any) -> list[Value | None]:
        """The forward pass: every node's value, cached (indexed by node)."""
        return engine.forward(self.graph, self._plan, self._inputs(values))

    def _backward(self, vals: Sequence[Value | None], wrt: Sequence[str],
                  record: engine.Recorder | None = None) -> dict[str, Value]:
        """The backward pass from a forward pass's cache (``record`` sees every edge; core only)."""
        return engine.backward(self.graph, self._plan, vals, wrt, record=record)

    def __call__(self, **values: Any) -> Value:
        inputs = self._inputs(values)
        vals = engine.forward(self.graph, self._plan, inputs)
        return self._broadcast(vals[self.graph.output], inputs)  # type: ignore[arg-type]

    def value_and_grad(
        self, wrt: Iterable[str] | None = None, **values: Any
    ) -> tuple[Value, dict[str, Value]]:
        """Forward pass, then backward pass: the value and the gradient.

        ``wrt`` limits the partial derivatives computed (default: all variables).
        """
        if wrt is None and len(values) == len(self.variables):
            # one point of Python floats (a loop of the Python API): the compiled
            # one-point passes, skipping the array checks (the same steps, the same bits)
            for v in self.variables:
                if type(values.get(v)) is not float:
                    break
            else:
                at = self._at_every_variable
                if at is None:
                    at = self._at_every_variable = self._gradient_at_fn(self.variables)
                value, grad = at(values)
                return value, dict(zip(self.variables, grad))
        inputs = self._inputs(values)
        names = self._check_wrt(wrt)
        n = self._rows(inputs)
        if n is not None:
            # a large batch: block by block over the threads, the columns of one array
            out = np.empty((n, 1 + len(names)), order="F")  # each column contiguous
            engine.value_and_grad_blocked(self.graph, self._plan, inputs, names, n, out, 0,
                                          range(1, 1 + len(names)),
                                          threads=default_threads())
            return out[:, 0], {v: out[:, 1 + m] for m, v in enumerate(names)}
        vals, grads = engine.value_and_grad(self._plan, inputs, names)
        shape = _points_shape(inputs)  # once, not once per partial derivative
        value = self._broadcast(vals[self.graph.output], shape)  # type: ignore[arg-type]
        return value, {k: self._broadcast(g, shape) for k, g in zip(names, grads)}

    @staticmethod
    def _rows(inputs: Mapping[str, Value]) -> int | None:
        """The common length of 1-d inputs of more than one block (the others scalars),
        else None: the batches the blocked passes take."""
        n = None
        for v in inputs.values():
            d = np.ndim(v)
            if d == 1:
                if n is not None and len(v) != n:  # type: ignore[arg-type]
                    return None
                n = len(v)  # type: ignore[arg-type]
            elif d != 0:
                return None
        return n if n is not None and n > engine.BLOCKED_FROM else None

    def forward_mode_grad(self, wrt: Iterable[str] | None = None, **values: Any) -> dict[str, Value]:
        """The gradient by forward mode: one tangent pass carrying every direction (at one
        point of Python floats, on floats, as the backward pass there runs on floats;
        numpy's where math raises or a result is not finite)."""
        if len(values) == len(self.variables) and all(
                type(values.get(v)) is float for v in self.variables):
            names = self._check_wrt(wrt)
            found = self._float_tangent_pass(names)(values)
            if found is not None:
                return dict(zip(names, found))
        inputs = self._inputs(values)
        names = self._check_wrt(wrt)
        vals = engine.forward(self.graph, self._plan, inputs)
        steps = tangent_steps(self.graph, self._plan.order, names, engine.NUMPY.partials)
        t = engine.tangents_by_direction(steps, self._plan.var_nodes, names, vals)[
            self.graph.output] or {}
        shape = _points_shape(inputs)
        return {v: self._broadcast(t.get(k, 0.0), shape) for k, v in enumerate(names)}

    def complex_step_grad(self, wrt: Iterable[str] | None = None, h: float | None = None,
                          **values: Any) -> dict[str, Value]:
        """The gradient by the complex step, Im f(x + ih)/h: one complex forward pass per
        variable (see :mod:`backprop.core.complex_step`; ``h`` defaults to 1e-100).

        Raises :class:`~backprop.errors.NotAnalyticError`, naming the module, where a
        module with a kink (abs, relu, sign, step, max, min) sits on it.
        """
        from backprop.core import complex_step

        inputs = self._inputs(values)
        names = self._check_wrt(wrt)
        grads = complex_step.gradient(self.graph, self._plan, inputs, names,
                                      complex_step.STEP if h is None else h, self._node_text)
        return {k: self._broadcast(g, inputs) for k, g in grads.items()}

    # ---- blocks of points ------------------------------------------------------------------

    def gradients(self, points: Mapping[str, Any] | None = None,
                  wrt: Sequence[str] | None = None, threads: int | None = None) -> Gradients:
        """The value and the gradient at one point or at arrays of points, one row each.

        ``points`` maps each variable to a number or a 1-d array (all of one
        length); ``wrt`` limits the partial derivatives (default: all variables).
        Large arrays are evaluated block by block over ``threads`` threads
        (default: :func:`backprop.threads.default_threads`; 1 runs every block in this thread).
        """
        names = self._check_wrt(wrt)  # an unknown --wrt is reported before a bad point
        return self._block(_as_chunk(points), names, threads)

    def stream(self, chunks: Iterable[Mapping[str, np.ndarray]],
               wrt: Sequence[str] | None = None, threads: int | None = None,
               order: int = 1) -> Iterator[Gradients] | Iterator[Hessians]:
        """One :class:`Gradients` block per chunk of points (with ``order=2``, one
        :class:`Hessians` block), each before the next is read.

        ``chunks`` yields dicts of 1-d arrays (as ``points.read_points`` does),
        so ten million points never sit in memory at once.
        """
        if order == 2:
            return self._hessian_stream(chunks, wrt, threads)
        if order != 1:
            raise InputError(f"order must be 1 or 2, not {order!r}")
        return self._gradient_stream(chunks, wrt, threads)

    def _gradient_stream(self, chunks: Iterable[Mapping[str, np.ndarray]],
                         wrt: Sequence[str] | None,
                         threads: int | None) -> Iterator[Gradients]:
        names = self._check_wrt(wrt)
        given = self._typed_floats(chunks)
        if given is not None:
            block = self._float_rows(given, names)
            if block is not None:
                yield block
                return
        for chunk in chunks:
            # an id, a label, a step read with the points passes through to the rows
            yield passing_through(self._block(chunk, names, threads), chunk)

    def _typed_floats(self, chunks: Iterable[Any]) -> list[dict[str, float]] | None:
        """The points typed one by one (``--at``, not a stream), when every coordinate is a
        finite float: the float passes take them."""
        given = getattr(chunks, "given", None)
        if given is not None and all(type(p.get(v)) is float and math.isfinite(p[v])
                                     for p in given for v in self.variables):
            return given  # type: ignore[no-any-return]
        return None

    def _block(self, chunk: Mapping[str, Any], wrt: list[str],
               threads: int | None = None) -> Gradients:
        inputs = self._inputs(chunk)
        lengths = {len(v) for v in inputs.values() if np.ndim(v) == 1}
        n = max(lengths) if lengths else (getattr(chunk, "rows", 0) or 1)
        if lengths - {1, n}:
            raise InputError("the variables' arrays differ in length: "
                             + ", ".join(f"{k} has {np.size(v)}" for k, v in inputs.items()))
        k = len(self.variables)
        data = np.empty((n, k + 1 + len(wrt)))
        for m, v in enumerate(self.variables):
            data[:, m] = chunk[v]
        # length-1 arrays are one point broadcast to all: as scalars in the passes
        passes = {name: (v[0] if np.ndim(v) == 1 and len(v) == 1 and n > 1 else v)
                  for name, v in inputs.items()}
        engine.value_and_grad_blocked(self.graph, self._plan, passes, wrt, n, data, k,
                                      range(k + 1, k + 1 + len(wrt)),
                                      threads=default_threads() if threads is None
                                      else threads)
        graph, plan = self.graph, self._plan
        # the forward pass's cache is not kept: a diagnosis (rare) runs it again
        return Gradients(tuple(self.variables), tuple(wrt), data,
                         lambda what: self._diagnosis(engine.forward(graph, plan, inputs), what))

    # ---- one point, fast -------------------------------------------------------------------

    def _float_passes(self, wrt: Sequence[str]) -> FloatPasses:
        """The forward and backward passes at one point of Python floats, with the math
        module (see :mod:`backprop.core.scalar`): called with a point, they give the value
        and the partials in ``wrt``'s order, or None where numpy's passes must say what
        is not finite."""
        key = tuple(wrt)
        passes = self._float_passes_by_wrt.get(key)
        if passes is None:
            from backprop.core.scalar import FloatPasses

            passes = self._float_passes_by_wrt[key] = FloatPasses(self.graph, key)
        return passes

    def _float_tangent_pass(self, wrt: Sequence[str]
                            ) -> Callable[[Mapping[str, float]], list[float] | None]:
        """Forward mode at one point of Python floats: the float forward pass, then the
        float tangent pass along every ``wrt`` direction at once (core/scalar.py); the
        partials, or None where numpy's passes must answer."""
        key = tuple(wrt)
        found = self._float_tangents.get(key)
        if found is None:
            from backprop.core import scalar

            forward = scalar.ForwardPass(self.graph).values
            steps = tangent_steps(self.graph, self._plan.order, key, scalar.FLOATS.partials)
            var_nodes, output, isfinite = self._plan.var_nodes, self.graph.output, math.isfinite

            def found(point: Mapping[str, float]) -> list[float] | None:
                try:
                    vals = forward(point)
                    t = scalar.tangents(steps, var_nodes, key, vals)[output]
                except (ArithmeticError, ValueError):  # math's way of saying inf or nan
                    return None
                grads = scalar.as_list(t, len(key))
                return grads if isfinite(vals[output]) and all(map(isfinite, grads)) else None

            self._float_tangents[key] = found
        return found

    def _float_rows(self, points: Sequence[Mapping[str, float]],
                    wrt: Sequence[str]) -> Gradients | None:
        """Points given one by one (``--at``), by the float passes: a block of rows, or
        None when one of them needs numpy's passes (a value or partial not finite)."""
        passes, names = self._float_passes(wrt), self.variables
        rows = []
        for point in points:
            found = passes(point)
            if found is None:
                return None
            rows.append([*(point[v] for v in names), found[0], *found[1]])
        return Gradients(tuple(names), tuple(wrt), rows)

    def _value_and_grad_at(self, point: dict[str, float],
                          wrt: Sequence[str]) -> tuple[float, list[float]]:
        """The value and gradient at one point of Python floats, with no checks.

        For loops that take thousands of steps (gradient descent): ``point``
        must hold every variable, ``wrt`` only variables. Non-finite results are
        returned as they are (IEEE arithmetic), not raised.
        """
        return self._gradient_at_fn(wrt)(point)

    def _gradient_at_fn(self, wrt: Sequence[str]) -> Callable[[dict[str, float]],
                                                            tuple[float, list[float]]]:
        """:meth:`_value_and_grad_at` as a function with everything it reads bound once,
        for a loop that calls it at every step: the float passes, and where they cannot
        answer (math raised, or a result is not finite) numpy's, which give IEEE inf
        and nan for the loop's checks to report."""
        floats = self._float_passes(wrt)
        numpy_passes: list[Callable[[dict[str, float]], tuple[float, list[float]]]] = []

        def at(point: dict[str, float]) -> tuple[float, list[float]]:
            found = floats(point)
            if found is not None:
                return found
            if not numpy_passes:  # built at the first point that needs them
                numpy_passes.append(engine.point_passes(self.graph, list(wrt)))
            return numpy_passes[0](point)

        return at

    def _bound_passes(self, point: Mapping[str, Any], wrt: Sequence[str]
                     ) -> tuple[Callable[[], Any], Callable[[], Any]]:
        """The forward pass alone, and forward then backward, bound to one point with
        nothing checked or converted: what a study of the passes' own cost times."""
        graph, plan, names = self.graph, self._plan, list(wrt)
        inputs = dict(point)
        forward, value_and_grad = engine.forward, engine.value_and_grad

        def forward_only() -> Any:
            return forward(graph, plan, inputs)

        def forward_and_backward() -> Any:
            return value_and_grad(plan, inputs, names)

        return forward_only, forward_and_backward

    def _value_at(self, point: Mapping[str, float]) -> float:
        """The value at one point of Python floats, with no checks (names not in the
        expression are ignored: a derivative may have lost a variable of the function).
        The float passes' forward pass; numpy's where they cannot answer."""
        found = self._float_passes(())(point)
        if found is not None:
            return found[0]
        vals = engine.forward(self.graph, self._plan, point)
        return float(np.asarray(vals[self.graph.output], dtype=np.float64))

    # ---- second order -----------------------------------------------------------------------

    def hessian(self, wrt: Iterable[str] | None = None,
                **values: Any) -> tuple[Value, dict[str, Value], np.ndarray]:
        """The value, the gradient and the Hessian, by forward mode over the backward pass.

        The backward pass is built once (per ``wrt``) as a graph of the same
        modules (see :mod:`backprop.core.gradient_graph`); each call is one forward
        pass over it and one tangent pass carrying every direction at once. The
        Hessian has shape (n, n) at one point and (n, n, *shape) at arrays of
        points, rows and columns in the order of ``wrt`` (default: the variables').

        >>> value, grad, h = parse("x^2*y + sin(y)").hessian(x=1.0, y=2.0)
        >>> h.tolist()[0]
        [4.0, 2.0]
        """
        if len(values) == len(self.variables) and all(
                type(values.get(v)) is float for v in self.variables):
            # one point of Python floats: the passes on floats where they can answer, as
            # value_and_grad at one point (numpy's where they cannot)
            names = self._check_wrt(wrt)
            value, grad_list, h = self._value_grad_hessian_at(values, names)
            return value, dict(zip(names, grad_list)), h
        inputs = self._inputs(values)
        names = self._check_wrt(wrt)
        n = self._rows(inputs)
        if n is not None and names:
            # a large batch: block by block over the threads (BACKPROP_THREADS, else the cores)
            k = len(names)
            value, grads, h = np.empty(n), np.empty((k, n)), np.empty((k, k, n))

            def write(start: int, stop: int, so: Any) -> None:
                value[start:stop] = so.value
                for m, v in enumerate(names):
                    grads[m, start:stop] = so.grad[v]
                h[:, :, start:stop] = so.hessian.reshape(k, k, -1)

            self._second_order_blocks(names, inputs, n, default_threads(), write)
            return value, dict(zip(names, grads)), h
        so = self._second_order(names, inputs)
        shape = _points_shape(inputs)
        grad = {k: self._broadcast(g, shape) for k, g in so.grad.items()}
        return self._broadcast(so.value, shape), grad, so.hessian

    def hessians(self, points: Mapping[str, Any] | None = None,
                 wrt: Sequence[str] | None = None, threads: int | None = None) -> Hessians:
        """The value, gradient and Hessian at one point or at 1-d arrays of points, one row each.

        Large arrays are evaluated block by block over ``threads`` threads (default:
        :func:`backprop.threads.default_threads`; 1 runs every block in this thread): the same bits.
        """
        names = self._check_wrt(wrt)
        return self._hessian_block(_as_chunk(points), names, threads)

    def _hessian_stream(self, chunks: Iterable[Mapping[str, np.ndarray]],
                        wrt: Sequence[str] | None,
                        threads: int | None) -> Iterator[Hessians]:
        names = self._check_wrt(wrt)
        given = self._typed_floats(chunks)
        if given is not None:
            block = self._float_hessians(given, names)
            if block is not None:
                yield block
                return
        for chunk in chunks:
            # an id, a label read with the points passes through to the rows, as in stream()
            yield passing_through(self._hessian_block(chunk, names, threads), chunk)

    def _float_hessians(self, points: Sequence[Mapping[str, float]],
                        wrt: list[str]) -> Hessians | None:
        """Points given one by one (``--at``), by the passes on floats, as ``stream`` takes
        them: a block of rows, or None when one of them needs numpy's passes (a result not
        finite) or there are too many variables for floats to pay."""
        from backprop.core import gradient_graph

        if len(wrt) > gradient_graph.FLOAT_DIRECTIONS:
            return None
        plan = self._second_order_plan(wrt)
        n, k = len(points), len(wrt)
        value, grad, h = np.empty(n), np.empty((n, k)), np.empty((n, k, k))
        for r, point in enumerate(points):
            found = gradient_graph.evaluate_floats(plan, point)
            if found is None:
                return None
            value[r], grad[r] = found[0], found[1]
            h[r] = np.reshape(found[2], (k, k))
        table = np.array([[p[v] for v in self.variables] for p in points],
                         dtype=np.float64).reshape(n, len(self.variables))
        # every result here is finite: no diagnosis to give
        return Hessians(tuple(self.variables), tuple(wrt), table, value, grad, h)

    def _value_grad_hessian_at(self, point: dict[str, float],
                              wrt: Sequence[str]) -> tuple[float, list[float], np.ndarray]:
        """Value, gradient and Hessian at one point of Python floats, with no checks (Newton)."""
        from backprop.core import gradient_graph

        floats = gradient_graph.evaluate_floats(self._second_order_plan(wrt), point) \
            if len(wrt) <= gradient_graph.FLOAT_DIRECTIONS else None
        if floats is not None:
            value, grad, hessian = floats
            return value, grad, np.array(hessian, dtype=np.float64).reshape(len(wrt), len(wrt))
        so = self._second_order(wrt, point)
        return (float(so.value), [float(so.grad[v]) for v in wrt],  # type: ignore[arg-type]
                np.asarray(so.hessian, dtype=np.float64))

    def _second_order_plan(self, names: Sequence[str]) -> Any:
        from backprop.core import gradient_graph

        key = tuple(names)
        plan = self._second.get(key)
        if plan is None:
            k = len(names)
            check_hessian_variables(k)
            plan = gradient_graph.SecondOrderPlan.of(self.graph, names)
            numbers = len(plan.plan.order) * (1 + k)
            if numbers > MAX_SECOND_ORDER_NUMBERS:
                raise BackpropError(
                    f"the Hessian of {k:,} variables over a backward pass of "
                    f"{len(plan.plan.order):,} nodes carries {numbers:,} numbers a point (a value "
                    f"and {k:,} directions a node); the limit is {MAX_SECOND_ORDER_NUMBERS:,} "
                    f"({MAX_SECOND_ORDER_NUMBERS * 8 // 10**6:,} MB): choose fewer variables with "
                    "--wrt")
            self._second[key] = plan
        return plan

    def _second_order(self, names: Sequence[str], inputs: Mapping[str, Value]) -> Any:
        from backprop.core import gradient_graph

        return gradient_graph.evaluate(self._second_order_plan(names), inputs)

    def _second_order_blocks(self, names: list[str], inputs: Mapping[str, Value], n: int,
                             threads: int, write: Callable[[int, int, Any], None]) -> None:
        """The second-order passes over ``n`` points block by block, spread over ``threads``;
        ``write(start, stop, so)`` stores each block's :class:`SecondOrder` (its own rows only).

        Every block has at least ``BY_DIRECTION_POINTS`` rows, so each runs the tangent
        pass the whole batch would run: elementwise, the same bits.
        """
        from backprop.core import gradient_graph

        plan = self._second_order_plan(names)
        # arrays of every point are cut into blocks; scalars (and length-1 arrays, which
        # broadcast) are the same in every block
        sliced = [(k, v) for k, v in inputs.items() if np.ndim(v) == 1 and len(v) == n]  # type: ignore[arg-type]
        fixed = {k: v for k, v in inputs.items() if not (np.ndim(v) == 1 and len(v) == n)}  # type: ignore[arg-type]

        def run(start: int, stop: int) -> None:
            block = dict(fixed)
            for k, v in sliced:
                block[k] = v[start:stop]  # type: ignore[index]
            write(start, stop, gradient_graph.evaluate(plan, block))

        # the tangent pass keeps a value and one tangent per direction for each node
        arrays = len(plan.plan.order) * (1 + len(names))
        run_blocks(run, engine.block_bounds(n, threads, arrays=arrays,
                                            min_rows=gradient_graph.BY_DIRECTION_POINTS),
                   threads)

    def _hessian_block(self, chunk: Mapping[str, Any], wrt: list[str],
                       threads: int | None = None) -> Hessians:
        from backprop.core import gradient_graph

        inputs = self._inputs(chunk)
        n = len(next(iter(chunk.values()))) if chunk else 1
        points = np.empty((n, len(self.variables)))
        for k, v in enumerate(self.variables):
            points[:, k] = chunk[v]
        k = len(wrt)
        plan = self._second_order_plan(wrt)
        vals: list[Value | None] | None = None  # the forward pass's cache, when kept
        if k and n >= gradient_graph.BY_DIRECTION_POINTS:
            # many points: block by block over the threads, each block writing its rows
            value, grad, h = np.empty(n), np.empty((n, k)), np.empty((n, k, k))

            def write(start: int, stop: int, so: Any) -> None:
                value[start:stop] = so.value
                for m, v in enumerate(wrt):
                    grad[start:stop, m] = so.grad[v]
                h[start:stop] = so.hessian.reshape(k, k, -1).transpose(2, 0, 1)

            self._second_order_blocks(wrt, inputs, n, default_threads()
                                      if threads is None else threads, write)
        else:
            so = self._second_order(wrt, inputs)
            vals = so.vals
            value = np.broadcast_to(so.value, (n,)).astype(np.float64)
            grad = np.empty((n, k))
            for m, v in enumerate(wrt):
                grad[:, m] = so.grad[v]
            # (n, n, points) -> (points, n, n); a Hessian constant in the points broadcasts
            h = np.ascontiguousarray(
                np.broadcast_to(so.hessian.reshape(k, k, -1), (k, k, n)).transpose(2, 0, 1)
                if k else np.zeros((n, 0, 0)))

        def diagnose(what: str) -> Any:
            if what != "Hessian":
                return self._diagnosis(engine.forward(self.graph, self._plan, inputs), what)
            # a blocked batch keeps no cache: the forward pass again (a diagnosis is rare)
            cache = vals if vals is not None else engine.forward(plan.gg.graph, plan.plan, inputs)
            i = gradient_graph.first_non_finite(plan, cache)
            return SecondOrderNonFinite(None if i is None else self._node_text(i))

        return Hessians(tuple(self.variables), tuple(wrt), points, value, grad, h, diagnose)

    # ---- one point, shown -------------------------------------------------------------------

    def at(self, **point: float) -> AtPoint:
        """The function at one point: value, gradient, and (in a notebook) a picture of
        the graph with both passes' numbers on it; ``.html()`` is the lesson page."""
        bad = [k for k, v in point.items() if np.ndim(v) != 0]
        if bad:
            raise InputError(f"at() takes one point: {', '.join(bad)} is not a single number")
        value, grad = self.value_and_grad(**point)
        return AtPoint(self, {k: float(v) for k, v in point.items()}, float(value),
                       {k: float(v) for k, v in grad.items()})

    def _repr_svg_(self) -> str | None:
        """The graph, drawn, where the views have registered their drawing (Jupyter)."""
        draw = _drawings.get("graph_svg")
        return None if draw is None else draw(self)

    # ---- the passes, recorded and diagnosed -------------------------------------------------

    def trace(self, point: Mapping[str, float], wrt: Sequence[str] | None = None) -> Trace:
        """Both passes at one point, every step recorded (see :mod:`backprop.core.trace`)."""
        from backprop.core.trace import trace

        return trace(self, dict(point), None if wrt is None else self._check_wrt(wrt))

    def diagnose(self, point: Mapping[str, Any], what: str | None = None) -> NonFinite | None:
        """Which module first made the value or the gradient nan or inf at ``point``.

        ``what`` ("value" or "gradient") says what the caller found non-finite;
        by default it is found out here, and None means all is finite.
        """
        if what is None:
            return self.gradients(point).diagnosis()
        return self._diagnosis(engine.forward(self.graph, self._plan, self._inputs(point)), what)

    def _diagnosis(self, vals: list[Value | None], what: str) -> NonFinite:
        i = engine.first_non_finite(self.graph, self._plan, vals)
        j = engine.first_non_finite_local(self.graph, self._plan, vals)
        return NonFinite(what, None if i is None else self._node_text(i),
                         None if j is None else self._node_text(j))


def parse(text: str, angle: str = "rad", vars: Iterable[str] | None = None,
          warn: bool = True) -> Function:
    """Parse an expression into a differentiable :class:`Function`.

    ``angle="deg"``: sin, cos and tan take degrees, asin, acos and atan return
    degrees, and the derivatives are scaled to match. ``vars``: the declared
    variables; any other free name is then an ExpressionError (exit 2) with a
    caret, where it would otherwise become a variable. Names that look like a
    typo (``sinx``) are kept in ``Function.warnings`` and, with ``warn`` (the
    default; the commands print them their own way), reported by :func:`warnings.warn`.
    """
    parsed = parse_text(text, angle, vars)
    _warn_of(parsed.warnings, warn)
    return Function(parsed.graph, text, angle, parsed.warnings)


def _warn_of(messages: Sequence[str], warn: bool) -> None:
    if warn:
        for message in messages:
            python_warnings.warn(message, stacklevel=3)


# How a notebook draws a Function and the lesson page: the views sit above the core,
# which cannot import them, so backprop.views.notebook hands its drawings in here when
# it is imported (the package's top-level ``parse`` imports it).
_drawings: dict[str, Callable[..., str]] = {}


def draw_with(graph_svg: Callable[..., str], lesson_page: Callable[..., str]) -> None:
    """Register the views' drawings: ``graph_svg(f, point=None)`` and
    ``lesson_page(f, point, wrt)``."""
    _drawings.update(graph_svg=graph_svg, lesson_page=lesson_page)


@dataclass
class AtPoint:
    """``f.at(x=...)``: the value and gradient at one point; displayed in a notebook as
    the graph annotated at the point (each box its forward value, each edge the gradient
    flowing back along it)."""

    function: Function = field(repr=False)
    point: dict[str, float]
    value: float
    grad: dict[str, float]

    def _repr_svg_(self) -> str | None:
        draw = _drawings.get("graph_svg")
        return None if draw is None else draw(self.function, self.point)

    def html(self, wrt: list[str] | None = None) -> str:
        """The self-contained lesson page (as ``backprop graph --format html``)."""
        draw = _drawings.get("lesson_page")
        if draw is None:
            raise RuntimeError("the lesson page needs the views: import backprop.views.notebook "
                               "(the package's own `from backprop import parse` does)")
        return draw(self.function, self.point, wrt)


@dataclass
class VectorFunction(_Expression):
    """Several expressions separated by ';', parsed into one graph (shared nodes computed once):
    the general case, of which :class:`Function` is the one-output case.

    >>> f = parse_vector("x*y; x+y")
    >>> values, grads = f.jacobian(x=1.0, y=2.0)
    >>> values, grads
    ([2.0, 3.0], [{'x': 2.0, 'y': 1.0}, {'x': 1.0, 'y': 1.0}])
    """

    outputs: tuple[str, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        from backprop.core.jacobian import JacobianPlan

        super().__post_init__()
        self._jp = JacobianPlan.of(self.graph)
        parts = [p.strip() for p in self.text.split(";")] if self.text else []
        count = len(self._jp.outputs)
        self.outputs = (tuple(parts) if len(parts) == count
                        else tuple(f"f{k + 1}" for k in range(count)))

    def mode(self, wrt: Sequence[str] | None = None) -> str:
        """The mode that takes fewer passes for these variables."""
        from backprop.core.jacobian import choose_mode

        n = len(self.variables) if wrt is None else len(wrt)
        return choose_mode(len(self.outputs), n)

    def describe_mode(self, wrt: Sequence[str] | None = None) -> str:
        """One sentence for --trace: which mode, and why."""
        from backprop.core.jacobian import describe_mode

        n = len(self.variables) if wrt is None else len(wrt)
        return describe_mode(self.mode(wrt), len(self.outputs), n)

    def jacobian(self, wrt: Sequence[str] | None = None, mode: str | None = None,
                 **values: object) -> tuple[list[Value], list[dict[str, Value]]]:
        """Each output's value and gradient at one point (or at arrays of points)."""
        inputs = self._inputs(values)
        names = self._check_wrt(wrt)
        from backprop.core.jacobian import jacobian

        j = jacobian(self._jp, inputs, names, mode)
        shape = np.broadcast_shapes(*(np.shape(v) for v in inputs.values())) if inputs else ()
        return ([self._broadcast(v, shape) for v in j.values],
                [{k: self._broadcast(g, shape) for k, g in row.items()} for row in j.grads])

    def jacobians(self, points: Mapping[str, object] | None = None,
                  wrt: Sequence[str] | None = None, mode: str | None = None) -> object:
        """A :class:`backprop.core.results.Jacobians` block at one point or 1-d arrays of points."""
        names = self._check_wrt(wrt)
        chunk = {k: np.atleast_1d(np.asarray(v, dtype=np.float64)) for k, v in (points or {}).items()}
        return self._block(chunk, names, mode)

    def stream(self, chunks: Iterable[Mapping[str, object]], wrt: Sequence[str] | None = None,
               mode: str | None = None) -> Iterator[object]:
        names = self._check_wrt(wrt)
        for chunk in chunks:
            yield self._block(chunk, names, mode)

    def _block(self, chunk: Mapping[str, object], wrt: list[str], mode: str | None) -> object:
        from backprop.core.results import Jacobians

        inputs = self._inputs(chunk)
        from backprop.core.jacobian import jacobian

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
        plan, vals = self._jp.plan, j.vals

        def diagnose(what: str) -> object:
            from backprop.core.results import NonFinite

            i = engine.first_non_finite(self.graph, plan, vals)
            k = engine.first_non_finite_local(self.graph, plan, vals)
            return NonFinite(what, None if i is None else self._node_text(i),
                             None if k is None else self._node_text(k))

        return Jacobians(tuple(self.variables), tuple(wrt), self.outputs, points, values, jac,
                         j.mode, diagnose)


def parse_vector(text: str, angle: str = "rad", vars: Iterable[str] | None = None,
                 warn: bool = True) -> VectorFunction:
    """Parse expressions separated by ';' (one or more) into a :class:`VectorFunction`.

    ``vars``, the typo warnings and ``warn`` as for :func:`parse`.
    """
    parsed = parse_text(text, angle, vars, several=True)
    _warn_of(parsed.warnings, warn)
    return VectorFunction(parsed.graph, text, angle, parsed.warnings)

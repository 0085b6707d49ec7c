"""Gradient descent on any expression: the lecture's update rule, step by step.

    W(new) = W(old) - tau * grad E(W(old))

Each step is one forward pass (value, every node cached) and one backward pass
(the gradient) over the expression's graph, reusing the Function's plan; the
text is parsed once. Optional classical momentum (the "heavy ball"):

    V(new) = m * V(old) - tau * grad E(W(old)),   W(new) = W(old) + V(new)

which is exactly the plain rule when m = 0.

Or Newton's method (``method="newton"``): W(new) = W(old) - H^-1 grad E(W(old)),
with the Hessian H from forward mode over the backward pass, halved until E
decreases (see :mod:`backprop.methods.newton`), and a gradient step where H is not
positive definite.

Where a run ends at a point whose gradient vanishes, the Hessian there says
what kind of point it is: a run that starts or ends at a maximum or a saddle
did not minimise anything and says so (reason ``not_a_minimum``). A run whose
every other step reverses direction says that it oscillates.

Usable from Python::

    >>> from backprop.core.function import parse
    >>> from backprop.methods.descend import descend
    >>> run = descend(parse("(x-3)^2"), {"x": 0.0}, tau=0.1)
    >>> for step in run: pass
    >>> run.outcome.converged, round(run.outcome.last.point["x"], 6)
    (True, 3.0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping

from backprop.errors import InputError

if TYPE_CHECKING:
    from backprop.core.function import Function

# Reasons the descent stops (the "reason" of an Outcome).
TOLERANCE = "tolerance"  # the gradient's norm fell below tol: converged
STALLED = "stalled"  # the update no longer changes the point (floating-point fixed point)
MAX_STEPS = "max_steps"  # the step budget ran out before either of the above
# The most steps a run may ask for: tens of microseconds each, so at most about a minute;
# a descent that has not converged in a million steps needs another learning rate.
STEPS_LIMIT = 1_000_000
DIVERGED = "diverged"  # a non-finite value or gradient, or the value grew past the limit
NOT_MINIMUM = "not_a_minimum"  # the gradient vanishes, but the Hessian says maximum or saddle
NO_DESCENT = "no_descent"  # Newton: no step along the direction decreases E

GD, NEWTON = "gd", "newton"
METHODS = (GD, NEWTON)
# the Hessian at the end is found only below these sizes (its cost: building the
# backward pass as a graph, then n tangent directions and an n x n eigenproblem)
CHECK_MAX_VARIABLES = 500
CHECK_MAX_NODES = 50_000

GROWTH_LIMIT = 1e12  # divergence: |E| beyond this times max(|E(start)|, 1)


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs a microsecond a step
class Step:
    """The state after ``step`` updates: the point W, E(W), grad E(W) and its norm."""

    step: int
    point: dict[str, float]
    value: float
    grad: dict[str, float]
    grad_norm: float

    @property
    def finite(self) -> bool:
        return math.isfinite(self.value) and math.isfinite(self.grad_norm)


@dataclass(frozen=True)
class Outcome:
    """How the descent ended."""

    converged: bool
    reason: str  # TOLERANCE, STALLED, MAX_STEPS or DIVERGED
    detail: str  # one sentence for people
    last: Step  # the last step taken (for DIVERGED: the step where it was detected)
    last_finite: Step | None  # the last step that passed every check
    method: str = GD
    stationary: str | None = None  # the kind of point it ended at (newton.MINIMUM, ...), if found
    notes: tuple[str, ...] = ()  # more sentences for people: oscillation, Newton's fallbacks
    oscillates: bool = False
    fallbacks: int = 0  # Newton: the steps that were gradient steps

    @property
    def steps(self) -> int:
        return self.last.step


def check_settings(tau: float, max_steps: int, tol: float, momentum: float,
                   method: str = GD) -> None:
    """Raise InputError for settings no descent can run with."""
    if method not in METHODS:
        raise InputError(f"the method must be one of {', '.join(METHODS)}, not {method!r}")
    if method == NEWTON and momentum != 0.0:
        raise InputError("momentum is for gradient descent: Newton's method takes no momentum")
    if not (math.isfinite(tau) and tau > 0):
        raise InputError(f"the learning rate tau must be a positive number, not {tau!r}")
    if not 0 <= max_steps <= STEPS_LIMIT:
        raise InputError(f"the number of steps (--steps) must be 0 to {STEPS_LIMIT:,}, not "
                         f"{max_steps:,}")
    if not (tol >= 0 and math.isfinite(tol)):
        raise InputError(f"the tolerance must be a number >= 0, not {tol!r}")
    if not (0 <= momentum < 1):
        raise InputError(f"the momentum must be in [0, 1), not {momentum!r}")


class Descent:
    """An iterator over the steps of gradient descent; ``outcome`` is set once it stops.

    Step 0 is the starting point; step k the point after k updates. Every step
    yielded carries the value and gradient *at* that point, so the gradient of
    step k is the one the update to step k+1 uses.
    """

    def __init__(
        self,
        f: Function,
        start: Mapping[str, float],
        tau: float = 0.1,
        max_steps: int = 1000,
        tol: float = 1e-8,
        momentum: float = 0.0,
        growth_limit: float = GROWTH_LIMIT,
        method: str = GD,
    ) -> None:
        check_settings(tau, max_steps, tol, momentum, method)
        if not f.variables:
            raise InputError("the expression has no variables: there is nothing to descend on")
        missing = [v for v in f.variables if v not in start]
        if missing:
            raise InputError(f"no starting value for {', '.join(missing)}")
        self.f = f
        self.names: tuple[str, ...] = tuple(f.variables)
        self.start = tuple(float(start[v]) for v in self.names)
        self.tau = float(tau)
        self.max_steps = int(max_steps)
        self.tol = float(tol)
        self.momentum = float(momentum)
        self.growth_limit = float(growth_limit)
        self.method = method
        self.outcome: Outcome | None = None

    def __iter__(self) -> Iterator[Step]:
        steps = self._newton() if self.method == NEWTON else self._gd()
        yield from steps
        assert self.outcome is not None
        self.outcome = self._checked(self.outcome)

    def _gd(self) -> Iterator[Step]:
        f, names = self.f, self.names
        wrt = list(names)
        value_and_grad_at = f._gradient_at_fn(wrt)  # the passes, bound once for the loop
        tau, m = self.tau, self.momentum
        w = list(self.start)
        velocity = [0.0] * len(w)
        limit = math.inf
        last_good: Step | None = None
        k = 0
        previous: list[float] | None = None  # the last update, to count reversals
        self._reversals = 0
        self._before_last: list[float] | None = None
        while True:
            # One forward pass (caching every node) and one backward pass.
            point = dict(zip(names, w))  # forward only reads it; the Step keeps it
            # (where math raises, numpy's passes answer: 1/0 is inf, which the checks
            # below turn into a message, not an exception)
            value, g = value_and_grad_at(point)
            norm = math.hypot(*g)
            step = Step(k, point, value, dict(zip(names, g)), norm)
            yield step
            if k == 0:
                limit = self._growth_limit(step)
            self.outcome = self._ended(step, limit, last_good)
            if self.outcome is not None:
                return
            last_good = step
            if m == 0.0:
                new = [wi - tau * gi for wi, gi in zip(w, g)]  # the lecture's rule, as written
            else:
                velocity = [m * vi - tau * gi for vi, gi in zip(velocity, g)]
                new = [wi + vi for wi, vi in zip(w, velocity)]
            if new == w:
                self.outcome = Outcome(True, STALLED, "the update no longer changes the point "
                                       "(tau * gradient is below its floating-point resolution)",
                                       step, step)
                return
            delta = [a - b for a, b in zip(new, w)]
            if previous is not None and sum(a * b for a, b in zip(delta, previous)) < 0.0:
                self._reversals += 1
            previous = delta
            self._before_last = w  # a list; a dict only if a note names it
            w = new
            k += 1

    def _newton(self) -> Iterator[Step]:
        """Newton's method: W <- W - t H^-1 grad E, t halved from 1 until E decreases enough."""
        import numpy as np

        from backprop.methods.newton import line_search, newton_direction

        f, names = self.f, self.names
        wrt = list(names)
        w = np.array(self.start)
        limit = math.inf
        last_good: Step | None = None
        self._reversals = 0
        self._before_last = None
        fallbacks, why = 0, ""

        def value_at(v: Any) -> float:
            return f._value_at(dict(zip(names, v.tolist())))

        k = 0
        while True:
            point = dict(zip(names, w.tolist()))
            value, g, h = f._value_grad_hessian_at(point, wrt)
            norm = math.hypot(*g)
            step = Step(k, point, value, dict(zip(names, g)), norm)
            yield step
            if k == 0:
                limit = self._growth_limit(step)
            notes = _fallback_note(fallbacks, k, why)
            self.outcome = self._ended(step, limit, last_good, NEWTON, notes, fallbacks)
            if self.outcome is not None:
                return
            last_good = step
            direction = newton_direction(g, h)
            if not direction.newton:
                fallbacks += 1
                why = why or direction.why
            found = line_search(value_at, w, value, np.asarray(g), direction.d)
            if found is None:
                self.outcome = Outcome(False, NO_DESCENT, "no step along the "
                                       + ("Newton" if direction.newton else "gradient")
                                       + " direction decreases f (the step was halved 40 times)",
                                       step, step, NEWTON, notes=_fallback_note(fallbacks, k + 1, why),
                                       fallbacks=fallbacks)
                return
            new = found[1]
            if np.array_equal(new, w):
                self.outcome = Outcome(True, STALLED, "the update no longer changes the point "
                                       "(below its floating-point resolution)", step, step,
                                       NEWTON, notes=notes, fallbacks=fallbacks)
                return
            w = new
            k += 1

    def _growth_limit(self, step: Step) -> float:
        """At the first step: a start that is not finite is bad input; else the largest
        |f| the descent may reach before it counts as diverged."""
        if not step.finite:
            raise InputError(_bad_start(self.f, step))
        return self.growth_limit * max(abs(step.value), 1.0)

    def _ended(self, step: Step, limit: float, last_good: Step | None, method: str = GD,
               notes: tuple[str, ...] = (), fallbacks: int = 0) -> Outcome | None:
        """How the descent ends at ``step`` (diverged, below the tolerance, out of steps),
        or None when it goes on: the checks both methods make at every step."""
        if not step.finite or abs(step.value) > limit:
            return Outcome(False, DIVERGED, _diverged(step, limit), step, last_good, method,
                           fallbacks=fallbacks)
        norm, tol = step.grad_norm, self.tol
        if norm < tol:
            return Outcome(True, TOLERANCE, f"the gradient's norm {norm!r} is below the "
                           f"tolerance {tol!r}", step, step, method, notes=notes,
                           fallbacks=fallbacks)
        if step.step >= self.max_steps:
            return Outcome(False, MAX_STEPS, f"stopped after {step.step} steps; the gradient's "
                           f"norm {norm!r} is still above the tolerance {tol!r}", step, step,
                           method, notes=notes, fallbacks=fallbacks)
        return None

    def _checked(self, outcome: Outcome) -> Outcome:
        """The outcome with what the Hessian says about where it ended, and any oscillation."""
        import dataclasses

        notes = list(outcome.notes)
        oscillates = False
        k = outcome.steps
        if self._reversals >= 3 and self._reversals >= 0.5 * (k - 1):
            oscillates = True
            before = (None if self._before_last is None
                      else dict(zip(self.names, self._before_last)))
            notes.append(_oscillation_note(self._reversals, k, outcome, before))
        stationary = None
        changes: dict[str, Any] = {}
        if outcome.reason in (TOLERANCE, STALLED) and outcome.converged:
            found = _stationary_kind(self.f, outcome.last)
            if found is not None:
                stationary, text = found
                from backprop.methods.newton import (MAXIMUM, NOT_MINIMUM as NOT_MIN, SADDLE,
                                                     UNDECIDED)

                if stationary in (MAXIMUM, SADDLE, NOT_MIN):
                    changes = {"converged": False, "reason": NOT_MINIMUM,
                               "detail": f"the gradient vanishes here ({outcome.detail}), but "
                                         f"this is {text}: not a minimum"}
                elif stationary == UNDECIDED:
                    notes.append(f"second order cannot tell whether this is a minimum: {text}")
        return dataclasses.replace(outcome, stationary=stationary, notes=tuple(notes),
                                   oscillates=oscillates, **changes)

    def run(self) -> Outcome:
        """Take every step; return how it ended."""
        for _ in self:
            pass
        assert self.outcome is not None
        return self.outcome


@dataclass
class StepRows:
    """Steps of a descent as rows: ``step``, the point, ``f`` and ``grad_norm``."""

    names: tuple[str, ...]
    steps: list[Step]

    @property
    def columns(self) -> list[str]:
        return ["step", *self.names, "f", "grad_norm"]

    def rows(self) -> list[list[Any]]:
        return [[s.step, *s.point.values(), s.value, s.grad_norm] for s in self.steps]

    def records(self) -> list[dict[str, Any]]:
        return [{"step": s.step, "at": s.point, "value": s.value, "grad_norm": s.grad_norm}
                for s in self.steps]

    def diagnosis(self) -> None:
        return None  # a descent reports non-finite steps in its outcome, not as warnings


@dataclass
class Followed:
    """A finished descent: how it ended, the rows kept for a table, the path for a plot."""

    outcome: Outcome
    kept: StepRows  # empty when the rows were streamed as they came
    path: list[Step]

    def summary(self) -> dict[str, Any]:
        """The outcome as one JSON record (the best point: the last finite one)."""
        o = self.outcome
        best = o.last_finite or o.last
        return {"converged": o.converged, "reason": o.reason, "detail": o.detail,
                "steps": o.steps, "step": best.step, "at": best.point, "value": best.value,
                "grad_norm": best.grad_norm, "method": o.method, "stationary": o.stationary,
                "oscillates": o.oscillates, "notes": list(o.notes)}


TABLE_ROWS = 20  # about this many rows in a table of a descent whose length is not known


def follow(
    run: Descent,
    every: int | None = None,
    *,
    on_rows: Callable[[StepRows], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
    plot_points: int | None = None,
) -> Followed:
    """Take every step of ``run``, choosing the rows to show and the points to plot.

    With ``on_rows`` (a stream: JSON Lines, CSV) every ``every``-th step
    (default: about 20 rows over ``max_steps``) and the last are passed on as
    they come. Without it, the rows are kept for one table at the end; with no
    ``every`` the kept rows thin themselves (a stride doubling whenever more
    than 2 * TABLE_ROWS are kept) to about TABLE_ROWS evenly spaced ones, as the
    number of steps taken is not known in advance. ``plot_points``: keep about
    this many steps of the path. ``on_progress(step)`` every 256 steps.
    """
    names = run.names
    adaptive = every is None and on_rows is None
    k_every = 1 if adaptive else every if every is not None else default_every(run.max_steps)
    thin = max(1, run.max_steps // plot_points) if plot_points else 0
    kept: list[Step] = []
    stride = 1
    path: list[Step] = []
    last: Step | None = None
    for s in run:
        if s.step % k_every == 0:
            if on_rows is not None:
                on_rows(StepRows(names, [s]))
            elif not adaptive:
                kept.append(s)
            elif s.step % stride == 0:
                kept.append(s)
                if len(kept) > 2 * TABLE_ROWS:
                    stride *= 2
                    kept = [r for r in kept if r.step % stride == 0]
        if thin and s.step % thin == 0:
            path.append(s)
        if on_progress is not None and s.step & 255 == 0:
            on_progress(s.step)
        last = s
    outcome = run.outcome
    assert outcome is not None and last is not None
    if on_rows is not None:
        if last.step % k_every != 0:
            on_rows(StepRows(names, [last]))
    else:
        if adaptive and last.step > 0:
            k = stride * max(1, round(last.step / TABLE_ROWS / stride))
            kept = [r for r in kept if r.step % k == 0]
        if not kept or kept[-1].step != last.step:
            kept.append(last)
    if thin and (not path or path[-1] is not last):
        path.append(last)
    return Followed(outcome, StepRows(names, kept), path)


def failure_message(outcome: Outcome, tau: float) -> str:
    """Why a descent that did not converge (nor ran out of steps) failed, and what to try."""
    if outcome.reason == NOT_MINIMUM:
        return (f"{outcome.detail}, at {point_text(outcome.last.point)}; descent cannot leave "
                "it: start elsewhere")
    if outcome.reason == NO_DESCENT:
        return f"{outcome.detail}, at {point_text(outcome.last.point)}"
    good = outcome.last_finite
    where = (f"the last finite point is {point_text(good.point)} (step {good.step}, "
             f"f = {good.value!r})") if good is not None else "no finite point"
    return f"{outcome.detail}; {where}; try a smaller learning rate, e.g. --lr {tau / 10:g}"


def point_text(point: Mapping[str, float]) -> str:
    """``x=1.0,y=2.0``: a point as the command line writes it."""
    return ",".join(f"{k}={v!r}" for k, v in point.items())


def descend(
    f: Function,
    start: Mapping[str, float],
    tau: float = 0.1,
    max_steps: int = 1000,
    tol: float = 1e-8,
    momentum: float = 0.0,
    method: str = GD,
) -> Descent:
    """Gradient descent (or Newton's method) on ``f`` from ``start``: iterate it for the steps,
    then read ``.outcome``."""
    return Descent(f, start, tau, max_steps, tol, momentum, method=method)


def _diverged(step: Step, limit: float) -> str:
    if not math.isfinite(step.value):
        why = "the value is not finite"
    elif not math.isfinite(step.grad_norm):
        why = "the gradient is not finite"
    else:
        why = f"the value {step.value!r} grew past {limit:g} (1e12 times max(|f(start)|, 1))"
    return f"diverged at step {step.step}: {why}"


def _bad_start(f: Function, step: Step) -> str:
    where = ", ".join(f"{k}={v!r}" for k, v in step.point.items())
    what = "value" if not math.isfinite(step.value) else "gradient"
    found = f.diagnose(step.point, what)
    cause = ""
    if what == "value" and found is not None and found.value_node is not None:
        cause = f": {found.value_node} is nan or infinite there"
    elif what == "gradient" and found is not None and found.local_node is not None:
        cause = f": the local derivative of {found.local_node} is nan or infinite there"
    return f"the {what} is not finite at the starting point {where}{cause}; start elsewhere"


def _fallback_note(fallbacks: int, steps: int, why: str) -> tuple[str, ...]:
    if not fallbacks:
        return ()
    return (f"Newton's method took a gradient step instead at {fallbacks} of {steps} steps, where "
            f"the Hessian was not positive definite (the first time: {why})",)


def _oscillation_note(reversals: int, steps: int, outcome: Outcome,
                      before_last: Mapping[str, float] | None) -> str:
    text = (f"the iterates oscillate: the update reversed direction at {reversals} of "
            f"{steps - 1} steps")
    last = outcome.last.point
    if before_last is not None and len(last) <= 3:
        # rows printed every K steps may all fall on one side of the swing: name both
        text += f", the last two points being {point_text(before_last)} and {point_text(last)}"
    if not outcome.converged:
        text += "; a smaller learning rate would damp it"
    return text


def _stationary_kind(f: Function, step: Step) -> tuple[str, str] | None:
    """What the Hessian says of a point whose gradient vanishes: (kind, a phrase), or None."""
    from backprop.methods.newton import MAXIMUM, MINIMUM, NOT_MINIMUM as NOT_MIN, SADDLE, classify

    if len(step.point) > CHECK_MAX_VARIABLES or f.size > CHECK_MAX_NODES:
        return None
    _, _, h = f._value_grad_hessian_at(step.point, list(step.point))
    if not all(math.isfinite(v) for v in h.ravel().tolist()):
        return None
    kind, eig = classify(h)
    values = ", ".join(f"{v:.4g}" for v in eig.tolist()[:6]) + (", ..." if len(eig) > 6 else "")
    phrase = {
        MINIMUM: f"a minimum (the Hessian's eigenvalues are all positive: {values})",
        MAXIMUM: f"a maximum (the Hessian's eigenvalues are all negative: {values})",
        SADDLE: f"a saddle point (the Hessian's eigenvalues have both signs: {values})",
        NOT_MIN: f"a maximum or a saddle (the Hessian has a negative eigenvalue: {values})",
    }.get(kind, f"the Hessian is singular here (eigenvalues {values})")
    return kind, phrase


def default_every(max_steps: int, rows: int = 20) -> int:
    """Print every K steps so that about ``rows`` rows cover ``max_steps``."""
    return max(1, round(max_steps / rows))

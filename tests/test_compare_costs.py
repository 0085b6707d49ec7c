"""compare's costs are fair: each method runs, pass for pass, what it declares.

The passes are counted by instrumenting the interpreters themselves (the float forward
and backward passes, the float tangent pass, the complex forward pass, the second-order
passes), not by timing: every method is run once at a point, and what it ran is checked
against the passes its row declares. Timings are bench/bench_compare_costs.py's.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Callable

import pytest
import sympy as sp
from sympy.parsing.sympy_parser import convert_xor, parse_expr, standard_transformations

from backprop.core import complex_step, gradient_graph, passes, scalar
from backprop.core.function import parse
from backprop.studies import compare as study
from backprop.studies.fixtures import example


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Every pass run, by kind."""
    count: Counter[str] = Counter()

    def counting(kind: Callable[[Any], list[str]], original: Callable[..., Any]) -> Any:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            count.update(kind(args))
            return original(*args, **kwargs)

        return wrapped

    # every method runs the one interpreter's passes (core/passes.py), on floats here
    monkeypatch.setattr(passes, "run_forward", counting(
        lambda a: ["forward"], passes.run_forward))
    monkeypatch.setattr(passes, "run_backward", counting(
        lambda a: ["backward"], passes.run_backward))
    monkeypatch.setattr(scalar, "tangents", counting(
        lambda a: ["tangent"] * len(a[2]), scalar.tangents))
    monkeypatch.setattr(complex_step, "run_forward", counting(
        lambda a: ["complex_forward"], complex_step.run_forward))
    monkeypatch.setattr(gradient_graph, "evaluate_floats", counting(
        lambda a: ["second_order"], gradient_graph.evaluate_floats))
    return count


CASES = [("2/sin(exp(-x))", {"x": -4.499}), ("x*y + sin(x)^2", {"x": 1.0, "y": 2.0}),
         example("sines", 8)]


@pytest.mark.parametrize("expr,point", CASES)
def test_each_gradient_runs_the_passes_it_declares(expr: str, point: dict[str, float],
                                                   counted: Counter[str]) -> None:
    f = parse(expr)
    names = list(f.variables)
    result = study.compare(f, point, min_total=0.0)
    runs = study._first_order_runs(f, point, names, None, study.METHODS)
    _, evaluate, _ = study._symbolic(f, names, point, study.DEFAULT_MAX_SIZE)
    runs["symbolic"] = evaluate  # type: ignore[assignment]
    n = len(names)
    for key in study.METHODS:
        counted.clear()
        runs[key]()
        declared = dict(result.methods[key].passes)
        if key == "symbolic":  # each derivative evaluated by its own forward pass
            declared = {"forward": declared["derivative_evaluation"]}
        assert dict(counted) == declared, key
    # and the counts are the ones the methods are known by
    assert result.methods["central_difference"].passes == {"forward": 2 * n}
    assert result.methods["forward_difference"].passes == {"forward": n + 1}
    assert result.methods["complex_step"].passes == {"forward": 1, "complex_forward": n}


@pytest.mark.parametrize("expr,point", CASES)
def test_each_hessian_runs_the_passes_it_declares(expr: str, point: dict[str, float],
                                                  counted: Counter[str]) -> None:
    f = parse(expr)
    names = list(f.variables)
    n = len(names)
    result = study.compare_hessian(f, point, min_total=0.0)
    sym = study._SymbolicSecond(f, names, point, study.DEFAULT_MAX_SIZE)
    runs = study._hessian_runs(f, point, names, None, sym)
    counted.clear()
    runs["central_difference"]()
    assert dict(counted) == result.methods["central_difference"].passes \
        == {"forward": 2 * n, "backward": 2 * n}
    counted.clear()
    runs["symbolic"]()
    # each second partial that is not a constant (SymPy says which) is one evaluation;
    # a constant one is a number
    e = parse_expr(expr, transformations=standard_transformations + (convert_xor,))
    w = [sp.Symbol(v) for v in names]
    varying = sum(1 for i in range(n) for j in range(i, n) if sp.diff(e, w[i], w[j]).free_symbols)
    assert dict(counted) == {"forward": result.methods["symbolic"].passes[
        "derivative_evaluation"]} == {"forward": varying}
    counted.clear()
    runs["forward_over_reverse"]()
    # one evaluation of the backward pass built as a graph: one forward pass over it (the
    # original's forward and backward modules: declared as 1 forward + 1 backward) and one
    # tangent pass over it along the n directions (through both: declared as 2n tangent)
    assert dict(counted) == {"second_order": 1, "forward": 1, "tangent": n}
    passes = result.methods["forward_over_reverse"].passes
    assert passes == {"forward": 1, "backward": 1, "tangent": 2 * n, "directions": n}


def test_the_declared_total_adds_the_passes_not_the_directions() -> None:
    assert study.declared_total({"forward": 1, "backward": 1, "tangent": 4, "directions": 2}) == 6
    assert study.declared_total({"forward": 1, "complex_forward": 8}) == 9


def _analytic_cases() -> list[tuple[str, dict[str, float]]]:
    from backprop.core.ops import FUNCTIONS

    points = [0.3, 0.7, 1.9, -0.4, 2.5e-3, 37.0]
    cases = [(f"{name}(x)", {"x": x}) for name, p in FUNCTIONS.items()
             if p.arity == 1 and p.analytic for x in points]
    cases += [(f"{name}(x, y)", {"x": x, "y": y}) for name, p in FUNCTIONS.items()
              if p.arity == 2 and p.analytic for x, y in [(0.3, 1.7), (-2.0, 0.5)]]
    cases += [(e, {"x": x, "y": 1.3}) for e in ("x^y", "x/y", "(-x)^3*y", "2/sin(exp(-x))*y")
              for x in (0.7, -1.2)]
    return cases


def test_the_complex_step_at_one_point_agrees_with_numpys() -> None:
    """On Python complex numbers (cmath) the complex step rounds as cmath does: the same
    derivative as numpy's complex pass to a few ulps, nan where numpy's is nan."""
    from backprop.methods.numeric import PointComplexStep

    compared = 0
    for expr, point in _analytic_cases():
        f = parse(expr)
        point = {v: point[v] for v in f.variables}
        on_numpy = f.complex_step_grad(None, None, **point)
        found = PointComplexStep(f, point).fast(point)
        if found is None:  # math raised or a partial is not finite: numpy's pass answers
            continue
        for v, got in zip(f.variables, found):
            assert got == pytest.approx(float(on_numpy[v]), rel=1e-14, abs=1e-300), (expr, point)
            compared += 1
    assert compared > 100

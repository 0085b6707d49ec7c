"""Gradients, Hessians and predictions over a Dask DataFrame (the optional extra ``dask``).

Per-point gradients are independent, so a dataset too large for one machine is a
map over partitions: each partition's points go through the same passes as in
process (:meth:`Function.gradients`), with the same bits, and the partition's
other columns pass through in front, as in the CSV output::

    import dask.dataframe as dd
    from backprop.dask import gradients

    ddf = dd.read_parquet("data/*.parquet")
    out = gradients(ddf, "sin(x)*y")        # lazy: nothing is computed yet
    out.to_parquet("out/")                  # on whatever scheduler is active

The expression is parsed once, here, and shipped to the workers (a Function
pickles); each worker runs one thread per partition (Dask's workers are the
parallelism). A NaN in a variable's column is a point with nan (its row says
nan); a column that is not numeric is refused before anything runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from backprop.errors import InputError

if TYPE_CHECKING:
    from backprop.core.function import Function
    from backprop.nn.model import Model

DASK_EXTRA = "pip install 'backprop-cli[dask]'"


def _dask_dataframe() -> Any:
    try:
        import dask.dataframe as dd
    except ImportError:
        raise InputError(f"Dask is not installed: {DASK_EXTRA}") from None
    return dd


def _function(expr: str | Function, angle: str) -> Function:
    from backprop.core.function import Function, parse

    return expr if isinstance(expr, Function) else parse(expr, angle=angle)


def _check_numeric(ddf: Any, names: Sequence[str], what: str) -> None:
    import pandas as pd

    missing = [n for n in names if n not in ddf.columns]
    if missing:
        raise InputError(f"the DataFrame has no column for {', '.join(missing)} ({what}; its "
                         f"columns: {', '.join(map(str, ddf.columns))})")
    bad = [n for n in names if not pd.api.types.is_numeric_dtype(ddf.dtypes[n])
           or pd.api.types.is_bool_dtype(ddf.dtypes[n])]
    if bad:
        raise InputError(f"column {', '.join(bad)} is not numeric "
                         f"({', '.join(str(ddf.dtypes[n]) for n in bad)})")


def _meta(ddf: Any, passed: Sequence[str], renamed: Sequence[str],
          numbers: Sequence[str]) -> Any:
    import numpy as np

    meta = ddf._meta[list(passed)].copy()
    meta.columns = list(renamed)
    for c in numbers:
        meta[c] = np.empty(0, dtype=np.float64)
    return meta


def _points(pdf: Any, variables: Sequence[str]) -> dict[str, Any]:
    import numpy as np

    return {v: pdf[v].to_numpy(dtype=np.float64, na_value=np.nan) for v in variables}


def _partition(pdf: Any, f: Function, wrt: list[str], kind: str, passed: list[str],
               renamed: list[str]) -> Any:
    """One partition's rows: the pass-through columns, then the block's numbers."""
    import pandas as pd

    points = _points(pdf, f.variables)
    result = (f.gradients(points, wrt, threads=1) if kind == "gradients"
              else f.hessians(points, wrt, threads=1))
    numbers = pd.DataFrame(result.number_block(), columns=result.columns, index=pdf.index)
    front = pdf[passed].copy()
    front.columns = renamed
    return pd.concat([front, numbers], axis=1)


def _map(ddf: Any, f: Function, wrt: Sequence[str] | None, kind: str) -> Any:
    from backprop.core.results import Gradients, Hessians, PassedThrough

    _dask_dataframe()
    wrt_names = list(f.variables) if wrt is None else list(wrt)
    f._check_wrt(wrt_names)
    _check_numeric(ddf, f.variables, "a variable of the expression")
    result_type = Gradients if kind == "gradients" else Hessians
    numbers = result_type.columns_of(f.variables, wrt_names)
    passed = [c for c in ddf.columns if c not in set(f.variables)]
    columns = PassedThrough.columns_of(passed, numbers, result_type.RECORD_KEYS)
    renamed = columns[:len(passed)]
    return ddf.map_partitions(_partition, f, wrt_names, kind, passed, renamed,
                              meta=_meta(ddf, passed, renamed, numbers))


def gradients(ddf: Any, expr: str | Function, wrt: Sequence[str] | None = None, *,
              angle: str = "rad") -> Any:
    """A lazy dask DataFrame: ``ddf``'s other columns, then the variables, ``f`` and
    ``df/dv`` for each v of ``wrt`` (default: every variable) -- the columns of
    ``backprop grad EXPR --at @file --format csv``."""
    return _map(ddf, _function(expr, angle), wrt, "gradients")


def hessians(ddf: Any, expr: str | Function, wrt: Sequence[str] | None = None, *,
             angle: str = "rad") -> Any:
    """A lazy dask DataFrame with the columns of ``backprop hessian ... --format csv``: the
    other columns, the point, f, the gradient, then each second partial once."""
    return _map(ddf, _function(expr, angle), wrt, "hessians")


def _predict_partition(pdf: Any, model: Model, proba: bool, columns: list[str]) -> Any:
    import numpy as np

    from backprop.nn.predict import predictions

    X = pdf[list(model.input_names)].to_numpy(dtype=np.float64, na_value=np.nan)
    out = pdf.copy()
    for name, values in zip(columns, predictions(model, X, proba, threads=1)):
        out[name] = values
    return out


def predict(ddf: Any, model: Model | str | Path, proba: bool = False) -> Any:
    """A lazy dask DataFrame: every column of ``ddf``, then ``<target>_pred`` (and with
    ``proba`` a classifier's probabilities) -- the columns of ``backprop predict``."""
    import numpy as np

    from backprop.nn.model import Classifier, load_model
    from backprop.nn.predict import prediction_columns

    _dask_dataframe()
    if not hasattr(model, "input_names"):
        model, _ = load_model(model)  # type: ignore[arg-type]
    assert not isinstance(model, (str, Path))
    if proba and not isinstance(model, Classifier):
        raise InputError("proba: the model is a regressor; probabilities are for classifiers")
    _check_numeric(ddf, model.input_names, "an input of the model")
    columns = prediction_columns(model, proba)
    taken = [c for c in columns if c in ddf.columns]
    if taken:
        raise InputError(f"the DataFrame already has a column {', '.join(taken)}; rename it "
                         "(predict adds that column)")
    meta = ddf._meta.copy()
    for k, name in enumerate(columns):
        meta[name] = np.empty(0, dtype=object if isinstance(model, Classifier) and k == 0
                              else np.float64)
    return ddf.map_partitions(_predict_partition, model, proba, columns, meta=meta)

"""Scoring a saved model on data it has (usually) not seen: what ``backprop evaluate`` prints.

Regression: MSE, RMSE, MAE and R² per target and overall, in the targets'
own units. Classification: accuracy, log loss, per-class precision and recall
and the confusion matrix. The figures are those of ``metrics`` (scikit-learn's
definitions).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from backprop.errors import InputError
from backprop.nn import metrics
from backprop.nn.data import load_csv
from backprop.nn.model import Classifier, Model
from backprop.nn.predict import Extrapolation


def evaluate(model: Model, path: str | Path, delimiter: str = ",") -> dict[str, Any]:
    """The metrics of ``model`` on every row of a CSV (``-``: stdin) holding its inputs and targets."""
    classify = isinstance(model, Classifier)
    outside = Extrapolation()
    data = load_csv(path, model.target_names, model.input_names, key="DATA", delimiter=delimiter,
                    classification=classify, min_rows=1, encoding=model.encoding,
                    unknown=outside.unknown)
    out: dict[str, Any] = {"task": model.task, "data": data.source, "rows": int(len(data.X))}
    outside.add(model, data.X)
    out["extrapolated_rows"] = outside.outside
    out["warnings"] = outside.messages()
    if isinstance(model, Classifier):
        labels = data.Y[:, 0].astype(str)
        known = set(model.classes)
        unknown = sorted({v for v in labels if v not in known})
        if unknown:
            raise InputError(f"{data.source}: column {model.target_names[0]} holds "
                             f"{', '.join(map(repr, unknown[:5]))}{' ...' if len(unknown) > 5 else ''}, "
                             f"not a class of the model ({', '.join(model.classes)})")
        report = metrics.classification_report(model.targets(labels), model.predict_proba(data.X),
                                               model.classes)
        report.pop("rows")
        out.update(report)
        out["target"] = model.target_names[0]
    else:
        out["metrics"] = metrics.regression_report(data.Y, model.predict(data.X), model.target_names)
    return out



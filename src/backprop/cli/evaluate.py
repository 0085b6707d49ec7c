"""``backprop evaluate``: a saved model's metrics on labelled data."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

import typer

from backprop.cli import app
from backprop.cli.common import Format


@app.command(
    epilog="Examples:\n\n"
    "  backprop evaluate runs/diabetes/model.npz configs/data/diabetes.csv\n\n"
    "  backprop evaluate runs/wine/model.npz configs/data/wine_test.csv --format json\n\n"
    "  cat test.csv | backprop evaluate runs/model.npz - --format csv",
)
def evaluate(
    model: Path = typer.Argument(..., help="A model file written by backprop train.",
                                 metavar="MODEL.npz", show_default=False),
    data: str = typer.Argument(..., help="A CSV file with a header naming the model's inputs and "
                               "targets, a Parquet file (.parquet), or '-' for stdin.",
                               metavar="DATA.csv|-",
                               show_default=False),
    delimiter: Optional[str] = typer.Option(
        None, "--delimiter", help="The CSV cell separator of DATA (default: a comma, or the "
        "';', tab or '|' that a file's header is split by, found by csv.Sniffer).",
        metavar="CHAR", show_default=False),
    format: Format = typer.Option(Format.table, "--format", "-f", help="table, json or csv "
                                  "(JSON and CSV keep every digit)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No warnings on stderr "
                               "(extrapolation, unknown categories)."),
) -> None:
    """Score a trained model on data with the true targets, as scikit-learn's metrics do.

    Regression: MSE, RMSE, MAE, R², explained variance and MAPE (a fraction: 0.05 is 5%) per target and overall (the mean over targets). Classification: accuracy, balanced accuracy, log loss, F1 (macro and weighted), ROC-AUC (one-vs-rest for more than two classes), per-class precision, recall and F1, and the confusion matrix (rows: the true class; columns: the predicted one). JSON names the figures as scikit-learn's scorers (f1_macro, roc_auc, ...).
    """
    from backprop.errors import InputError
    from backprop.nn.evaluate import evaluate as score
    from backprop.nn.model import load_model

    net, _ = load_model(model)
    if delimiter is not None and len(delimiter) != 1:
        raise InputError(f"--delimiter: one character, got {delimiter!r}")
    if delimiter is None:
        from backprop.nn.data import detect_delimiter

        delimiter = detect_delimiter(data) or ","
    if data == "-" and sys.stdin.isatty():
        raise InputError("give DATA.csv, or pipe CSV rows (with a header) to stdin with '-'")
    result = score(net, data, delimiter)
    messages = result.pop("warnings")
    if result["task"] == "classification":
        _classification(result, format)
    else:
        _regression(result, format)
    if not quiet:
        from backprop.views.writers import warn

        for message in messages:
            warn(message)


METRICS = [("mse", "MSE"), ("rmse", "RMSE"), ("mae", "MAE"), ("r2", "R²"),
           ("explained_variance", "expl. var"), ("mape", "MAPE")]
# the figures over all classes, in the order shown (the table's label, the JSON key)
OVERALL = [("accuracy", "accuracy"), ("balanced_accuracy", "balanced accuracy"),
           ("log_loss", "log loss"), ("f1_macro", "F1 (macro)"), ("f1_weighted", "F1 (weighted)"),
           ("roc_auc", "ROC-AUC"), ("roc_auc_ovr", "ROC-AUC (one-vs-rest, macro)")]


def _short(v: Any, digits: int = 6) -> str:
    return "-" if v is None else f"{v:.{digits}g}" if isinstance(v, float) else str(v)


def _regression(result: dict[str, Any], format: Format) -> None:
    from backprop.views.writers import csv_line, json_line, print_table

    rows = result["metrics"]
    if format is Format.json:
        sys.stdout.write(json_line(result) + "\n")
    elif format is Format.csv:
        sys.stdout.write(csv_line(["target", *(k for k, _ in METRICS)]) + "\n")
        sys.stdout.write("".join(csv_line([r["target"], *(r[k] for k, _ in METRICS)]) + "\n"
                                 for r in rows))
    else:
        print_table(f"{result['data']}: {result['rows']} rows (errors in the targets' units)",
                    ["target", *(label for _, label in METRICS)],
                    [[r["target"], *(_short(r[k], 5) for k, _ in METRICS)] for r in rows],
                    right_align_from=1)


def _classification(result: dict[str, Any], format: Format) -> None:
    from backprop.views.writers import console, csv_line, json_line, table

    classes = result["classes"]
    if format is Format.json:
        sys.stdout.write(json_line(result) + "\n")
        return
    if format is Format.csv:
        # one figure a line: metric, class (true class for the matrix), predicted class, value
        lines = [["metric", "class", "predicted", "value"]]
        lines += [[key, "", "", "" if result[key] is None else result[key]]
                  for key, _ in OVERALL if key in result]
        for k in classes:
            for m in ("precision", "recall", "f1", "support"):
                v = result[m][k]
                lines.append([m, k, "", "" if v is None else v])
        for k, counts in zip(classes, result["confusion_matrix"]):
            lines += [["confusion", k, j, n] for j, n in zip(classes, counts)]
        sys.stdout.write("".join(csv_line(r) + "\n" for r in lines))
        return
    out = console()
    out.print(table(f"{result['data']}: {result['rows']} rows, target {result['target']}",
                    ["", "value"], [[label, _short(result[key])] for key, label in OVERALL
                                    if key in result], right_align_from=1))
    # as scikit-learn's classification_report: each class, then the macro and weighted means
    per = [[k, _short(result["precision"][k], 4), _short(result["recall"][k], 4),
            _short(result["f1"][k], 4), result["support"][k]] for k in classes]
    for avg in ("macro", "weighted"):
        per.append([f"{avg} avg", _short(result[f"precision_{avg}"], 4),
                    _short(result[f"recall_{avg}"], 4), _short(result[f"f1_{avg}"], 4),
                    result["rows"]])
    out.print(table("Per class", ["class", "precision", "recall", "F1", "rows"], per,
                    right_align_from=1))
    out.print(table("Confusion matrix (rows: true class, columns: predicted)",
                    ["true \\ predicted", *classes],
                    [[k, *counts] for k, counts in zip(classes, result["confusion_matrix"])],
                    right_align_from=1))

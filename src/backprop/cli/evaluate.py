"""``backprop evaluate``: a saved model's metrics on labelled data."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

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
    delimiter: str = typer.Option(",", "--delimiter", help="The CSV cell separator of DATA.",
                                  metavar="CHAR"),
    format: Format = typer.Option(Format.table, "--format", "-f", help="table, json or csv "
                                  "(JSON and CSV keep every digit)."),
) -> None:
    """Score a trained model on data with the true targets, as scikit-learn's metrics do.

    Regression: MSE, RMSE, MAE and R² per target and overall (the mean over targets), in the targets' own units. Classification: accuracy, log loss, per-class precision and recall, and the confusion matrix (rows: the true class; columns: the predicted one).
    """
    from backprop.errors import InputError
    from backprop.nn.evaluate import evaluate as score
    from backprop.nn.model import load_model

    net, _ = load_model(model)
    if len(delimiter) != 1:
        raise InputError(f"--delimiter: one character, got {delimiter!r}")
    if data == "-" and sys.stdin.isatty():
        raise InputError("give DATA.csv, or pipe CSV rows (with a header) to stdin with '-'")
    result = score(net, data, delimiter)
    message = result.pop("warning")
    if result["task"] == "classification":
        _classification(result, format)
    else:
        _regression(result, format)
    if message:
        from backprop.views.writers import warn

        warn(message)


METRICS = [("mse", "MSE"), ("rmse", "RMSE"), ("mae", "MAE"), ("r2", "R²")]


def _short(v: Any) -> str:
    return "-" if v is None else f"{v:.6g}" if isinstance(v, float) else str(v)


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
                    [[r["target"], *(_short(r[k]) for k, _ in METRICS)] for r in rows],
                    right_align_from=1)


def _classification(result: dict[str, Any], format: Format) -> None:
    from backprop.views.writers import console, csv_line, json_line, table

    classes = result["classes"]
    if format is Format.json:
        sys.stdout.write(json_line(result) + "\n")
        return
    if format is Format.csv:
        # one figure a line: metric, class (true class for the matrix), predicted class, value
        lines = [["metric", "class", "predicted", "value"],
                 ["accuracy", "", "", result["accuracy"]], ["log_loss", "", "", result["log_loss"]]]
        for k in classes:
            for m in ("precision", "recall", "support"):
                v = result[m][k]
                lines.append([m, k, "", "" if v is None else v])
        for k, counts in zip(classes, result["confusion_matrix"]):
            lines += [["confusion", k, j, n] for j, n in zip(classes, counts)]
        sys.stdout.write("".join(csv_line(r) + "\n" for r in lines))
        return
    out = console()
    out.print(table(f"{result['data']}: {result['rows']} rows, target {result['target']}",
                    ["", "value"], [["accuracy", _short(result["accuracy"])],
                                    ["log loss", _short(result["log_loss"])]], right_align_from=1))
    out.print(table("Per class", ["class", "precision", "recall", "rows"],
                    [[k, _short(result["precision"][k]), _short(result["recall"][k]),
                      result["support"][k]] for k in classes], right_align_from=1))
    out.print(table("Confusion matrix (rows: true class, columns: predicted)",
                    ["true \\ predicted", *classes],
                    [[k, *counts] for k, counts in zip(classes, result["confusion_matrix"])],
                    right_align_from=1))

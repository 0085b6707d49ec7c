"""``backprop predict``: a saved model's predictions, beside the rows they are for."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

import typer

from backprop.cli import app
from backprop.cli.common import Format


@app.command(
    epilog="Examples:\n\n"
    "  backprop predict runs/sine/model.npz --at 0.5\n\n"
    "  backprop predict runs/surface/model.npz --at x1=0.2,x2=-0.4 --format json\n\n"
    "  printf 'x\\n0\\n0.5\\n1\\n' | backprop predict runs/sine/model.npz --format csv\n\n"
    "  backprop predict runs/wine/model.npz configs/data/wine_test.csv --proba --format csv",
)
def predict(
    model: Path = typer.Argument(..., help="A model file written by backprop train.",
                                 metavar="MODEL.npz", show_default=False),
    data: Optional[str] = typer.Argument(None, help="A CSV file with a header naming the model's "
                                         "inputs (other columns are passed through), or '-' "
                                         "for stdin (the default without --at).",
                                         metavar="[DATA.csv|-]", show_default=False),
    at: Optional[str] = typer.Option(None, "--at", metavar="POINT", help="One point of raw inputs: "
                                     "a number for a one-input model, or name=value pairs with the "
                                     "training column names."),
    proba: bool = typer.Option(False, "--proba", help="A classifier: also one probability "
                               "column per class (<target>_proba_<class>)."),
    only_predictions: bool = typer.Option(False, "--only-predictions", help="Print the prediction "
                                          "columns only, not the input rows."),
    delimiter: str = typer.Option(",", "--delimiter", help="The CSV cell separator of DATA.",
                                  metavar="CHAR"),
    format: Format = typer.Option(Format.table, "--format", "-f", help="table, json (one object "
                                  "per row) or csv."),
) -> None:
    """Predict from raw inputs with a trained model (its standardisation applied).

    Prints every column of the input, in order, then <target>_pred (a number, or a classifier's label). Inputs outside the range the model was trained on get one warning on stderr ("extrapolating").
    """
    from backprop.core.points import parse_point
    from backprop.errors import InputError
    from backprop.nn.model import load_model
    from backprop.nn.predict import predict_csv, predict_point
    from backprop.views.render import warn

    net, _ = load_model(model)
    if at is not None and data is not None:
        raise InputError("give the data as DATA.csv (or '-') or as --at, not both")
    if at is not None and at.strip() != "-":
        stream = predict_point(net, parse_point(at, net.input_names), proba)
    else:
        source = data if data is not None else "-"
        if source == "-" and sys.stdin.isatty():
            raise InputError("give a point with --at, a CSV file, or pipe CSV rows (with a header: "
                             f"{','.join(net.input_names)}) to stdin")
        if len(delimiter) != 1:
            raise InputError(f"--delimiter: one character, got {delimiter!r}")
        stream = predict_csv(net, source, proba, delimiter)
    _write(stream, format, only_predictions)
    message = stream.extrapolation.message()
    if message:
        warn(message)


def _write(stream: Any, format: Format, only: bool) -> None:
    from backprop.views.render import json_line

    import csv

    columns = stream.columns[len(stream.input_columns):] if only else stream.columns
    # the csv module's writer: its quoting, and floats as repr (every digit)
    writer = csv.writer(sys.stdout, lineterminator="\n")
    if format is Format.csv:
        writer.writerow(columns)
    widths: list[int] | None = None
    for chunk in stream.chunks:
        rows = chunk.only_predictions() if only else chunk.rows(typed=format is not Format.csv)
        if format is Format.csv:
            writer.writerows(rows)
        elif format is Format.json:
            sys.stdout.write("".join(json_line(dict(zip(columns, r))) + "\n" for r in rows))
        else:
            shown = [[_short(v) for v in r] for r in rows]
            if widths is None:  # from the header and the first chunk: the rows stream
                widths = [max([len(c), *(len(r[k]) for r in shown[:1000])])
                          for k, c in enumerate(columns)]
                sys.stdout.write(_line(columns, widths) + "\n" + "  ".join("-" * w for w in widths)
                                 + "\n")
            sys.stdout.write("".join(_line(r, widths) + "\n" for r in shown))
        sys.stdout.flush()


def _line(cells: Any, widths: list[int]) -> str:
    return "  ".join(c.rjust(w) for c, w in zip(cells, widths))


def _short(v: Any) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)

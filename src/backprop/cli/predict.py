"""``backprop predict``: a saved model's predictions, beside the rows they are for."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from backprop.cli import app
from backprop.cli.common import OUTPUT_OPTION, StreamFormat, output_stream, stream_writer, thread_count

Format = StreamFormat  # table, json, csv, and parquet (to a file)


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
                                         "inputs (other columns are passed through), a Parquet "
                                         "file (.parquet), or '-' for stdin (the default "
                                         "without --at).",
                                         metavar="[DATA.csv|-]", show_default=False),
    at: Optional[str] = typer.Option(None, "--at", metavar="POINT", help="One point of raw inputs: "
                                     "a number for a one-input model, or name=value pairs with the "
                                     "training column names."),
    proba: bool = typer.Option(False, "--proba", help="A classifier: also one probability "
                               "column per class (<target>_proba_<class>)."),
    only_predictions: bool = typer.Option(False, "--only-predictions", help="Print the prediction "
                                          "columns only, not the input rows."),
    delimiter: Optional[str] = typer.Option(
        None, "--delimiter", help="The CSV cell separator of DATA (default: a comma, or the "
        "';', tab or '|' that a file's header is split by, found by csv.Sniffer).",
        metavar="CHAR", show_default=False),
    format: Format = typer.Option(Format.table, "--format", "-f", help="table, json (one object "
                                  "per row), csv, or parquet (with -o)."),
    output: Optional[str] = OUTPUT_OPTION,
    threads: Optional[int] = typer.Option(None, "--threads", help="Threads that share each chunk "
                                          "of rows (default: BACKPROP_THREADS, else one per "
                                          "core; BLAS then uses one thread each; 1: this thread "
                                          "only, BLAS its own threads).", metavar="N",
                                          show_default=False),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No warnings on stderr "
                               "(extrapolation, unknown categories)."),
) -> None:
    """Predict from raw inputs with a trained model (its standardisation applied).

    Prints every column of the input, in order, then <target>_pred (a number, or a classifier's label). Inputs more than 5% of the training range outside it get one warning on stderr ("extrapolating"; --quiet: none).
    """
    from backprop.core.points import parse_point
    from backprop.errors import InputError
    from backprop.nn.model import load_model
    from backprop.nn.predict import predict_csv, predict_point
    from backprop.views.writers import warn, write_results

    threads = thread_count(threads)  # at most 4 a core, with a warning past that
    net, _ = load_model(model)
    digits = 6 if format is Format.table else None  # tables are read by people
    if at is not None and data is not None:
        raise InputError("give the data as DATA.csv (or '-') or as --at, not both")
    if at is not None and at.strip().startswith("@"):  # --at @FILE: the rows of a file
        if data is not None:
            raise InputError("give the data as DATA.csv (or '-') or as --at, not both")
        data, at = at.strip()[1:], None
        if not data:
            raise InputError("--at @: name a file after the @, e.g. --at @points.csv")
    if at is not None and at.strip() != "-":
        if net.encoding is not None:
            raise InputError("--at: the model one-hot encodes "
                             f"{', '.join(net.encoding.categories)}; give the rows as a CSV")
        stream = predict_point(net, parse_point(at, net.input_names), proba, only_predictions, digits)
    else:
        source = data if data is not None else "-"
        if source == "-" and sys.stdin.isatty():
            raise InputError("give a point with --at, a CSV file, or pipe CSV rows (with a header: "
                             f"{','.join(net.columns)}) to stdin")
        if delimiter is not None and len(delimiter) != 1:
            raise InputError(f"--delimiter: one character, got {delimiter!r}")
        if delimiter is None:
            from backprop.nn.data import detect_delimiter

            delimiter = detect_delimiter(source) or ","
        stream = predict_csv(net, source, proba, delimiter, only_predictions, digits,
                             threads=threads)
    with output_stream(output, format) as out:
        write_results(stream.chunks, stream_writer(format, stream.columns, out, streaming=True))
    if not quiet:
        for message in stream.extrapolation.messages():
            warn(message)

"""``backprop train``: a network (regressor or classifier) from a YAML config."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Any, Optional

import typer

from backprop.cli import app
from backprop.cli.common import Format


class GradcheckMethod(str, Enum):
    central = "central"
    richardson = "richardson"
    complex = "complex"


@app.command(
    epilog="Examples:\n\n"
    "  backprop train configs/sine.yaml\n\n"
    "  backprop train configs/diabetes.yaml --epochs 50 --learning-rate 0.01 --out runs/d.npz\n\n"
    "  backprop train configs/surface.yaml --quiet --format json | jq .best_val_mse\n\n"
    "  backprop train configs/wine.yaml   (a classifier: task: classification)\n\n"
    "  backprop train configs/sine.yaml --plot sine.png   (loss curves and the fitted function)\n\n"
    "  backprop train configs/sine.yaml --gradcheck-method complex   (backward checked to ~1e-15)\n\n"
    "Paths inside the config (data.csv) are relative to the config file's folder; "
    "output.model and --out are relative to the current directory.",
)
def train(
    config: Path = typer.Argument(..., help="The YAML config (data, model, training, output).",
                                  metavar="CONFIG.yaml", show_default=False),
    format: Format = typer.Option(Format.table, "--format", "-f",
                                  help="The summary as a table, one JSON object, or CSV "
                                  "(key,value lines; JSON and CSV keep every digit)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    gradcheck: bool = typer.Option(False, "--gradcheck", help="Before training, compare every "
                                   "layer's backward with numeric derivatives (central "
                                   "differences by default); exit 1 if the largest relative "
                                   "error exceeds the method's tolerance (central 1e-6, "
                                   "richardson 1e-8, complex 1e-12)."),
    gradcheck_method: Optional[GradcheckMethod] = typer.Option(
        None, "--gradcheck-method", help="How --gradcheck differentiates (implies --gradcheck): "
        "central differences, Richardson extrapolation, or the complex step (near machine "
        "precision; a relu network, whose kink it cannot cross, is checked by richardson, "
        "with a warning).", show_default=False),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Override training.epochs."),
    learning_rate: Optional[float] = typer.Option(None, "--learning-rate",
                                                  help="Override training.learning_rate (tau); "
                                                  "--lr for short."),
    # a second option rather than an alias, so that an error names the one typed
    lr: Optional[float] = typer.Option(None, "--lr", hidden=True),
    seed: Optional[int] = typer.Option(None, "--seed", help="Override training.seed."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Override output.model (the "
                                       ".npz written; relative to the current directory)."),
    plot: Optional[str] = typer.Option(None, "--plot", help="Draw the training and validation "
                                       "loss per epoch (log scale) and, for one-input data, the "
                                       "fitted function over the data points, to FILE.png or .svg "
                                       "(needs matplotlib: pip install 'backprop-cli[plot]').",
                                       metavar="FILE"),
) -> None:
    """Train a network a = Wx + b, h = sigma(a), ..., y_hat = Vh + c by gradient descent.

    model.hidden is one layer's width (64) or a list ([64, 32]); task: classification puts a softmax + cross-entropy output on a column of labels. Everything that can be checked (config, columns, labels, the output folder) is checked before the first epoch. Shows a progress bar on stderr, saves the best model (lowest validation loss) to output.model, prints a summary. Ctrl-C (or SIGTERM) stops after the current batch, saves the best model of the finished epochs (none finished: the file is left as it was) and exits 130; a diverging loss stops with exit 1.
    """
    import time

    started = time.perf_counter()
    from backprop.errors import Interrupted
    from backprop.nn import train as training

    # SIGINT/SIGTERM are caught for the whole command, not only the loop: one that comes
    # while the data loads stops before training, one while the model is written waits
    # for the file to be complete; either way the exit is 130 and the file on disk is the
    # previous complete model or the new complete one.
    saved_to: list[Path] = []
    try:
        with training.stop_on_signals() as stop:
            cfg, run, model_path, plot_path = _prepare(config, plot, out, stop,
                                                       *_overrides(epochs, learning_rate, lr,
                                                                   seed, out))
            if gradcheck or gradcheck_method is not None:
                _gradcheck(run, (gradcheck_method or GradcheckMethod.central).value)
            if stop.is_set():
                raise Interrupted(f"interrupted before training started; {model_path} "
                                  "was not written")
            fit = _fit_with_progress(run, quiet, stop)
            with training.shield(stop):  # a second Ctrl-C now waits for the files and summary
                saved, worse = _save_and_summarise(run, cfg, fit, model_path, plot_path, format,
                                                   started, saved_to)
            _raise_how_it_ended(fit, model_path, saved, worse, stop.is_set())
    except KeyboardInterrupt:
        # a second Ctrl-C during loading or training aborts at once: say what is on disk
        raise Interrupted("interrupted" + (f"; the model is saved in {saved_to[0]}"
                          if saved_to else "; no model was written")) from None


def _overrides(epochs: int | None, learning_rate: float | None, lr: float | None,
               seed: int | None, out: Path | None) -> tuple[dict[str, Any], dict[str, str]]:
    """The options that override the config, by config key, and the option each was typed as."""
    from backprop.errors import InputError

    if lr is not None and learning_rate is not None:
        raise InputError("give the learning rate once: --lr or --learning-rate")
    overrides = {"training.epochs": epochs,
                 "training.learning_rate": lr if lr is not None else learning_rate,
                 "training.seed": seed,
                 "output.model": str(out) if out is not None else None}
    typed = {"training.epochs": "--epochs", "training.seed": "--seed",
             "training.learning_rate": "--lr" if lr is not None else "--learning-rate",
             "output.model": "--out"}
    return overrides, typed


def _prepare(config: Path, plot: str | None, out: Path | None, stop: Any,
             overrides: dict[str, Any], typed: dict[str, str]) -> tuple[Any, Any, Path, Any]:
    """The config, the prepared run, the model's path and the plot's (checked before the first
    epoch); the data's warnings shown."""
    from backprop.errors import Interrupted
    from backprop.nn import config as settings
    from backprop.nn import train as training
    from backprop.nn.model import check_writable
    from backprop.views.writers import warn

    try:
        # a signal ends a read at once (a pipe may send nothing, or never end)
        with training.interrupt_reading(stop):
            cfg = settings.load(config, overrides, typed)
            plot_path = None
            if plot is not None:
                from backprop.views.plots.training import check_plot_path

                plot_path = check_plot_path(plot)  # before training: the extra and the folder
            model_path = check_writable(cfg.output.model,
                                        "--out" if out is not None else "output.model")
            run = training.prepare(cfg, config.parent)
    except KeyboardInterrupt:
        raise Interrupted("interrupted before training started, while the config and "
                          "the data were read; no model was written") from None
    for note in run.warnings:
        warn(note)
    bs = cfg.training.batch_size
    if bs is not None and bs > len(run.train_rows):
        warn(f"training.batch_size {bs} exceeds the {len(run.train_rows)} training rows: "
             "full-batch gradient descent")
    return cfg, run, model_path, plot_path


def _gradcheck(run: Any, asked: str) -> None:
    """Every layer's backward against numeric derivatives: the worst error on stderr,
    exit 1 past the method's tolerance."""
    from backprop.errors import BackpropError
    from backprop.nn import train as training
    from backprop.views.writers import warn

    method, note = training.gradcheck_method(run.model, asked)
    if note:
        warn(note)
    errors = training.check(run, method=method)
    tolerance = training.GRADCHECK_TOLERANCES[method]
    worst = max(errors, key=errors.__getitem__)
    label = "gradcheck" if method == "central" else f"gradcheck ({method})"
    sys.stderr.write(f"{label}: largest relative error {errors[worst]:.3g} "
                     f"({worst}), tolerance {tolerance:g}\n")
    sys.stderr.flush()
    bad = {k: v for k, v in errors.items() if v > tolerance}
    if bad:
        raise BackpropError("gradcheck failed: "
                            + "; ".join(f"{k} {v:.3g}" for k, v in bad.items()))


def _save_and_summarise(run: Any, cfg: Any, fit: Any, model_path: Path, plot_path: Any,
                        format: Format, started: float, saved_to: list[Path]) -> tuple[bool, bool]:
    """The best model saved (``saved_to`` gets its path), the plot drawn, the summary printed;
    whether the model was saved, and whether it was no better than the weights as drawn."""
    import time

    from backprop.nn import train as training
    from backprop.views.writers import warn

    # Only a finished epoch is saved: weights from part of the first epoch must not
    # replace a model a previous run trained, nor may a model no better than the weights
    # as drawn, or not finite.
    worse = fit.best_epoch is not None and not fit.improved
    saved = fit.best_epoch is not None and not worse
    if saved:
        run.model.save(model_path, cfg.model_dump(mode="json"))
        saved_to.append(model_path)
    result = training.summary(run)
    result["model"] = str(model_path) if saved else None
    if worse:  # figures of a model that is not saved would mislead
        result = {k: v for k, v in result.items() if not k.startswith("saved_")}
    if plot_path is not None and fit.history:
        from backprop.nn.model import load_model
        from backprop.views.plots.training import plot_training

        # the fit drawn is the saved model's, through the path `backprop predict` uses
        # (a model written to a device or a FIFO cannot be read back: the one in memory)
        drawn = ((load_model(model_path)[0] if model_path.is_file() else run.model)
                 if saved else None)
        plot_training(run, plot_path, drawn)
        result["plot"] = str(plot_path)
    elif plot_path is not None:
        warn(f"no epoch finished, so there is nothing to plot: {plot_path} was "
             "not written")
    result["seconds"] = time.perf_counter() - started
    _print_summary(result, format, fit.history)
    sys.stdout.flush()
    return saved, worse


def _raise_how_it_ended(fit: Any, model_path: Path, saved: bool, worse: bool,
                        stopped: bool) -> None:
    """Exit 1 for a diverged or unimproved fit, 130 for an interrupted one, saying what
    is on disk; nothing for a fit that ran to its end."""
    from backprop.errors import BackpropError, Interrupted

    kept = (f"the best model so far (epoch {fit.best_epoch}) is saved in {model_path}"
            if saved else f"no epoch finished, so no model was saved ({model_path} "
            "was not written)")
    if worse:
        kept = (f"{fit.not_improved_message()}, so no model was saved ({model_path} "
                "was not written)")
    interrupted = fit.stopped == "interrupted" or stopped
    if worse and not interrupted:
        raise BackpropError(kept + (f"; {fit.message}" if fit.message else ""))
    if fit.stopped == "diverged":
        raise BackpropError(f"{fit.message}; {kept}")
    if interrupted:
        raise Interrupted(f"interrupted after {len(fit.history)} epochs; {kept}")


def _fit_with_progress(run: Any, quiet: bool, stop: Any) -> Any:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from backprop.nn import train as training
    from backprop.views.writers import console

    err = console(stderr=True)
    # Off a terminal a live bar would only add lines to a log: none at all there.
    show = not quiet and err.is_terminal
    progress = Progress(TextColumn("epoch {task.completed}/{task.total}"), BarColumn(),
                        TextColumn("train {task.fields[train]}"), TextColumn("val {task.fields[val]}"),
                        TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                        console=err, disable=not show, transient=False)
    epochs = run.config.training.epochs
    with progress:
        task = progress.add_task("train", total=epochs, train="-", val="-")

        def on_epoch(e: Any) -> None:
            progress.update(task, completed=e.epoch, train=f"{e.train_loss:.4g}",
                            val="-" if e.val_loss is None else f"{e.val_loss:.4g}")

        return training.execute(run, stop, on_epoch)


_LABELS = {
    "task": "task", "stopped": "stopped", "epochs_run": "epochs run", "best_epoch": "best epoch",
    "final_train_mse": "final train MSE", "best_train_mse": "best train MSE",
    "final_val_mse": "final validation MSE", "best_val_mse": "best validation MSE",
    "final_train_log_loss": "final train log loss", "best_train_log_loss": "best train log loss",
    "final_val_log_loss": "final validation log loss", "best_val_log_loss": "best validation log loss",
    "saved_train_mse_raw": "saved model: train MSE (target units)",
    "saved_val_mse_raw": "saved model: validation MSE (target units)",
    "saved_train_accuracy": "saved model: train accuracy",
    "saved_val_accuracy": "saved model: validation accuracy",
    "train_rows": "train rows", "val_rows": "validation rows",
    "loop_seconds": "training loop time (s)",
    "seconds": "wall time (s)",
    "gradcheck_max_rel_error": "gradcheck largest relative error", "model": "model file",
    "plot": "plot file",
}


def short(v: Any) -> str:
    """A number for a person: 6 significant digits (JSON keeps every digit)."""
    if isinstance(v, float):
        return f"{v:.6g}"
    return "-" if v is None else str(v)


def _print_summary(result: dict[str, Any], format: Format, history: Any = ()) -> None:
    from backprop.views.writers import console, csv_line, json_line, table

    if format is Format.json:
        sys.stdout.write(json_line(result) + "\n")
        return
    if format is Format.csv:
        sys.stdout.write("".join(csv_line([k, "" if v is None else v]) + "\n"
                                 for k, v in [("key", "value"), *result.items()]))
        return
    if result.get("task") == "classification":
        title = "Training summary (losses: mean cross-entropy)"
    else:
        scale = "standardised" if result.get("standardized") else "raw"
        title = f"Training summary (MSE on {scale} targets unless noted)"
    rows = [(_LABELS.get(k, k), short(v)) for k, v in result.items()
            if k not in ("standardized", "task")]
    out = console()
    out.print(table(title, ["", "value"], rows, right_align_from=1))
    if history:
        out.print(loss_curves(history, columns=out.width), markup=False, highlight=False,
                  soft_wrap=True)


SPARK_WIDTH = 60


def loss_curves(history: Any, width: int = SPARK_WIDTH, stream: Any = None,
                columns: int | None = None) -> str:
    """The loss per epoch as sparklines (train, and validation when there is one) on one log scale.

    With ``columns`` (the terminal's width), the lines are narrowed to fit it (20 characters
    of curve at the least), so that a terminal never wraps them.
    """
    from backprop.views.sparklines import SPARK_BLOCKS, can_encode, sparkline

    train = [e.train_loss for e in history]
    val = [e.val_loss for e in history if e.val_loss is not None]
    every = [v for v in train + val if v > 0]
    limits = (min(every), max(every)) if every else None
    plain = not can_encode(SPARK_BLOCKS + "→", sys.stdout if stream is None else stream)
    arrow = "->" if plain else "→"
    if columns is not None:
        tails = [f"  {v[0]:.3g} {arrow} {v[-1]:.3g}" for v in (train, val) if v]
        width = max(20, min(width, columns - len("  validation ") - max(map(len, tails))))
    per = -(-len(train) // width)
    lines = [f"loss per epoch (log scale, {min(every):.3g} to {max(every):.3g}"
             + (f", 1 character = {per} epochs" if per > 1 else "") + "):" if every else
             "loss per epoch:"]
    for label, values in (("train", train), ("validation", val)):
        if values:
            lines.append(f"  {label:<10} {sparkline(values, width, limits=limits, ascii=plain)}  "
                         f"{values[0]:.3g} {arrow} {values[-1]:.3g}")
    return "\n".join(lines)

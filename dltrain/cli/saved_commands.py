"""``eval``, ``predict`` and ``export``: what a trained run can do."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from dltrain.cli import (
    CheckpointOption,
    SplitOption,
    TrustImportsOption,
    app,
    make_console,
    make_err_console,
    reporting,
)

_TARGET_HELP = (
    "A run folder (runs/NAME/STAMP), a name's folder (runs/NAME: its latest run), or a .keras "
    "checkpoint inside a run folder; a .keras file on its own lacks the run's data settings."
)


_INPUT_HELP = (
    "CSV file, or MNIST-format .npz, IDX folder (both: their test split) or IDX images file."
)


@app.command("eval")
def eval_(
    target: Annotated[Path, typer.Argument(metavar="RUN", help=_TARGET_HELP)],
    split: SplitOption = "test",
    data: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--data",
            help="Evaluate on this file instead of the test split (same format/columns); "
            "the result is named after the file.",
        ),
    ] = None,
    checkpoint: CheckpointOption = "best",
    trust_imports: TrustImportsOption = False,
    attack: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--attack",
            metavar="fgsm|pgd",
            help="Metrics under an adversarial attack per --epsilon, epsilon 0 (clean) "
            "included: a table, a JSON and a plot in the run folder (docs/robustness.md).",
        ),
    ] = None,
    epsilon: Annotated[
        str,
        typer.Option(
            "--epsilon",
            help="--attack: the largest change of any input value, comma-separated, in the "
            "raw units the model takes (MNIST-format pixels: 0..1).",
        ),
    ] = "0.01,0.03,0.1",
    steps: Annotated[int, typer.Option("--steps", help="--attack pgd: steps.")] = 10,
    step_size: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option("--step-size", help="--attack pgd: step (default 2.5*epsilon/steps)."),
    ] = None,
    limit: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option("-n", help="--attack: only the split's first N examples."),
    ] = None,
) -> None:
    """Evaluate a saved model on the data its config names (or another file).

    With --attack, also under FGSM or PGD perturbations of each size in --epsilon.
    """
    with reporting(compiles=True):
        if attack is not None:
            _eval_attack(
                target,
                attack,
                epsilon,
                steps,
                step_size,
                split,
                data,
                limit,
                checkpoint,
                trust_imports,
            )
            return
        if limit is not None:
            from dltrain.errors import UsageError

            raise UsageError("-n applies to --attack; plain eval uses the whole split")
        from dltrain.cli.render.results import render_metrics
        from dltrain.engine.evaluate import evaluate_target

        result = evaluate_target(
            target, split=split, data=data, checkpoint=checkpoint, trust_imports=trust_imports
        )
        console = make_console()
        if result.note:
            make_err_console().print(result.note, markup=False)
        if result.facts is not None:
            console.print(f"checkpoint: {result.facts.file} ({result.facts.detail})", markup=False)
        title = f"{result.label} metrics" if data is None else f"metrics on {result.label}"
        render_metrics(console, result.metrics, title=title)
        if result.written is not None:
            console.print(f"written: {result.written}", markup=False, style="dim")


def _eval_attack(
    target: Path,
    method: str,
    epsilon: str,
    steps: int,
    step_size: float | None,
    split: str,
    data: Path | None,
    limit: int | None,
    checkpoint: str,
    trust_imports: bool,
) -> None:
    from dltrain.cli.render.attack import render_attack
    from dltrain.engine.attack import attack_target, parse_epsilons
    from dltrain.errors import UsageError

    if data is not None:
        raise UsageError("--attack evaluates a split of the run's data (--split); drop --data")
    result = attack_target(
        target,
        method=method,
        epsilons=parse_epsilons(epsilon),
        steps=steps,
        step_size=step_size,
        split=split,
        limit=limit,
        checkpoint=checkpoint,
        trust_imports=trust_imports,
    )
    console = make_console()
    if result.note:
        make_err_console().print(result.note, markup=False)
    if result.facts is not None:
        console.print(f"checkpoint: {result.facts.file} ({result.facts.detail})", markup=False)
    render_attack(console, result)
    for path in (result.written, result.plot):
        if path is not None:
            console.print(f"written: {path}", markup=False, style="dim")


@app.command()
def predict(
    target: Annotated[
        Path,
        typer.Argument(
            metavar="RUN_OR_EXPORT", help=_TARGET_HELP + " Or a model written by dltrain export."
        ),
    ],
    input_: Annotated[Path, typer.Argument(metavar="INPUT", help=_INPUT_HELP)],
    output: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--output", "-o", help="Output CSV (default: stdout)."),
    ] = None,
    checkpoint: CheckpointOption = "best",
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing --output file.")
    ] = False,
    trust_imports: TrustImportsOption = False,
    threshold: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--threshold",
            metavar="X|auto",
            help="Binary targets: the class is positive above this probability (default "
            "0.5); auto: the threshold the run chose on its validation split.",
        ),
    ] = None,
) -> None:
    """Write predictions for a CSV or MNIST-format file as CSV.

    --output never goes into a run folder or over the input, and replaces an existing file
    only with --overwrite.
    """
    with reporting(compiles=True):
        from dltrain.storage.output_file import check_output_file, write_output_file

        if output is not None:
            check_output_file(output, inputs=[input_, target], overwrite=overwrite)
        from dltrain.engine.predict import predict_file

        result = predict_file(
            target,
            input_,
            checkpoint=checkpoint,
            trust_imports=trust_imports,
            threshold=threshold,
        )
        err = make_err_console()
        for note in result.notes:
            err.print(note, markup=False)
        if output is None:
            sys.stdout.write(result.text)
        else:
            write_output_file(output, result.text)
            err.print(f"written: {output} ({result.count} predictions)", markup=False)


@app.command()
def export(
    target: Annotated[Path, typer.Argument(help="A run folder or a .keras checkpoint.")],
    format_: Annotated[str, typer.Option("--format", "-f", help="saved_model, tflite or onnx.")],
    quantize: Annotated[
        str, typer.Option("--quantize", help="none; tflite: dynamic, float16 or int8.")
    ] = "none",
    checkpoint: CheckpointOption = "best",
    output: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--output", "-o", help="Artifact path (default: RUN/export/...)."),
    ] = None,
    verify: Annotated[
        bool, typer.Option("--verify/--no-verify", help="Check it against the Keras model.")
    ] = True,
    latency: Annotated[
        bool,
        typer.Option(
            "--latency/--no-latency", help="While verifying, time both models (about 2 s)."
        ),
    ] = True,
    trust_imports: TrustImportsOption = False,
    calibration: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--calibration",
            help="int8: N training examples (default 300, seeded), split:train, "
            "split:validation, or a .npz of inputs by name.",
        ),
    ] = None,
) -> None:
    """Export a model taking raw inputs, verified against the Keras model on the test split."""
    with reporting(compiles=True):
        from dltrain.cli.render.export import render_export
        from dltrain.export import export_run

        result = export_run(
            target,
            fmt=format_,
            quantize=quantize,
            checkpoint=checkpoint,
            output=output,
            verify=verify,
            latency=latency,
            trust_imports=trust_imports,
            calibration=calibration,
        )
        render_export(make_console(), result)
        if result.verified is False:
            raise typer.Exit(1)


@app.command()
def benchmark(
    target: Annotated[Path, typer.Argument(help="A run folder, or runs/NAME (its latest).")],
    formats: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option("--formats", help="Formats to include (repeatable; default: all)."),
    ] = None,
    quantize: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option("--quantize", help="Quantizations to include (repeatable; default: all)."),
    ] = None,
    split: Annotated[str, typer.Option("--split", help="The split measured: test.")] = "test",
    force: Annotated[
        bool, typer.Option("--force", help="Rebuild artifacts that are already verified.")
    ] = False,
) -> None:
    """Export every format x quantization, verify and time each: one table and a choice."""
    with reporting(compiles=True):
        from dltrain.cli.render.benchmark import render_benchmark
        from dltrain.export.benchmark import benchmark_run

        console = make_console()
        bench = benchmark_run(
            target,
            formats=_split_list(formats),
            quantize=_split_list(quantize),
            split=split,
            force=force,
            on_cell=lambda fmt, q: make_err_console().print(
                f"benchmark: {fmt} {q}", markup=False, style="dim"
            ),
        )
        render_benchmark(console, bench)


def _split_list(values: list[str] | None) -> list[str] | None:
    """``--formats tflite,onnx`` and ``--formats tflite --formats onnx`` alike."""
    if not values:
        return None
    return [v.strip() for value in values for v in value.split(",") if v.strip()]

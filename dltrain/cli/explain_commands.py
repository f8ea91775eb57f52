"""``explain``: which inputs a trained run's model relies on, with checks of the answer."""

from __future__ import annotations

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

_METHOD_HELP = (
    "permutation (CSV: raw columns shuffled), integrated_gradients (images; CSV numeric "
    "columns), saliency (images), gradcam (images, a convolution layer) or tokens (CSV text "
    "in int mode). Default: permutation for CSV runs, gradcam for images with a convolution "
    "layer, else integrated_gradients."
)


@app.command()
def explain(
    target: Annotated[
        Path,
        typer.Argument(
            metavar="RUN",
            help="A run folder (runs/NAME/STAMP), runs/NAME (its latest run), a .keras "
            "checkpoint inside a run folder, or a model dltrain export wrote into "
            "RUN/export/ (permutation only).",
        ),
    ],
    split: SplitOption = "test",
    method: Annotated[
        Optional[str],  # noqa: UP045 - typer needs Optional here on Python 3.10
        typer.Option("--method", "-m", help=_METHOD_HELP),
    ] = None,
    n: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(
            "-n",
            help="Examples explained, a seeded sample of the split (default: permutation "
            "5000 rows, images 100, tokens 20 rows).",
        ),
    ] = None,
    checkpoint: CheckpointOption = "best",
    seed: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(
            "--seed",
            help="Seed of the sample, shuffles and randomized model (default: the run's seed).",
        ),
    ] = None,
    repeats: Annotated[
        int, typer.Option("--repeats", help="Permutation: shuffles per column.")
    ] = 5,
    steps: Annotated[
        int, typer.Option("--steps", help="Integrated gradients: trapezoid steps.")
    ] = 128,
    trust_imports: TrustImportsOption = False,
) -> None:
    """Explain a trained model: importances or attribution maps, with sanity checks.

    Writes RUN/explain/METHOD-SPLIT/ (CSV, PNG or HTML, explain.json); the same method on
    the same split again replaces that folder. See docs/explain.md.
    """
    with reporting(compiles=True):
        from dltrain.cli.render.explain import render_explanation
        from dltrain.engine.explain import explain_target

        result = explain_target(
            target,
            split=split,
            method=method,
            n=n,
            checkpoint=checkpoint,
            seed=seed,
            repeats=repeats,
            steps=steps,
            trust_imports=trust_imports,
        )
        if result.note:
            make_err_console().print(result.note, markup=False)
        render_explanation(make_console(), result)

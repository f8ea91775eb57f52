"""The table of explanation methods: what each applies to, and the code that runs it.

Adding a method is one row here and one runner (``tables.py``, ``images.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dltrain.data.spec import DataSpec
from dltrain.errors import UsageError
from dltrain.explain.permutation import Score
from dltrain.explain.record import Explanation
from dltrain.explain.sample import RunKind, Sample

if TYPE_CHECKING:
    import keras

__all__ = ["METHODS", "Context", "Method", "applicable", "refuse"]


@dataclass
class Context:
    """What a method's runner gets: the model, its data, where to write, the settings."""

    model: keras.Model
    randomized: Callable[[], keras.Model]
    """A fresh copy of the model with its trainable weights shuffled (the sanity check)."""
    spec: DataSpec
    kind: RunKind
    sample: Sample
    folder: Path
    out: Explanation
    seed: int
    steps: int
    repeats: int
    batch: int
    train_means: Callable[[], dict[str, np.ndarray]]
    """Training-split mean of each numeric raw input (the tables' IG baseline)."""
    score: Score | None = None
    """Permutation's score, where it is not ``model.evaluate`` (an exported model's)."""


@dataclass(frozen=True)
class Method:
    """One ``--method``: which runs it applies to, its default sample, its runner."""

    name: str
    applies: Callable[[RunKind], bool]
    needs: str
    """What it needs, as a refusal says it."""
    default_n: int
    run: Callable[[Context], None]


def _permutation(ctx: Context) -> None:
    from dltrain.explain.tables import run_permutation

    run_permutation(ctx)


def _integrated_gradients(ctx: Context) -> None:
    if ctx.kind.images:
        from dltrain.explain.images import run_image_method

        run_image_method(ctx, "integrated_gradients")
    else:
        from dltrain.explain.tables import run_feature_ig

        run_feature_ig(ctx)


def _image(name: str) -> Callable[[Context], None]:
    def run(ctx: Context) -> None:
        from dltrain.explain.images import run_image_method

        run_image_method(ctx, name)

    return run


def _tokens(ctx: Context) -> None:
    from dltrain.explain.tables import run_tokens

    run_tokens(ctx)


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method(
            "permutation",
            lambda k: not k.images and bool(k.columns),
            "a CSV run (raw columns to shuffle)",
            5000,
            _permutation,
        ),
        Method(
            "integrated_gradients",
            lambda k: k.images or bool(k.numeric),
            "an image input or numeric CSV columns",
            100,
            _integrated_gradients,
        ),
        Method("saliency", lambda k: k.images, "an image input", 100, _image("saliency")),
        Method(
            "gradcam",
            lambda k: k.images,
            "an image input and a convolution layer",
            100,
            _image("gradcam"),
        ),
        Method(
            "tokens",
            lambda k: bool(k.token_columns),
            "a CSV text column in output_mode int feeding an Embedding",
            20,
            _tokens,
        ),
    )
}
"""Every ``--method``, in the order ``--help`` lists them."""


def applicable(kind: RunKind, has_conv: bool | None = None) -> list[str]:
    """The methods that apply to a run (``has_conv``: None when the model is not loaded)."""
    names = [name for name, m in METHODS.items() if m.applies(kind)]
    if has_conv is False:
        names = [n for n in names if n != "gradcam"]
    return names


def refuse(method: str, kind: RunKind, reason: str, has_conv: bool | None = None) -> UsageError:
    """The one error for a method that does not apply: what it needs, what the run has,
    which methods do apply."""
    usable = applicable(kind, has_conv)
    return UsageError(
        f"--method {method} does not apply to this run: it needs {reason}; the run has "
        f"{kind.describe()}. Methods that apply: {', '.join(usable) or 'none'}"
    )

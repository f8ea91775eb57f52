"""``explain_target``: open a run, pick the rows of a split, run one explanation method, and
publish ``<run>/explain/<method>-<split>/`` atomically.

One folder per method and split, so that permutation importance and integrated gradients of
one run sit side by side; running the same method on the same split again replaces its
folder as a whole (:func:`~dltrain.storage.atomic.atomic_write_dir`), never half of it. Like
``dltrain eval``'s result file, the folder is written without the run's lock: it adds to a
finished run and touches none of the files a training writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dltrain.data.spec import DataSpec
from dltrain.engine.evaluate import CheckpointFacts, describe_checkpoint
from dltrain.errors import CheckpointError, UsageError
from dltrain.explain.gradients import DEFAULT_STEPS
from dltrain.explain.methods import METHODS, Context, refuse
from dltrain.explain.record import Explanation, write_record
from dltrain.explain.sample import Sample, run_kind
from dltrain.report.saved_run import open_saved_run
from dltrain.storage.atomic import atomic_write_dir

if TYPE_CHECKING:
    import keras

    from dltrain.data.pipeline import Datasets

__all__ = ["ExplainResult", "explain_target"]

_SPLITS = ("test", "validation", "train")


@dataclass
class ExplainResult:
    """One explanation and the folder it was written to."""

    explanation: Explanation
    folder: Path
    note: str | None = None
    """Which run was chosen, when the target was a ``runs/NAME`` folder."""
    facts: CheckpointFacts | None = None


def explain_target(
    target: Path,
    *,
    split: str = "test",
    method: str | None = None,
    n: int | None = None,
    checkpoint: str = "best",
    seed: int | None = None,
    repeats: int = 5,
    steps: int = DEFAULT_STEPS,
    trust_imports: bool = False,
) -> ExplainResult:
    """Explain a run's checkpoint on ``split`` with ``method`` and write its folder.

    Args:
        target: A run folder, ``runs/NAME`` (its latest run), a checkpoint in a run, or a
            model ``dltrain export`` wrote into a run's ``export/`` (permutation only; its
            folder is ``explain/permutation-SPLIT-FILE``).
        split: ``test``, ``validation`` or ``train``.
        method: A name of :data:`~dltrain.explain.methods.METHODS`; None picks
            ``permutation`` for CSV runs, ``gradcam`` for images with a convolution layer,
            else ``integrated_gradients``.
        n: Examples to explain (a seeded sample of the split; default per method).
        seed: Seed of the sample, the permutations and the weight shuffle (default: the
            run's seed).
        repeats: Shuffles per column (permutation).
        steps: Trapezoid intervals of integrated gradients.

    Raises:
        UsageError: a bad option, or a method that does not apply to this run.
        CheckpointError: an unreadable run or checkpoint.
        DataError: the run's data cannot be read.
    """
    if split not in _SPLITS:
        raise UsageError(f"--split must be one of {', '.join(_SPLITS)}; received {split!r}")
    if method is not None and method not in METHODS:
        raise UsageError(f"--method must be one of {', '.join(METHODS)}; received {method!r}")
    for option, value, low in (("-n", n, 1), ("--repeats", repeats, 1), ("--steps", steps, 8)):
        if value is not None and value < low:
            raise UsageError(f"{option} must be at least {low}; received {value}")
    from dltrain.export.formats import artifact_format

    fmt = artifact_format(target)
    if fmt is not None and method not in (None, "permutation"):
        raise UsageError(
            f"--method {method} does not apply to an exported model ({fmt}): it needs the "
            "Keras model's gradients; explain the run folder instead. Methods that apply: "
            "permutation"
        )
    run_target = _run_of_artifact(target) if fmt is not None else target
    saved = open_saved_run(run_target, checkpoint, trust_imports=trust_imports)
    spec_text = saved.run.read_text("data_spec.json")
    if spec_text is None:
        raise CheckpointError(f"{saved.run.path}: no data_spec.json, so its inputs are unknown")
    kind = run_kind(DataSpec.from_json(spec_text))
    if method is not None and not METHODS[method].applies(kind):
        raise refuse(method, kind, METHODS[method].needs)
    cfg = saved.loaded.config
    seed = cfg.seed if seed is None else seed

    from dltrain.config.precision import resolved_policy
    from dltrain.data.ahead import loading_ahead
    from dltrain.explain.gradcam import last_conv_layer
    from dltrain.explain.sanity import shuffle_weights

    # The data is read while TensorFlow is imported (by the imports in the block).
    with loading_ahead(cfg) as loaded_data:
        from dltrain.model import load_model_file
        from dltrain.train.environment import configure_environment

        configure_environment(cfg.seed, False, resolved_policy(cfg, saved.run.manifest.precision))
        model = load_model_file(saved.checkpoint)
        has_conv = last_conv_layer(model) is not None if kind.images else None
        if method is None:
            method = (
                "permutation"
                if not kind.images
                else ("gradcam" if has_conv else "integrated_gradients")
            )
        if method == "gradcam" and not has_conv:
            raise refuse(method, kind, "a convolution layer (Conv2D, ...) in the model", False)
        chosen = METHODS[method]
        datasets = loaded_data()
    sample = _sample(datasets, split, n or chosen.default_n, seed, cfg.seed, saved.run.path)
    facts = describe_checkpoint(saved.run, saved.checkpoint)
    explanation = Explanation(
        method=method,
        split=split,
        examples=len(sample),
        split_size=sample.split_size,
        seed=seed,
        checkpoint=facts.file,
        settings={"checkpoint_detail": facts.detail},
        summary_title=method,
        value_label="",
    )
    name = f"{method}-{split}"
    targets = datasets.spec.targets
    if len(targets) > 1 and method != "permutation":
        explanation.notes.append(
            f"the model has {len(targets)} outputs: {method} explains the first, "
            f"{targets[0].name!r}"
        )
    score = None
    if fmt is not None:
        from dltrain.explain.artifact import artifact_score
        from dltrain.export.options import require_packages
        from dltrain.export.runtime import open_runtime

        require_packages(fmt)
        batch = datasets.evaluation_batch(split)
        score, model = artifact_score(
            open_runtime(target, fmt), model, cfg, datasets.spec, sample.y, batch
        )
        artifact = target.resolve().relative_to(saved.run.path.resolve())
        explanation.checkpoint = str(artifact)
        explanation.settings = {
            "checkpoint_detail": f"{fmt}, exported from {facts.file}",
            "format": fmt,
        }
        name = f"{method}-{split}-{target.name}"

    def randomized() -> keras.Model:
        copy = load_model_file(saved.checkpoint)
        shuffle_weights(copy, seed)
        return copy

    def train_means() -> dict[str, np.ndarray]:
        train = _sample(datasets, "train", None, seed, cfg.seed, saved.run.path)
        return {k: train.inputs[k].astype(np.float64).mean(axis=0) for k in kind.numeric}

    def write(folder: Path) -> None:
        folder.mkdir()
        context = Context(
            model=model,
            randomized=randomized,
            spec=datasets.spec,
            kind=kind,
            sample=sample,
            folder=folder,
            out=explanation,
            seed=seed,
            steps=steps,
            repeats=repeats,
            batch=datasets.evaluation_batch(split),
            train_means=train_means,
            score=score,
        )
        chosen.run(context)
        write_record(folder, explanation)

    folder = atomic_write_dir(saved.run.path / "explain" / name, write)
    return ExplainResult(explanation, folder, saved.note, facts)


def _run_of_artifact(artifact: Path) -> Path:
    """The run folder an exported model was written into (``RUN/export/FILE``).

    Raises:
        CheckpointError: the artifact is not inside a run folder's ``export/``.
    """
    run = artifact.resolve().parent.parent
    if not (run / "run.json").is_file():
        raise CheckpointError(
            f"{artifact}: an exported model outside a run folder (no run.json in {run}); "
            "explain writes beside the run it came from: give RUN/export/FILE"
        )
    return run


def _sample(
    datasets: Datasets, split: str, n: int | None, seed: int, run_seed: int, run_path: Path
) -> Sample:
    """``n`` rows of ``split`` drawn with ``seed`` (all of them when ``n`` is None or at least
    the split's size), in split order, read through the run's own evaluation pipeline."""
    import tensorflow as tf

    from dltrain.engine.evaluate import split_dataset

    dataset = split_dataset(datasets, split, run_seed, run_path)
    xs: list[Any] = []
    ys: list[Any] = []
    for x, y in dataset:
        xs.append(tf.nest.map_structure(np.asarray, x))
        ys.append(tf.nest.map_structure(np.asarray, y))
    if not xs:
        raise UsageError(f"the {split} split of this run is empty")
    x_all = tf.nest.map_structure(lambda *parts: np.concatenate(parts), *xs)
    y_all = tf.nest.map_structure(lambda *parts: np.concatenate(parts), *ys)
    inputs = x_all if isinstance(x_all, dict) else {datasets.spec.raw_inputs[0].name: x_all}
    size = len(next(iter(inputs.values())))
    if n is None or n >= size:
        rows = np.arange(size)
    else:
        rows = np.sort(np.random.default_rng(seed).choice(size, n, replace=False))
    first = y_all[0] if isinstance(y_all, tuple) else y_all
    labels = np.argmax(first, axis=1) if first.ndim == 2 and first.shape[1] > 1 else first.ravel()
    return Sample(
        inputs={k: v[rows] for k, v in inputs.items()},
        y=tf.nest.map_structure(lambda v: v[rows], y_all),
        labels=labels[rows],
        rows=rows,
        split_size=size,
    )

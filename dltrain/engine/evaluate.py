"""``evaluate_target``: metrics of a saved model on a split of its data (or another file)."""

from __future__ import annotations

import filecmp
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from dltrain.errors import CheckpointError, UsageError
from dltrain.report.saved_run import open_saved_run
from dltrain.storage import RunFolder, latest_resume_point, utc_now
from dltrain.storage.manifest import read_resume_state

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

    from dltrain.data import Datasets

__all__ = [
    "CheckpointFacts",
    "EvalResult",
    "describe_checkpoint",
    "evaluate_target",
    "split_dataset",
]

_SPLITS = ("test", "validation", "train")


@dataclass(frozen=True)
class CheckpointFacts:
    """Which checkpoint was evaluated, and after how many epochs its weights were saved."""

    file: str
    """The file, relative to the run folder where it is inside it (``checkpoints/best.keras``)."""
    epoch: int | None
    """Epochs completed when it was saved; None when the run does not say."""
    detail: str
    """One line for the terminal: ``epoch 3, best val_loss 0.3761`` (or why it is unknown)."""


def describe_checkpoint(run: RunFolder, checkpoint: Path) -> CheckpointFacts:
    """Say which epoch ``checkpoint`` (a ``.keras`` file of ``run``) holds.

    ``best.keras``: ``run.json``'s ``best`` record (else ``test_checkpoint``). ``last.keras``:
    the newest resume point, when it is that point's copy; an interrupted run's ``last.keras``
    holds the weights part-way into the next epoch. A resume point's ``model.keras``: its
    ``state.json``. Anything else: unknown.
    """
    try:
        file = str(checkpoint.resolve().relative_to(run.path.resolve()))
    except ValueError:
        file = str(checkpoint)
    manifest = run.manifest
    if file == "checkpoints/best.keras":
        record = manifest.best or manifest.test_checkpoint
        if record is None or record.epoch is None:
            return CheckpointFacts(file, None, "epoch not recorded")
        value = f", best {record.monitor} {record.value:.4g}" if record.value is not None else ""
        return CheckpointFacts(file, record.epoch, f"epoch {record.epoch}{value}")
    if file == "checkpoints/last.keras":
        try:
            point = latest_resume_point(run.path / "checkpoints")
        except CheckpointError:
            point = None
        if point is not None and filecmp.cmp(point.model_path, checkpoint, shallow=False):
            done = point.epochs_completed
            return CheckpointFacts(file, done, f"epoch {done}, the last completed")
        if manifest.status == "interrupted":
            part = (manifest.epochs_completed or 0) + 1
            return CheckpointFacts(
                file, None, f"saved when the run was interrupted, part-way into epoch {part}"
            )
        return CheckpointFacts(file, None, "epoch unknown (not the newest resume point's copy)")
    if checkpoint.name == "model.keras" and checkpoint.parent.parent.name == "resume":
        try:
            done = read_resume_state(checkpoint.parent / "state.json").epochs_completed
        except CheckpointError:
            return CheckpointFacts(file, None, "epoch unknown (its state.json is unreadable)")
        return CheckpointFacts(file, done, f"epoch {done}, a resume point")
    return CheckpointFacts(file, None, "epoch unknown")


@dataclass
class EvalResult:
    """Metrics of one evaluation and the file they were written to."""

    split: str
    """``test``, ``validation``, ``train``, or for ``--data FILE`` the file's stem."""
    metrics: dict[str, float]
    checkpoint: Path
    written: Path | None
    label: str = ""
    """How to title the metrics: ``test`` or ``holdout.csv`` (the file given)."""
    note: str | None = None
    """Which run was chosen, when the target was a ``runs/NAME`` folder."""
    facts: CheckpointFacts | None = None
    """Which checkpoint was evaluated and its epoch (also in the ``eval-*.json``)."""
    reports: list[Path] = field(default_factory=list)
    """The per-class tables written beside the result (classification targets)."""


def split_dataset(datasets: Datasets, split: str, seed: int, run_path: Path) -> tf.data.Dataset:
    """The evaluation pipeline of ``split`` (``train``: one pass in order, unshuffled).

    Raises:
        UsageError: ``validation`` for a run without a validation split.
    """
    batch = datasets.evaluation_batch(split)
    if split == "test":
        return datasets.test_dataset(batch)
    if split == "validation":
        dataset = datasets.validation_dataset(batch)
        if dataset is None:
            raise UsageError(f"{run_path}: this run has no validation split")
        return dataset
    dataset, _ = datasets.train_dataset(batch, seed=seed, start_epoch=0, epochs=1, shuffle=False)
    return dataset


def evaluate_target(
    target: Path,
    *,
    split: str = "test",
    data: Path | None = None,
    checkpoint: str = "best",
    trust_imports: bool = False,
) -> EvalResult:
    """Evaluate a run's checkpoint and write ``eval-<split>-<timestamp>.json`` into the run.

    The file and the result name the checkpoint and the epoch it holds
    (:func:`describe_checkpoint`).

    With ``data`` the result is named after that file: ``eval-<file stem>-<timestamp>.json``
    whose ``split`` is the stem and ``data`` the file's path. ``trust_imports``: the run's
    plugins may be imported from where it recorded them (``--trust-imports``).

    Raises:
        CheckpointError: unreadable run or checkpoint.
        DataError: the data cannot be read.
        UsageError: an unknown split, or ``data`` with a split other than test; a plugin
            that needs ``trust_imports`` or is not the code the run recorded.
    """
    if split not in _SPLITS:
        raise UsageError(f"--split must be one of {', '.join(_SPLITS)}; received {split!r}")
    if data is not None and split != "test":
        raise UsageError("--data replaces the test split; use it with --split test")
    saved = open_saved_run(target, checkpoint, trust_imports=trust_imports)
    facts = describe_checkpoint(saved.run, saved.checkpoint)
    from dltrain.config.precision import resolved_policy
    from dltrain.data.ahead import loading_ahead

    cfg = saved.loaded.config
    # The data is read while TensorFlow is imported (by the imports in the block).
    with loading_ahead(cfg, test_path=data.resolve() if data else None) as loaded_data:
        from dltrain.model import load_model_file
        from dltrain.train.environment import configure_environment

        configure_environment(cfg.seed, False, resolved_policy(cfg, saved.run.manifest.precision))
        model = load_model_file(saved.checkpoint)
        datasets = loaded_data()
    dataset = split_dataset(datasets, split, cfg.seed, saved.run.path)
    metrics = {k: float(v) for k, v in model.evaluate(dataset, return_dict=True, verbose=0).items()}
    now = utc_now()
    stamp = now.strftime("%Y%m%dT%H%M%S%fZ")
    # A file given with --data is not the run's test split: name the result after the file.
    # ``holdout.csv.gz`` is named ``holdout``, as ``holdout.csv`` is.
    stem = data.name.removesuffix(data.suffix) if data else ""
    if data and data.suffix in (".gz", ".bz2"):
        stem = Path(stem).stem
    name_part = re.sub(r"[^A-Za-z0-9_.-]", "_", stem) if data else split
    name = f"eval-{name_part}-{stamp}.json"
    reports = _class_reports(saved.run, model, dataset, datasets, split, Path(name).stem)
    written = saved.run.write_json(
        name,
        {
            "split": name_part,
            "checkpoint": str(saved.checkpoint),
            "checkpoint_epoch": facts.epoch,
            "checkpoint_detail": facts.detail,
            "data": str(data.resolve()) if data else None,
            "examples": {
                "test": datasets.test_size,
                "validation": datasets.validation_size,
                "train": datasets.train_size,
            }[split],
            "metrics": metrics,
            "classification_reports": [p.name for p in reports],
            "at": now.isoformat(),
        },
    )
    label = data.name if data else split
    return EvalResult(
        name_part, metrics, saved.checkpoint, written, label, saved.note, facts, reports
    )


def _class_reports(
    run: RunFolder,
    model: keras.Model,
    dataset: tf.data.Dataset,
    datasets: Datasets,
    split: str,
    stem: str,
) -> list[Path]:
    """Per classification target, ``<stem>.classification_report[_<target>].csv`` beside the
    result file: one prediction pass over what was evaluated (none for regression)."""
    from dltrain.report.classification import write_classification_report
    from dltrain.report.evaluation import class_predictions, predict_outputs

    targets = datasets.spec.targets
    if all(t.task == "regression" for t in targets):
        return []
    outputs = predict_outputs(model, dataset)
    truths = datasets.split_targets(split)
    written: list[Path] = []
    for target, truth, output in zip(targets, truths, outputs, strict=False):
        if target.task == "regression":
            continue
        suffix = "" if len(targets) == 1 else f"_{target.name}"
        names = list(target.class_names or [str(i) for i in range(max(target.units, 2))])
        path = run.path / f"{stem}.classification_report{suffix}.csv"
        write_classification_report(path, truth, class_predictions(target, output), names)
        written.append(path)
    return written

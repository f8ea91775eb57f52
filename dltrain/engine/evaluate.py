"""``evaluate_target``: metrics of a saved model on a split of its data (or another file)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from dltrain.errors import UsageError
from dltrain.report.saved_run import open_saved_run
from dltrain.storage import utc_now

__all__ = ["EvalResult", "evaluate_target"]

_SPLITS = ("test", "validation", "train")


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


def evaluate_target(
    target: Path,
    *,
    split: str = "test",
    data: Path | None = None,
    checkpoint: str = "best",
    trust_imports: bool = False,
) -> EvalResult:
    """Evaluate a run's checkpoint and write ``eval-<split>-<timestamp>.json`` into the run.

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
    from dltrain.data import load_datasets
    from dltrain.model import load_model_file
    from dltrain.train.environment import configure_environment

    cfg = saved.loaded.config
    configure_environment(cfg.seed, False, cfg.precision)
    datasets = load_datasets(cfg, test_path=data.resolve() if data else None)
    model = load_model_file(saved.checkpoint)
    batch = datasets.evaluation_batch(split)
    if split == "test":
        dataset = datasets.test_dataset(batch)
    elif split == "validation":
        dataset = datasets.validation_dataset(batch)
        if dataset is None:
            raise UsageError(f"{saved.run.path}: this run has no validation split")
    else:
        dataset, _ = datasets.train_dataset(
            batch, seed=cfg.seed, start_epoch=0, epochs=1, shuffle=False
        )
    metrics = {k: float(v) for k, v in model.evaluate(dataset, return_dict=True, verbose=0).items()}
    now = utc_now()
    # A file given with --data is not the run's test split: name the result after the file.
    name_part = re.sub(r"[^A-Za-z0-9_.-]", "_", data.stem) if data else split
    name = f"eval-{name_part}-{now.strftime('%Y%m%dT%H%M%S%fZ')}.json"
    written = saved.run.write_json(
        name,
        {
            "split": name_part,
            "checkpoint": str(saved.checkpoint),
            "data": str(data.resolve()) if data else None,
            "examples": {
                "test": datasets.test_size,
                "validation": datasets.validation_size,
                "train": datasets.train_size,
            }[split],
            "metrics": metrics,
            "at": now.isoformat(),
        },
    )
    label = data.name if data else split
    return EvalResult(name_part, metrics, saved.checkpoint, written, label, saved.note)

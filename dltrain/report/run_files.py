"""The files a run writes around training: the starting manifest and the result plots."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from dltrain.config import LoadedConfig
from dltrain.report.run_folder import RunFolder
from dltrain.train.environment import quiet_tensorflow

__all__ = ["split_metrics", "start_manifest", "write_result_plots"]


def start_manifest(
    run: RunFolder,
    loaded: LoadedConfig,
    model: Any,
    datasets: Any,
    command: Sequence[str] | None,
    clock: Callable[[], datetime],
) -> None:
    """Write config.yaml, model.txt, data_spec.json and the starting ``run.json``."""
    from dltrain.model import summarize_model
    from dltrain.report.manifest import environment_facts, git_commit

    quiet_tensorflow(run.path / "logs" / "warnings.log")
    run.write_text("config.yaml", loaded.to_yaml())
    summary = summarize_model(model)
    run.write_text("model.txt", summary.to_text())
    run.write_text("data_spec.json", datasets.spec.to_json())
    cfg = loaded.config
    where = loaded.path.parent if loaded.path else Path.cwd()
    run.update(
        name=cfg.name,
        status="running",
        command=list(command) if command else None,
        config_file=str(loaded.path) if loaded.path else None,
        config_files=[str(p) for p in loaded.files],
        overrides=loaded.overrides,
        config_hash=loaded.digest(),
        seed=cfg.seed,
        deterministic=cfg.deterministic,
        precision=cfg.precision,
        distribute=cfg.distribute.strategy,
        started_at=clock().isoformat(),
        epochs_planned=cfg.training.epochs,
        epochs_completed=0,
        batch_size=datasets.batch_size,
        parameters={
            "total": summary.total_params,
            "trainable": summary.trainable_params,
        },
        data={
            "train_size": datasets.train_size,
            "validation_size": datasets.validation_size,
            "test_size": datasets.test_size,
            "fingerprint": datasets.fingerprint,
            "warnings": list(getattr(datasets, "warnings", [])),
        },
        git=git_commit(where),
        pid=os.getpid(),
        **environment_facts(),
    )


def write_result_plots(
    run: RunFolder, model: Any, datasets: Any, test_ds: Any, rows: list[dict[str, float]]
) -> None:
    """Training curves, and per target a confusion matrix or regression plots on test."""
    import numpy as np

    from dltrain.report.plots import (
        result_caption,
        write_confusion_matrix,
        write_regression_plots,
        write_training_plots,
    )

    write_training_plots(run.plots, rows)
    caption = result_caption(run.manifest, rows)
    predictions = model.predict(test_ds.map(lambda x, y: x), verbose=0)
    outputs = predictions if isinstance(predictions, list | tuple) else [predictions]
    targets = datasets.spec.targets
    for target, truth, pred in zip(targets, datasets.test_targets(), outputs, strict=False):
        pred = np.asarray(pred)
        suffix = "" if len(targets) == 1 else f"_{target.name}"
        if target.task == "regression":
            write_regression_plots(
                run.plots, truth.reshape(-1), pred.reshape(-1), target.name, caption=caption
            )
        elif target.task == "binary":
            write_confusion_matrix(
                run.plots,
                truth.reshape(-1).astype(int),
                (pred.reshape(-1) > 0.5).astype(int),
                target.class_names,
                name=f"confusion_matrix{suffix}.png",
                caption=caption,
            )
        else:
            write_confusion_matrix(
                run.plots,
                truth.reshape(-1).astype(int),
                pred.argmax(axis=-1).reshape(-1),
                target.class_names,
                name=f"confusion_matrix{suffix}.png",
                caption=caption,
            )


def split_metrics(row: dict[str, float]) -> dict[str, dict[str, float]]:
    """``{"loss": .., "val_loss": ..}`` -> ``{"train": {"loss": ..}, "validation": {...}}``."""
    out: dict[str, dict[str, float]] = {"train": {}, "validation": {}}
    for key, value in row.items():
        if key in ("epoch", "learning_rate", "epoch_time_s"):
            continue
        if key.startswith("val_"):
            out["validation"][key[4:]] = value
        else:
            out["train"][key] = value
    if not out["validation"]:
        del out["validation"]
    return out

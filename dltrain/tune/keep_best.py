"""``dltrain prune STUDY --keep-best K``: a study keeps the checkpoints of its K best trials.

Every trial is a run folder under the study folder; its ``run.json`` says (``tune``) which
trial it was, how it ended and its value, and ``study.json`` says whether lower or higher is
better. The K best complete trials are pruned as any completed run (their newest resume
point, ``best.keras`` and ``last.keras`` stay); every other completed trial loses its
``checkpoints/`` folder and keeps ``run.json``, ``config.yaml``, ``metrics.csv`` and plots,
so the study's table, plots and ``best.yaml`` read as before.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from dltrain.errors import CheckpointError, UsageError
from dltrain.storage.manifest import MANIFEST, read_manifest
from dltrain.storage.prune import PruneResult, find_runs, prune_run

__all__ = ["best_trial_runs", "prune_study"]

_STUDY_FILE = "study.json"


def prune_study(study_dir: Path, keep_best: int, *, dry_run: bool = False) -> list[PruneResult]:
    """Prune every trial of the study in ``study_dir``, keeping the best trials' checkpoints.

    Raises:
        UsageError: ``study_dir`` is no study folder, or ``keep_best`` is below 1.
    """
    best = set(best_trial_runs(study_dir, keep_best))
    return [
        prune_run(run, dry_run=dry_run, checkpoints=run in best) for run in find_runs(study_dir)
    ]


def best_trial_runs(study_dir: Path, keep_best: int) -> list[Path]:
    """The run folders of the ``keep_best`` best complete trials, best first.

    Equal values keep the earlier trial first, as the study's own best trial does.

    Raises:
        UsageError: ``study_dir`` is no study folder, or ``keep_best`` is below 1.
    """
    if keep_best < 1:
        raise UsageError(
            f"--keep-best must be 1 or more (trials whose checkpoints stay); received {keep_best}"
        )
    sign = -1.0 if _direction(study_dir) == "maximize" else 1.0
    ranked: list[tuple[float, int, Path]] = []
    for run in find_runs(study_dir):
        try:
            tune = read_manifest(run / MANIFEST).tune
        except CheckpointError:
            continue  # prune_run says it is unreadable
        if tune is None or tune.state != "complete" or tune.value is None:
            continue
        if not math.isfinite(tune.value):
            continue
        ranked.append((sign * tune.value, tune.trial, run))
    ranked.sort(key=lambda item: (item[0], item[1]))
    return [run for _, _, run in ranked[:keep_best]]


def _direction(study_dir: Path) -> str:
    path = study_dir / _STUDY_FILE
    if not path.is_file():
        raise UsageError(
            f"{study_dir}: not a study folder (no {_STUDY_FILE}); --keep-best takes the folder "
            "dltrain tune wrote (runs/NAME/STUDY)"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise UsageError(f"{path}: unreadable ({exc})") from exc
    direction = data.get("direction") if isinstance(data, dict) else None
    if direction not in ("minimize", "maximize"):
        raise UsageError(f"{path}: no direction (minimize or maximize); received {direction!r}")
    return str(direction)

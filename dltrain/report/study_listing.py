"""``dltrain runs`` on studies: a study's trials with their values and parameters, and the
studies in a runs folder.

A study folder (``runs/<name>/<study>/``, docs/tuning.md) holds ``study.json`` and one
``trial-NNNN/<stamp>/`` run folder per trial this host ran. ``study.json`` is the study's own
account (every host's trials, the metric, the direction, the best trial); the run folders add
what only they know (epochs, test metrics, duration). Either may be missing or damaged: a
trial still running has a folder but no record yet, and a study killed before its first
trial ended has no ``study.json``. This module reads the files (the tune layer sits above the
report layer, so it does not import :mod:`dltrain.tune`).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dltrain.report.listing import RunSummary, list_runs
from dltrain.report.run_query import RUN_KEYS, run_record

__all__ = [
    "STUDY_FILE",
    "STUDY_KEYS",
    "StudyInfo",
    "StudyView",
    "TrialRow",
    "is_study_folder",
    "list_studies",
    "read_study",
    "study_record",
    "trial_keys",
    "trial_record",
]

STUDY_FILE = "study.json"
_TRIAL = re.compile(r"^trial-(\d+)$")
STUDY_KEYS = (
    "kind",
    "name",
    "path",
    "status",
    "metric",
    "direction",
    "trials",
    "trials_planned",
    "pruned",
    "failed",
    "running",
    "best",
    "best_trial",
    "error",
)
"""The keys of a study record (``--json`` of a runs folder, ``kind: study``)."""


@dataclass
class StudyInfo:
    """One study as its folder tells it; ``error`` says why ``study.json`` could not be read."""

    name: str
    path: Path
    metric: str | None = None
    direction: str | None = None
    """``minimize`` or ``maximize``."""
    trials_planned: int | None = None
    counts: dict[str, int] = field(default_factory=dict)
    """Trials by state: ``complete``, ``pruned``, ``failed``, ``running``."""
    best_value: float | None = None
    best_trial: int | None = None
    error: str | None = None

    @property
    def status(self) -> str:
        """``completed`` (as many complete trials as planned), ``running`` or ``incomplete``."""
        complete = self.counts.get("complete", 0)
        if self.trials_planned is not None and complete >= self.trials_planned:
            return "completed"
        return "running" if self.counts.get("running", 0) else "incomplete"


@dataclass
class TrialRow:
    """One trial: the study's record of it and, when this host ran it, its run folder."""

    number: int
    state: str
    """``complete``, ``pruned``, ``failed``, ``interrupted`` or ``running``."""
    value: float | None
    params: dict[str, Any]
    run: RunSummary | None = None
    is_best: bool = False
    reason: str | None = None


@dataclass
class StudyView:
    """``dltrain runs STUDY_DIR``: the study and its trials, by trial number."""

    study: StudyInfo
    trials: list[TrialRow]
    param_keys: list[str]
    """The searched keys (``tune.space``), in the order the trials first name them."""


def is_study_folder(path: Path) -> bool:
    """Whether ``path`` is a study folder: it has ``study.json`` or ``trial-NNNN`` folders."""
    if (path / STUDY_FILE).is_file():
        return True
    try:
        return any(_TRIAL.match(child.name) and child.is_dir() for child in path.iterdir())
    except OSError:
        return False


def list_studies(runs_dir: Path) -> list[StudyInfo]:
    """The studies in a runs folder (``runs/<name>/<study>``) or a name's folder, by name."""
    found: list[Path] = []
    for child in _subdirs(runs_dir):
        if is_study_folder(child):
            found.append(child)
        else:
            found.extend(g for g in _subdirs(child) if is_study_folder(g))
    return sorted((_study_info(path) for path in found), key=lambda s: (s.name, str(s.path)))


def read_study(study_dir: Path) -> StudyView:
    """A study's trials: ``study.json``'s records joined with this host's trial run folders.

    A trial with a run folder but no record yet (running, or ``study.json`` lost) is listed
    from its folder (``run.json``'s ``tune`` block when the trial ended). The best trial is
    ``study.json``'s, else the best complete trial by the study's direction.
    """
    info = _study_info(study_dir)
    document = _read_json(study_dir / STUDY_FILE)
    runs: dict[int, RunSummary] = {}
    for run in list_runs(study_dir):  # newest first: keep each trial's newest folder
        number = _trial_number(run)
        if number is not None:
            runs.setdefault(number, run)
    rows: dict[int, TrialRow] = {}
    for entry in document.get("trial_list") or []:
        if isinstance(entry, dict) and isinstance(entry.get("number"), int):
            number = entry["number"]
            rows[number] = TrialRow(
                number=number,
                state=str(entry.get("state") or "unknown"),
                value=_number(entry.get("value")),
                params=_dict(entry.get("params")),
                run=runs.get(number),
                reason=entry.get("reason") if isinstance(entry.get("reason"), str) else None,
            )
    for number, run in runs.items():
        if number not in rows:
            tune = run.tune
            rows[number] = TrialRow(
                number=number,
                state=tune.state if tune else run.status,
                value=tune.value if tune else None,
                params=dict(tune.params) if tune else {},
                run=run,
                reason=tune.reason if tune else None,
            )
            if info.metric is None and tune is not None:
                info.metric = tune.metric
    trials = [rows[n] for n in sorted(rows)]
    best = info.best_trial if info.best_trial in rows else _best(trials, info.direction)
    for row in trials:
        row.is_best = row.number == best
    if info.best_trial is None and best is not None:
        info.best_trial, info.best_value = best, rows[best].value
    keys = list(dict.fromkeys(key for row in trials for key in row.params))
    return StudyView(study=info, trials=trials, param_keys=keys)


def study_record(study: StudyInfo) -> dict[str, Any]:
    """A study as ``--json`` prints it: :data:`STUDY_KEYS` (``kind`` is ``study``)."""
    counts = study.counts
    return {
        "kind": "study",
        "name": study.name,
        "path": str(study.path),
        "status": study.status,
        "metric": study.metric,
        "direction": study.direction,
        "trials": counts.get("complete", 0),
        "trials_planned": study.trials_planned,
        "pruned": counts.get("pruned", 0),
        "failed": counts.get("failed", 0),
        "running": counts.get("running", 0),
        "best": study.best_value,
        "best_trial": study.best_trial,
        "error": study.error,
    }


def trial_keys(view: StudyView) -> tuple[str, ...]:
    """The keys of this study's trial records: ``--sort`` and ``--filter`` take them."""
    own = ("trial", "value", "is_best", *(f"params.{k}" for k in view.param_keys))
    return (*own, *(k for k in RUN_KEYS if k not in own))


def trial_record(trial: TrialRow) -> dict[str, Any]:
    """A trial as ``--json`` prints it: its run's record (when this host has its folder;
    else those keys are null) with ``kind: trial``, ``trial``, ``status`` (the trial's state),
    ``value`` (the study metric), ``is_best`` and ``params.KEY`` per searched key; the nested
    ``params`` holds them too."""
    base: dict[str, Any] = (
        run_record(trial.run) if trial.run else {**dict.fromkeys(RUN_KEYS), "test_metrics": {}}
    )
    base.update(
        {
            "kind": "trial",
            "trial": trial.number,
            "status": trial.state,
            "value": trial.value,
            "is_best": trial.is_best,
            "params": trial.params,
            **{f"params.{k}": v for k, v in trial.params.items()},
        }
    )
    if trial.reason and not base.get("error"):
        base["error"] = trial.reason
    return base


# ---------------------------------------------------------------------------- helpers
def _study_info(path: Path) -> StudyInfo:
    document = _read_json(path / STUDY_FILE)
    error = document.pop("__error__", None)
    counts = _dict(document.get("trials"))
    best = _dict(document.get("best"))
    planned = document.get("trials_wanted")
    return StudyInfo(
        name=str(document.get("study") or path.name),
        path=path,
        metric=document.get("metric") if isinstance(document.get("metric"), str) else None,
        direction=document.get("direction")
        if document.get("direction") in ("minimize", "maximize")
        else None,
        trials_planned=planned if isinstance(planned, int) else None,
        counts={k: v for k, v in counts.items() if isinstance(v, int)},
        best_value=_number(best.get("value")),
        best_trial=best.get("trial") if isinstance(best.get("trial"), int) else None,
        error=error,
    )


def _read_json(path: Path) -> dict[str, Any]:
    """``study.json`` as a mapping; ``{}`` when absent, ``{"__error__": why}`` when damaged."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        return {"__error__": f"{path}: unreadable ({exc})"}
    try:
        document = json.loads(text)
    except ValueError as exc:
        return {"__error__": f"{path}: not JSON ({exc})"}
    if not isinstance(document, dict):
        return {"__error__": f"{path}: not a JSON object"}
    return document


def _trial_number(run: RunSummary) -> int | None:
    for folder in (run.path.parent, run.path):
        match = _TRIAL.match(folder.name)
        if match:
            return int(match.group(1))
    return run.tune.trial if run.tune else None


def _best(trials: list[TrialRow], direction: str | None) -> int | None:
    complete = [t for t in trials if t.state == "complete" and t.value is not None]
    if not complete or direction is None:
        return None
    sign = 1.0 if direction == "minimize" else -1.0
    return min(complete, key=lambda t: (sign * (t.value or 0.0), t.number)).number


def _subdirs(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.is_dir())
    except OSError:
        return []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None

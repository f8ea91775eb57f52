"""The study folder's files: ``study.json``, ``best.yaml`` and the plots."""

from __future__ import annotations

import json
import shlex
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from dltrain.storage import atomic_write_text, utc_now
from dltrain.tune.space import param_overrides

if TYPE_CHECKING:
    from dltrain.tune.study import _Run

__all__ = [
    "StudySummary",
    "TrialRecord",
    "count_trials",
    "read_trials",
    "study_summary",
    "write_study_files",
]


@dataclass
class TrialRecord:
    """One trial as the study sees it (from any process sharing the study)."""

    number: int
    state: str
    """``complete``, ``pruned``, ``failed``, ``interrupted`` or ``running``."""
    value: float | None
    params: dict[str, Any]
    run_dir: str | None = None
    """Relative to the study folder of the host that ran it."""
    host: str | None = None
    reason: str | None = None
    duration_s: float | None = None
    pruned_at_epoch: int | None = None


@dataclass
class StudySummary:
    """What ``dltrain tune`` reports, and ``study.json`` holds."""

    study: str
    study_dir: Path
    storage: str
    metric: str
    direction: str
    trials_wanted: int
    counts: dict[str, int]
    """``complete``, ``pruned``, ``failed``, ``running``: trials by state."""
    best: dict[str, Any] | None
    """``value``, ``params``, ``trial``, ``run_dir`` (relative to the study folder), ``host``."""
    trials: list[TrialRecord] = field(default_factory=list)
    best_yaml: Path | None = None
    plots: list[Path] = field(default_factory=list)
    exit_code: int = 0
    message: str | None = None

    @property
    def rerun_command(self) -> str | None:
        """The command that trains the best trial's config again."""
        if self.best_yaml is None:
            return None
        return f"dltrain run {shlex.quote(str(self.best_yaml))}"


_STATES = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed", "RUNNING": "running"}


def count_trials(study: Any) -> dict[str, int]:
    """Trials by state: ``complete``, ``pruned``, ``failed``, ``running``."""
    counts = dict.fromkeys(_STATES.values(), 0)
    for trial in study.get_trials(deepcopy=False):
        if trial.state.name in _STATES:
            counts[_STATES[trial.state.name]] += 1
    return counts


def read_trials(study: Any, numbers: set[int] | None = None) -> list[TrialRecord]:
    """The study's trials (all of them, or those ``numbers``) as records."""
    records = []
    for trial in study.get_trials(deepcopy=False):
        if numbers is not None and trial.number not in numbers:
            continue
        if trial.state.name not in _STATES:
            continue  # WAITING: enqueued by hand, not started
        attrs = trial.user_attrs
        state = _STATES[trial.state.name]
        if state == "failed" and attrs.get("state") == "interrupted":
            state = "interrupted"
        reason = attrs.get("reason")
        if state == "failed" and not reason:
            reason = "its process stopped sending heartbeats (killed?)"
        duration = None
        if trial.datetime_start is not None and trial.datetime_complete is not None:
            duration = round((trial.datetime_complete - trial.datetime_start).total_seconds(), 3)
        records.append(
            TrialRecord(
                number=trial.number,
                state=state,
                value=trial.value if state in ("complete", "pruned") else None,
                params=dict(trial.params),
                run_dir=attrs.get("run_dir"),
                host=attrs.get("host"),
                reason=reason if state in ("failed", "interrupted") else None,
                duration_s=duration,
                pruned_at_epoch=attrs.get("pruned_at_epoch"),
            )
        )
    return records


def _best(study: Any) -> dict[str, Any] | None:
    from optuna.trial import TrialState

    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return None
    trial = study.best_trial
    return {
        "value": trial.value,
        "params": dict(trial.params),
        "trial": trial.number,
        "run_dir": trial.user_attrs.get("run_dir"),
        "host": trial.user_attrs.get("host"),
        "test_metrics": trial.user_attrs.get("test_metrics"),
    }


def study_summary(run: _Run) -> StudySummary:
    """The study as it is now (from its storage: every process's trials)."""
    return StudySummary(
        study=run.study.study_name,
        study_dir=run.study_dir,
        storage=run.url,
        metric=run.plan.metric,
        direction=run.plan.direction,
        trials_wanted=run.wanted,
        counts=count_trials(run.study),
        best=_best(run.study),
        trials=read_trials(run.study),
    )


def write_study_files(run: _Run, *, plots: bool) -> StudySummary:
    """Write ``study.json`` and ``best.yaml`` (and the plots) from the study as it is now."""
    summary = study_summary(run)
    if summary.best is not None:
        summary.best_yaml = _write_best_yaml(run, summary)
    if plots:
        from dltrain.tune.study_plots import write_study_plots

        summary.plots = write_study_plots(run.study_dir / "plots", run.study, run.plan)
    atomic_write_text(run.study_dir / "study.json", json.dumps(_json(summary), indent=2) + "\n")
    return summary


def _json(summary: StudySummary) -> dict[str, Any]:
    return {
        "study": summary.study,
        "storage": summary.storage,
        "metric": summary.metric,
        "direction": summary.direction,
        "trials_wanted": summary.trials_wanted,
        "trials": summary.counts,
        "best": summary.best,
        "best_yaml": "best.yaml" if summary.best_yaml else None,
        "updated_at": utc_now().isoformat(),
        "trial_list": [asdict(t) for t in summary.trials],
    }


def _write_best_yaml(run: _Run, summary: StudySummary) -> Path:
    """The experiment at the best trial's values: a complete config ``dltrain run`` takes."""
    assert summary.best is not None
    overrides = param_overrides(summary.best["params"])
    best = run.source.variant(overrides)
    header = [
        f"# Best trial of study {summary.study!r}: trial {summary.best['trial']}, "
        f"{summary.metric} = {summary.best['value']:.6g}",
        "# The experiment with these values (--set):",
        *[f"#   {o}" for o in overrides],
        f"# Train it again: dltrain run {run.study_dir / 'best.yaml'}",
    ]
    text = (
        "\n".join(header)
        + "\n"
        + yaml.safe_dump(best.to_dict(), sort_keys=False, allow_unicode=True)
    )
    path = run.study_dir / "best.yaml"
    atomic_write_text(path, text)
    return path

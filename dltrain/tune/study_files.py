"""The study folder's files: ``study.json``, ``best.yaml`` and the plots.

Everything here is derived from one read of the study's trials (``study.get_trials``), which
the caller makes once per step of the study loop and hands in: on a long study shared through
PostgreSQL, every read is a round trip and a sort of all trials.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from dltrain.storage import atomic_write_text, utc_now
from dltrain.tune.records import BestTrial, StudySummary, TrialCounts, TrialRecord
from dltrain.tune.space import param_overrides

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

    from dltrain.tune.context import StudyContext

__all__ = [
    "StudySummary",
    "TrialRecord",
    "best_trial",
    "count_trials",
    "read_trials",
    "study_summary",
    "trial_records",
    "write_study_files",
]

_STATES = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed", "RUNNING": "running"}


def count_trials(trials: Sequence[FrozenTrial]) -> TrialCounts:
    """Trials by state: ``complete``, ``pruned``, ``failed``, ``running``."""
    tally = dict.fromkeys(_STATES.values(), 0)
    for trial in trials:
        if trial.state.name in _STATES:
            tally[_STATES[trial.state.name]] += 1
    return TrialCounts(
        complete=tally["complete"],
        pruned=tally["pruned"],
        failed=tally["failed"],
        running=tally["running"],
    )


def trial_records(
    trials: Sequence[FrozenTrial], numbers: set[int] | None = None
) -> list[TrialRecord]:
    """The trials (all of them, or those ``numbers``) as records."""
    records = []
    for trial in trials:
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
                seeds=attrs.get("seeds"),
            )
        )
    return records


def read_trials(study: optuna.Study, numbers: set[int] | None = None) -> list[TrialRecord]:
    """The study's trials (all of them, or those ``numbers``) as records: one storage read."""
    return trial_records(study.get_trials(deepcopy=False), numbers)


def best_trial(trials: Sequence[FrozenTrial], direction: str) -> BestTrial | None:
    """The best complete trial (the earliest of equals), or None before one completed.

    Picked from the trials at hand rather than by ``Study.best_trial``, which would query the
    storage again.
    """
    from optuna.trial import TrialState

    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    if not complete:
        return None
    sign = 1.0 if direction == "minimize" else -1.0
    trial = min(complete, key=lambda t: (sign * float(t.value or 0.0), t.number))
    assert trial.value is not None
    return BestTrial(
        value=trial.value,
        params=dict(trial.params),
        trial=trial.number,
        run_dir=trial.user_attrs.get("run_dir"),
        host=trial.user_attrs.get("host"),
        test_metrics=trial.user_attrs.get("test_metrics"),
    )


def study_summary(context: StudyContext, trials: Sequence[FrozenTrial]) -> StudySummary:
    """The study as ``trials`` (one read of its storage: every process's trials) show it."""
    return StudySummary(
        study=context.study.study_name,
        study_dir=context.study_dir,
        storage=context.url,
        metric=context.plan.metric,
        direction=context.plan.direction,
        trials_wanted=context.wanted,
        counts=count_trials(trials),
        best=best_trial(trials, context.plan.direction),
        trials=trial_records(trials),
    )


def write_study_files(
    context: StudyContext, trials: Sequence[FrozenTrial], *, plots: bool
) -> StudySummary:
    """Write ``study.json`` (and ``best.yaml`` when the best trial changed, and the plots)
    from ``trials``, the study as just read; returns its summary."""
    summary = study_summary(context, trials)
    if summary.best is not None:
        summary.best_yaml = _write_best_yaml(context, summary, summary.best)
    if plots:
        from dltrain.tune.study_plots import write_study_plots

        summary.plots = write_study_plots(
            context.study_dir / "plots", context.study, context.plan, trials
        )
    atomic_write_text(
        context.study_dir / "study.json",
        json.dumps(_json(summary, context.fingerprint), indent=2) + "\n",
    )
    return summary


def _json(summary: StudySummary, fingerprint: str | None) -> dict[str, Any]:
    return {
        "study": summary.study,
        "fingerprint": fingerprint,
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


def _write_best_yaml(context: StudyContext, summary: StudySummary, best: BestTrial) -> Path:
    """The experiment at the best trial's values: a complete config ``dltrain run`` takes.

    Written when this process has not written it for this trial yet (a config load and
    validation, so not after every trial; a rerun writes it once, for its own config).
    """
    path = context.study_dir / "best.yaml"
    if context.best_yaml_trial == best["trial"] and path.is_file():
        return path
    overrides = param_overrides(best["params"])
    config = context.source.variant(overrides)
    header = [
        f"# Best trial of study {summary.study!r}: trial {best['trial']}, "
        f"{summary.metric} = {best['value']:.6g}",
        "# The experiment with these values (--set):",
        *[f"#   {o}" for o in overrides],
        f"# Train it again: dltrain run {path}",
    ]
    text = (
        "\n".join(header)
        + "\n"
        + yaml.safe_dump(config.to_dict(), sort_keys=False, allow_unicode=True)
    )
    atomic_write_text(path, text)
    context.best_yaml_trial = best["trial"]
    return path

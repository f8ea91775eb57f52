"""The study's plots: optimization history, parameter importances, each parameter vs the value.

Drawn with matplotlib's object API, as the run plots are (no pyplot, no GUI backend), and
written atomically.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dltrain.report.plots import new_figure, save_png
from dltrain.tune.space import SpaceParam

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

    from dltrain.tune.checks import TunePlan

__all__ = ["write_study_plots"]


def write_study_plots(
    folder: Path, study: Any, plan: TunePlan, trials: Sequence[FrozenTrial] | None = None
) -> list[Path]:
    """Write the study's plots into ``folder``; returns the files written.

    ``trials`` are the study's trials as the caller just read them (default: read them).
    Nothing is drawn before the first finished trial; importances need two complete trials.
    """
    from optuna.trial import TrialState

    if trials is None:
        trials = study.get_trials(deepcopy=False)
    done = [
        t
        for t in trials
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
        and t.value is not None
        and math.isfinite(t.value)
    ]
    if not done:
        return []
    written = [_history(folder / "optimization_history.png", done, plan)]
    complete = [t for t in done if t.state == TrialState.COMPLETE]
    importance = _importances(folder / "param_importances.png", study, complete, plan)
    if importance is not None:
        written.append(importance)
    for param in plan.params:
        written.append(_param_plot(folder, param, done, plan))
    return written


def _history(path: Path, trials: list[Any], plan: TunePlan) -> Path:
    from optuna.trial import TrialState

    fig = new_figure()
    ax = fig.subplots()
    for state, style in ((TrialState.COMPLETE, "o"), (TrialState.PRUNED, "x")):
        chosen = [t for t in trials if t.state == state]
        if chosen:
            ax.plot(
                [t.number for t in chosen],
                [t.value for t in chosen],
                style,
                label="complete" if state == TrialState.COMPLETE else "pruned (last epoch)",
                alpha=0.8,
            )
    complete = sorted((t for t in trials if t.state == TrialState.COMPLETE), key=lambda t: t.number)
    if complete:
        best: list[float] = []
        pick = min if plan.direction == "minimize" else max
        for trial in complete:
            best.append(trial.value if not best else pick(best[-1], trial.value))
        ax.step([t.number for t in complete], best, where="post", label="best so far")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("trial")
    ax.set_ylabel(plan.metric)
    ax.set_title(f"optimization history ({plan.direction} {plan.metric})")
    ax.grid(True, alpha=0.3)
    ax.legend()
    return save_png(fig, path, tight=False)


def _importances(path: Path, study: Any, complete: list[Any], plan: TunePlan) -> Path | None:
    import optuna

    if len(complete) < 2 or not plan.params:
        return None
    try:
        importances = optuna.importance.get_param_importances(study)
    except (RuntimeError, ValueError):
        return None  # e.g. every complete trial has the same value
    if not importances:
        return None
    names = list(importances)[::-1]
    fig = new_figure(6.4, 1.5 + 0.5 * len(names))
    ax = fig.subplots()
    ax.barh(names, [importances[n] for n in names])
    ax.set_xlabel("importance (Optuna's PED-ANOVA, normalized to sum 1)")
    ax.set_title(f"parameter importances for {plan.metric}")
    ax.grid(True, axis="x", alpha=0.3)
    return save_png(fig, path, tight=False)


def _param_plot(folder: Path, param: SpaceParam, trials: list[Any], plan: TunePlan) -> Path:
    from optuna.trial import TrialState

    fig = new_figure()
    ax = fig.subplots()
    with_param = [t for t in trials if param.key in t.params]
    categorical = param.spec.type == "categorical"
    labels: list[str] = []
    if categorical:
        labels = [str(c) for c in getattr(param.spec, "choices", [])]
    for state, style in ((TrialState.COMPLETE, "o"), (TrialState.PRUNED, "x")):
        chosen = [t for t in with_param if t.state == state]
        if not chosen:
            continue
        xs = [
            labels.index(str(t.params[param.key])) if categorical else t.params[param.key]
            for t in chosen
        ]
        ax.plot(
            xs,
            [t.value for t in chosen],
            style,
            label="complete" if state == TrialState.COMPLETE else "pruned (last epoch)",
            alpha=0.8,
        )
    if categorical:
        ax.set_xticks(range(len(labels)), labels)
    elif getattr(param.spec, "log", False):
        ax.set_xscale("log")
    ax.set_xlabel(param.key)
    ax.set_ylabel(plan.metric)
    ax.set_title(f"{param.key} vs {plan.metric}")
    ax.grid(True, alpha=0.3)
    if with_param:
        ax.legend()
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", param.key).strip("_") or "param"
    return save_png(fig, folder / f"param_{slug}.png", tight=False)

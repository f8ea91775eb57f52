"""A study's report page: trials, optimization history, importances, each parameter against
the objective, pruned and failed trials, and the best config against the base.

Read from the study folder (``study.json``, ``best.yaml``, the trials' run folders) through
:func:`dltrain.report.study_listing.read_study`; the tune layer sits above, so nothing here
imports Optuna.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from dltrain.config.diff import flatten, format_value
from dltrain.config.overrides import deep_merge
from dltrain.errors import CheckpointError
from dltrain.report.html.document import Cell, Page, definition_list, esc, missing, png_image, table
from dltrain.report.html.figures import scatter_figure
from dltrain.report.html.run_results import file_link
from dltrain.report.study_listing import StudyView, TrialRow
from dltrain.storage import MANIFEST
from dltrain.storage.manifest import read_manifest

__all__ = ["FEW_TRIALS", "build_study_page"]

FEW_TRIALS = 10
"""Below this many complete trials, importances are shown with a caution."""


def build_study_page(view: StudyView, page_dir: Path, trial_pages: dict[int, Path]) -> Page:
    """The page of a study; ``trial_pages`` maps trial numbers to their written pages."""
    info = view.study
    page = Page(
        title=f"study {info.name}",
        subtitle=f"dltrain study report, {info.status}",
        kind="study",
    )
    complete = [t for t in view.trials if t.state == "complete" and t.value is not None]
    facts = [
        ("folder", str(info.path)),
        ("metric", f"{info.metric} ({info.direction})" if info.metric else None),
        ("trials planned", info.trials_planned),
        ("trials by state", ", ".join(f"{k} {v}" for k, v in info.counts.items()) or None),
        (
            "best",
            f"trial {info.best_trial}: {format_value(info.best_value)}"
            if info.best_trial is not None
            else None,
        ),
    ]
    summary = definition_list(facts)
    if info.error:
        summary += f'<p class="warn">{esc(info.error)}</p>'
    page.add("summary", "Summary", summary)
    page.add("trials", "Trials", _trials_table(view, page_dir, trial_pages))
    page.add("history", "Optimization history", _history(view))
    page.add("importances", "Parameter importances", _importances(info.path, len(complete)))
    page.add("parameters", "Parameters against the objective", _param_plots(view))
    page.add("stopped", "Pruned and failed trials", _stopped(view))
    page.add("best-config", "Best config against the base", _best_config(view))
    page.data = {
        "study": info.name,
        "metric": info.metric,
        "direction": info.direction,
        "trials": [
            {
                "number": t.number,
                "state": t.state,
                "value": t.value,
                "params": t.params,
                "reason": t.reason,
            }
            for t in view.trials
        ],
    }
    return page


def _trials_table(view: StudyView, page_dir: Path, pages: dict[int, Path]) -> str:
    if not view.trials:
        return missing("No trials yet.")
    headers = ["trial", "state", "value", *view.param_keys, "duration (s)", "page"]
    rows: list[list[Any]] = []
    for trial in view.trials:
        label = f"{trial.number}{' (best)' if trial.is_best else ''}"
        page = pages.get(trial.number)
        link = file_link(page, page_dir, "report") if page else Cell(esc("no run folder here"))
        duration = trial.run.duration_s if trial.run else None
        rows.append(
            [
                Cell(esc(label), trial.number),
                trial.state,
                trial.value,
                *(_param(trial.params.get(k)) for k in view.param_keys),
                duration,
                link,
            ]
        )
    return table(headers, rows, table_id="trials")


def _param(value: Any) -> Any:
    return (
        value
        if isinstance(value, (int, float)) and not isinstance(value, bool)
        else (None if value is None else format_value(value))
    )


def _history(view: StudyView) -> str:
    metric = view.study.metric or "value"
    done = [t for t in view.trials if t.value is not None and t.state in ("complete", "pruned")]
    if not done:
        return missing("No finished trial with a value yet.")
    sign = -1.0 if view.study.direction == "maximize" else 1.0
    best: list[tuple[Any, float]] = []
    so_far: float | None = None
    for trial in done:
        if trial.state == "complete" and trial.value is not None:
            if so_far is None or sign * trial.value < sign * so_far:
                so_far = trial.value
        if so_far is not None:
            best.append((trial.number, so_far))
    groups: dict[str, list[tuple[Any, float]]] = {"best so far": best}
    for state in ("complete", "pruned"):
        points = [(t.number, t.value) for t in done if t.state == state and t.value is not None]
        if points:
            groups[state] = points
    return scatter_figure(f"{metric} by trial", "trial", metric, groups, line=True)


def _importances(study_dir: Path, complete: int) -> str:
    caution = (
        f'<p class="warn">Only {complete} complete trials: importances from so few are '
        "rough; read them as hints, not findings.</p>"
        if complete < FEW_TRIALS
        else ""
    )
    image = png_image(study_dir / "plots" / "param_importances.png", "parameter importances")
    if image is None:
        return caution + missing(
            "No importances: they need two complete trials with different values "
            "(dltrain tune draws plots/param_importances.png)."
        )
    return caution + image


def _param_plots(view: StudyView) -> str:
    metric = view.study.metric or "value"
    figures: list[str] = []
    for key in view.param_keys:
        groups: dict[str, list[tuple[Any, float]]] = {}
        for trial in view.trials:
            if key in trial.params and trial.value is not None:
                groups.setdefault(trial.state, []).append((trial.params[key], trial.value))
        if groups:
            figures.append(scatter_figure(f"{key} against {metric}", key, metric, groups))
    if not figures:
        return missing("No trial with both parameters and a value yet.")
    return f'<div class="figures">{"".join(figures)}</div>'


def _stopped(view: StudyView) -> str:
    stopped = [t for t in view.trials if t.state not in ("complete", "running")]
    if not stopped:
        return "<p>No trial was pruned or failed.</p>"
    rows = [[t.number, t.state, _pruned_at(t), t.reason or "-"] for t in stopped]
    return table(["trial", "state", "pruned at epoch", "reason"], rows, table_id="stopped")


def _pruned_at(trial: TrialRow) -> Any:
    tune = trial.run.tune if trial.run else None
    return tune.pruned_at_epoch if tune else None


def _best_config(view: StudyView) -> str:
    best = next((t for t in view.trials if t.is_best), None)
    if best is None:
        return missing("No best trial yet.")
    base = _base_config(best)
    rows = [
        [key, format_value(base[key]) if key in base else "not readable here", format_value(value)]
        for key, value in best.params.items()
    ]
    body = f"<p>Trial {best.number} differs from the study's base config in:</p>"
    body += table(["key", "base", "best"], rows, table_id="best-diff")
    best_yaml = view.study.path / "best.yaml"
    if best_yaml.is_file():
        body += f"<p>Train it again: <code>dltrain run {esc(best_yaml)}</code></p>"
    return body


def _base_config(trial: TrialRow) -> dict[str, Any]:
    """The base config's keys, flattened: the trial's config files merged, base first (read
    as YAML only; plugins are never imported for a report)."""
    run = trial.run
    if run is None:
        return {}
    try:
        files = read_manifest(run.path / MANIFEST).config_files
    except CheckpointError:  # a damaged run.json costs this column only
        return {}
    merged: dict[str, Any] = {}
    for name in files:
        try:
            document = yaml.safe_load(Path(name).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            return {}
        if isinstance(document, dict):
            merged = deep_merge(
                merged, {k: v for k, v in document.items() if k not in ("extends", "tune")}
            )
    return flatten(merged)

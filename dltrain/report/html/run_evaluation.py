"""A run page's evaluation report: per target the numbers of ``run.json``'s ``evaluation``
(threshold, ECE, R²/MAE/RMSE), the per-class table of ``plots/classification_report*.csv``,
the reliability diagram of ``plots/calibration*.json`` and the residuals by feature. Each
piece appears when its file exists; older runs get a line saying what is missing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dltrain.report.html.document import definition_list, esc, missing, number, table
from dltrain.report.html.figures import reliability_figure
from dltrain.report.html.run_data import RunData, to_float
from dltrain.storage.manifest import TargetEvaluation, ThresholdRecord

__all__ = ["REDRAWN", "evaluation_section", "redrawn"]

REDRAWN = ("calibration", "roc_pr")
"""Stems of ``plots/`` PNGs the page redraws from their JSON (so it does not repeat them)."""


def evaluation_section(run: RunData) -> str:
    """The evaluation report's pieces for every target the run recorded, or a line saying
    the run predates them."""
    body: list[str] = []
    evaluations = run.manifest.evaluation
    for name, record in evaluations.items():
        suffix = "" if len(evaluations) == 1 else f"_{name}"
        body.append(f"<h3>Evaluation report: {esc(name)} ({esc(record.task)})</h3>")
        body.append(definition_list(_facts(record)))
        if record.threshold is not None:
            body.append(_threshold_table(record.threshold, record.split, suffix))
        body.append(_class_report(run, suffix))
        body.append(_calibration(run, suffix))
        body.append(_feature_residuals(run, suffix))
    if not evaluations:
        body.append(
            missing(
                "Evaluation report (per-class table, threshold, calibration, R²/MAE/RMSE): "
                "none in run.json (runs record one since the evaluation reports, when output.plots "
                "is on; see docs/evaluation.md)."
            )
        )
    return "".join(body)


def _facts(record: TargetEvaluation) -> list[tuple[str, Any]]:
    epoch = record.checkpoint_epoch
    facts: list[tuple[str, Any]] = [
        ("predictions of", f"{record.split} split, " + (f"epoch {epoch}" if epoch else "last"))
    ]
    if record.task == "regression":
        return facts + [
            ("R²", number(record.r2)),
            ("MAE", number(record.mae)),
            ("RMSE", number(record.rmse)),
        ]
    facts += [
        ("accuracy", number(record.accuracy)),
        ("macro F1", number(record.macro_f1)),
        ("weighted F1", number(record.weighted_f1)),
    ]
    if record.roc_auc is not None:
        facts.append(("ROC AUC", number(record.roc_auc)))
    if record.calibration is not None:
        c = record.calibration
        facts.append(("ECE", f"{number(c.ece)} ({c.bins} equal-width bins of {c.confidence})"))
    cut = record.threshold
    if cut is not None:
        scores = ", ".join(f"{k} {number(v)}" for k, v in cut.validation.items())
        facts.append(
            ("decision threshold", f"{cut.value:.4g} ({cut.rule} on {cut.split}: {scores})")
        )
    elif record.task == "binary":
        facts.append(("decision threshold", "none chosen (the run has no validation split)"))
    return facts


def _threshold_table(cut: ThresholdRecord, split: str, suffix: str) -> str:
    keys = list(dict.fromkeys([*cut.test_at_default, *cut.test]))
    rows = [[f"{split} {key}", cut.test_at_default.get(key), cut.test.get(key)] for key in keys]
    headers = ["metric", "at 0.5", f"at {cut.value:.4g} (chosen)"]
    return table(headers, rows, table_id=f"threshold{suffix}", sortable=False)


def _class_report(run: RunData, suffix: str) -> str:
    name = f"plots/classification_report{suffix}.csv"
    rows = run.csv_rows(name)
    if rows is None:
        return ""
    headers = ["class", "precision", "recall", "f1", "support"]
    cells = [[row.get("class"), *(to_float(row.get(h)) for h in headers[1:])] for row in rows]
    return f"<h4>Per class ({esc(name)})</h4>" + table(
        headers, cells, table_id=f"classification-report{suffix}"
    )


def _calibration(run: RunData, suffix: str) -> str:
    found = run.json_files(f"plots/calibration{suffix}.json")
    return reliability_figure(found[0][1]) if found else ""


def _feature_residuals(run: RunData, suffix: str) -> str:
    name = f"plots/residuals_by_feature{suffix}.csv"
    rows = run.csv_rows(name)
    if not rows:
        return ""
    headers = list(rows[0])
    cells = [[row.get(headers[0]), *(to_float(row.get(h)) for h in headers[1:])] for row in rows]
    return f"<h4>Residuals by feature ({esc(name)})</h4>" + table(
        headers, cells, table_id=f"residuals-by-feature{suffix}"
    )


def redrawn(path: Path) -> bool:
    """Whether a ``plots/`` PNG is one the page draws itself from its JSON."""
    return path.stem.startswith(REDRAWN)

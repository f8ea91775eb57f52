"""A run page's result sections: curves, classification and regression reports, examples,
explanations and exports. Each returns HTML, saying so where the run folder lacks a piece."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from dltrain.report.html.document import (
    Cell,
    esc,
    missing,
    number,
    png_image,
    table,
)
from dltrain.report.html.figures import curve_figure, heatmap_figure, xy_figure
from dltrain.report.html.run_data import RunData, to_float
from dltrain.report.html.run_evaluation import evaluation_section, redrawn
from dltrain.report.listing import metric_curve
from dltrain.report.plots import epoch_marks, spans_orders

__all__ = [
    "curves_section",
    "examples_section",
    "exports_section",
    "file_link",
    "results_section",
    "shown_plots",
]

_NOT_CURVES = frozenset({"epoch", "learning_rate", "lr", "epoch_time_s"})


def curves_section(run: RunData) -> str:
    """Training and validation curves per metric, the tested checkpoint's and the
    early-stopping epochs marked (as the run's own plots mark them), the learning rate, and
    the per-epoch table."""
    rows = run.metrics
    if not rows:
        return missing("No metrics.csv: the run ended before its first epoch, or the file is lost.")
    columns = list(dict.fromkeys(k for row in rows for k in row))
    names = [c for c in columns if c not in _NOT_CURVES]
    bases = list(dict.fromkeys(c[4:] if c.startswith("val_") else c for c in names))
    m = run.manifest
    # The checkpoint the test metrics come from: run.json's test_checkpoint; runs from before
    # it was recorded were tested with best.keras.
    tested = m.test_checkpoint.epoch if m.test_checkpoint is not None else None
    if tested is None and m.best is not None:
        tested = m.best.epoch
    marks = epoch_marks(tested, m.epochs_completed if m.stopped_early else None)
    figures: list[str] = []
    for base in bases:
        series = {
            label: metric_curve(rows, key)
            for label, key in (("train", base), ("validation", f"val_{base}"))
            if key in columns
        }
        series = {k: v for k, v in series.items() if v}
        if series:
            title = f"{base.replace('_', ' ')} per epoch"
            values = [v for points in series.values() for _, v in points]
            log_y = base == "loss" and spans_orders(values)
            figures.append(curve_figure(title, base, series, marks=marks, log_y=log_y))
    rate = next((c for c in ("learning_rate", "lr") if c in columns), None)
    if rate is not None and len({v for _, v in metric_curve(rows, rate)}) > 1:
        figures.append(
            curve_figure("learning rate", "learning rate", {rate: metric_curve(rows, rate)})
        )
    body = [f'<div class="figures">{"".join(figures)}</div>']
    body.append("<h3>Per epoch (metrics.csv)</h3>")
    body.append(
        table(
            columns, ([_csv_value(row.get(c)) for c in columns] for row in rows), table_id="epochs"
        )
    )
    return "".join(body)


def _csv_value(text: str | None) -> Any:
    value = to_float(text)
    if value is None:
        return text if text not in (None, "") else None
    return int(value) if value.is_integer() and abs(value) < 1e15 else value


def _confusion_files(run: RunData) -> list[tuple[Path, dict[str, Any]]]:
    return [
        (path, doc)
        for path, doc in run.json_files("plots/confusion_matrix*.json")
        if isinstance(doc.get("labels"), list) and isinstance(doc.get("counts"), list)
    ]


def results_section(run: RunData) -> str:
    """Confusion matrices with per-class tables (from ``plots/confusion_matrix*.json``), the
    run's other result plots (regression residuals), and ROC/PR where the run has them."""
    body: list[str] = []
    counted = _confusion_files(run)
    for path, doc in counted:
        labels = [str(x) for x in doc["labels"]]
        counts = [[int(c) for c in row] for row in doc["counts"]]
        caption = str(doc.get("caption") or "")
        total = sum(map(sum, counts))
        title = f"confusion matrix ({caption + ', ' if caption else ''}{total} examples)"
        body.append(f"<h3>{esc(path.stem.replace('_', ' '))}</h3>")
        body.append(heatmap_figure(labels, counts, title))
        report = path.with_name(path.stem.replace("confusion_matrix", "classification_report"))
        if not report.with_suffix(".csv").is_file():  # else the evaluation report shows it
            body.append(_per_class_table(labels, counts, f"per-class-{path.stem}"))
    counted_stems = {path.stem for path, _ in counted}
    for path in shown_plots(run):
        if path.stem in counted_stems or redrawn(path):
            continue
        image = png_image(path, path.stem)
        if image:
            body.append(f"<h3>{esc(path.stem.replace('_', ' '))}</h3>{image}")
    if not body:
        return missing(
            "No test results: the run has no confusion matrix or regression plots "
            "(it ended before the test pass, or output.plots was off)."
        )
    if not counted and any(p.stem.startswith("confusion_matrix") for p in shown_plots(run)):
        body.append(
            missing(
                "The per-class table needs plots/confusion_matrix.json, which runs write "
                "since dltrain report; this run has only the picture."
            )
        )
    body.append(evaluation_section(run))
    curves = _roc_pr(run)
    if curves:
        body.append(curves)
    elif not any("roc" in p.stem or "precision_recall" in p.stem for p in shown_plots(run)) and (
        not run.manifest.evaluation
        or any(e.task == "binary" for e in run.manifest.evaluation.values())
    ):
        body.append(
            missing(
                "ROC and precision-recall curves: none (runs keep them for binary targets, "
                "in plots/roc_pr.json)."
            )
        )
    return "".join(body)


def _roc_pr(run: RunData) -> str:
    """A binary target's ROC and precision-recall curves, from ``plots/roc_pr*.json``."""
    parts: list[str] = []
    for path, doc in run.json_files("plots/roc_pr*.json"):
        roc, pr = doc.get("roc"), doc.get("pr")
        if not isinstance(roc, list) or not isinstance(pr, list):
            continue
        auc, ap = to_float(doc.get("roc_auc")), to_float(doc.get("average_precision"))
        roc_points = [(float(x), float(y)) for x, y in roc]
        pr_points = [(float(x), float(y)) for x, y in pr]
        parts.append(
            f'<h3>{esc(path.stem.replace("_", " "))}</h3><div class="figures">'
            + xy_figure(
                f"ROC (area {number(auc)})", "false positive rate", "true positive rate", roc_points
            )
            + xy_figure(
                f"precision-recall (average precision {number(ap)})",
                "recall",
                "precision",
                pr_points,
            )
            + "</div>"
        )
    return "".join(parts)


def shown_plots(run: RunData) -> list[Path]:
    """The result PNGs of ``plots/`` (the curves are redrawn from metrics.csv instead)."""
    folder = run.path / "plots"
    if not folder.is_dir():
        return []
    curve_names = {"loss", "learning_rate"} | {
        c for row in run.metrics[:1] for c in row if not c.startswith("val_")
    }
    return [p for p in sorted(folder.glob("*.png")) if p.stem not in curve_names and p.is_file()]


def _per_class_table(labels: list[str], counts: list[list[int]], table_id: str) -> str:
    import numpy as np

    from dltrain.report.classification import classification_report

    n = len(labels)
    square = np.zeros((n, n), dtype=np.int64)
    for i, row in enumerate(counts[:n]):
        square[i, : min(n, len(row))] = row[:n]
    report = classification_report(square, labels)[:n]
    rows = [[r.label, r.support, r.predicted, r.precision, r.recall, r.f1] for r in report]
    headers = ["class", "support (true)", "predicted", "precision", "recall", "F1"]
    return table(headers, rows, table_id=table_id)


def examples_section(run: RunData) -> str:
    """The gallery of test examples with their predictions, worst mistakes first (images as
    thumbnails, other inputs as the row's fields), from ``plots/examples.json``."""
    found = run.json_files("plots/examples.json")
    examples = found[0][1].get("examples") if found else None
    if not isinstance(examples, list):
        return missing(
            "No test examples with predictions: this run folder has no plots/examples.json "
            "(runs write it since dltrain report, when output.plots is on), and the page is "
            "built from the folder alone (it never loads the model). The per-class table "
            "under Results shows where the mistakes are."
        )
    if not examples:
        return "<p>No mistakes on the test split: every example was classified correctly.</p>"
    rows: list[list[Any]] = []
    fields = list(
        dict.fromkeys(k for e in examples if isinstance(e, dict) for k in (e.get("fields") or {}))
    )
    for example in examples:
        if not isinstance(example, dict):
            continue
        picture = example.get("image")
        image = (
            png_image(
                run.path / "plots" / str(picture),
                f"test example {example.get('index')}",
                css_class="thumb",
            )
            if isinstance(picture, str)
            else None
        )
        given = example.get("fields")
        extra: dict[str, Any] = given if isinstance(given, dict) else {}
        rows.append(
            [
                Cell(image or "-"),
                example.get("index"),
                example.get("true"),
                example.get("predicted"),
                example.get("score"),
                *(extra.get(k) for k in fields),
            ]
        )
    caption = found[0][1].get("caption")
    what = "confidence in the wrong class" if _classified(examples) else "absolute error"
    intro = (
        f"<p>The test examples the run got most wrong, worst first ({esc(what)} in the "
        f"score column{'; ' + esc(caption) if caption else ''}).</p>"
    )
    headers = ["example", "test index", "true", "predicted", "score", *fields]
    return intro + table(headers, rows, table_id="examples")


def _classified(examples: list[Any]) -> bool:
    """Whether the examples are classifications (regression's true values are floats)."""
    return not all(isinstance(e, dict) and isinstance(e.get("true"), float) for e in examples)


def exports_section(run: RunData, page_dir: Path) -> str:
    """Explanations (``explain/``), exports (``export/*.export.json``) and benchmarks."""
    body: list[str] = []
    explain = run.path / "explain"
    if explain.is_dir():
        pictures = [png_image(p, p.stem) for p in sorted(explain.glob("*.png"))]
        files = sorted(p for p in explain.rglob("*") if p.is_file())
        body.append("<h3>Explanations</h3>")
        body.append('<div class="figures">' + "".join(p for p in pictures if p) + "</div>")
        body.append(_file_links(files, page_dir))
    else:
        body.append(missing("Explanations: none (dltrain explain writes them into explain/)."))
    records = run.json_files("export/*.export.json") + run.json_files("export/**/*.export.json")
    seen: set[Path] = set()
    rows: list[list[Any]] = []
    for path, record in records:
        if path in seen:
            continue
        seen.add(path)
        verification = record.get("verification")
        check: dict[str, Any] = verification if isinstance(verification, dict) else {}
        rows.append(
            [
                record.get("format"),
                record.get("quantize"),
                record.get("artifact"),
                to_float(record.get("size_bytes")),
                check.get("status"),
                to_float(check.get("max_abs_diff")),
                to_float(check.get("latency_ms_per_example")),
            ]
        )
    if rows:
        headers = [
            "format",
            "quantize",
            "artifact",
            "bytes",
            "verification",
            "max |diff|",
            "ms per example",
        ]
        body.append("<h3>Exports and benchmark</h3>" + table(headers, rows, table_id="exports"))
    else:
        body.append(
            missing("Exports and benchmarks: none (dltrain export writes them into export/).")
        )
    return "".join(body)


def _file_links(files: list[Path], page_dir: Path) -> str:
    items = [
        f'<li><a href="{esc(_relative(p, page_dir))}">{esc(p.name)}</a> '
        f"({number(p.stat().st_size)} bytes)</li>"
        for p in files
    ]
    return f"<ul>{''.join(items)}</ul>" if items else ""


def _relative(path: Path, page_dir: Path) -> str:
    """The link from the page's folder to ``path``, percent-encoded (names may hold spaces)."""
    return quote(Path(os.path.relpath(path.resolve(), page_dir.resolve())).as_posix())


def file_link(path: Path, page_dir: Path, text: str | None = None) -> Cell:
    """A link to ``path`` relative to the page's folder (shown as missing if it is gone)."""
    if not path.exists():
        return Cell(esc(f"{text or path.name} (missing)"))
    return Cell(f'<a href="{esc(_relative(path, page_dir))}">{esc(text or path.name)}</a>')

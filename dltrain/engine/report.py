"""``dltrain report``: one offline HTML page for a run, a study or a comparison of runs.

The page is built from the folders' files alone, so it works for old runs, copied runs,
trials and runs of earlier versions; TensorFlow is never imported. It is written atomically:
a reader (or a browser refreshing it) never sees half a page.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from dltrain.errors import RunFolderError, UsageError
from dltrain.storage import MANIFEST, atomic_write_text, utc_now

__all__ = ["PAGE_NAME", "ReportPage", "write_report_page"]

PAGE_NAME = "report.html"
"""A run's or a study's page, inside its folder."""


@dataclass
class ReportPage:
    """What ``dltrain report`` wrote."""

    kind: Literal["run", "study", "comparison"]
    path: Path
    size_bytes: int
    trial_pages: list[Path] = field(default_factory=list)
    """A study's trial pages (each in its trial's run folder), linked from its trials table."""


def write_report_page(
    targets: Sequence[Path],
    output: Path | None = None,
    *,
    metric: str | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> ReportPage:
    """Write the page of one run folder, one study folder, or two or more runs compared.

    Args:
        targets: One run or study folder, or several run folders (a comparison).
        output: The HTML file; default ``<run>/report.html``, ``<study>/report.html``, or
            ``compare-<UTC time>.html`` in the runs folder of the first run compared.
        metric: A comparison's overlaid curve (a ``metrics.csv`` column); default
            ``val_accuracy`` when every run has it, else ``val_loss``.
        clock: The time in a comparison's default file name.

    Raises:
        UsageError: no target, a target that is no run or study folder, a run given twice,
            ``metric`` for a single folder or in no run, or ``output`` is a folder.
        RunFolderError: the page cannot be written.
    """
    from dltrain.report.html import (
        build_comparison_page,
        build_run_page,
        build_study_page,
        read_run,
    )
    from dltrain.report.listing import list_runs
    from dltrain.report.study_listing import is_study_folder, read_study

    if not targets:
        raise UsageError("report needs a run folder, a study folder, or two or more runs")
    for target in targets:
        if not target.is_dir():
            raise UsageError(f"{target}: no such folder")
    if output is not None and output.is_dir():
        raise UsageError(f"{output}: is a folder; give a file name, e.g. {output / PAGE_NAME}")
    if len(targets) == 1 and metric is not None:
        raise UsageError(
            f"--metric chooses the overlaid curve of a comparison; give two or more runs. "
            f"Received: --metric {metric} with one folder"
        )
    if len(targets) == 1 and is_study_folder(targets[0]) and not (targets[0] / MANIFEST).exists():
        study_dir = targets[0]
        page_path = output or study_dir / PAGE_NAME
        view = read_study(study_dir)
        trial_pages: dict[int, Path] = {}
        for trial in view.trials:
            if trial.run is not None:
                run = read_run(trial.run.path)
                trial_page = trial.run.path / PAGE_NAME
                _write(trial_page, build_run_page(run, trial_page.parent).render())
                trial_pages[trial.number] = trial_page
        html = build_study_page(view, page_path.parent, trial_pages).render()
        return ReportPage("study", page_path, _write(page_path, html), list(trial_pages.values()))
    if len(targets) == 1:
        run = read_run(targets[0])
        page_path = output or targets[0] / PAGE_NAME
        html = build_run_page(run, page_path.parent).render()
        return ReportPage("run", page_path, _write(page_path, html))
    seen: set[Path] = set()
    for target in targets:
        if target.resolve() in seen:
            raise UsageError(f"{target}: the same run is given twice")
        seen.add(target.resolve())
    runs = [read_run(target) for target in targets]
    summaries = [list_runs(target)[0] for target in targets]
    page_path = output or _comparison_path(targets[0], clock)
    page = build_comparison_page(runs, summaries, page_path.parent, metric)
    return ReportPage("comparison", page_path, _write(page_path, page.render()))


def _write(path: Path, html: str) -> int:
    try:
        atomic_write_text(path, html)
    except OSError as exc:
        raise RunFolderError(f"{path}: cannot write the report ({exc.strerror or exc})") from exc
    return len(html.encode("utf-8"))


def _comparison_path(first_run: Path, clock: Callable[[], datetime]) -> Path:
    """``compare-<stamp>.html`` beside the runs (``runs/``, the folder above ``<name>/``),
    never over an earlier comparison."""
    runs_dir = first_run.resolve().parent.parent
    stamp = clock().astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    for k in range(1000):
        candidate = runs_dir / (f"compare-{stamp}.html" if k == 0 else f"compare-{stamp}-{k}.html")
        if not candidate.exists():
            return candidate
    raise UsageError(f"{runs_dir}: a thousand comparisons at {stamp}; give -o")

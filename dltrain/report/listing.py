"""``dltrain runs`` and ``dltrain compare``: summaries of run folders, config diffs, metrics."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from dltrain.config.diff import flatten
from dltrain.config.layer_form import short_form
from dltrain.config.saved import read_saved_config
from dltrain.errors import CheckpointError, RunFolderError, UsageError
from dltrain.report.seed_stats import SEEDS_FILE
from dltrain.storage import MANIFEST, RunFolder, utc_now
from dltrain.storage.lock import is_locked, pid_alive
from dltrain.storage.manifest import TuneRecord

__all__ = [
    "MISSING",
    "UNREADABLE",
    "Comparison",
    "RunSummary",
    "as_number",
    "compare_runs",
    "config_differences",
    "latest_run",
    "list_runs",
    "metric_curve",
    "metric_rows",
    "overlay_metric",
]

MISSING = "-"
"""Shown for a value a run does not have (a crashed run, a key absent from its config)."""

UNREADABLE = "unreadable"
"""The status of a run whose ``run.json`` cannot be read."""
_STAMP = re.compile(r"^(\d{8}T\d{6}Z)(?:-(\d+))?$")
_SPLITS = ("test", "validation", "train")


@dataclass
class RunSummary:
    """One row of ``dltrain runs``: what a run folder's ``run.json`` says, missing parts as None.

    ``status`` is the manifest's (``running``, ``completed``, ``failed``, ``interrupted``) or
    ``"unreadable"`` when ``run.json`` cannot be read; ``error`` then says why.
    """

    name: str
    path: Path
    status: str
    epochs_completed: int | None = None
    epochs_planned: int | None = None
    best: tuple[str, float] | None = None
    """(monitor, value), e.g. ``("val_loss", 0.31)``."""
    best_epoch: int | None = None
    test_metric: tuple[str, float] | None = None
    """The primary test metric: ``accuracy`` when the run has it, else ``loss``."""
    final_metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    """split (``train``, ``validation``, ``test``) -> metric name -> value."""
    duration_s: float | None = None
    started_at: str | None = None
    error: str | None = None
    data: str | None = None
    """What the run trained on, from its config.yaml: the data kind and file, e.g.
    ``fashion_mnist`` or ``csv houses.csv``."""
    description: str | None = None
    """The config's ``description``."""
    tune: TuneRecord | None = None
    """A tuning trial's record (``run.json``'s ``tune``), written when the trial ends."""

    @property
    def started(self) -> datetime:
        """When the run started (UTC): its folder's stamp, else ``started_at``, else mtime."""
        return _newest_first_key(self)[0]

    @property
    def epochs(self) -> str:
        """``"completed/planned"`` for display, :data:`MISSING` for an unknown part."""
        done, planned = self.epochs_completed, self.epochs_planned
        if done is None and planned is None:
            return MISSING
        return f"{MISSING if done is None else done}/{MISSING if planned is None else planned}"

    @property
    def test_metrics(self) -> dict[str, float]:
        """Every final test metric of the run."""
        return self.final_metrics.get("test", {})


@dataclass
class Comparison:
    """``dltrain compare``: runs side by side.

    ``config_diff`` and ``metrics`` rows hold one value per run, in the order of ``runs``;
    :data:`MISSING` (``"-"``) stands for a value a run does not have.
    """

    runs: list[RunSummary]
    config_diff: list[tuple[str, list[Any]]]
    """(dotted key path like ``optimizer.learning_rate`` or ``model.layers[1].Dense.units``,
    values) for every key whose value is not the same in all runs."""
    metrics: list[tuple[str, list[float | str]]]
    """(``"test/accuracy"``, ``"validation/loss"``, ``"best/val_loss"``, ..., values)."""
    plot: Path | None
    """The overlaid validation curves, or None when no run has any."""


def list_runs(runs_dir: Path) -> list[RunSummary]:
    """Summarize every run under ``runs_dir``, newest first.

    Run folders are ``runs_dir/<name>/<stamp>/`` (a folder one level down that holds a
    ``run.json`` is taken as a run too, so ``runs_dir`` may also be one ``runs/<name>``;
    and ``runs_dir`` itself may be one run folder, which lists that run).
    A run whose ``run.json`` cannot be read is listed with status ``"unreadable"``.

    Args:
        runs_dir: The runs directory (``runs/`` by default in the CLI).

    Returns:
        Summaries sorted by start time, newest first; empty when there are no runs.

    Raises:
        UsageError: ``runs_dir`` does not exist or is not a folder.
    """
    if not runs_dir.exists():
        raise UsageError(f"{runs_dir}: no such folder")
    if not runs_dir.is_dir():
        raise UsageError(f"{runs_dir}: not a folder")
    if (runs_dir / MANIFEST).exists():
        return [_summarize_path(runs_dir)]
    folders: list[Path] = []
    for child in _subdirs(runs_dir):
        if (child / MANIFEST).exists():
            folders.append(child)
        elif (child / SEEDS_FILE).exists():
            folders.extend(_seed_runs(child))
        else:
            for grandchild in _subdirs(child):
                if (grandchild / MANIFEST).exists():
                    folders.append(grandchild)
                elif (grandchild / SEEDS_FILE).exists():
                    folders.extend(_seed_runs(grandchild))
    summaries = [_summarize_path(folder) for folder in folders]
    summaries.sort(key=_newest_first_key, reverse=True)
    return summaries


def compare_runs(
    run_dirs: list[Path],
    plot_path: Path | None = None,
    *,
    metric: str | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> Comparison:
    """Compare runs: config differences, final metrics side by side, overlaid curves.

    The plot overlays each run's ``val_accuracy`` per epoch when every run has it, else
    ``val_loss``. By default it is written to ``compare-<UTC timestamp>.png`` in the runs
    directory of the first run (the folder that holds ``<name>/<stamp>/``): beside the runs
    rather than inside one of them (run folders belong to their run) or in the working
    directory, and never overwriting an earlier comparison.

    Args:
        run_dirs: Two or more run folders.
        plot_path: Where to write the PNG instead of the default.
        metric: The ``metrics.csv`` column to overlay instead of the default.
        clock: Source of the default file name's timestamp.

    Returns:
        The comparison; ``plot`` is None when no run has validation curves.

    Raises:
        UsageError: fewer than two runs, the same run given twice, or ``metric`` is in no
            run's metrics.csv.
        CheckpointError: a folder is not a readable run folder, or its config.yaml is broken.
        RunFolderError: the plot cannot be written.
    """
    if len(run_dirs) < 2:
        raise UsageError(
            f"compare needs at least two run folders. Received: {len(run_dirs)} "
            f"({', '.join(str(p) for p in run_dirs) or 'none'})"
        )
    seen: set[Path] = set()
    for path in run_dirs:
        key = path.resolve()
        if key in seen:
            raise UsageError(f"{path}: the same run is given twice")
        seen.add(key)
    folders = [RunFolder.open(path) for path in run_dirs]
    runs = [_summarize(folder) for folder in folders]
    config_diff = config_differences([folder.path for folder in folders])
    metrics = metric_rows(runs)

    histories = [folder.read_metrics() for folder in folders]
    chosen = metric or overlay_metric(histories)
    curves: dict[str, list[tuple[int, float]]] = {}
    for index, (run, rows) in enumerate(zip(runs, histories, strict=True)):
        points = metric_curve(rows, chosen)
        if points:
            label = f"{run.name}/{run.path.name}"
            curves[label if label not in curves else f"{label} ({index + 1})"] = points
    if not curves and metric is not None:
        raise UsageError(f"--metric {metric}: no run has it. {_columns_hint(histories)}")
    plot: Path | None = None
    if curves:
        from dltrain.report.plots import write_comparison_plot

        target = plot_path or _default_plot_path(run_dirs[0], clock)
        plot = write_comparison_plot(target, curves, chosen)
    return Comparison(runs=runs, config_diff=config_diff, metrics=metrics, plot=plot)


# ---------------------------------------------------------------------------- summaries


def _seed_runs(group: Path) -> list[Path]:
    return [r for seed in _subdirs(group) for r in _subdirs(seed) if (r / MANIFEST).exists()]


def _subdirs(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.is_dir())
    except OSError:
        return []


def _summarize_path(path: Path) -> RunSummary:
    try:
        return _summarize(RunFolder.open(path))
    except (CheckpointError, RunFolderError) as exc:  # RunFolderError: a subfolder links out
        name = path.parent.name if _STAMP.match(path.name) else path.name
        return RunSummary(name=name, path=path, status=UNREADABLE, error=exc.message)


def _summarize(folder: RunFolder) -> RunSummary:
    m = folder.manifest
    path = folder.path
    default_name = path.parent.name if _STAMP.match(path.name) else path.name
    finals = {
        split: {k: v for k, v in values.items() if not math.isnan(v)}
        for split, values in m.final_metrics.items()
    }
    test = finals.get("test", {})
    primary = next((k for k in ("accuracy", "loss") if k in test), None)
    best = m.best
    try:
        config = _mapping(_read_config(path))
    except CheckpointError:
        config = {}  # a damaged config.yaml costs the data and description cells, not the row
    description = config.get("description")
    return RunSummary(
        name=m.name or default_name,
        path=path,
        status=_live_status(folder),
        epochs_completed=m.epochs_completed,
        epochs_planned=m.epochs_planned,
        best=(best.monitor, best.value) if best else None,
        best_epoch=best.epoch if best else None,
        test_metric=(primary, test[primary]) if primary else None,
        final_metrics=finals,
        duration_s=_duration(m.timings.get("total_s"), m.started_at, m.finished_at),
        started_at=m.started_at,
        error=m.error,
        data=_data_label(_mapping(config.get("data"))),
        description=str(description) if description not in (None, "") else None,
        tune=m.tune,
    )


def _data_label(data: dict[str, Any]) -> str | None:
    """``mnist``, ``fashion_mnist mnist.npz``, ``csv houses.csv``: kind and file name."""
    kind = data.get("kind") or ("csv" if data.get("target") else None)
    if kind is None:
        return None
    source = data.get("path") or data.get("train_path")
    return f"{kind} {Path(str(source)).name}" if source else str(kind)


def latest_run(folder: Path) -> Path | None:
    """The newest run folder directly inside ``folder`` (a ``runs/<name>`` folder), if any."""
    runs = [r.path for r in list_runs(folder) if r.path.parent == folder]
    return runs[0] if runs else None


def _newest_first_key(run: RunSummary) -> tuple[datetime, int, str]:
    """Sort key: the folder's timestamp (and -k suffix), else ``started_at``, else mtime."""
    match = _STAMP.match(run.path.name)
    when: datetime | None = None
    if match:
        try:
            when = datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ")
        except ValueError:  # stamp-shaped but no date (day 00): a folder renamed by hand
            match = None
        else:
            when = when.replace(tzinfo=timezone.utc)
    if when is None and run.started_at:
        when = _parse_time(run.started_at)
    if when is None:
        try:
            mtime = (run.path / MANIFEST).stat().st_mtime
        except OSError:
            mtime = 0.0
        when = datetime.fromtimestamp(mtime, timezone.utc)
    return when, int(match.group(2) or 0) if match else 0, str(run.path)


STALE = "stale"
"""The status shown for a run whose manifest says running but whose process is gone."""


def _live_status(folder: RunFolder) -> str:
    """The manifest's status, or :data:`STALE` when no live process writes the run any more.

    The run's lock says whether its writer lives (the kernel drops it with the process);
    folders from before locks are judged by whether their recorded pid still runs.
    """
    status = folder.manifest.status
    if status not in ("created", "running"):
        return status
    locked = is_locked(folder.path)
    if locked is None:
        locked = _pid_alive(folder.manifest.pid)
    return status if locked else STALE


def _pid_alive(pid: int | None) -> bool:
    return pid_alive(pid) if pid else True  # nothing to tell by: do not call it dead


def _mapping(value: Any) -> dict[str, Any]:
    """A section of a run's config.yaml, or ``{}`` when it is absent or not a mapping."""
    return value if isinstance(value, dict) else {}


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _duration(total_s: Any, started: Any, finished: Any) -> float | None:
    """``timings.total_s``, else finished_at - started_at (older or partial manifests)."""
    total = as_number(total_s)
    start, end = _parse_time(started), _parse_time(finished)
    if total is None and start and end:
        total = (end - start).total_seconds()
    return total


def as_number(value: Any) -> float | None:
    """A CSV cell or JSON value as a float; None for blanks, text, booleans and NaN."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _integer(value: Any) -> int | None:
    number = as_number(value)
    return int(number) if number is not None and number.is_integer() else None


# -------------------------------------------------------------------------- comparison
def _read_config(path: Path) -> Any:
    # A run that crashed before writing its config: every key shows "-".
    return read_saved_config(path) or {}


def config_differences(
    run_dirs: list[Path], *, ignore: frozenset[str] = frozenset()
) -> list[tuple[str, list[Any]]]:
    """(dotted key, one value per run) for every config key whose value differs between the
    runs (:data:`MISSING` where a run lacks it), keys in ``ignore`` left out.

    Raises:
        CheckpointError: a run's config.yaml is missing or broken.
    """
    # Older run folders wrote layers in the long form; compare keys as users write them.
    configs = [flatten(short_form(_read_config(path))) for path in run_dirs]
    return [row for row in _diff(configs) if row[0] not in ignore]


def _diff(configs: list[dict[str, Any]]) -> list[tuple[str, list[Any]]]:
    keys = list(dict.fromkeys(key for config in configs for key in config))
    rows: list[tuple[str, list[Any]]] = []
    for key in keys:
        present = [key in config for config in configs]
        values = [config[key] if key in config else MISSING for config in configs]
        # 1 == 1.0 == True in Python; compare types too, so `1` against `true` shows up.
        distinct = {(type(v).__name__, repr(v)) for v in values}
        if not all(present) or len(distinct) > 1:
            rows.append((key, values))
    return rows


def metric_rows(runs: list[RunSummary]) -> list[tuple[str, list[float | str]]]:
    """Final metrics side by side: ``("test/accuracy", value per run)``, then ``best/...``."""
    rows: list[tuple[str, list[float | str]]] = []
    for split in _SPLITS:
        names = dict.fromkeys(n for run in runs for n in run.final_metrics.get(split, {}))
        for name in names:
            values: list[float | str] = [
                run.final_metrics.get(split, {}).get(name, MISSING) for run in runs
            ]
            rows.append((f"{split}/{name}", values))
    monitors = dict.fromkeys(run.best[0] for run in runs if run.best)
    for monitor in monitors:
        best: list[float | str] = [
            run.best[1] if run.best and run.best[0] == monitor else MISSING for run in runs
        ]
        rows.append((f"best/{monitor}", best))
    return rows


def overlay_metric(histories: list[list[dict[str, str]]]) -> str:
    """The curve a comparison overlays by default: ``val_accuracy`` when every run has it,
    else ``val_loss``."""
    return (
        "val_accuracy"
        if all(metric_curve(rows, "val_accuracy") for rows in histories)
        else "val_loss"
    )


def _columns_hint(histories: list[list[dict[str, str]]]) -> str:
    names = dict.fromkeys(k for rows in histories for row in rows[:1] for k in row if k != "epoch")
    return f"The runs have: {', '.join(names)}" if names else "The runs have no metrics.csv rows."


def metric_curve(rows: list[dict[str, str]], metric: str) -> list[tuple[int, float]]:
    """``(epoch, value)`` for the rows where ``metric`` is a number (row number if no epoch)."""
    points: list[tuple[int, float]] = []
    for number, row in enumerate(rows, start=1):
        value = as_number(row.get(metric))
        if value is not None:
            epoch = _integer(row.get("epoch"))
            points.append((number if epoch is None else epoch, value))
    return points


def _default_plot_path(first_run: Path, clock: Callable[[], datetime]) -> Path:
    runs_dir = first_run.parent.parent if _STAMP.match(first_run.name) else first_run.parent
    stamp = clock().astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    for k in range(1000):
        candidate = runs_dir / (f"compare-{stamp}.png" if k == 0 else f"compare-{stamp}-{k}.png")
        if not candidate.exists():
            return candidate
    return candidate  # pragma: no cover - a thousand comparisons in one second

"""``dltrain runs``: run, study and trial tables that fit the terminal (80 columns and up).

Each table is a list of columns: the ones that say what a row is always show, with every
value whole (four significant digits, short stamps, short durations); the others follow in
order while they fit; ``--wide`` shows them all at whatever width they need. Names and paths
fold rather than end in an ellipsis, so what is shown can be copied.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rich import box
from rich.console import Console
from rich.segment import Segments
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from dltrain.report.listing import RunSummary
    from dltrain.report.study_listing import StudyInfo, StudyView

__all__ = ["format_duration", "render_runs_table", "render_studies_table", "render_study"]

_SAME_SECOND = re.compile(r"^\d{8}T\d{6}Z-(\d+)$")
_GAP = 2
"""Characters between two columns of the listing tables (``box.SIMPLE_HEAD``'s blank
separator and one character of padding on the right: every character counts at 80)."""

_STATUS_STYLES = {
    "completed": "green",
    "complete": "green",
    "running": "cyan",
    "failed": "red",
    "unreadable": "red",
    "interrupted": "yellow",
    "stale": "yellow",
    "pruned": "dim",
}


@dataclass
class _Column:
    """A column of a listing table: required ones always show, the others while they fit."""

    header: str
    cells: list[str]
    required: bool = True
    numeric: bool = False
    wraps: bool = False
    """Cells may wrap anywhere (names, paths); else a cell stays whole, or with ``breaks``
    may break at its spaces (``accuracy 0.9100``); headers always wrap at spaces."""
    styles: list[str] | None = None
    breaks: bool = False

    @property
    def width(self) -> int:
        return max([len(self.header), *(len(c) for c in self.cells)])

    @property
    def narrow(self) -> int:
        """The width with the header wrapped at its spaces (names and paths: 20 at most)."""
        cells = max((len(c) for c in self.cells), default=0)
        if self.wraps:
            cells = min(cells, 20)
        return max([cells, *(len(w) for w in self.header.split())])

    @property
    def min_width(self) -> int | None:
        if self.wraps:
            return None
        parts = [w for c in self.cells for w in c.split()] if self.breaks else self.cells
        return max((len(p) for p in parts), default=0) or None


def _fit(columns: list[_Column], width: int, wide: bool) -> list[_Column]:
    """Required columns, then each optional one (in order) while the table still fits."""
    if wide:
        return columns
    chosen = [c for c in columns if c.required]
    used = sum(c.narrow for c in chosen) + _GAP * (len(chosen) - 1)
    for column in columns:
        if not column.required and used + _GAP + column.narrow <= width:
            chosen.append(column)
            used += _GAP + column.narrow
    return [c for c in columns if any(c is k for k in chosen)]  # keep the given order


def _widths(shown: list[_Column], width: int) -> list[int]:
    """Column widths that fill ``width``: every value whole, then names up to 20 characters,
    then headers and ``breaks`` cells on one line, then names and paths in full.

    Computed here rather than by Rich, whose last resort shrinks every column evenly and so
    cuts the values this table is for.
    """
    words = [max(len(w) for w in c.header.split()) for c in shown]
    sizes = [
        min(c.width, 8) if c.wraps else max(c.min_width or 0, h)
        for c, h in zip(shown, words, strict=True)
    ]
    spare = width - _GAP * (len(shown) - 1) - 1 - sum(sizes)  # the last pads on its right only
    for grow, cap in ((True, 20), (False, None), (True, None)):
        for i, column in enumerate(shown):
            if column.wraps == grow and spare > 0:
                target = column.width if cap is None else min(column.width, cap)
                step = min(spare, max(0, target - sizes[i]))
                sizes[i] += step
                spare -= step
    return sizes


def _listing_table(
    shown: list[_Column], rows: int, width: int | None, title: str | None = None
) -> Table:
    """The table of ``shown``; fitted to ``width`` (None: as wide as it needs, ``--wide``)."""
    table = Table(
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 1, 0, 0),
        title=title,
        title_justify="left",
    )
    sizes = _widths(shown, width) if width is not None else [None] * len(shown)
    for column, size in zip(shown, sizes, strict=True):
        # Values never wrap or lose digits; names and paths fold rather than end in "…".
        table.add_column(
            column.header,
            justify="right" if column.numeric else "left",
            width=size,
            min_width=column.min_width,
            overflow="fold",
        )
    for i in range(rows):
        table.add_row(
            *[
                Text(c.cells[i], style=c.styles[i] if c.styles else "")
                for c in shown  # Text: user strings are never read as Rich markup
            ]
        )
    return table


def _fit_width(console: Console, wide: bool) -> int | None:
    return None if wide else console.width


def _print_table(console: Console, table: Table, shown: list[_Column], wide: bool) -> None:
    """The table in the console's width; ``wide``: as wide as its columns need, every cell
    on one line (for ``less -S`` or a wide window), whatever the terminal's width."""
    # make_console soft-wraps (long paths stay whole); a table must keep to the width.
    if not wide:
        console.print(table, soft_wrap=False)
        return
    needed = max(sum(c.width for c in shown) + _GAP * len(shown), console.width)
    lines = console.render(table, console.options.update_width(needed))
    console.print(Segments(lines), soft_wrap=True, crop=False)


def _sig(value: float | None) -> str:
    """Four significant digits, trailing zeros kept so a column lines up: ``0.9100``."""
    if value is None:
        return "-"
    if not math.isfinite(value):
        return str(value)
    text = f"{value:#.4g}"
    return text[:-1] if text.endswith(".") else text


def format_duration(seconds: float | None) -> str:
    """``42.5s``, ``3m05s``, ``2h07m``, ``3d04h``: two units at most."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    for size, unit, small, small_unit in ((86400, "d", 3600, "h"), (3600, "h", 60, "m")):
        if whole >= size:
            return f"{whole // size}{unit}{whole % size // small:02d}{small_unit}"
    return f"{whole // 60}m{whole % 60:02d}s"


def _stamps(runs: list[RunSummary]) -> list[str]:
    """``12-05 01:11`` (UTC), the year too when the runs span several; ``-k`` for a run
    that started in the same second as another of its name."""
    years = {run.started.year for run in runs}
    pattern = "%m-%d %H:%M" if len(years) <= 1 else "%y-%m-%d %H:%M"
    stamps = []
    for run in runs:
        same_second = _SAME_SECOND.match(run.path.name)
        suffix = f"-{same_second.group(1)}" if same_second else ""
        stamps.append(run.started.strftime(pattern) + suffix)
    return stamps


def _metric_column(title: str, values: list[tuple[str, float] | None]) -> _Column:
    """``best val_loss`` over bare values when every run has that metric, else names in cells."""
    names = {v[0] for v in values if v is not None}
    if len(names) <= 1:
        header = f"{title} {next(iter(names))}" if names else title
        cells = [_sig(v[1]) if v else "-" for v in values]
    else:
        header = title
        cells = [f"{v[0]} {_sig(v[1])}" if v else "-" for v in values]
    return _Column(header, cells, numeric=True, breaks=len(names) > 1)


def _run_columns(runs: list[RunSummary]) -> list[_Column]:
    """The columns of a run listing, required first in their place, optional in order."""
    statuses = [run.status for run in runs]
    return [
        _Column("name", [run.name for run in runs], wraps=True),
        _Column("started", _stamps(runs)),
        _Column("run", [run.path.name for run in runs], required=False),
        _Column("status", statuses, styles=[_STATUS_STYLES.get(s, "") for s in statuses]),
        _Column("epochs", [run.epochs for run in runs], numeric=True),
        _metric_column("best", [run.best for run in runs]),
        _metric_column("test", [run.test_metric for run in runs]),
        _Column("time", [format_duration(run.duration_s) for run in runs], numeric=True),
        _Column("data", [run.data or "-" for run in runs], required=False),
        *(
            [_Column("description", [r.description or "" for r in runs], False, wraps=True)]
            if any(run.description for run in runs)  # no empty column when none has one
            else []
        ),
        _Column("path", [str(run.path) for run in runs], required=False, wraps=True),
    ]


def render_runs_table(console: Console, runs: list[RunSummary], *, wide: bool = False) -> None:
    """``dltrain runs``: one row per run, in the console's width.

    Name, start (``12-05 01:11``, UTC), status, epochs, the best monitored value, the test
    metric and the duration always show, with four significant digits; the run folder's
    name, the data, the description and the path follow while they fit (``wide``: all).
    """
    if runs:
        shown = _fit(_run_columns(runs), console.width, wide)
        _print_table(
            console, _listing_table(shown, len(runs), _fit_width(console, wide)), shown, wide
        )
    else:
        console.print("no runs found", markup=False)


def _short_keys(keys: list[str]) -> dict[str, str]:
    """``optimizer.learning_rate`` -> ``learning_rate``; where two end alike, the nearest
    part above that is not a layer class comes first, after a space so that the header
    wraps there: ``layers[1] units``."""

    def name(key: str, depth: int) -> str:
        parts = key.split(".")
        kept = [parts[-1]] + [p for p in reversed(parts[:-1]) if not p[:1].isupper()]
        return " ".join(reversed(kept[:depth]))

    short: dict[str, str] = {}
    for depth in range(1, max((k.count(".") + 1 for k in keys), default=1) + 1):
        names = {k: name(k, depth) for k in keys if k not in short}
        for key, text in names.items():
            if list(names.values()).count(text) == 1:
                short[key] = text
    return {k: short.get(k, k) for k in keys}


def _param(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


def _direction(direction: str | None) -> str:
    return {"minimize": "min", "maximize": "max"}.get(direction or "", "?")


def render_study(console: Console, view: StudyView, *, wide: bool = False) -> None:
    """``dltrain runs STUDY_DIR``: the study's metric, then one row per trial with its
    parameters (as many as fit, all with ``wide``); ``*`` marks the best trial."""
    study, trials = view.study, view.trials
    tally = study.counts or {t.state: sum(u.state == t.state for u in trials) for t in trials}
    counts = ", ".join(f"{n} {state}" for state, n in tally.items() if n)
    planned = f" of {study.trials_planned} planned" if study.trials_planned is not None else ""
    best = (
        f"; best {_sig(study.best_value)} (trial {study.best_trial} *)"
        if study.best_trial is not None
        else ""
    )
    console.print(
        f"study {study.name}: {study.metric or '?'} ({study.direction or 'direction unknown'})",
        markup=False,
        soft_wrap=False,
    )
    console.print(f"trials: {counts or 'none'}{planned}{best}", markup=False, soft_wrap=False)
    if study.error:
        console.print(study.error, markup=False, style="yellow")
    if not trials:
        return
    runs = [t.run for t in trials]
    short = _short_keys(view.param_keys)
    columns = [
        _Column("trial", [f"{t.number}{' *' if t.is_best else ''}" for t in trials], True, True),
        _Column(
            "status",
            [t.state for t in trials],
            styles=[_STATUS_STYLES.get(t.state, "") for t in trials],
        ),
        _Column(study.metric or "value", [_sig(t.value) for t in trials], numeric=True),
        *[
            _Column(short[k], [_param(t.params.get(k)) for t in trials], False, True)
            for k in view.param_keys
        ],
        _Column("epochs", [r.epochs if r else "-" for r in runs], numeric=True),
        _Column("time", [format_duration(r.duration_s if r else None) for r in runs], True, True),
        _metric_column("test", [r.test_metric if r else None for r in runs]),
        _Column(
            "run", [str(r.path.parent.name + "/" + r.path.name) if r else "-" for r in runs], False
        ),
        _Column("error", [t.reason or "" for t in trials], required=False, wraps=True),
    ]
    columns[-3].required = False
    if not any(t.reason for t in trials):
        columns.pop()
    shown = _fit(columns, console.width, wide)
    table = _listing_table(shown, len(trials), _fit_width(console, wide))
    for i, trial in enumerate(trials):
        if trial.is_best:
            table.rows[i].style = "bold"
    _print_table(console, table, shown, wide)
    hidden = [short[k] for k in view.param_keys if all(c.header != short[k] for c in shown)]
    if hidden:
        console.print(
            f"not shown: {', '.join(hidden)} (--wide shows them)",
            markup=False,
            soft_wrap=False,
        )


def render_studies_table(
    console: Console, studies: list[StudyInfo], root: Path, *, wide: bool = False
) -> None:
    """The studies in a runs folder: metric, complete trials of those planned, best value."""
    if not studies:
        return

    def where(path: Path) -> str:
        try:
            return str(path.relative_to(root))
        except ValueError:
            return str(path)

    statuses = [s.status for s in studies]
    columns = [
        _Column("study", [where(s.path) for s in studies], wraps=True),
        _Column("metric", [f"{s.metric or '?'} {_direction(s.direction)}" for s in studies]),
        _Column(
            "trials",
            [
                f"{s.counts.get('complete', 0)}/"
                f"{'-' if s.trials_planned is None else s.trials_planned}"
                for s in studies
            ],
            numeric=True,
        ),
        _Column("status", statuses, styles=[_STATUS_STYLES.get(s, "") for s in statuses]),
        _Column("best", [_sig(s.best_value) for s in studies], numeric=True),
        _Column(
            "trial",
            ["-" if s.best_trial is None else str(s.best_trial) for s in studies],
            True,
            True,
        ),
        _Column("path", [str(s.path) for s in studies], required=False, wraps=True),
    ]
    shown = _fit(columns, console.width, wide)
    table = _listing_table(shown, len(studies), _fit_width(console, wide), title="studies")
    _print_table(console, table, shown, wide)
    folder = studies[0].path if len(studies) == 1 else "STUDY_FOLDER"
    console.print(f"a study's trials: dltrain runs {folder}", markup=False)

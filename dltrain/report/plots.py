"""PNG plots of a run: training curves, confusion matrix, regression residuals, comparisons.

Figures are built with matplotlib's object API (``matplotlib.figure.Figure``), never
``pyplot``: no GUI backend is selected, no global figure list grows, and nothing needs closing.
Every PNG is rendered into memory and written atomically, so a crash never leaves half a file.
matplotlib is imported inside the functions that draw, to keep it off the CLI's import path.
"""

from __future__ import annotations

import errno
import io
import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dltrain.errors import DiskFullError, RunFolderError, UsageError
from dltrain.storage import atomic_write_bytes

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "LOG_SPAN",
    "epoch_marks",
    "mark_epochs",
    "new_figure",
    "save_png",
    "spans_orders",
    "write_plot_file",
    "result_caption",
    "write_comparison_plot",
    "write_confusion_matrix",
    "write_regression_plots",
    "write_training_plots",
]

# metrics.csv columns that are not metric curves.
_NOT_METRICS = frozenset({"epoch", "learning_rate", "lr", "epoch_time_s"})
_LR_COLUMNS = ("learning_rate", "lr")
# Above this many classes, cell annotations are unreadable; above the second, so are names.
_ANNOTATE_MAX = 20
_TICK_LABELS_MAX = 50
_MARKER_MAX_POINTS = 50


def new_figure(width: float = 6.4, height: float = 4.8) -> Figure:
    """A figure of the object API (no pyplot, no GUI backend), laid out to fit its labels."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def save_png(fig: Figure, path: Path, *, tight: bool = True) -> Path:
    """Render ``fig`` to PNG bytes and write them atomically to ``path`` (``tight``: cropped
    to what was drawn, with a small margin).

    Raises:
        DiskFullError: the disk is full; its cause is the ``OSError``, naming ``path``, so that
            ``dltrain.storage.writing`` records the run as failed with its usual message.
        RunFolderError: any other reason the file cannot be written.
    """
    buffer = io.BytesIO()
    if tight:
        fig.savefig(buffer, format="png", bbox_inches="tight", pad_inches=0.15, dpi=100)
    else:
        fig.savefig(buffer, format="png", dpi=100)
    return write_plot_file(path, buffer.getvalue())


def write_plot_file(path: Path, data: bytes) -> Path:
    """Write a plot's bytes (a PNG, or the numbers beside one) atomically.

    Raises:
        DiskFullError: the disk is full (its cause names ``path``).
        RunFolderError: any other reason the file cannot be written.
    """
    try:
        atomic_write_bytes(path, data)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            # A full disk is no config mistake (exit 1, not 2), and the run that drew the plot
            # must be marked failed: the cause carries the errno writing() looks for.
            full = OSError(exc.errno, exc.strerror, str(path))
            raise DiskFullError(f"{path}: disk full, cannot write the plot") from full
        raise RunFolderError(f"{path}: cannot write the plot ({exc.strerror or exc})") from exc
    return path


def _slug(text: str) -> str:
    """A file-name-safe version of a metric or target name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "metric"


def _to_float(value: Any) -> float:
    """A CSV cell as a float; blanks, junk and infinities become NaN (a gap in the curve)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number if math.isfinite(number) else math.nan


def _column(rows: Sequence[Mapping[str, float | str]], key: str) -> list[float]:
    return [_to_float(row.get(key)) for row in rows]


def _style(n_points: int) -> dict[str, Any]:
    # A single epoch is a point, not a line: without a marker it would not show at all.
    return {"marker": "o", "markersize": 4} if n_points <= _MARKER_MAX_POINTS else {}


def epoch_marks(test_epoch: int | None, stopped_epoch: int | None) -> list[tuple[float, str]]:
    """The epochs a run's curves mark, with their legend labels: the checkpoint the test
    metrics come from (``run.json``'s ``test_checkpoint``) and, when training stopped early,
    the epoch it stopped at."""
    marks: list[tuple[float, str]] = []
    if test_epoch:
        marks.append((float(test_epoch), f"test checkpoint (epoch {test_epoch})"))
    if stopped_epoch:
        marks.append((float(stopped_epoch), f"early stop (epoch {stopped_epoch})"))
    return marks


LOG_SPAN = 100.0
"""A loss whose positive values span this factor (max / min) or more is drawn on a log axis."""


def spans_orders(values: Sequence[float]) -> bool:
    """Whether the positive finite ``values`` span :data:`LOG_SPAN` or more (max / min)."""
    positive = [v for v in values if math.isfinite(v) and v > 0]
    return len(positive) > 1 and max(positive) / min(positive) >= LOG_SPAN


def write_training_plots(
    plots_dir: Path,
    rows: Sequence[Mapping[str, float | str]],
    loss_note: str | None = None,
    marks: Sequence[tuple[float, str]] | None = None,
) -> list[Path]:
    """Plot the per-epoch curves of ``metrics.csv``.

    Writes ``loss.png`` (train and validation loss), one ``<metric>.png`` per other metric
    (``accuracy.png`` holds ``accuracy`` and ``val_accuracy``; a ``val_`` column without a
    training counterpart gets its own plot), and ``learning_rate.png`` when the learning rate
    changes during training.

    Args:
        plots_dir: Folder for the PNGs (created if needed).
        rows: ``metrics.csv`` rows as read by ``csv.DictReader`` (strings) or as floats.
            A missing ``epoch`` column is replaced by the 1-based row number.
        loss_note: Said beside the loss's axis and title (``scaled target``: the loss is
            computed on targets ``data.target_scaling`` scaled, the metrics are not).
        marks: Epochs to mark on every curve with a dashed line and a legend entry
            (:func:`epoch_marks`). When given (a run's end), ``curves.json`` beside the PNGs
            records the marks and which plots got a log axis.

    A loss whose positive values span :data:`LOG_SPAN` or more gets a log y axis.

    Returns:
        The written files, ``loss.png`` first; empty when there are no rows.

    Raises:
        RunFolderError: a plot cannot be written.
    """
    if not rows:
        return []
    columns = list(dict.fromkeys(key for row in rows for key in row))
    epochs = _column(rows, "epoch") if "epoch" in columns else []
    if not epochs or any(math.isnan(e) for e in epochs):
        epochs = [float(i) for i in range(1, len(rows) + 1)]
    names = [c for c in columns if c not in _NOT_METRICS]
    bases = [c for c in names if not c.startswith("val_")]
    bases += [c[4:] for c in names if c.startswith("val_") and c[4:] not in bases]
    if "loss" in bases:
        bases.remove("loss")
        bases.insert(0, "loss")

    written: list[Path] = []
    logged: list[str] = []
    for base in bases:
        series = [
            (label, key)
            for label, key in (("train", base), ("validation", f"val_{base}"))
            if key in columns
        ]
        values = {label: _column(rows, key) for label, key in series}
        if all(all(math.isnan(v) for v in vals) for vals in values.values()):
            continue
        fig = new_figure()
        ax = fig.add_subplot()
        for label, vals in values.items():
            ax.plot(epochs, vals, label=label, **_style(len(rows)))
        mark_epochs(ax, marks or ())
        if base == "loss" and spans_orders([v for vals in values.values() for v in vals]):
            ax.set_yscale("log")
            logged.append(base)
        shown = " and ".join(values)
        label = f"{base} ({loss_note})" if loss_note and base == "loss" else base
        _finish_epoch_axes(ax, f"{label.replace('_', ' ')} per epoch ({shown})", label, epochs)
        ax.legend()
        written.append(save_png(fig, plots_dir / f"{_slug(base)}.png"))

    lr_key = next((k for k in _LR_COLUMNS if k in columns), None)
    if lr_key is not None:
        rates = _column(rows, lr_key)
        finite = [r for r in rates if not math.isnan(r)]
        if len(set(finite)) > 1:
            fig = new_figure()
            ax = fig.add_subplot()
            ax.plot(epochs, rates, label="learning rate", **_style(len(rows)))
            # Schedules decay geometrically; a log axis shows that as a straight line.
            if min(finite) > 0 and max(finite) / min(finite) >= 10:
                ax.set_yscale("log")
            _finish_epoch_axes(ax, "learning rate", "learning rate", epochs)
            written.append(save_png(fig, plots_dir / "learning_rate.png"))
    if marks is not None:
        drawn = {
            "plots": [p.name for p in written],
            "marks": [{"epoch": epoch, "label": label} for epoch, label in marks],
            "log_y": logged,
        }
        write_plot_file(plots_dir / "curves.json", json.dumps(drawn).encode("utf-8"))
    return written


def mark_epochs(ax: Any, marks: Sequence[tuple[float, str]]) -> None:
    """Dashed vertical lines at ``(epoch, label)`` marks, each with a legend entry."""
    colours = ("tab:green", "tab:red", "tab:purple")
    for (epoch, label), colour in zip(marks, colours * len(marks), strict=False):
        ax.axvline(epoch, color=colour, linestyle="--", linewidth=1, label=label)


def _finish_epoch_axes(ax: Any, title: str, ylabel: str, epochs: Sequence[float]) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.set_title(title)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    distinct = sorted(set(epochs))
    # With a few epochs the automatic locator picks fractional ticks (0.95, 1.00, 1.05).
    if len(distinct) <= 10:
        ax.set_xticks(distinct)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(True, alpha=0.3)


def write_confusion_matrix(
    plots_dir: Path,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    class_names: Sequence[str] | None,
    *,
    name: str = "confusion_matrix.png",
    caption: str = "",
) -> Path:
    """Plot a confusion matrix: rows are true classes, columns predicted ones.

    Cell colour is the row-normalized fraction (per-class recall), so rare classes are as
    visible as common ones; cells are annotated with raw counts up to 20 classes.

    Args:
        plots_dir: Folder for the PNG (created if needed).
        y_true: 1-D integer class indices.
        y_pred: 1-D integer class indices, same length as ``y_true``.
        class_names: A name per class index, or ``None`` to use the indices.
        name: File name inside ``plots_dir``.
        caption: Which split and checkpoint the predictions come from, for the title
            (see :func:`result_caption`).

    Also writes the counts as ``<name stem>.json`` (``labels``, ``counts`` with rows true and
    columns predicted, ``caption``) for ``dltrain report``.

    Returns:
        The written PNG.

    Raises:
        UsageError: the labels are not 1-D non-negative integers of equal length, or an index
            has no name in ``class_names``.
        RunFolderError: the plot cannot be written.
    """
    true = _class_indices(y_true, "y_true")
    pred = _class_indices(y_pred, "y_pred")
    if true.shape != pred.shape:
        raise UsageError(
            "y_true and y_pred must have the same length. "
            f"Received: len(y_true)={true.size}, len(y_pred)={pred.size}"
        )
    top = int(max(true.max(initial=-1), pred.max(initial=-1))) + 1
    if class_names is not None:
        labels = [str(c) for c in class_names]
        if top > len(labels):
            raise UsageError(
                f"class index {top - 1} has no name ({len(labels)} class names). "
                f"Received: class_names={labels!r}"
            )
    else:
        labels = [str(i) for i in range(max(top, 1))]
    n = len(labels)
    counts = np.bincount(true * n + pred, minlength=n * n).reshape(n, n)
    totals = counts.sum(axis=1, keepdims=True)
    fractions = np.divide(counts, totals, out=np.zeros((n, n)), where=totals > 0)

    side = min(4.0 + 0.45 * n, 24.0)
    fig = new_figure(side + 1.2, side)
    ax = fig.add_subplot()
    image = ax.imshow(fractions, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    fig.colorbar(image, ax=ax, label="fraction of true class")
    if n <= _TICK_LABELS_MAX:
        slanted = n > 4
        ax.set_xticks(
            range(n), labels, rotation=45 if slanted else 0, ha="right" if slanted else "center"
        )
        ax.set_yticks(range(n), labels)
    if n <= _ANNOTATE_MAX:
        size = 9 if n <= 10 else 7
        for (i, j), count in np.ndenumerate(counts):
            colour = "white" if fractions[i, j] > 0.5 else "black"
            ax.text(j, i, str(count), ha="center", va="center", color=colour, fontsize=size)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    where = f"{caption}, " if caption else ""
    ax.set_title(f"confusion matrix ({where}{true.size} examples)")
    written = save_png(fig, plots_dir / name)
    # The counts beside the picture: `dltrain report` builds its per-class table from them.
    counts_file = {"labels": labels, "counts": counts.tolist(), "caption": caption}
    write_plot_file(written.with_suffix(".json"), json.dumps(counts_file).encode("utf-8"))
    return written


def _class_indices(values: np.ndarray, what: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise UsageError(
            f"{what} must be 1-D class indices (take argmax of one-hot labels first). "
            f"Received: {what}.shape={array.shape}"
        )
    if array.size and (
        not np.issubdtype(array.dtype, np.number)
        or not np.all(np.isfinite(array))
        or np.any(array != np.round(array))
        or array.min() < 0
    ):
        raise UsageError(
            f"{what} must hold non-negative integer class indices. Received: {array[:5]!r}"
        )
    return array.astype(np.int64)


def result_caption(best_epoch: int | None, rows: Sequence[Mapping[str, Any]]) -> str:
    """Which split and weights the end-of-run plots show, e.g. ``test split, best checkpoint
    (epoch 7)``; without a best checkpoint (``best_epoch`` None), the last epoch's weights."""
    epoch = best_epoch
    if epoch:
        return f"test split, best checkpoint (epoch {epoch})"
    last = rows[-1].get("epoch") if rows else None
    return "test split, last epoch" + (f" ({_to_float(last):g})" if last is not None else "")


def write_regression_plots(
    plots_dir: Path,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    target: str,
    *,
    caption: str = "",
) -> list[Path]:
    """Plot predictions against truth, and the residuals, for one regression target.

    Writes ``predicted_vs_true_<target>.png`` (with the ``y = x`` line) and
    ``residuals_<target>.png`` (residual against prediction, and a histogram of residuals).
    With an empty ``target`` the ``_<target>`` suffix is left out. Above
    :data:`SCATTER_POINTS` examples the scatters draw a fixed sample of them (their legends
    say how many); the histogram counts every example.

    Args:
        plots_dir: Folder for the PNGs (created if needed).
        y_true: True values (any shape; flattened).
        y_pred: Predictions, as many as ``y_true``.
        target: The target column's name, used in titles and file names.
        caption: Which split and checkpoint the predictions come from, for the titles.

    Returns:
        The two written files.

    Raises:
        UsageError: ``y_true`` and ``y_pred`` differ in size.
        RunFolderError: a plot cannot be written.
    """
    from matplotlib.ticker import MaxNLocator

    true = np.asarray(y_true, dtype=np.float64).ravel()
    pred = np.asarray(y_pred, dtype=np.float64).ravel()
    if true.shape != pred.shape:
        raise UsageError(
            "y_true and y_pred must have the same number of values. "
            f"Received: y_true.size={true.size}, y_pred.size={pred.size}"
        )
    suffix = f"_{_slug(target)}" if target else ""
    label = target or "target"
    keep = np.isfinite(true) & np.isfinite(pred)
    true, pred = true[keep], pred[keep]
    residuals = true - pred
    # Scatter a fixed sample of a large split: more points only hide each other, and cost
    # seconds and memory. The histogram and the y = x line use every example.
    shown = _sample(true.size)
    drawn = "examples" if shown is None else f"{shown.size:,} of {true.size:,} examples"

    fig = new_figure(5.6, 5.2)
    ax = fig.add_subplot()
    ax.scatter(_pick(true, shown), _pick(pred, shown), s=10, alpha=0.6, label=drawn)
    if true.size:
        low = float(min(true.min(), pred.min()))
        high = float(max(true.max(), pred.max()))
        ax.plot([low, high], [low, high], color="tab:red", linestyle="--", label="y = x")
    below = f"\n{caption}" if caption else ""
    ax.set_title(f"{label}: predicted vs true{below}")
    ax.set_xlabel(f"true {label}")
    ax.set_ylabel(f"predicted {label}")
    ax.grid(True, alpha=0.3)
    ax.legend()
    scatter_path = save_png(fig, plots_dir / f"predicted_vs_true{suffix}.png")

    fig = new_figure(10.0, 4.4)
    left, right = fig.subplots(1, 2)
    left.scatter(_pick(pred, shown), _pick(residuals, shown), s=10, alpha=0.6, label=drawn)
    left.axhline(0.0, color="tab:red", linestyle="--")
    left.set_title(f"{label}: residuals vs predicted{below}")
    left.set_xlabel(f"predicted {label}")
    left.set_ylabel("residual (true - predicted)")
    left.grid(True, alpha=0.3)
    if shown is not None:
        left.legend()
    right.hist(residuals, bins=min(30, max(1, residuals.size)))
    right.set_title(f"residual distribution{below}")
    right.set_xlabel("residual (true - predicted)")
    right.set_ylabel("count")
    right.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts: no 2.5 examples
    right.grid(True, alpha=0.3)
    return [scatter_path, save_png(fig, plots_dir / f"residuals{suffix}.png")]


SCATTER_POINTS = 10_000
"""At most this many examples are drawn in a scatter plot (a fixed sample of larger splits)."""


def _sample(n: int) -> np.ndarray | None:
    """Sorted indices of :data:`SCATTER_POINTS` of ``n`` examples, the same every run; ``None``
    when all ``n`` fit."""
    if n <= SCATTER_POINTS:
        return None
    return np.sort(np.random.default_rng(0).choice(n, SCATTER_POINTS, replace=False))


def _pick(values: np.ndarray, shown: np.ndarray | None) -> np.ndarray:
    return values if shown is None else values[shown]


def write_comparison_plot(
    path: Path, curves: dict[str, list[tuple[int, float]]], metric: str
) -> Path:
    """Overlay one metric's per-epoch curve from several runs.

    Args:
        path: The PNG to write (its folder is created if needed).
        curves: Run label -> ``(epoch, value)`` points, in any order.
        metric: The metric's name, e.g. ``"val_loss"`` (title and y label).

    Returns:
        ``path``.

    Raises:
        UsageError: ``curves`` is empty.
        RunFolderError: the plot cannot be written.
    """
    if not curves:
        raise UsageError(f"no runs have {metric} values to plot")
    fig = new_figure(7.2, 4.8)
    ax = fig.add_subplot()
    epochs: list[float] = []
    for label, points in curves.items():
        ordered = sorted(points)
        epochs.extend(e for e, _ in ordered)
        ax.plot(
            [e for e, _ in ordered],
            [_to_float(v) for _, v in ordered],
            label=label,
            **_style(len(ordered)),
        )
    _finish_epoch_axes(ax, f"{metric} by run", metric, epochs)
    ax.legend(fontsize="small")
    return save_png(fig, path)

"""Plots of a run: files exist, are real PNGs, and bad inputs are refused (no TensorFlow)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dltrain.errors import UsageError
from dltrain.report.plots import (
    write_comparison_plot,
    write_confusion_matrix,
    write_regression_plots,
    write_training_plots,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, path
    assert len(data) > 2000, f"{path}: suspiciously small ({len(data)} bytes)"


def metrics_rows(epochs: int, lr_decay: bool = False) -> list[dict[str, float | str]]:
    """Rows as csv.DictReader gives them: strings."""
    return [
        {
            "epoch": str(e),
            "loss": str(1.0 / e),
            "accuracy": str(1 - 0.5 / e),
            "val_loss": str(1.2 / e),
            "val_accuracy": str(1 - 0.6 / e),
            "learning_rate": str(1e-3 * (0.1 ** (e - 1) if lr_decay else 1.0)),
            "epoch_time_s": "1.5",
        }
        for e in range(1, epochs + 1)
    ]


def test_training_plots_loss_and_each_metric(tmp_path: Path) -> None:
    written = write_training_plots(tmp_path / "plots", metrics_rows(5))
    assert [p.name for p in written] == ["loss.png", "accuracy.png"]
    for path in written:
        assert_png(path)
    # Not metrics: no plot for the epoch time, and none for a constant learning rate.
    assert not (tmp_path / "plots" / "epoch_time_s.png").exists()
    assert not (tmp_path / "plots" / "learning_rate.png").exists()
    # Atomic writes leave no temp files behind.
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == ["accuracy.png", "loss.png"]


def test_training_plots_learning_rate_when_it_changes(tmp_path: Path) -> None:
    written = write_training_plots(tmp_path, metrics_rows(4, lr_decay=True))
    assert tmp_path / "learning_rate.png" in written
    assert_png(tmp_path / "learning_rate.png")


def test_training_plots_zero_and_one_row(tmp_path: Path) -> None:
    assert write_training_plots(tmp_path / "empty", []) == []
    written = write_training_plots(tmp_path / "one", metrics_rows(1))
    assert [p.name for p in written] == ["loss.png", "accuracy.png"]
    for path in written:
        assert_png(path)


def test_training_plots_tolerate_floats_gaps_and_validation_only(tmp_path: Path) -> None:
    rows: list[dict[str, float | str]] = [
        {"epoch": 1.0, "loss": 0.9, "val_mae": 2.0},
        {"epoch": 2.0, "loss": float("nan"), "val_mae": ""},
        {"epoch": 3.0, "loss": float("inf"), "val_mae": 1.0},
    ]
    written = write_training_plots(tmp_path, rows)
    assert [p.name for p in written] == ["loss.png", "mae.png"]


def test_training_plots_skip_a_metric_without_values(tmp_path: Path) -> None:
    rows: list[dict[str, float | str]] = [{"epoch": "1", "loss": "0.5", "val_auc": ""}]
    assert [p.name for p in write_training_plots(tmp_path, rows)] == ["loss.png"]


def test_confusion_matrix_with_names(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 3, 60)
    y_pred = np.where(rng.random(60) < 0.8, y_true, rng.integers(0, 3, 60))
    path = write_confusion_matrix(tmp_path, y_true, y_pred, ["cat", "dog", "bird"])
    assert path == tmp_path / "confusion_matrix.png"
    assert_png(path)


def test_confusion_matrix_many_classes_and_custom_name(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    path = write_confusion_matrix(
        tmp_path, rng.integers(0, 25, 500), rng.integers(0, 25, 500), None, name="cm_25.png"
    )
    assert path.name == "cm_25.png"
    assert_png(path)


def test_confusion_matrix_a_class_never_seen(tmp_path: Path) -> None:
    # Class 2 has no examples: its row must not divide by zero (a warning would fail the test).
    path = write_confusion_matrix(
        tmp_path, np.array([0, 1, 1]), np.array([0, 1, 0]), ["a", "b", "c"]
    )
    assert_png(path)


@pytest.mark.parametrize(
    ("y_true", "y_pred", "names", "message"),
    [
        (np.zeros((4, 3)), np.zeros(4), None, "1-D class indices"),
        (np.array([0, 1]), np.array([0, 1, 1]), None, "same length"),
        (np.array([0, -1]), np.array([0, 1]), None, "non-negative integer"),
        (np.array([0.5, 1.0]), np.array([0, 1]), None, "non-negative integer"),
        (np.array([0, 3]), np.array([0, 1]), ["a", "b"], "class index 3 has no name"),
    ],
)
def test_confusion_matrix_refuses_bad_labels(
    tmp_path: Path, y_true: np.ndarray, y_pred: np.ndarray, names: list[str] | None, message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        write_confusion_matrix(tmp_path, y_true, y_pred, names)


def test_regression_plots(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    y_true = rng.normal(20, 5, size=(80, 1))
    y_pred = y_true.ravel() + rng.normal(0, 1, 80)
    written = write_regression_plots(tmp_path, y_true, y_pred, "mpg")
    assert [p.name for p in written] == ["predicted_vs_true_mpg.png", "residuals_mpg.png"]
    for path in written:
        assert_png(path)


def test_regression_plots_without_target_name_and_one_value(tmp_path: Path) -> None:
    written = write_regression_plots(tmp_path, np.array([1.0]), np.array([1.5]), "")
    assert [p.name for p in written] == ["predicted_vs_true.png", "residuals.png"]


def test_regression_plots_scatter_a_fixed_sample_of_a_large_split(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, unrendered: None
) -> None:
    from matplotlib.axes import Axes

    drawn: list[tuple[np.ndarray, str | None]] = []
    binned: list[int] = []
    scatter, hist = Axes.scatter, Axes.hist

    def record_scatter(self: Axes, x: Any, y: Any, *args: Any, **kwargs: Any) -> Any:
        drawn.append((np.asarray(x).copy(), kwargs.get("label")))
        return scatter(self, x, y, *args, **kwargs)

    def record_hist(self: Axes, x: Any, *args: Any, **kwargs: Any) -> Any:
        binned.append(np.asarray(x).size)
        return hist(self, x, *args, **kwargs)

    monkeypatch.setattr(Axes, "scatter", record_scatter)
    monkeypatch.setattr(Axes, "hist", record_hist)
    rng = np.random.default_rng(3)
    y_true = rng.normal(size=25_000)
    y_pred = y_true + rng.normal(0, 0.1, 25_000)
    for _ in range(2):
        write_regression_plots(tmp_path, y_true, y_pred, "y")
    # Two scatters per call, each of 10,000 of the 25,000 examples, the same ones every time.
    assert [len(x) for x, _ in drawn] == [10_000] * 4
    assert {label for _, label in drawn} == {"10,000 of 25,000 examples"}
    assert set(drawn[0][0]) <= set(y_true)
    np.testing.assert_array_equal(drawn[0][0], drawn[2][0])
    assert binned == [25_000, 25_000]  # the histogram counts every residual


def test_regression_plots_draw_every_example_of_a_small_split(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from matplotlib.axes import Axes

    sizes: list[int] = []
    scatter = Axes.scatter

    def record(self: Axes, x: Any, y: Any, *args: Any, **kwargs: Any) -> Any:
        sizes.append(np.asarray(x).size)
        return scatter(self, x, y, *args, **kwargs)

    monkeypatch.setattr(Axes, "scatter", record)
    write_regression_plots(tmp_path, np.arange(10_000.0), np.arange(10_000.0), "y")
    assert sizes == [10_000, 10_000]


def test_regression_plots_refuse_mismatched_sizes(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="same number of values"):
        write_regression_plots(tmp_path, np.zeros(3), np.zeros(4), "y")


def test_comparison_plot(tmp_path: Path) -> None:
    curves = {"a/1": [(2, 0.4), (1, 0.5), (3, 0.35)], "b/2": [(1, 0.6)]}
    path = write_comparison_plot(tmp_path / "sub" / "cmp.png", curves, "val_loss")
    assert path == tmp_path / "sub" / "cmp.png"
    assert_png(path)
    with pytest.raises(UsageError, match="no runs have val_loss"):
        write_comparison_plot(tmp_path / "none.png", {}, "val_loss")


def test_report_modules_import_neither_tensorflow_nor_pyplot(tmp_path: Path) -> None:
    # pyplot would pick a GUI backend and keep every figure alive; TensorFlow is not needed.
    code = f"""
import subprocess
import sys
from pathlib import Path
from typing import Any
import numpy as np
from dltrain.report.listing import list_runs
from dltrain.report.plots import write_confusion_matrix
write_confusion_matrix(Path({str(tmp_path)!r}), np.array([0, 1]), np.array([1, 1]), None)
list_runs(Path({str(tmp_path)!r}))
print(sorted(m for m in ("tensorflow", "keras", "matplotlib.pyplot") if m in sys.modules))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "[]"


def _capture(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Figures as they are saved: file name -> the figure's axes (titles, ticks)."""
    from dltrain.report import plots

    seen: dict[str, Any] = {}
    real = plots.save_png

    def save(fig: Any, path: Path, **options: Any) -> Path:
        seen[path.name] = [
            (ax.get_title(), [float(t) for t in ax.get_yticks()]) for ax in fig.axes
        ]
        return real(fig, path, **options)

    monkeypatch.setattr(plots, "save_png", save)
    return seen


def test_titles_say_split_and_checkpoint_and_counts_are_integers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dltrain.report.plots import result_caption

    seen = _capture(monkeypatch)
    rows = metrics_rows(3)
    caption = result_caption(2, rows)
    assert caption == "test split, best checkpoint (epoch 2)"
    assert result_caption(None, rows) == "test split, last epoch (3)"
    write_training_plots(tmp_path, rows)
    assert seen["loss.png"][0][0] == "loss per epoch (train and validation)"
    write_confusion_matrix(tmp_path, np.array([0, 1, 1]), np.array([0, 1, 0]), None, caption=caption)
    assert seen["confusion_matrix.png"][0][0] == (
        "confusion matrix (test split, best checkpoint (epoch 2), 3 examples)"
    )
    write_regression_plots(
        tmp_path, np.array([1.0, 2.0, 3.5]), np.array([1.1, 2.0, 3.0]), "y", caption=caption
    )
    assert seen["predicted_vs_true_y.png"][0][0].endswith("\ntest split, best checkpoint (epoch 2)")
    left, right = seen["residuals_y.png"]
    assert "best checkpoint" in left[0] and "best checkpoint" in right[0]
    assert right[1] and all(t.is_integer() for t in right[1]), right[1]  # histogram counts

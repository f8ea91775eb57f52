"""What the CLI prints at the end of a run: one metrics table, one number format per column."""

from __future__ import annotations

import io
import math
from pathlib import Path
from types import SimpleNamespace

from rich.console import Console

from dltrain.cli.render.results import format_column, render_run_result


def _printed(result: SimpleNamespace) -> str:
    out = io.StringIO()
    render_run_result(Console(file=out, width=100, highlight=False), result)
    return out.getvalue()


def test_run_result_prints_the_test_metrics_once_in_one_format() -> None:
    result = SimpleNamespace(
        test_metrics={"loss": 1296000.123456, "mae": 976.35851, "accuracy": 0.5},
        stopped_early=False,
        message=None,
        run_dir=Path("runs/x/20260101T000000Z"),
        status="completed",
    )
    text = _printed(result)
    assert "1,296,000" in text and "976.36" in text and "0.5000" in text
    assert "1,296,000.1" not in text  # digits below what the number means are not shown
    assert "Test loss" not in text and "Test accuracy" not in text
    assert text.count("976.36") == 1
    assert "run folder: runs/x/20260101T000000Z  (completed)" in text


def test_format_column_switches_whole_column_to_scientific() -> None:
    assert format_column([0.25, 12.0, 0.0]) == ["0.2500", "12.000", "0.0000"]
    # Five significant digits at most: no 153,398.9688 for a regression loss.
    assert format_column([153398.9688, 1324.9131, 0.75]) == ["153,399", "1,324.9", "0.7500"]
    assert format_column([1.5e-6, 0.3]) == ["1.5000e-06", "3.0000e-01"]
    assert format_column([2.0e13, 1.0]) == ["2.0000e+13", "1.0000e+00"]
    assert format_column([math.nan, 1.0]) == ["nan", "1.0000"]


def test_nan_advice_names_the_next_step() -> None:
    from dltrain.train.hints import nan_advice

    stop = nan_advice("stop", 0, 3, 0.5)
    assert "try --set optimizer.learning_rate=0.005" in stop and "on_nan: rollback" in stop
    spent = nan_advice("rollback", 3, 3, 0.01)
    assert "rolled back 3 times (training.max_rollbacks)" in spent and "0.0001" in spent
    assert "no earlier checkpoint" in nan_advice("rollback", 0, 3, None)


def test_runs_table_shows_data_and_description_only_when_there_is_one() -> None:
    from dltrain.cli.render.results import render_runs_table
    from dltrain.report.listing import RunSummary

    def table(*descriptions: str | None) -> str:
        runs = [
            RunSummary(
                "mlp",
                Path(f"runs/mlp/2026010{i}T000000Z"),
                "completed",
                data=data,
                description=text,
            )
            for i, (text, data) in enumerate(
                zip(descriptions, ["mnist", "fashion_mnist"], strict=True)
            )
        ]
        out = io.StringIO()
        render_runs_table(Console(file=out, width=200), runs)
        return out.getvalue()

    plain = table(None, None)
    assert "fashion_mnist" in plain and "mnist " in plain and "description" not in plain
    described = table("MLP baseline", None)
    assert "description" in described and "MLP baseline" in described

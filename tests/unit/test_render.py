"""What the CLI prints at the end of a run: one metrics table, one number format per column."""

from __future__ import annotations

import io
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

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


# ------------------------------------------------------------------ dltrain runs at 80
def _render(render: Any, *args: Any, width: int = 80, **kwargs: Any) -> str:
    out = io.StringIO()
    # soft_wrap as the CLI's console has it: a table must still keep to the width.
    render(Console(file=out, width=width, soft_wrap=True, highlight=False), *args, **kwargs)
    return out.getvalue()


def _long_runs(root: Path) -> None:
    from test_report_listing import make_run

    make_run(
        root,
        "20261205T011102Z",
        name="fashion_mnist_mlp_with_a_rather_long_name",
        manifest={
            "started_at": "2026-12-05T01:11:02+00:00",
            "timings": {"total_s": 3725.2},
            "best": {"monitor": "val_loss", "mode": "min", "value": 0.631234, "epoch": 2},
        },
        config={"name": "x", "data": {"kind": "fashion_mnist"}, "description": "A long " * 12},
    )
    make_run(
        root,
        "20261204T192333Z",
        name="mlp_regression",
        manifest={
            "status": "interrupted",
            "best": {"monitor": "val_loss", "mode": "min", "value": 122400.5, "epoch": 2},
            "final_metrics": {"test": {"loss": 123456.7}},
        },
    )


def test_runs_table_fits_80_columns_with_every_value_whole(tmp_path: Path) -> None:
    from dltrain.cli.render.listing import render_runs_table
    from dltrain.report.listing import list_runs

    _long_runs(tmp_path)
    text = _render(render_runs_table, list_runs(tmp_path))
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80, text
    assert "…" not in text
    for value in (
        "12-05 01:11",
        "12-04 19:23",
        "completed",
        "interrupted",
        "3/3",
        "0.6312",
        "1.224e+05",
        "1.235e+05",
        "1h02m",
        "1m00s",
    ):
        assert value in text, (value, text)
    # The name folds instead of being cut: every letter is there.
    header = next(line for line in lines if line.startswith("name"))
    names = "".join(line[: header.index("started")].strip() for line in lines[3:])
    assert names == "fashion_mnist_mlp_with_a_rather_long_namemlp_regression", text
    assert "description" not in text and "A long" not in text  # --wide shows it
    wide = _render(render_runs_table, list_runs(tmp_path), wide=True)
    for value in ("description", "A long", "20261205T011102Z", "fashion_mnist", str(tmp_path)[:20]):
        assert value in wide.replace("\n", ""), value


def test_runs_table_adds_run_and_data_when_the_console_is_wide(tmp_path: Path) -> None:
    from dltrain.cli.render.listing import render_runs_table
    from dltrain.report.listing import list_runs

    _long_runs(tmp_path)
    text = _render(render_runs_table, list_runs(tmp_path), width=160)
    assert "20261205T011102Z" in text and "fashion_mnist" in text
    assert max(len(line) for line in text.splitlines()) <= 160


def test_study_view_shows_metric_params_and_marks_the_best_trial(tmp_path: Path) -> None:
    from test_report_listing import make_study

    from dltrain.cli.render.listing import render_study
    from dltrain.report.study_listing import read_study

    view = read_study(make_study(tmp_path))
    text = _render(render_study, view)
    assert max(len(line) for line in text.splitlines()) <= 80, text
    assert "val_mae (minimize)" in text and "best 1.250 (trial 1 *)" in text
    header = next(line for line in text.splitlines() if line.startswith("trial "))
    assert header.split()[:5] == ["trial", "status", "val_mae", "learning_rate", "units"]
    rows = {r.split()[0]: r for r in text.splitlines() if r[:5].strip()[:1].isdigit()}
    assert "1 *" in rows["1"] and "0.0123" in rows["1"] and "128" in rows["1"]
    assert "*" not in rows["0"] and "failed" in rows["2"] and "running" in rows["3"]


def test_study_view_names_the_parameters_it_leaves_out_at_80(tmp_path: Path) -> None:
    from dltrain.cli.render.listing import render_study
    from dltrain.report.study_listing import StudyInfo, StudyView, TrialRow

    keys = [f"model.layers[{i}].Dense.kernel_regularizer_strength" for i in range(4)]
    view = StudyView(
        StudyInfo("s", tmp_path, "val_loss", "minimize"),
        [TrialRow(0, "complete", 0.5, dict.fromkeys(keys, 0.001))],
        keys,
    )
    text = _render(render_study, view)
    assert max(len(line) for line in text.splitlines()) <= 80, text
    assert "not shown:" in text and "--wide" in text
    # Clashing keys keep just enough of their path to tell them apart.
    assert "layers[3] kernel_regularizer_strength" in text.replace("\n", "")
    wide = _render(render_study, view, wide=True)
    assert "not shown" not in wide


# ---------------------------------------------------------------------- the command
def test_runs_command_json_sort_filter_and_studies(tmp_path: Path) -> None:
    import json

    from test_report_listing import make_run, make_study
    from typer.testing import CliRunner

    from dltrain.cli import app

    runner = CliRunner()
    make_run(tmp_path, "20240501T120000Z", name="mnist_mlp")
    make_run(tmp_path, "20240502T120000Z", name="mnist_cnn", manifest={"status": "failed"})
    study = make_study(tmp_path)

    listed = runner.invoke(app, ["runs", str(tmp_path), "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert [(r["kind"], r["name"]) for r in rows] == [
        ("run", "mnist_cnn"),
        ("run", "mnist_mlp"),
        ("study", "mlp_tune"),
    ]
    assert rows[2]["path"] == str(study) and rows[2]["best"] == 1.25

    table = runner.invoke(app, ["runs", str(tmp_path)], env={"COLUMNS": "80"})
    assert table.exit_code == 0 and "studies" in table.output and "val_mae min" in table.output
    assert "2/12" in table.output and "trial-0000" not in table.output

    unknown = runner.invoke(app, ["runs", str(tmp_path), "--filter", "colour=red"])
    assert unknown.exit_code == 2 and "accepted: kind, name, run, path, status" in unknown.output
    studies = runner.invoke(app, ["runs", str(tmp_path), "--json", "--filter", "kind=study"])
    assert [r["name"] for r in json.loads(studies.stdout)] == ["mlp_tune"]
    done = runner.invoke(
        app, ["runs", str(tmp_path), "--json", "--filter", "status=completed", "--sort", "-name"]
    )
    assert [r["name"] for r in json.loads(done.stdout)] == ["mnist_mlp"]

    trials = runner.invoke(app, ["runs", str(study), "--json", "--sort", "-value"])
    assert trials.exit_code == 0, trials.output
    records = json.loads(trials.stdout)
    assert [(r["trial"], r["is_best"]) for r in records] == [
        (0, False),
        (1, True),
        (2, False),
        (3, False),
    ]
    assert records[1]["params"]["optimizer.learning_rate"] == 0.0123
    assert records[1]["params.model.layers[1].Dense.units"] == 128
    best = runner.invoke(
        app, ["runs", str(study), "--filter", "is_best=true"], env={"COLUMNS": "80"}
    )
    assert best.exit_code == 0 and "1 *" in best.output
    rows = [line for line in best.output.splitlines() if line[:5].strip()[:1].isdigit()]
    assert len(rows) == 1 and rows[0].split()[:2] == ["1", "*"], best.output

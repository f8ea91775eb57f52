"""``list_runs`` and ``compare_runs`` on hand-written run folders (no TensorFlow)."""

from __future__ import annotations

import copy
import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from dltrain.errors import CheckpointError, UsageError
from dltrain.report.listing import MISSING, UNREADABLE, compare_runs, latest_run, list_runs

CONFIG: dict[str, Any] = {
    "name": "mnist_mlp",
    "seed": 42,
    "data": {"kind": "mnist", "validation": "test"},
    "model": {
        "type": "sequential",
        "layers": [{"Flatten": {}}, {"Dense": {"units": 512, "activation": "relu"}}],
    },
    "optimizer": {"name": "adam", "learning_rate": 0.001},
    "training": {"epochs": 3, "batch_size": 32},
}


def make_run(
    runs_dir: Path,
    stamp: str,
    *,
    name: str = "mnist_mlp",
    manifest: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    val_accuracy: bool = True,
    epochs: int = 3,
) -> Path:
    """A run folder as the trainer writes it, with the given overrides."""
    path = runs_dir / name / stamp
    (path / "plots").mkdir(parents=True)
    base: dict[str, Any] = {
        "name": name,
        "status": "completed",
        "command": ["dltrain", "run", "mnist.yaml"],
        "seed": 42,
        "started_at": "2024-05-01T12:00:00+00:00",
        "finished_at": "2024-05-01T12:01:00+00:00",
        "timings": {"total_s": 60.5, "train_s": 55.0, "time_to_first_step_s": 2.0},
        "epochs_planned": epochs,
        "epochs_completed": epochs,
        "best": {"monitor": "val_loss", "mode": "min", "value": 0.3, "epoch": 2},
        "final_metrics": {
            "train": {"loss": 0.2, "accuracy": 0.95},
            "validation": {"loss": 0.3, "accuracy": 0.9},
            "test": {"loss": 0.31, "accuracy": 0.91},
        },
    }
    base.update(manifest or {})
    (path / "run.json").write_text(json.dumps(base), encoding="utf-8")
    (path / "config.yaml").write_text(yaml.safe_dump(config or CONFIG), encoding="utf-8")
    columns = ["epoch", "loss", "accuracy", "val_loss"]
    columns += ["val_accuracy"] if val_accuracy else []
    lines = [",".join([*columns, "learning_rate", "epoch_time_s"])]
    for e in range(1, epochs + 1):
        values = [e, 1 / e, 1 - 0.5 / e, 1.2 / e] + ([1 - 0.6 / e] if val_accuracy else [])
        lines.append(",".join(str(v) for v in [*values, 0.001, 1.5]))
    (path / "metrics.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def with_lr(lr: float) -> dict[str, Any]:
    config = copy.deepcopy(CONFIG)
    config["optimizer"]["learning_rate"] = lr
    return config


# ---------------------------------------------------------------------------- list_runs
def test_list_runs_newest_first_with_summary_fields(tmp_path: Path) -> None:
    old = make_run(tmp_path, "20240501T120000Z")
    same_second = make_run(tmp_path, "20240501T120000Z-1")
    other = make_run(tmp_path, "20240502T090000Z", name="auto_mpg")
    runs = list_runs(tmp_path)
    assert [r.path for r in runs] == [other, same_second, old]
    first = runs[-1]
    assert first.name == "mnist_mlp"
    assert first.status == "completed"
    assert (first.epochs_completed, first.epochs_planned) == (3, 3)
    assert first.epochs == "3/3"
    assert first.best == ("val_loss", 0.3)
    assert first.best_epoch == 2
    assert first.test_metric == ("accuracy", 0.91)
    assert first.test_metrics == {"loss": 0.31, "accuracy": 0.91}
    assert first.duration_s == 60.5
    assert first.started_at == "2024-05-01T12:00:00+00:00"


def test_list_runs_test_metric_falls_back_to_loss(tmp_path: Path) -> None:
    make_run(tmp_path, "20240501T120000Z", manifest={"final_metrics": {"test": {"loss": 2.5}}})
    assert list_runs(tmp_path)[0].test_metric == ("loss", 2.5)


def test_list_runs_tolerates_early_crash_and_broken_manifests(tmp_path: Path) -> None:
    crashed = tmp_path / "mnist_mlp" / "20240503T000000Z"
    crashed.mkdir(parents=True)
    (crashed / "run.json").write_text(
        json.dumps({"status": "failed", "error": "loss became NaN"}),
        encoding="utf-8",
    )
    damaged = tmp_path / "mnist_mlp" / "20240502T000000Z"
    damaged.mkdir()
    (damaged / "run.json").write_text(
        json.dumps({"status": "failed", "timings": "junk"}), encoding="utf-8"
    )
    broken = tmp_path / "mnist_mlp" / "20240504T000000Z"
    broken.mkdir()
    (broken / "run.json").write_text('{"status": "runn', encoding="utf-8")
    not_a_run = tmp_path / "mnist_mlp" / "20240505T000000Z"
    not_a_run.mkdir()  # no run.json: not listed
    (tmp_path / "compare-20240505T000000Z.png").write_bytes(b"not a folder")

    runs = list_runs(tmp_path)
    assert [r.path for r in runs] == [broken, crashed, damaged]
    assert runs[0].status == UNREADABLE
    assert runs[0].name == "mnist_mlp"
    assert runs[0].error and "unreadable manifest" in runs[0].error
    assert runs[1].status == "failed"
    assert runs[1].error == "loss became NaN"
    assert runs[1].best is None and runs[1].test_metric is None
    assert runs[1].epochs_completed is None and runs[1].duration_s is None
    assert runs[1].epochs == MISSING
    # A manifest whose fields have the wrong types is shown as damaged, naming the field.
    assert runs[2].status == UNREADABLE
    assert runs[2].error and "timings" in runs[2].error and "'junk'" in runs[2].error


def test_list_runs_duration_from_timestamps_when_timings_missing(tmp_path: Path) -> None:
    make_run(tmp_path, "20240501T120000Z", manifest={"timings": {}, "epochs_completed": None})
    run = list_runs(tmp_path)[0]
    assert run.duration_s == 60.0
    assert run.epochs == "-/3"


def test_list_runs_accepts_one_name_folder_and_empty(tmp_path: Path) -> None:
    run = make_run(tmp_path, "20240501T120000Z")
    assert [r.path for r in list_runs(tmp_path / "mnist_mlp")] == [run]
    (tmp_path / "empty").mkdir()
    assert list_runs(tmp_path / "empty") == []


def test_list_runs_shows_data_and_description(tmp_path: Path) -> None:
    fashion = copy.deepcopy(CONFIG)
    fashion["data"]["kind"] = "fashion_mnist"
    fashion["description"] = "MLP baseline"
    csv = copy.deepcopy(CONFIG)
    csv["data"] = {"kind": "csv", "path": "../data/houses.csv", "target": "price"}
    make_run(tmp_path, "20240501T120000Z")
    make_run(tmp_path, "20240502T120000Z", config=fashion)
    make_run(tmp_path, "20240503T120000Z", config=csv)
    runs = list_runs(tmp_path)
    assert [(r.data, r.description) for r in runs] == [
        ("csv houses.csv", None),
        ("fashion_mnist", "MLP baseline"),
        ("mnist", None),
    ]


def test_list_runs_of_one_run_folder_and_latest_run(tmp_path: Path) -> None:
    old = make_run(tmp_path, "20240501T120000Z")
    new = make_run(tmp_path, "20240501T120000Z-1")
    assert [r.path for r in list_runs(old)] == [old]
    assert latest_run(tmp_path / "mnist_mlp") == new
    assert latest_run(tmp_path) is None  # runs/ itself holds names, not runs


def test_list_runs_missing_folder(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(UsageError, match=f"{missing}: no such folder"):
        list_runs(missing)
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="not a folder"):
        list_runs(tmp_path / "file")


# ------------------------------------------------------------------------- compare_runs
def fixed_clock() -> datetime:
    return datetime(2024, 6, 1, 8, 30, 0, tzinfo=timezone.utc)


def test_compare_config_diff_lists_only_differing_keys(tmp_path: Path) -> None:
    a = make_run(tmp_path, "20240501T120000Z")
    config = with_lr(0.01)
    config["model"]["layers"][1]["Dense"]["units"] = 128
    config["training"]["shuffle"] = False
    b = make_run(tmp_path, "20240502T120000Z", config=config)
    result = compare_runs([a, b], clock=fixed_clock)
    diff = dict(result.config_diff)
    assert diff == {
        "model.layers[1].Dense.units": [512, 128],
        "optimizer.learning_rate": [0.001, 0.01],
        "training.shuffle": [MISSING, False],
    }
    assert [r.path for r in result.runs] == [a, b]


def test_compare_metrics_side_by_side(tmp_path: Path) -> None:
    a = make_run(tmp_path, "20240501T120000Z")
    b = make_run(
        tmp_path,
        "20240502T120000Z",
        manifest={"final_metrics": {"test": {"loss": 0.5}}, "best": None},
        config=with_lr(0.01),
    )
    metrics = dict(compare_runs([a, b], clock=fixed_clock).metrics)
    assert list(metrics)[:2] == ["test/loss", "test/accuracy"]
    assert metrics["test/loss"] == [0.31, 0.5]
    assert metrics["test/accuracy"] == [0.91, MISSING]
    assert metrics["validation/loss"] == [0.3, MISSING]
    assert metrics["train/accuracy"] == [0.95, MISSING]
    assert metrics["best/val_loss"] == [0.3, MISSING]


def test_compare_plot_default_location_and_metric(tmp_path: Path) -> None:
    a = make_run(tmp_path, "20240501T120000Z")
    b = make_run(tmp_path, "20240502T120000Z", val_accuracy=False)
    first = compare_runs([a, b], clock=fixed_clock).plot
    assert first == tmp_path / "compare-20240601T083000Z.png"
    assert first.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # A second comparison in the same second does not overwrite the first.
    assert (
        compare_runs([a, b], clock=fixed_clock).plot == tmp_path / "compare-20240601T083000Z-1.png"
    )
    # The comparison PNG beside the runs is not mistaken for a run.
    assert len(list_runs(tmp_path)) == 2


def test_compare_plot_explicit_path_and_no_curves(tmp_path: Path) -> None:
    a = make_run(tmp_path, "20240501T120000Z")
    b = make_run(tmp_path, "20240502T120000Z")
    target = tmp_path / "out" / "cmp.png"
    assert compare_runs([a, b], plot_path=target).plot == target
    assert target.stat().st_size > 2000
    for run in (a, b):
        (run / "metrics.csv").unlink()
    assert compare_runs([a, b], plot_path=tmp_path / "none.png").plot is None
    assert not (tmp_path / "none.png").exists()


def test_compare_run_without_config_shows_missing(tmp_path: Path) -> None:
    a = make_run(tmp_path, "20240501T120000Z")
    b = make_run(tmp_path, "20240502T120000Z")
    (b / "config.yaml").unlink()
    diff = dict(compare_runs([a, b], plot_path=tmp_path / "c.png").config_diff)
    assert diff["optimizer.learning_rate"] == [0.001, MISSING]
    assert diff["model.layers[0].Flatten"] == [{}, MISSING]


def test_compare_needs_two_distinct_readable_runs(tmp_path: Path) -> None:
    a = make_run(tmp_path, "20240501T120000Z")
    with pytest.raises(UsageError, match="at least two run folders"):
        compare_runs([a])
    with pytest.raises(UsageError, match="at least two run folders"):
        compare_runs([])
    with pytest.raises(UsageError, match="given twice"):
        compare_runs([a, a])
    with pytest.raises(CheckpointError, match="no such run folder"):
        compare_runs([a, tmp_path / "missing"])
    b = make_run(tmp_path, "20240502T120000Z")
    (b / "config.yaml").write_text("optimizer: [unclosed\n", encoding="utf-8")
    with pytest.raises(CheckpointError, match="unreadable run config"):
        compare_runs([a, b])


def test_compare_reads_long_form_configs_of_older_runs_with_the_set_keys(tmp_path: Path) -> None:
    old = copy.deepcopy(CONFIG)
    old["model"]["layers"] = [
        {"class_name": "Flatten", "config": {}},
        {"class_name": "Dense", "config": {"units": 64, "activation": "relu"}},
    ]
    a = make_run(tmp_path, "20240501T120000Z", config=old)
    b = make_run(tmp_path, "20240502T120000Z")
    diff = dict(compare_runs([a, b], clock=fixed_clock).config_diff)
    assert diff == {"model.layers[1].Dense.units": [64, 512]}


def test_compare_shows_config_values_as_written(tmp_path: Path) -> None:
    import io

    from rich.console import Console

    from dltrain.cli.render.results import render_comparison

    a = make_run(tmp_path, "20240501T120000Z", config=with_lr(1e-5))
    b = make_run(tmp_path, "20240502T120000Z", config=with_lr(2e-5))
    out = io.StringIO()
    render_comparison(Console(file=out, width=200), compare_runs([a, b], clock=fixed_clock))
    row = next(line for line in out.getvalue().splitlines() if "learning_rate" in line)
    assert "1e-5" in row and "2e-5" in row and "0.0000" not in row


# ------------------------------------------------------------- --sort, --filter, --json
def _three_runs(root: Path) -> None:
    make_run(root, "20240501T120000Z", name="mnist_mlp")
    make_run(
        root,
        "20240502T120000Z",
        name="mnist_cnn",
        manifest={
            "status": "failed",
            "timings": {"total_s": 10.0},
            "final_metrics": {"test": {"loss": 0.5, "accuracy": 0.8}},
        },
    )
    make_run(
        root,
        "20240503T120000Z",
        name="houses",
        manifest={"timings": {"total_s": 300.0}, "final_metrics": {"test": {"loss": 2.0}}},
    )


def _pick(root: Path, filters: list[str] = [], **sort: Any) -> list[str]:  # noqa: B006
    from dltrain.report.run_query import RUN_KEYS, run_record, select_rows

    return [
        r.name for r in select_rows(list_runs(root), run_record, RUN_KEYS, filters=filters, **sort)
    ]


def test_sort_ascending_descending_and_missing_values_last(tmp_path: Path) -> None:
    _three_runs(tmp_path)
    make_run(
        tmp_path, "20240504T120000Z", name="crashed", manifest={"timings": {}, "finished_at": None}
    )
    assert _pick(tmp_path) == ["crashed", "houses", "mnist_cnn", "mnist_mlp"]  # newest first
    assert _pick(tmp_path, sort="name") == ["crashed", "houses", "mnist_cnn", "mnist_mlp"]
    assert _pick(tmp_path, sort="duration") == ["mnist_cnn", "mnist_mlp", "houses", "crashed"]
    assert _pick(tmp_path, sort="-duration") == ["houses", "mnist_mlp", "mnist_cnn", "crashed"]
    assert _pick(tmp_path, sort="duration", descending=True) == _pick(tmp_path, sort="-duration")
    assert _pick(tmp_path, sort="started") == ["mnist_mlp", "mnist_cnn", "houses", "crashed"]


def test_filter_glob_negation_numbers_and_all_must_hold(tmp_path: Path) -> None:
    _three_runs(tmp_path)
    assert _pick(tmp_path, ["name=mnist*"]) == ["mnist_cnn", "mnist_mlp"]
    assert _pick(tmp_path, ["status=completed"]) == ["houses", "mnist_mlp"]
    assert _pick(tmp_path, ["status!=completed"]) == ["mnist_cnn"]
    assert _pick(tmp_path, ["name=mnist*", "status=completed"]) == ["mnist_mlp"]
    assert _pick(tmp_path, ["test_metric=accuracy", "test>0.85"]) == ["mnist_mlp"]
    assert _pick(tmp_path, ["duration<=60.5"]) == ["mnist_cnn", "mnist_mlp"]
    assert _pick(tmp_path, ["started>2024-05-02"]) == ["houses", "mnist_cnn"]
    assert _pick(tmp_path, ["best=0.3"]) == ["houses", "mnist_cnn", "mnist_mlp"]


@pytest.mark.parametrize(
    ("option", "said"),
    [
        ({"filters": ["colour=red"]}, "--filter: unknown key 'colour'; accepted: kind, name, run,"),
        ({"sort": "-speed"}, "--sort: unknown key 'speed'; accepted: kind, name, run,"),
        ({"filters": ["status"]}, "--filter takes KEY=GLOB"),
        ({"filters": ["test>high"]}, "test is a number; compare it with a number"),
    ],
)
def test_unknown_keys_and_bad_filters_are_usage_errors(
    tmp_path: Path, option: dict[str, Any], said: str
) -> None:
    _three_runs(tmp_path)
    with pytest.raises(UsageError, match=re.escape(said)):
        _pick(tmp_path, **option)


def test_run_record_has_stable_keys_and_no_nan(tmp_path: Path) -> None:
    from dltrain.report.run_query import RUN_KEYS, run_record

    make_run(
        tmp_path,
        "20240501T120000Z",
        manifest={
            "best": {"monitor": "val_loss", "mode": "min", "value": float("nan"), "epoch": 1}
        },
    )
    record = run_record(list_runs(tmp_path)[0])
    assert list(record) == [*RUN_KEYS, "test_metrics"] and record["kind"] == "run"
    assert record["best"] is None and record["best_metric"] == "val_loss"
    assert record["started"] == "2024-05-01T12:00:00+00:00"
    assert (record["test"], record["test_metric"], record["duration"]) == (0.91, "accuracy", 60.5)
    assert json.loads(json.dumps(record, allow_nan=False)) == record


# ------------------------------------------------------------------------------ studies
PARAMS = ("optimizer.learning_rate", "model.layers[1].Dense.units", "training.batch_size")


def make_study(
    runs_dir: Path,
    *,
    name: str = "mlp_tune",
    study: str = "mlp_tune",
    with_json: bool = True,
) -> Path:
    """A study folder as ``dltrain tune`` writes it: three trials (the second is best; the
    third failed) and a fourth trial still running (a folder, no record yet)."""
    folder = runs_dir / name / study
    values = [
        (0.001, 64, 1.5, "complete"),
        (0.0123, 128, 1.25, "complete"),
        (0.1, 32, None, "failed"),
    ]
    trials = []
    for n, (lr, units, value, state) in enumerate([*values, (0.02, 16, None, "running")]):
        params = dict(zip(PARAMS, (lr, units, 32), strict=True))
        tune = {
            "study": study,
            "trial": n,
            "state": state,
            "metric": "val_mae",
            "value": value,
            "params": params,
        }
        run = make_run(
            folder,
            f"2024050{n + 1}T120000Z",
            name=f"trial-{n:04d}",
            manifest={
                "name": name,
                "status": "running" if state == "running" else "completed",
                "pid": None,
                **({} if state == "running" else {"tune": tune}),
            },
        )
        if state != "running":
            trials.append(
                {
                    "number": n,
                    "state": state,
                    "value": value,
                    "params": params,
                    "run_dir": f"trial-{n:04d}/{run.name}",
                    "reason": "loss became NaN" if state == "failed" else None,
                }
            )
    if with_json:
        document = {
            "study": study,
            "metric": "val_mae",
            "direction": "minimize",
            "trials_wanted": 12,
            "trials": {"complete": 2, "pruned": 0, "failed": 1, "running": 1},
            "best": {"value": 1.25, "params": trials[1]["params"], "trial": 1},
            "trial_list": trials,
        }
        (folder / "study.json").write_text(json.dumps(document), encoding="utf-8")
    return folder


def test_read_study_joins_records_and_trial_folders(tmp_path: Path) -> None:
    from dltrain.report.study_listing import is_study_folder, read_study

    folder = make_study(tmp_path)
    assert is_study_folder(folder) and not is_study_folder(tmp_path / "mlp_tune")
    view = read_study(folder)
    assert (view.study.metric, view.study.direction, view.study.trials_planned) == (
        "val_mae",
        "minimize",
        12,
    )
    assert view.param_keys == list(PARAMS)
    assert [(t.number, t.state, t.value, t.is_best) for t in view.trials] == [
        (0, "complete", 1.5, False),
        (1, "complete", 1.25, True),
        (2, "failed", None, False),
        (3, "running", None, False),  # its folder only: the record comes when it ends
    ]
    assert view.trials[2].reason == "loss became NaN"
    assert all(
        t.run is not None and t.run.path.parent.name == f"trial-{t.number:04d}" for t in view.trials
    )


def test_read_study_without_study_json_uses_the_trials_run_json(tmp_path: Path) -> None:
    from dltrain.report.study_listing import is_study_folder, read_study

    folder = make_study(tmp_path, with_json=False)
    assert is_study_folder(folder)
    view = read_study(folder)
    assert view.study.metric == "val_mae" and view.study.direction is None
    assert [t.params.get("training.batch_size") for t in view.trials] == [32, 32, 32, None]
    assert not any(t.is_best for t in view.trials)  # no direction: no best to claim


def test_list_studies_in_runs_and_name_folders_and_runs_listing_leaves_trials_out(
    tmp_path: Path,
) -> None:
    from dltrain.report.study_listing import list_studies, study_record

    make_run(tmp_path, "20240501T120000Z")
    folder = make_study(tmp_path)
    studies = list_studies(tmp_path)
    assert (
        [s.path for s in studies]
        == [folder]
        == [s.path for s in list_studies(tmp_path / "mlp_tune")]
    )
    record = study_record(studies[0])
    assert record["kind"] == "study" and record["status"] == "running"
    assert (record["trials"], record["trials_planned"], record["best"], record["best_trial"]) == (
        2,
        12,
        1.25,
        1,
    )
    assert [r.name for r in list_runs(tmp_path)] == ["mnist_mlp"]  # trials stay in the study


def test_a_damaged_study_json_is_said_and_the_trials_still_list(tmp_path: Path) -> None:
    from dltrain.report.study_listing import read_study

    folder = make_study(tmp_path)
    (folder / "study.json").write_text("[1, 2", encoding="utf-8")
    view = read_study(folder)
    assert view.study.error and "study.json: not JSON" in view.study.error
    assert len(view.trials) == 4 and view.trials[0].params

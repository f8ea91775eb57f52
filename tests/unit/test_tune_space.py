"""The ``tune:`` section without TensorFlow: space keys, their overrides, schema errors, and
the study's terminal display."""

from __future__ import annotations

from pathlib import Path

import pytest
from probes import run_probe
from tune_configs import GOOD_SPACE, write_tune

from dltrain.config import load_config
from dltrain.errors import ConfigError
from dltrain.tune.space import end_values, grid_values, param_overrides, read_space


def test_space_keys_are_override_paths(tmp_path: Path, regression_csv: Path) -> None:
    loaded = load_config(write_tune(tmp_path, regression_csv, GOOD_SPACE))
    params = read_space(loaded)
    assert [p.path for p in params] == [
        ("optimizer", "learning_rate"),
        ("model", "layers", 0, "Dense", "units"),
        ("model", "layers", 0, "Dense", "activation"),
        ("training", "batch_size"),
        ("callbacks", "early_stopping", "patience"),
    ]
    assert [v for _, v in end_values(params[1])] == [4, 16]
    assert grid_values(params[0]) is None and grid_values(params[1]) == list(range(4, 17))


def test_values_become_set_overrides_that_read_back_exactly() -> None:
    values = {"a.lr": 1.2345678901234568e-05, "b.units": 64, "c.act": "relu", "d.flag": "true"}
    overrides = param_overrides(values)
    assert overrides == ["a.lr=1.2345678901234568e-05", "b.units=64", "c.act=relu", "d.flag='true'"]
    from dltrain.config.yaml_source import parse_yaml

    assert [parse_yaml(o.split("=", 1)[1])[0] for o in overrides] == list(values.values())


@pytest.mark.parametrize(
    ("key", "line", "expected"),
    [
        ("model.layers[0].Dence.units", 6, "no key 'Dence' (did you mean 'Dense'?)"),
        ("optimiser.learning_rate", 6, "unknown key 'optimiser' in the top level (did you mean 'optimizer'?)"),
        ("model.layers[5].Dense.units", 6, "model.layers is a list of 3; no item 5"),
        ("training.batch_sise", 6, "unknown key 'batch_sise' in training (did you mean 'batch_size'?)"),
        ("training.epochs.value", 6, "training.epochs is a value (2), not a section"),
        ("model.layers[0]].x", 6, "cannot read"),
    ],
)
def test_a_bad_space_key_is_a_config_error_at_its_line(
    tmp_path: Path, regression_csv: Path, key: str, line: int, expected: str
) -> None:
    tune = f"metric: val_mae\nspace:\n  {key}: {{type: int, low: 1, high: 2}}\n"
    path = write_tune(tmp_path, regression_csv, tune)
    with pytest.raises(ConfigError) as info:
        read_space(load_config(path))
    message = info.value.render()
    assert f"tune.yaml:{line}:5: tune.space.{key}: " in message, message
    assert expected in message


def test_schema_errors_in_the_tune_section_are_located(tmp_path: Path, regression_csv: Path) -> None:
    tune = """\
metric: val_mae
sampler: tpee
space:
  optimizer.learning_rate: {type: floaat, low: 1, high: 2}
  training.epochs: {type: int, low: 5, high: 2}
  model.layers[1].Dropout.rate: {type: float, low: 0, high: 0.5, log: true}
"""
    path = write_tune(tmp_path, regression_csv, tune)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = info.value.render()
    assert "tune.yaml:5:3: tune.sampler: expected 'tpe', 'random', 'grid', 'cmaes' or 'qmc'; received 'tpee'" in message
    assert "tune.yaml:7:31: tune.space.optimizer.learning_rate.type: unknown type 'floaat' (did you mean 'float'?)" in message
    assert "tune.yaml:8:5: tune.space.training.epochs: low must not exceed high" in message
    assert "tune.yaml:9:5: tune.space.model.layers[1].Dropout.rate: log: true needs low > 0" in message


def test_tune_help_does_not_import_tensorflow() -> None:
    proc = run_probe("tune", "--help")
    assert proc.returncode == 0, proc.stderr
    assert "--storage" in proc.stdout and "HEAVY=\n" in proc.stderr


def test_trial_table_and_summary_render_on_a_terminal_and_in_pipes() -> None:
    import io

    from rich.console import Console

    from dltrain.cli.render.tune import (
        LineTuneProgress,
        LiveTuneProgress,
        render_study_summary,
    )
    from dltrain.tune.records import StudySummary, TrialRecord

    done = TrialRecord(0, "complete", 0.25, {"optimizer.learning_rate": 0.001234, "units": 8}, duration_s=3.0)
    pruned = TrialRecord(1, "pruned", 0.5, {"optimizer.learning_rate": 0.1, "units": 4}, pruned_at_epoch=2)
    summary = StudySummary(
        study="s", study_dir=Path("runs/x/s"), storage="sqlite:///runs/x/s/study.db",
        metric="val_loss", direction="minimize", trials_wanted=3,
        counts={"complete": 1, "pruned": 1, "failed": 0, "running": 0},
        best={"value": 0.25, "params": done.params, "trial": 0, "run_dir": "trial-0000/T", "host": "h", "test_metrics": None},
        trials=[done], best_yaml=Path("runs/x/s/best.yaml"),
    )
    for progress_class, terminal in ((LiveTuneProgress, True), (LineTuneProgress, False)):
        out = io.StringIO()
        console = Console(file=out, force_terminal=terminal, width=160, color_system=None, highlight=False)
        progress = progress_class(console)
        progress.start(summary)
        progress.trial_started(1, pruned.params)
        progress.sink(1).epoch(0, {"loss": 1.0, "val_loss": 0.75})
        progress.trial_finished(pruned)
        progress.stop()
        render_study_summary(console, summary)
        text = out.getvalue()
        assert "pruned@2" in text and "optimizer.learning_rate=0.1" in text
        assert "best: trial 0  val_loss 0.25  optimizer.learning_rate=0.001234  units=8" in text
        assert "train it again: dltrain run runs/x/s/best.yaml" in text
        assert "best run folder: runs/x/s/trial-0000/T (on h)" in text
    # tune.seeds: a trial's value is the mean over its seeds, shown with their spread.
    seeded = TrialRecord(
        2, "complete", 0.3, {"units": 4},
        seeds=[{"seed": 3, "run_dir": "a", "value": 0.2}, {"seed": 4, "run_dir": "b", "value": 0.4}],
    )  # fmt: skip
    out = io.StringIO()
    progress = LineTuneProgress(Console(file=out, width=160, color_system=None))
    progress.start(summary)
    progress.trial_finished(seeded)
    assert "trial   2  complete    val_loss 0.3 ±0.14 (2 seeds)  units=4" in out.getvalue()


def test_dltrain_tune_stays_the_function_after_its_package_is_imported() -> None:
    import dltrain
    import dltrain.tune.study  # noqa: F401 - importing the package must not replace the function

    assert callable(dltrain.tune) and dltrain.tune.__name__ == "tune"


def test_tune_seeds_refuses_a_searched_seed(tmp_path: Path, regression_csv: Path) -> None:
    tune = "metric: val_mae\nseeds: 3\nspace:\n  seed: {type: int, low: 1, high: 9}\n"
    with pytest.raises(ConfigError) as info:
        load_config(write_tune(tmp_path, regression_csv, tune))
    message = info.value.render()
    assert "tune: seeds 3 trains each trial with seed, seed+1" in message, message
    assert "remove one of the two" in message
    zero = write_tune(tmp_path, regression_csv, "seeds: 0\nspace:\n  seed: {type: int, low: 1, high: 9}\n")
    with pytest.raises(ConfigError, match="tune.seeds"):
        load_config(zero)
    ok = "seeds: 2\nspace:\n  optimizer.learning_rate: {type: float, low: 0.001, high: 0.01}\n"
    assert load_config(write_tune(tmp_path, regression_csv, ok)).config.tune.seeds == 2  # type: ignore[union-attr]

"""dltrain compare of two `run --seeds` groups: Welch's t-test from known values, the CLI's
verdicts and refusals (run folders made by hand, no training)."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import pytest
from datagen import RUN_CONFIG
from typer.testing import CliRunner

from dltrain.cli import app
from dltrain.config import config_from_dict
from dltrain.errors import UsageError
from dltrain.report.seed_compare import compare_groups

runner = CliRunner()


def _group(root: Path, name: str, values: list[float], learning_rate: float = 0.01) -> Path:
    """A seeds group folder as `run --seeds` leaves one: seeds.json and one run per seed."""
    group = root / name / "seeds-20260101T000000Z"
    runs = []
    for i, value in enumerate(values):
        seed = 42 + i
        run = group / f"seed-{seed}" / "20260101T000000Z"
        run.mkdir(parents=True)
        config = {**RUN_CONFIG, "seed": seed, "optimizer": {"learning_rate": learning_rate}}
        (run / "config.yaml").write_text(config_from_dict(config).to_yaml())
        (run / "run.json").write_text(json.dumps({"schema_version": 2, "status": "completed"}))
        test = {"accuracy": value, "loss": 1 - value}
        runs.append(
            {"seed": seed, "run_dir": f"seed-{seed}/20260101T000000Z", "status": "completed",
             "test": test}
        )  # fmt: skip
    seeds = [r["seed"] for r in runs]
    (group / "seeds.json").write_text(json.dumps({"seeds": seeds, "runs": runs}))
    return group


def test_welch_t_and_degrees_of_freedom_by_hand(tmp_path: Path) -> None:
    a_values, b_values = [0.70, 0.72, 0.74, 0.71], [0.80, 0.81, 0.85]
    a = _group(tmp_path, "a", a_values)
    b = _group(tmp_path, "b", b_values, learning_rate=0.001)
    comparison = compare_groups(a, b)
    test = next(t for t in comparison.tests if t.metric == "accuracy")
    va = statistics.variance(a_values) / len(a_values)
    vb = statistics.variance(b_values) / len(b_values)
    t = (statistics.fmean(b_values) - statistics.fmean(a_values)) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (len(a_values) - 1) + vb**2 / (len(b_values) - 1))
    assert test.t == pytest.approx(t) and test.df == pytest.approx(df)
    assert test.difference == pytest.approx(statistics.fmean(b_values) - statistics.fmean(a_values))
    assert test.low is not None and test.high is not None
    assert test.low < test.difference < test.high
    # t = 6.97 on about 3.7 degrees of freedom: far beyond t(0.975, 3) = 3.18.
    assert test.p is not None and test.p < 0.01 and test.significant
    assert "larger than the seed noise" in test.verdict
    # The configs differ in the learning rate; the seed is not a difference.
    assert [key for key, _ in comparison.config_diff] == ["optimizer.learning_rate"]


def test_overlapping_groups_are_within_the_noise(tmp_path: Path) -> None:
    a = _group(tmp_path, "a", [0.70, 0.80, 0.75])
    b = _group(tmp_path, "b", [0.72, 0.78, 0.77])
    (accuracy,) = [t for t in compare_groups(a, b).tests if t.metric == "accuracy"]
    assert accuracy.p is not None and accuracy.p > 0.5 and not accuracy.significant
    assert accuracy.low is not None and accuracy.high is not None
    assert accuracy.low < 0 < accuracy.high
    assert "within the seed noise" in accuracy.verdict


def test_no_spread_in_either_group(tmp_path: Path) -> None:
    same = compare_groups(_group(tmp_path, "a", [0.5, 0.5]), _group(tmp_path, "b", [0.5, 0.5]))
    assert {t.verdict for t in same.tests} == {"identical on every seed"}
    apart = compare_groups(_group(tmp_path, "c", [0.5, 0.5]), _group(tmp_path, "d", [0.6, 0.6]))
    assert all(t.significant for t in apart.tests)


def test_cli_prints_the_table_and_verdict(tmp_path: Path) -> None:
    a = _group(tmp_path, "a", [0.70, 0.72, 0.74])
    b = _group(tmp_path, "b", [0.80, 0.81, 0.83], learning_rate=0.001)
    result = runner.invoke(app, ["compare", str(a), str(b)])
    assert result.exit_code == 0, result.output
    assert "optimizer.learning_rate" in result.output
    assert "larger than the seed noise" in result.output
    assert "0.7200 ± 0.0200" in result.output and "Welch" in result.output


def test_refusals(tmp_path: Path) -> None:
    a = _group(tmp_path, "a", [0.70, 0.72])
    b = _group(tmp_path, "b", [0.80, 0.81])
    one = _group(tmp_path, "one", [0.8])
    run = next(a.glob("seed-*/*"))
    cases = {
        "takes exactly two": [str(a), str(b), str(one)],
        "not a seeds group folder": [str(a), str(run)],
        "needs at least 2 per group": [str(a), str(one)],
        "given twice": [str(a), str(a)],
        "--plot and --metric": [str(a), str(b), "--metric", "loss"],
    }
    for expected, args in cases.items():
        result = runner.invoke(app, ["compare", *args])
        assert result.exit_code == 2, (args, result.output)
        assert expected in result.output, (expected, result.output)
        assert "Traceback" not in result.output
    with pytest.raises(UsageError):
        compare_groups(a, a)

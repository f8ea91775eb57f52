"""Repeated seeds: the spread and interval from known values; the CLI refuses what cannot work."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dltrain.cli import app
from dltrain.report.seed_stats import spread, t_975

runner = CliRunner()


def test_mean_std_and_t_interval_from_known_values() -> None:
    (accuracy,) = spread([{"accuracy": v} for v in (1.0, 2.0, 3.0, 4.0)]).values()
    assert accuracy.mean == 2.5
    assert accuracy.std == pytest.approx(math.sqrt(5 / 3))
    half = 3.182 * math.sqrt(5 / 3) / 2  # t(0.975, 3 degrees of freedom) = 3.182
    assert (accuracy.low, accuracy.high) == pytest.approx((2.5 - half, 2.5 + half))
    assert accuracy.to_json()["ci95"] == pytest.approx([2.5 - half, 2.5 + half])


def test_only_metrics_every_run_has_and_one_value_has_no_spread() -> None:
    summary = spread([{"loss": 0.5, "accuracy": 0.9}, {"loss": 0.7}])
    assert list(summary) == ["loss"]
    (single,) = spread([{"loss": 0.5}]).values()
    assert single.std is None and single.low is None
    assert spread([]) == {}


def test_t_table() -> None:
    assert t_975(1) == 12.706 and t_975(30) == 2.042 and t_975(200) == 1.96
    with pytest.raises(ValueError):
        t_975(0)


def test_seeds_needs_two_and_no_resume(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("data: {kind: fashion_mnist}\nmodel: {layers: [Flatten]}\n")
    one = runner.invoke(app, ["run", str(config), "--seeds", "1"])
    assert one.exit_code == 2 and "--seeds" in one.output
    resumed = runner.invoke(app, ["run", "--resume", str(tmp_path), "--seeds", "3"])
    assert resumed.exit_code == 2
    assert "--seeds starts new runs" in resumed.output

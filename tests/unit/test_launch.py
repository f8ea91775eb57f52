"""`dltrain launch`'s checks before any worker starts, and how it finds a lost chief's run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from datagen import TINY_MLP
from typer.testing import CliRunner

from dltrain.cli import app
from dltrain.engine.launch import _run_of, describe_exit


def test_launch_refuses_bad_arguments_before_starting_workers(
    mnist_npz: Path, tmp_path: Path
) -> None:
    config = tmp_path / "mw.yaml"
    config.write_text("name: mw\n" + TINY_MLP.format(path=mnist_npz))
    runner = CliRunner()
    for args, expected in [
        ([str(config), "--max-restarts", "-1"], "--max-restarts must be 0 or more"),
        ([], "give a CONFIG file, or --resume"),
        ([str(config), "--resume", str(tmp_path)], "not both"),
        (["--resume", str(tmp_path / "nothing")], "no such run folder"),
    ]:
        result = runner.invoke(app, ["launch", *args])
        assert result.exit_code == 2, result.output
        assert expected in result.output
    single = tmp_path / "runs" / "one" / "20250101T000000Z"
    single.mkdir(parents=True)
    (single / "run.json").write_text(json.dumps({"status": "interrupted", "distribute": "default"}))
    result = runner.invoke(app, ["launch", "--resume", str(single)])
    assert result.exit_code == 2 and "dltrain run --resume" in result.output


def test_the_run_folder_of_a_lost_chief_is_found_by_its_pid(tmp_path: Path) -> None:
    root = tmp_path / "runs" / "mw"
    for stamp, pid in [("20250101T000000Z", 11), ("20250101T000001Z", 12)]:
        (root / stamp).mkdir(parents=True)
        (root / stamp / "run.json").write_text(json.dumps({"status": "running", "pid": pid}))
    (root / "damaged").mkdir()
    (root / "damaged" / "run.json").write_text("{")
    assert _run_of(root, 12) == root / "20250101T000001Z"
    assert _run_of(root, 13) is None
    assert describe_exit(1, 42, -9) == "worker 1 (pid 42) killed by SIGKILL"
    assert describe_exit(0, 42, 2) == "worker 0 (pid 42) exited with 2"


def test_more_workers_than_cores_need_force(
    mnist_npz: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fault probe L7: ``--workers 100`` on 2 cores started 100 TensorFlow processes."""
    from dltrain.engine import launch

    config = tmp_path / "mw.yaml"
    config.write_text("name: mw\n" + TINY_MLP.format(path=mnist_npz))
    monkeypatch.setattr(launch, "usable_cores", lambda: 2)
    started: list[int] = []

    def attempt(args: list[str], workers: int, logs: Path, grace_s: float, report: Any) -> Any:
        started.append(workers)
        return launch._Attempt([0] * workers, [0] * workers, None)

    monkeypatch.setattr(launch, "_run_attempt", attempt)
    runner = CliRunner()
    result = runner.invoke(app, ["launch", "--workers", "100", str(config)])
    assert result.exit_code == 2, result.output
    assert "--workers 100 is more than the 2 CPU core(s)" in result.output
    assert "--workers 2 or fewer, or add --force" in result.output
    assert started == [] and "Traceback" not in result.output
    for args in (["--workers", "2"], ["--workers", "3", "--force"]):
        result = runner.invoke(app, ["launch", *args, str(config)])
        assert result.exit_code == 0, result.output
    assert started == [2, 3]
    monkeypatch.setattr(launch, "usable_cores", lambda: 1)
    assert runner.invoke(app, ["launch", str(config)]).exit_code == 0  # the default 2 stays

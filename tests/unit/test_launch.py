"""`dltrain launch`'s checks before any worker starts, and how it finds a lost chief's run."""

from __future__ import annotations

import json
from pathlib import Path

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

"""Damaged run-folder files end in exit 2 for every command that reads them (issue 12, point 10).

``--resume`` checks the folder, its lock and its config before importing TensorFlow, so every
case answers without it; the run folders are made by hand (``datagen.write_run_folder``),
without training.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from datagen import RUN_CONFIG, run_folder_command, write_run_folder
from typer.testing import CliRunner

from dltrain.cli import app

runner = CliRunner()
COMMANDS = ["compare", "eval", "predict", "resume"]


def invoke(args: list[str]) -> Any:
    result = runner.invoke(app, args)
    assert "Traceback" not in result.output and "internal error" not in result.output
    assert not (result.exception and not isinstance(result.exception, SystemExit)), result.exception
    return result


DAMAGE = {
    "config.yaml binary": ("config.yaml", b"\x00\x01\xff\xfe", "not a UTF-8 text file"),
    "config.yaml control characters": ("config.yaml", b"a: \x01", "unacceptable character"),
    "config.yaml broken": ("config.yaml", b"a: [1, 2\nb: {", "invalid YAML"),
    "config.yaml a list": ("config.yaml", b"- 1\n", "expected a mapping"),
    "config.yaml nested": ("config.yaml", b"a: " + b"[" * 5000 + b"]" * 5000, "nested"),
    "config.yaml seed": ("config.yaml", yaml.safe_dump({**RUN_CONFIG, "seed": 2**40}).encode(),
                         "less than or equal to 4294967295"),
    "run.json types": ("run.json", json.dumps({"status": "completed", "epochs_completed": "x"})
                       .encode(), "epochs_completed"),
    "run.json nested": ("run.json", b'{"status": "completed", "x": ' + b"[" * 5000 + b"]" * 5000
                        + b"}", "unreadable manifest"),
    "run.json binary": ("run.json", b"\xff\x00", "unreadable manifest"),
}


@pytest.mark.parametrize("case", list(DAMAGE))
@pytest.mark.parametrize("command", COMMANDS)
def test_damaged_run_files_are_exit_2_for_every_command(
    tmp_path: Path, case: str, command: str
) -> None:
    name, content, said = DAMAGE[case]
    run = write_run_folder(tmp_path)
    other = write_run_folder(tmp_path, "20250101T000001Z")
    (run / name).write_bytes(content)
    data = tmp_path / "new.csv"
    data.write_text("x\n1\n")
    result = invoke(run_folder_command(command, run, other, data))
    if command == "compare" and case == "config.yaml seed":
        # compare shows configs as written, without validating them.
        assert result.exit_code == 0 and "1099511627776" in result.output, result.output
    else:
        assert result.exit_code == 2 and said in result.output, result.output
    listing = invoke(["runs", str(tmp_path)])
    assert listing.exit_code == 0, listing.output


@pytest.mark.parametrize(
    ("metrics", "said"),
    [(b"epoch,loss\n1,\xff\xfe\n", "unreadable"), (b"epoch,loss\n1,abc\n", "not a number")],
)
def test_damaged_metrics_are_exit_2(tmp_path: Path, metrics: bytes, said: str) -> None:
    run = write_run_folder(tmp_path)
    other = write_run_folder(tmp_path, "20250101T000001Z")
    (run / "metrics.csv").write_bytes(metrics)
    result = invoke(["run", "--resume", str(run), "-q"])
    assert result.exit_code == 2 and said in result.output, result.output
    assert invoke(["runs", str(tmp_path)]).exit_code == 0
    assert invoke(["compare", str(run), str(other), "--plot", str(tmp_path / "c.png")]).exit_code in (0, 2)


@pytest.mark.parametrize("sub", ["plots", "logs", "export", "checkpoints"])
@pytest.mark.parametrize(
    "args",
    [["run", "--resume", "{run}", "--set", "training.epochs=4"],
     ["export", "{run}", "--format", "tflite", "--no-verify"],
     ["sync", "{run}", "--mlflow", "http://127.0.0.1:1"]],
    ids=["resume", "export", "sync"],
)
def test_a_subfolder_linked_out_of_the_run_is_refused_before_writing(
    tmp_path: Path, sub: str, args: list[str]
) -> None:
    run = write_run_folder(tmp_path)
    victim = tmp_path / "victim"
    victim.mkdir()
    if (run / sub).exists():
        (victim / "best.keras").write_bytes((run / sub / "best.keras").read_bytes())
        for path in (run / sub).iterdir():
            path.unlink()
        (run / sub).rmdir()
    (victim / "loss.png").write_bytes(b"precious-png")
    (run / sub).symlink_to(victim)
    before = {p.name: p.read_bytes() for p in victim.iterdir()}
    manifest = (run / "run.json").read_bytes()
    result = invoke([a.format(run=run) for a in args])
    assert result.exit_code == 2, result.output
    assert f"{run / sub}: a symlink to {victim.resolve()}, outside the run folder" in result.output
    assert {p.name: p.read_bytes() for p in victim.iterdir()} == before
    assert (run / "run.json").read_bytes() == manifest
    listed = invoke(["runs", str(tmp_path / "faults")])  # the other runs are still listed
    assert listed.exit_code == 0 and "unreadable" in listed.output, listed.output


def test_a_subfolder_linked_inside_the_run_is_allowed(tmp_path: Path) -> None:
    from dltrain.storage import RunFolder

    run = write_run_folder(tmp_path)
    (run / "plots-real").mkdir()
    (run / "plots").symlink_to(run / "plots-real")
    assert RunFolder.open(run).path == run

"""``dltrain run --resume runs/NAME`` takes the name's latest run, as ``eval`` does (issue 25 N12)."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

from typer.testing import CliRunner

from dltrain.cli import app
from dltrain.storage import RunFolder

runner = CliRunner()


def _at(stamp: str) -> datetime:
    return datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)


def test_resume_of_a_name_folder_takes_its_latest_run_and_says_so(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    older = RunFolder.create(runs, "exp", lambda: _at("20250101T000000Z"))
    older.update(status="interrupted")
    older.release()
    newest = RunFolder.create(runs, "exp", lambda: _at("20250102T000000Z"))
    newest.update(status="running", pid=os.getpid())  # this process holds its lock
    try:
        result = runner.invoke(app, ["run", "--resume", str(runs / "exp")])
    finally:
        newest.release()
    assert result.exit_code == 2, result.output
    assert f"using the latest run in {runs / 'exp'}: {newest.path}" in result.output
    # The latest run was the one opened: its lock refused the second writer.
    assert f"being written by process {os.getpid()}" in result.output
    assert "not a run folder" not in result.output


def test_resume_of_a_folder_without_runs_still_says_what_is_wrong(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, ["run", "--resume", str(tmp_path / "empty")])
    assert result.exit_code == 2, result.output
    assert "not a run folder" in result.output and "using the latest" not in result.output

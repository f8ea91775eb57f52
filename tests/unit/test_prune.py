"""``dltrain prune``: a completed run's older resume points and leftovers go, nothing else does.

Run folders are made with the storage layer itself (``RunFolder``, ``save_resume_point``)
and a stand-in model that saves a real zip archive, so resume points read as intact.
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dltrain.cli import app
from dltrain.storage import RunFolder, latest_resume_point, save_resume_point
from dltrain.storage.manifest import ResumeState, TuneRecord
from dltrain.storage.prune import disk_use, find_runs, prune_run
from dltrain.storage.resume_point import resume_points
from dltrain.storage.run_folder import leftovers
from dltrain.tune.keep_best import best_trial_runs

runner = CliRunner()


class _Model:
    """Saves a zip archive of ``size`` random bytes, as Keras saves a ``.keras`` file."""

    def __init__(self, size: int = 64 * 1024) -> None:
        self.size = size

    def save(self, filepath: str | Path) -> None:
        with zipfile.ZipFile(filepath, "w") as archive:
            archive.writestr("model.weights.h5", os.urandom(self.size))


def _run(
    runs: Path,
    *,
    name: str = "exp",
    epochs: int = 3,
    status: str = "completed",
    second: int = 0,
    tune: TuneRecord | None = None,
) -> Path:
    """A run folder with ``epochs`` resume points (all kept), best.keras and last.keras."""
    clock = lambda: datetime(2025, 1, 1, 0, 0, second, tzinfo=timezone.utc)  # noqa: E731
    run = RunFolder.create(runs, name, clock)
    model = _Model()
    checkpoints = run.checkpoints
    for epoch in range(1, epochs + 1):
        state = ResumeState(epochs_completed=epoch, learning_rate=0.001)
        save_resume_point(
            checkpoints, model, epoch, state, extra=lambda f: model.save(f / "best.keras")
        )
        keep = checkpoints / "resume" / f"kept-{epoch}"  # save_resume_point keeps two
        shutil.copytree(checkpoints / "resume" / f"epoch-{epoch:05d}", keep)
    for epoch in range(1, epochs + 1):
        target = checkpoints / "resume" / f"epoch-{epoch:05d}"
        if not target.exists():
            os.rename(checkpoints / "resume" / f"kept-{epoch}", target)
        else:
            shutil.rmtree(checkpoints / "resume" / f"kept-{epoch}")
    shutil.copy2(
        checkpoints / "resume" / f"epoch-{epochs:05d}" / "best.keras", checkpoints / "best.keras"
    )
    run.update(status=status, epochs_completed=epochs, epochs_planned=epochs, tune=tune)
    (run.path / "metrics.csv").write_text("epoch,loss\n1,0.5\n")
    run.release()
    return run.path


def _points(run: Path) -> list[str]:
    return [p.name for p in resume_points(run / "checkpoints")]


def _du(paths: list[Path]) -> int:
    """What ``du -s --block-size=1`` adds up for ``paths`` (files and folders, no links)."""
    return sum(f.lstat().st_blocks * 512 for p in paths for f in [p, *p.rglob("*")])


def test_prune_frees_the_older_points_and_leftovers_and_keeps_what_commands_read(
    tmp_path: Path,
) -> None:
    run = _run(tmp_path / "runs")
    assert _points(run) == ["epoch-00001", "epoch-00002", "epoch-00003"]
    tmp_file = run / "checkpoints" / ".best.999-0.tmp.keras"
    tmp_file.write_bytes(os.urandom(10_000))
    half_point = run / "checkpoints" / "resume" / ".tmp-00004-999"
    half_point.mkdir()
    (half_point / "model.keras").write_bytes(os.urandom(5_000))
    old = [run / "checkpoints" / "resume" / f"epoch-0000{k}" for k in (1, 2)]
    expected = _du([tmp_file, half_point, *old])
    best = (run / "checkpoints" / "best.keras").read_bytes()

    planned = prune_run(run, dry_run=True)
    assert planned.freed_bytes == expected and planned.skipped is None
    assert _points(run) == ["epoch-00001", "epoch-00002", "epoch-00003"]  # nothing removed
    assert tmp_file.exists() and half_point.exists()

    result = prune_run(run)
    assert result.skipped is None and result.error is None
    assert result.freed_bytes == expected > 2 * 2 * 64 * 1024
    assert [p.name for p in result.points] == ["epoch-00001", "epoch-00002"]
    assert result.kept is not None and result.kept.name == "epoch-00003"
    assert _points(run) == ["epoch-00003"]
    assert not tmp_file.exists() and not half_point.exists()
    assert (run / "checkpoints" / "best.keras").read_bytes() == best
    assert (run / "checkpoints" / "last.keras").is_file()
    point = latest_resume_point(run / "checkpoints")
    assert point is not None and point.epochs_completed == 3 and not point.skipped
    assert {p.name for p in point.folder.iterdir()} >= {"model.keras", "best.keras", "state.json"}
    assert sorted(p.name for p in (run / "checkpoints" / "resume").iterdir()) == ["epoch-00003"]

    again = prune_run(run)
    assert again.removed == [] and again.freed_bytes == 0


def test_a_best_keras_hard_linked_to_a_removed_point_keeps_its_data(tmp_path: Path) -> None:
    run = _run(tmp_path / "runs")
    old_best = run / "checkpoints" / "resume" / "epoch-00001" / "best.keras"
    best = run / "checkpoints" / "best.keras"
    best.unlink()
    os.link(old_best, best)  # as publish_file(link=True) would have made it
    content = best.read_bytes()
    shared = old_best.stat().st_blocks * 512
    old = [run / "checkpoints" / "resume" / f"epoch-0000{k}" for k in (1, 2)]
    expected = _du(old) - shared

    result = prune_run(run)

    assert result.freed_bytes == expected  # its blocks are still in use
    assert best.read_bytes() == content and best.stat().st_nlink == 1
    with zipfile.ZipFile(best) as archive:
        assert archive.testzip() is None


def test_disk_use_counts_a_file_once_all_its_links_go(tmp_path: Path) -> None:
    one = tmp_path / "one"
    one.write_bytes(os.urandom(20_000))
    two = tmp_path / "two"
    os.link(one, two)
    blocks = one.stat().st_blocks * 512
    assert disk_use([one]) == 0
    assert disk_use([one, two]) == blocks
    assert disk_use([tmp_path]) == blocks + tmp_path.stat().st_blocks * 512


@pytest.mark.parametrize("status", ["interrupted", "failed", "created"])
def test_an_unfinished_run_is_left_alone(tmp_path: Path, status: str) -> None:
    run = _run(tmp_path / "runs", status=status)
    (run / ".run.123-0.tmp.json").write_text("{}")
    for dry_run in (True, False):
        result = prune_run(run, dry_run=dry_run)
        assert result.skipped is not None and result.skipped.startswith(f"{status}: ")
        assert result.removed == [] and result.freed_bytes == 0
    assert len(_points(run)) == 3 and leftovers(run)


def test_a_stale_run_is_named_so_and_left_alone(tmp_path: Path) -> None:
    run = _run(tmp_path / "runs", status="running")  # its writer is gone: the lock is free
    result = prune_run(run)
    assert result.skipped is not None and result.skipped.startswith("stale (")
    assert len(_points(run)) == 3


def test_a_run_whose_lock_is_held_is_left_alone(tmp_path: Path) -> None:
    run = _run(tmp_path / "runs")
    writer = RunFolder.open(run)
    writer.take_lock()  # another writer (a --resume starting) holds it
    try:
        result = prune_run(run)
        assert result.skipped is not None
        assert f"being written by process {os.getpid()}" in result.skipped
        dry = prune_run(run, dry_run=True)
        assert dry.skipped is not None and "lock is held" in dry.skipped
        assert len(_points(run)) == 3
    finally:
        writer.release()
    assert prune_run(run).skipped is None and _points(run) == ["epoch-00003"]


def test_a_prune_killed_midway_leaves_only_a_leftover_the_next_writer_removes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = _run(tmp_path / "runs")
    monkeypatch.setattr("dltrain.storage.prune.shutil.rmtree", lambda *a, **k: None)
    prune_run(run)  # renamed aside, never deleted: as if killed between the two steps
    monkeypatch.undo()
    resume = run / "checkpoints" / "resume"
    assert sorted(p.name for p in resume.iterdir()) == [
        ".tmp-pruned-epoch-00001",
        ".tmp-pruned-epoch-00002",
        "epoch-00003",
    ]
    point = latest_resume_point(run / "checkpoints")
    assert point is not None and point.epochs_completed == 3 and not point.skipped
    folder = RunFolder.open(run)
    folder.take_lock()
    folder.release()
    assert sorted(p.name for p in resume.iterdir()) == ["epoch-00003"]


def test_a_removal_that_fails_midway_says_what_went(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = _run(tmp_path / "runs")
    first = _du([run / "checkpoints" / "resume" / "epoch-00001"])
    real = os.replace
    calls: list[str] = []

    def replace(src: os.PathLike[str], dst: os.PathLike[str]) -> None:
        calls.append(str(src))
        if len(calls) == 2:
            raise PermissionError(13, "Permission denied")
        real(src, dst)

    monkeypatch.setattr("dltrain.storage.prune.os.replace", replace)
    result = prune_run(run)
    assert result.error is not None and "epoch-00002: could not be removed" in result.error
    assert [p.name for p in result.points] == ["epoch-00001"]
    assert result.freed_bytes == first > 0
    assert _points(run) == ["epoch-00002", "epoch-00003"]


def test_find_runs_takes_a_run_a_name_a_runs_folder_or_a_study(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    a = _run(runs, name="a")
    b = _run(runs, name="b", second=1)
    trial = _run(runs / "b" / "study", name="trial-0000")
    assert find_runs(runs) == [a, b, trial]
    assert find_runs(a) == [a]
    assert find_runs(runs / "b") == [b, trial]


def _study(tmp_path: Path, values: list[float], direction: str = "minimize") -> Path:
    study = tmp_path / "runs" / "exp" / "study"
    for number, value in enumerate(values):
        record = TuneRecord(study="study", trial=number, state="complete", value=value)
        _run(study, name=f"trial-{number:04d}", tune=record)
    (study / "study.json").write_text(json.dumps({"direction": direction}))
    return study


def test_keep_best_keeps_only_the_best_trials_checkpoints(tmp_path: Path) -> None:
    study = _study(tmp_path, [0.5, 0.2, 0.9])
    trials = find_runs(study)
    assert best_trial_runs(study, 1) == [trials[1]]
    assert best_trial_runs(study, 2) == [trials[1], trials[0]]

    result = runner.invoke(app, ["prune", str(study), "--keep-best", "1"])

    assert result.exit_code == 0, result.output
    assert _points(trials[1]) == ["epoch-00003"]
    assert (trials[1] / "checkpoints" / "best.keras").is_file()
    for other in (trials[0], trials[2]):
        assert not (other / "checkpoints").exists() or not any((other / "checkpoints").iterdir())
        assert (other / "run.json").is_file() and (other / "metrics.csv").is_file()
    assert "all checkpoints (not among the study's best trials" in result.output
    assert "total: freed" in result.output and "in 3 runs" in result.output


def test_keep_best_follows_the_studys_direction(tmp_path: Path) -> None:
    study = _study(tmp_path, [0.5, 0.2, 0.9], direction="maximize")
    assert best_trial_runs(study, 1) == [find_runs(study)[2]]


def test_keep_best_needs_a_study_and_a_positive_count(tmp_path: Path) -> None:
    run = _run(tmp_path / "runs")
    refused = runner.invoke(app, ["prune", str(run.parent), "--keep-best", "1"])
    assert refused.exit_code == 2 and "not a study folder" in refused.output
    study = _study(tmp_path, [0.5])
    zero = runner.invoke(app, ["prune", str(study), "--keep-best", "0"])
    assert zero.exit_code == 2 and "--keep-best must be 1 or more" in zero.output
    assert _points(find_runs(study)[0]) == ["epoch-00001", "epoch-00002", "epoch-00003"]


def test_the_cli_says_what_it_would_free_and_what_it_freed(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    done = _run(runs, name="done")
    running = _run(runs, name="running", status="running")
    writer = RunFolder.open(running)
    writer.take_lock()  # it is training

    dry = runner.invoke(app, ["prune", str(runs), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert f"{done}: would free " in dry.output
    assert "resume points epoch-00001, epoch-00002" in dry.output
    assert "kept resume point epoch-00003, best.keras and last.keras" in dry.output
    assert f"{running}: left as it is: running: only completed runs are pruned" in dry.output
    assert "total: would free" in dry.output and "(1 left as it is)" in dry.output
    assert len(_points(done)) == 3

    real = runner.invoke(app, ["prune", str(runs)])
    assert real.exit_code == 0, real.output
    assert f"{done}: freed " in real.output and "total: freed " in real.output
    assert _points(done) == ["epoch-00003"] and len(_points(running)) == 3
    writer.release()

    again = runner.invoke(app, ["prune", str(done)])
    assert "nothing to remove (kept resume point epoch-00003" in again.output
    missing = runner.invoke(app, ["prune", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "no such folder" in missing.output

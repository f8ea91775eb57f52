"""``dltrain eval`` names the checkpoint it evaluated and its epoch (issue 25 N19)."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

from dltrain.engine.evaluate import describe_checkpoint
from dltrain.storage import RunFolder
from dltrain.storage.manifest import BestCheckpoint, ResumeState


def _keras(path: Path, content: str) -> Path:
    """A stand-in ``.keras`` file: a whole zip archive (resume points are checked for it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("weights", content)
    return path


def _point(run: RunFolder, epochs: int, content: str) -> Path:
    folder = run.path / "checkpoints" / "resume" / f"epoch-{epochs:05d}"
    model = _keras(folder / "model.keras", content)
    state = ResumeState(epochs_completed=epochs, learning_rate=0.001)
    (folder / "state.json").write_text(state.to_json())
    return model


def _run(tmp_path: Path) -> RunFolder:
    run = RunFolder.create(tmp_path / "runs", "exp")
    best = BestCheckpoint(monitor="val_loss", mode="min", value=0.37612, epoch=2)
    run.update(status="completed", epochs_completed=3, best=best)
    return run


def test_best_names_its_recorded_epoch_and_value(tmp_path: Path) -> None:
    run = _run(tmp_path)
    best = _keras(run.path / "checkpoints" / "best.keras", "best")
    facts = describe_checkpoint(run, best)
    assert facts.file == "checkpoints/best.keras" and facts.epoch == 2
    assert facts.detail == "epoch 2, best val_loss 0.3761"
    run.update(best=None)
    assert describe_checkpoint(run, best).epoch is None  # an old manifest: not recorded


def test_last_is_the_newest_resume_point_or_an_interrupted_part_epoch(tmp_path: Path) -> None:
    run = _run(tmp_path)
    _point(run, 2, "two")
    newest = _point(run, 3, "three")
    last = run.path / "checkpoints" / "last.keras"
    shutil.copyfile(newest, last)
    facts = describe_checkpoint(run, last)
    assert (facts.file, facts.epoch) == ("checkpoints/last.keras", 3)
    assert facts.detail == "epoch 3, the last completed"
    # Interrupted in epoch 4: last.keras holds the weights of that moment, not a point's.
    _keras(last, "part of epoch four")
    run.update(status="interrupted")
    facts = describe_checkpoint(run, last)
    assert facts.epoch is None and "part-way into epoch 4" in facts.detail
    # A resume point's model given by path: its state.json says the epoch.
    assert describe_checkpoint(run, newest.parent.parent / "epoch-00002" / "model.keras").epoch == 2

"""Run-folder storage: atomic writes and the typed run.json manifest (no TensorFlow)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from dltrain.errors import CheckpointError
from dltrain.storage import (
    SCHEMA_VERSION,
    RunFolder,
    RunManifest,
    atomic_write,
    atomic_write_text,
    publish_file,
    read_manifest,
)
from dltrain.storage.atomic import atomic_write_dir

# What dltrain 0.1 wrote (trimmed): no schema_version, untyped dicts everywhere.
MANIFEST_0_1 = {
    "status": "completed",
    "name": "mnist_mlp",
    "command": ["dltrain", "run", "configs/mnist_mlp.yaml"],
    "config_file": "configs/mnist_mlp.yaml",
    "config_files": ["configs/mnist_mlp.yaml"],
    "overrides": [],
    "config_hash": "ab12",
    "seed": 42,
    "epochs_planned": 2,
    "epochs_completed": 2,
    "data": {"train_size": 60000, "validation_size": 10000, "test_size": 10000,
             "fingerprint": {"kind": "mnist"}, "warnings": []},
    "best": {"monitor": "val_loss", "mode": "min", "value": 0.31, "epoch": 2},
    "test_checkpoint": {"file": "checkpoints/best.keras", "monitor": "val_loss",
                        "mode": "min", "value": 0.31, "epoch": 2},
    "final_metrics": {"test": {"loss": 0.3, "accuracy": 0.9}},
    "timings": {"train_s": 10.0, "total_s": 15.0},
    "resumes": [{"at": "2024-01-01T00:00:00+00:00", "from_epoch": 1, "command": [],
                 "drift": [{"key": "optimizer.learning_rate", "old": 0.1, "new": 0.2}]}],
    "something_newer": {"kept": True},
}


def test_a_0_1_manifest_reads_and_survives_an_update(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text(json.dumps(MANIFEST_0_1))
    run = RunFolder.open(tmp_path)
    assert run.manifest.schema_version == 1
    assert run.manifest.best is not None and run.manifest.best.epoch == 2
    assert run.manifest.resumes[0].drift[0].key == "optimizer.learning_rate"
    run.update(error="x")
    written = json.loads((tmp_path / "run.json").read_text())
    assert written["something_newer"] == {"kept": True}  # unknown fields are kept
    assert written["error"] == "x" and written["final_metrics"]["test"]["accuracy"] == 0.9


def test_new_run_folders_write_the_current_schema(tmp_path: Path) -> None:
    run = RunFolder.create(tmp_path, "exp")
    assert read_manifest(run.path / "run.json").schema_version == SCHEMA_VERSION
    assert run.manifest.status == "created"


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [("status", "exploded", "status"), ("epochs_completed", "three", "epochs_completed"),
     ("best", {"monitor": "val_loss"}, "best.mode"), ("timings", "junk", "timings")],
)
def test_a_manifest_with_wrong_types_is_a_clear_error(
    tmp_path: Path, field: str, value: object, named: str
) -> None:
    (tmp_path / "run.json").write_text(json.dumps({**MANIFEST_0_1, field: value}))
    with pytest.raises(CheckpointError) as info:
        RunFolder.open(tmp_path)
    assert "damaged manifest" in str(info.value) and named in str(info.value)


def test_updates_are_validated_before_anything_is_written(tmp_path: Path) -> None:
    run = RunFolder.create(tmp_path, "exp")
    before = (run.path / "run.json").read_text()
    with pytest.raises(ValueError):
        run.update(status="exploded")
    assert (run.path / "run.json").read_text() == before


def test_atomic_write_leaves_the_old_file_and_no_temporary_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "best.keras"
    target.write_text("old")

    def half_written(tmp: Path) -> None:
        tmp.write_text("half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        atomic_write(target, half_written)
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.keras"]


def test_atomic_write_keeps_the_suffix_and_respects_the_umask(tmp_path: Path) -> None:
    seen: list[str] = []
    atomic_write(tmp_path / "m.keras", lambda tmp: (seen.append(tmp.suffix), tmp.write_text("x")))
    assert seen == [".keras"]
    old = os.umask(0o022)
    try:
        path = atomic_write_text(tmp_path / "run.json", "{}")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644


def test_publish_file_makes_an_identical_copy(tmp_path: Path) -> None:
    source = tmp_path / "a"
    source.write_bytes(b"weights")
    publish_file(source, tmp_path / "last.keras")
    publish_file(source, tmp_path / "last.keras")  # over an existing one
    assert (tmp_path / "last.keras").read_bytes() == b"weights"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "last.keras"]


def test_atomic_write_dir_replaces_a_folder_whole(tmp_path: Path) -> None:
    target = tmp_path / "best.saved_model"

    def write(version: str) -> Callable[[Path], None]:
        def fill(tmp: Path) -> None:
            assert tmp.parent == tmp_path and tmp.suffix == ".saved_model" and not tmp.exists()
            (tmp / "variables").mkdir(parents=True)
            (tmp / "saved_model.pb").write_text(version)
            (tmp / "variables" / "data").write_text(version)

        return fill

    assert atomic_write_dir(target, write("v1")) == target
    atomic_write_dir(target, write("v2"))  # over an existing folder
    assert (target / "saved_model.pb").read_text() == "v2"
    assert (target / "variables" / "data").read_text() == "v2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.saved_model"]


def test_atomic_write_dir_leaves_the_old_folder_and_no_temporary_on_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "m"
    target.mkdir()
    (target / "old").write_text("old")

    def half_written(tmp: Path) -> None:
        tmp.mkdir()
        (tmp / "half").write_text("half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        atomic_write_dir(target, half_written)
    assert [p.name for p in tmp_path.iterdir()] == ["m"]
    assert (target / "old").read_text() == "old"

    # The old folder is already aside when the new one's rename fails: it comes back.
    real_replace = os.replace

    def failing_replace(src: Path, dst: Path) -> None:
        if Path(src).name.startswith(".m.") and ".tmp" in Path(src).name:
            raise OSError(5, "Input/output error")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="Input/output"):
        atomic_write_dir(target, lambda tmp: tmp.mkdir())
    assert [p.name for p in tmp_path.iterdir()] == ["m"]
    assert (target / "old").read_text() == "old"


def test_manifest_model_round_trip_keeps_non_finite_metrics() -> None:
    manifest = RunManifest(status="failed", final_metrics={"train": {"loss": float("nan")}})
    assert "NaN" in manifest.to_json()


def test_a_symlink_loop_as_runs_dir_is_named(tmp_path: Path) -> None:
    """Fault probes 2, cosmetic: it said "the runs folder is not writable (File exists)"."""
    from dltrain.errors import RunFolderError

    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    for root in (loop, loop / "runs"):
        with pytest.raises(RunFolderError) as info:
            RunFolder.check_root(root)
        assert f"{root}: the runs folder is a symlink loop ({loop} leads back to itself)" in str(
            info.value
        )
        assert "File exists" not in str(info.value)

"""A resume under other TensorFlow kernels than the run started with says so and records it."""

from __future__ import annotations

from pathlib import Path

import pytest

from dltrain.engine import run as engine_run
from dltrain.report import provenance
from dltrain.storage import RunFolder


@pytest.mark.parametrize(("then", "now", "said"), [(True, False, "on"), (False, True, "off")])
def test_a_resume_under_the_other_kernels_notes_it(
    then: bool, now: bool, said: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = RunFolder.create(tmp_path / "runs", "exp")
    run.update(platform={"system": "Linux", "onednn": then})
    monkeypatch.setattr(provenance, "tensorflow_onednn", lambda: now)
    notes: list[str] = []
    assert engine_run._onednn_since(run, notes) is now
    assert len(notes) == 1
    assert f"oneDNN kernels were {said} when the run started" in notes[0]
    assert "TF_ENABLE_ONEDNN_OPTS" in notes[0]


@pytest.mark.parametrize(("then", "now"), [(True, True), (False, False), (None, True), (True, None)])
def test_the_same_kernels_or_an_unknown_side_note_nothing(
    then: bool | None, now: bool | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = RunFolder.create(tmp_path / "runs", "exp")
    run.update(platform={"system": "Linux", "onednn": then})  # None: a run from before 0.3
    monkeypatch.setattr(provenance, "tensorflow_onednn", lambda: now)
    notes: list[str] = []
    assert engine_run._onednn_since(run, notes) is now
    assert notes == []

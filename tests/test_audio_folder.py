"""`kind: audio_folder` end to end on real speech (the Free Spoken Digit Dataset, CC BY-SA 4.0).

A subset of ../shared/data/fsdd (three digits, three speakers) is trained once per module:
labels from file names, whole speakers held out, raw waveforms in, exports verified.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile
from probes import EXPORT_NOISE
from test_image_folder import predict_rows
from typer.testing import CliRunner

from dltrain.cli import app
from dltrain.engine.run import run_experiment

runner = CliRunner()

pytestmark = [pytest.mark.slow, *EXPORT_NOISE]

FSDD = Path(__file__).resolve().parents[2] / "shared" / "data" / "fsdd" / "recordings"
SPEAKERS = ("george", "jackson", "theo")

CONFIG = """\
name: digits
seed: 5
data:
  kind: audio_folder
  path: {path}
  label_pattern: '^(\\d+)_'
  group_pattern: '^\\d+_([a-z]+)_'
  sample_rate: 8000
  duration: 0.5
  test: 0.34
  validation: null
augment: {{shift: 0.05, noise: 0.001}}
model:
  layers:
    - Reshape: {{target_shape: [4000, 1]}}
    - STFTSpectrogram: {{mode: log, frame_length: 256, frame_step: 128, trainable: false}}
    - GlobalAveragePooling1D: {{}}
    - Dense: {{units: 3, activation: softmax}}
optimizer: {{name: adam, learning_rate: 0.01}}
training: {{epochs: 2, batch_size: 16, jit_compile: false}}
"""


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not FSDD.is_dir():
        pytest.skip(f"{FSDD} is absent (the shared data folder beside the checkout)")
    folder = fsdd_subset(tmp_path_factory.mktemp("fsdd") / "recordings", 10)
    # One recording re-written as 24-bit stereo: read the same, mixed to mono.
    audio, rate = soundfile.read(FSDD / "2_george_0.wav", dtype="float32")
    (folder / "2_george_0.wav").unlink()
    soundfile.write(folder / "2_george_0.wav", np.stack([audio, audio], 1), rate, "PCM_24")
    return folder


def fsdd_subset(folder: Path, per_speaker: int, *, copy: bool = False) -> Path:
    """Digits 0-2 of each of SPEAKERS, their first ``per_speaker`` recordings, linked (or
    copied, to be spoiled) into ``folder``."""
    folder.mkdir(parents=True)
    for digit in range(3):
        for speaker in SPEAKERS:
            for index in range(per_speaker):
                name = f"{digit}_{speaker}_{index}.wav"
                if copy:
                    (folder / name).write_bytes((FSDD / name).read_bytes())
                else:
                    (folder / name).symlink_to(FSDD / name)
    return folder


def _config(folder: Path, path: Path) -> Path:
    config = folder / "digits.yaml"
    config.write_text(CONFIG.format(path=path))
    return config


@pytest.fixture(scope="module")
def trained(recordings: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("digit-run")
    result = run_experiment(_config(root, recordings), runs_dir=root / "runs")
    assert result.status == "completed", result.message
    return result.run_dir


def test_a_whole_speaker_is_held_out(trained: Path, recordings: Path, tmp_path: Path) -> None:
    spec = json.loads((trained / "data_spec.json").read_text())
    assert spec["raw_inputs"] == [
        {"name": "audio", "shape": [4000], "dtype": "float32", "columns": []}
    ]
    assert spec["targets"][0]["class_names"] == ["0", "1", "2"]
    data = json.loads((trained / "run.json").read_text())["data"]["fingerprint"]
    assert {k: v["examples"] for k, v in data["splits"].items()} == {"train": 60, "test": 30}
    assert data["seen"]["sample_rate"] == {"8000": 90}
    assert data["seen"]["channels"] == {"1": 89, "2": 1}
    result = runner.invoke(app, ["check", str(_config(tmp_path, recordings))])
    assert result.exit_code == 0, result.output
    assert "layout: files labelled by name; 3 classes: 0, 1, 2" in result.output
    lines = {line.split(":")[0].strip(): line for line in result.output.splitlines()}
    train_groups, test_groups = lines["train"], lines["test"]
    assert "2 groups" in train_groups and "1 group (" in test_groups
    held = test_groups.split("(")[1].split(")")[0]
    assert held in SPEAKERS and held not in train_groups


def test_a_recording_at_another_rate_is_named(recordings: Path, tmp_path: Path) -> None:
    folder = tmp_path / "recordings"
    folder.mkdir()
    for wav in recordings.iterdir():
        (folder / wav.name).symlink_to(wav.resolve())
    audio, _ = soundfile.read(FSDD / "1_theo_0.wav", dtype="float32")
    odd = folder / "1_theo_0.wav"
    odd.unlink()
    soundfile.write(odd, audio, 16000)
    result = runner.invoke(app, ["check", str(_config(tmp_path, folder))])
    assert result.exit_code == 2
    assert f"{odd}: recorded at 16000 Hz; data.sample_rate is 8000" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("fmt", ["saved_model", "tflite", "onnx"])
def test_exports_take_the_raw_waveform(trained: Path, recordings: Path, fmt: str) -> None:
    result = runner.invoke(app, ["export", str(trained), "--format", fmt, "--no-latency"])
    assert result.exit_code == 0, result.output
    suffix = {"saved_model": ".saved_model", "tflite": ".tflite", "onnx": ".onnx"}[fmt]
    artifact = trained / "export" / f"best{suffix}"
    record = json.loads(artifact.with_name(artifact.name + ".export.json").read_text())
    assert record["inputs"] == [{"name": "audio", "shape": [None, 4000], "dtype": "float32"}]
    assert record["verification"]["status"] == "verified"
    # Shift and noise are training-only: the export predicts what the run predicts.
    one = recordings / "1_theo_3.wav"
    from_run, from_export = predict_rows(trained, one), predict_rows(artifact, one)
    assert from_run[0]["path"] == from_export[0]["path"] == str(one)
    assert from_export[0]["predicted_label"] == from_run[0]["predicted_label"]
    for key in ("label_p_0", "label_p_1", "label_p_2"):
        assert float(from_export[0][key]) == pytest.approx(float(from_run[0][key]), abs=1e-4)

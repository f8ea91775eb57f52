"""Reading WAV files (dltrain.data.audio.wav) on real spoken digits (FSDD, 8 kHz mono 16-bit)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile

from dltrain.data.audio.wav import BadRecording, read_wave, read_waves
from dltrain.data.folders.decoded import bad_files_message

RECORDINGS = Path(__file__).resolve().parents[3] / "shared" / "data" / "fsdd" / "recordings"
RATE = 8000


@pytest.fixture(scope="module")
def recordings() -> list[Path]:
    """Real recordings of spoken digits, in name order."""
    files = sorted(RECORDINGS.glob("*.wav")) if RECORDINGS.is_dir() else []
    if not files:
        pytest.skip(f"the FSDD recordings are not in {RECORDINGS} (../shared/data is absent)")
    return files[:40]


@pytest.fixture(scope="module")
def original(recordings: list[Path]) -> np.ndarray:
    """The first recording as soundfile reads it: float32 (frames,)."""
    wave, rate = soundfile.read(recordings[0], dtype="float32")
    assert rate == RATE and wave.ndim == 1
    return np.asarray(wave)


def _cut(path: Path, target: Path) -> Path:
    data = path.read_bytes()
    target.write_bytes(data[: len(data) // 2])
    return target


def test_real_recordings_read_as_they_are(recordings: list[Path], original: np.ndarray) -> None:
    np.testing.assert_array_equal(read_wave(recordings[0], RATE, len(original)), original)
    decoded = read_waves(recordings, RATE, RATE)
    assert decoded.array.shape == (len(recordings), RATE)
    assert decoded.array.dtype == np.float32
    assert decoded.kept.tolist() == list(range(len(recordings)))
    assert decoded.bad == []
    assert np.abs(decoded.array).max() <= 1.0
    assert decoded.seen["sample_rate"] == Counter({"8000": len(recordings)})
    assert decoded.seen["channels"] == Counter({"1": len(recordings)})
    assert decoded.seen["subtype"] == Counter({"PCM_16": len(recordings)})
    assert sum(decoded.seen["length"].values()) == len(recordings)


@pytest.mark.parametrize(
    ("subtype", "tolerance"),
    [("PCM_U8", 1 / 128), ("PCM_16", 0.0), ("PCM_24", 0.0), ("PCM_32", 0.0), ("FLOAT", 0.0)],
)
def test_bit_depths_read_back_close(
    original: np.ndarray, tmp_path: Path, subtype: str, tolerance: float
) -> None:
    path = tmp_path / f"{subtype}.wav"
    soundfile.write(path, original, RATE, subtype=subtype)
    assert soundfile.info(path).subtype == subtype
    wave = read_wave(path, RATE, len(original))
    assert wave.dtype == np.float32 and wave.shape == original.shape
    # 16-bit samples are exact in 24 and 32 bits and in float; 8 bits keep 1/128 steps
    np.testing.assert_allclose(wave, original, rtol=0, atol=tolerance)
    assert read_waves([path], RATE, len(original)).seen["subtype"] == Counter({subtype: 1})


def test_channels_are_mixed_by_their_mean(original: np.ndarray, tmp_path: Path) -> None:
    stereo = tmp_path / "stereo.wav"
    soundfile.write(stereo, np.stack([original, original], axis=1), RATE, subtype="PCM_16")
    np.testing.assert_array_equal(read_wave(stereo, RATE, len(original)), original)
    lopsided = tmp_path / "lopsided.wav"
    channels = np.stack([original, 0.5 * original, np.zeros_like(original)], axis=1)
    soundfile.write(lopsided, channels, RATE, subtype="FLOAT")
    np.testing.assert_allclose(
        read_wave(lopsided, RATE, len(original)), 0.5 * original, rtol=0, atol=1e-7
    )
    decoded = read_waves([stereo, lopsided], RATE, len(original))
    assert decoded.seen["channels"] == Counter({"2": 1, "3": 1})


def test_longer_clips_are_cropped_and_shorter_ones_padded(
    recordings: list[Path], original: np.ndarray
) -> None:
    frames = len(original)
    cropped = read_wave(recordings[0], RATE, frames // 2)
    np.testing.assert_array_equal(cropped, original[: frames // 2])  # the start kept
    padded = read_wave(recordings[0], RATE, frames + 500)
    assert padded.shape == (frames + 500,)
    np.testing.assert_array_equal(padded[:frames], original)
    assert (padded[frames:] == 0).all()  # silence at the end
    decoded = read_waves([recordings[0]] * 3, RATE, frames)
    assert decoded.seen["length"] == Counter({"exact": 3})
    assert read_waves([recordings[0]], RATE, 1).array.shape == (1, 1)


def test_float_files_are_clipped_and_non_finite_ones_refused(
    original: np.ndarray, tmp_path: Path
) -> None:
    loud = tmp_path / "loud.wav"
    soundfile.write(loud, 8 * original, RATE, subtype="FLOAT")
    wave = read_wave(loud, RATE, len(original))
    assert wave.max() == 1.0 and wave.min() == -1.0
    np.testing.assert_allclose(wave, np.clip(8 * original, -1, 1), rtol=0, atol=1e-7)
    broken = tmp_path / "nan.wav"
    samples = original.copy()
    samples[100] = np.nan
    soundfile.write(broken, samples, RATE, subtype="FLOAT")
    with pytest.raises(BadRecording, match="NaN or infinite"):
        read_wave(broken, RATE, len(original))


def test_bad_recordings_are_named_with_reasons(
    recordings: list[Path], original: np.ndarray, tmp_path: Path
) -> None:
    fast = tmp_path / "fast.wav"
    soundfile.write(fast, original, 44100, subtype="PCM_16")
    text = tmp_path / "notes.wav"
    text.write_text("not a recording\n")
    empty = tmp_path / "empty.wav"
    empty.touch()
    silent = tmp_path / "silent.wav"
    soundfile.write(silent, np.zeros(0, np.float32), RATE, subtype="PCM_16")
    flac = tmp_path / "digit.wav"
    soundfile.write(flac, original, RATE, format="FLAC")
    paths = [
        recordings[0],
        _cut(recordings[1], tmp_path / "cut.wav"),
        fast,
        recordings[2],
        text,
        empty,
        silent,
        flac,
        tmp_path / "missing.wav",
    ]
    decoded = read_waves(paths, RATE, RATE, workers=3)
    assert decoded.kept.tolist() == [0, 3]
    np.testing.assert_array_equal(decoded.array[1], read_wave(recordings[2], RATE, RATE))
    assert [path for path, _ in decoded.bad] == [p for i, p in enumerate(paths) if i not in (0, 3)]
    reasons = dict(decoded.bad)
    frames = soundfile.info(recordings[1]).frames
    assert reasons[paths[1]].startswith(f"truncated: the header announces {frames} frames")
    assert reasons[fast] == f"recorded at 44100 Hz; data.sample_rate is {RATE}"
    assert reasons[text] == "not a WAV file (libsndfile: format not recognised)"
    assert reasons[empty] == "empty file (0 bytes)"
    assert reasons[silent] == "no samples"
    assert reasons[flac] == "a FLAC file, not WAV"
    assert reasons[tmp_path / "missing.wav"] == "file not found"
    lines = bad_files_message(decoded.bad, "recording").splitlines()
    assert lines[0] == "7 recording files cannot be read:"
    assert lines[1:-1] == [f"  {path}: {reason}" for path, reason in decoded.bad]
    assert lines[-1] == "(data.bad_files: skip leaves them out)"
    with pytest.raises(BadRecording) as caught:
        read_wave(fast, RATE, RATE)
    assert caught.value.path == fast
    assert str(caught.value) == f"{fast}: recorded at 44100 Hz; data.sample_rate is {RATE}"


def test_a_header_cut_short_is_a_bad_file(recordings: list[Path], tmp_path: Path) -> None:
    stub = tmp_path / "stub.wav"
    stub.write_bytes(recordings[0].read_bytes()[:20])
    with pytest.raises(BadRecording) as caught:
        read_wave(stub, RATE, RATE)
    assert caught.value.reason.startswith("cannot be read: ")
    assert "\n" not in caught.value.reason and "Error opening" not in caught.value.reason


def test_results_do_not_depend_on_workers(recordings: list[Path], tmp_path: Path) -> None:
    paths = list(recordings[:20])
    paths.insert(5, _cut(recordings[20], tmp_path / "cut.wav"))
    paths.insert(12, tmp_path / "missing.wav")
    one, four = (read_waves(paths, RATE, 4000, workers=workers) for workers in (1, 4))
    np.testing.assert_array_equal(one.array, four.array)
    np.testing.assert_array_equal(one.kept, four.kept)
    assert one.bad == four.bad and one.seen == four.seen
    assert one.array.shape == (20, 4000) and len(one.bad) == 2


def test_arguments_are_checked(recordings: list[Path]) -> None:
    with pytest.raises(ValueError, match="samples"):
        read_wave(recordings[0], RATE, 0)
    with pytest.raises(ValueError, match="sample_rate"):
        read_waves(recordings[:1], 0, 10)
    assert read_waves([], RATE, 10).array.shape == (0, 10)


def _with_chunk_before_data(path: Path, target: Path) -> Path:
    """``path`` with a ``LIST`` chunk of odd size (padded) between ``fmt `` and ``data``."""
    data = path.read_bytes()
    at = data.index(b"data")
    extra = b"LIST" + (5).to_bytes(4, "little") + b"INFOx" + b"\0"
    body = data[12:at] + extra + data[at:]
    target.write_bytes(b"RIFF" + (4 + len(body)).to_bytes(4, "little") + b"WAVE" + body)
    return target


def test_plain_16_bit_files_read_exactly_as_libsndfile_reads_them(
    original: np.ndarray, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(0)
    files = {
        "mono": original,
        "stereo": np.stack([original, rng.uniform(-1, 1, len(original))], axis=1),
        "five": rng.uniform(-1, 1, (777, 5)),
        "full_scale": np.array([-1.0, 1.0, 0.99997, -0.5, 0.0]),
    }
    paths = []
    for name, wave in files.items():
        path = tmp_path / f"{name}.wav"
        soundfile.write(path, wave, RATE, subtype="PCM_16")
        paths.append(path)
    paths.append(_with_chunk_before_data(paths[0], tmp_path / "list_chunk.wav"))
    lengths = (1, 300, len(original), len(original) + 123)
    import dltrain.data.audio.wav as wav

    for path in paths:  # each of them takes the NumPy path...
        assert wav._plain_pcm16(path, RATE, np.empty(10, np.float32)) is not None, path.name
    fast = {(p, n): read_waves([p], RATE, n) for p in paths for n in lengths}
    # ...and libsndfile alone reads them when the NumPy path reads no header.
    monkeypatch.setattr(wav, "_HEAD", 0)
    for (path, n), decoded in fast.items():
        slow = read_waves([path], RATE, n)
        np.testing.assert_array_equal(decoded.array, slow.array, err_msg=f"{path.name} {n}")
        assert decoded.seen == slow.seen, (path.name, n)


def test_16_bit_files_libsndfile_must_judge_still_get_its_reasons(
    recordings: list[Path], tmp_path: Path
) -> None:
    other_rate = tmp_path / "rate.wav"
    soundfile.write(other_rate, np.zeros(100), 16000, subtype="PCM_16")
    cut = _cut(recordings[0], tmp_path / "cut.wav")
    silent = tmp_path / "silent.wav"
    soundfile.write(silent, np.zeros((0, 1)), RATE, subtype="PCM_16")
    bad = dict(read_waves([other_rate, cut, silent], RATE, RATE).bad)
    assert "recorded at 16000 Hz" in bad[other_rate]
    assert bad[cut].startswith("truncated: the header announces")
    assert bad[silent] == "no samples"
